"""The app's modules import each other without a circle: every import counts,
at the top, inside a function or under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

import tablespace.tui

TUI = Path(tablespace.tui.__file__).parent


def imports_of(path: Path, package: str) -> set[str]:
    """The modules of `package` that the file at `path` imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = f"{package}.{node.module}" if node.module else package
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(folder: Path, package: str) -> dict[str, set[str]]:
    modules = {f"{package}.{path.stem}": path for path in folder.glob("*.py") if path.stem != "__init__"}
    return {name: imports_of(path, package) & modules.keys() - {name} for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in `graph` (as the path round it), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        for target in sorted(graph[module]):
            cycle = visit(target, [*path, module])
            if cycle:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle:
            return cycle
    return None


def test_the_app_modules_import_each_other_without_a_circle() -> None:
    graph = import_graph(TUI, "tablespace.tui")
    assert len(graph) > 10 and graph["tablespace.tui.app"]  # the walk found the modules and their imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_a_planted_circle_is_found_even_inside_a_function(tmp_path) -> None:
    (tmp_path / "screens.py").write_text("from pkg.chrome import Bar\n")
    (tmp_path / "chrome.py").write_text("def later():\n    from pkg import screens\n")
    (tmp_path / "other.py").write_text("import pkg.chrome\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) == ["pkg.chrome", "pkg.screens", "pkg.chrome"]
    (tmp_path / "chrome.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .screens import Thing\n"
    )
    assert find_cycle(import_graph(tmp_path, "pkg")) == ["pkg.chrome", "pkg.screens", "pkg.chrome"]
    (tmp_path / "chrome.py").write_text("import os\n")
    assert find_cycle(import_graph(tmp_path, "pkg")) is None


def test_screens_reach_the_app_through_its_protocol_not_its_module() -> None:
    graph = import_graph(TUI, "tablespace.tui")
    importers = sorted(name for name, targets in graph.items() if "tablespace.tui.app" in targets)
    assert importers == []


def test_the_app_runs_no_sql_and_writes_nothing_itself() -> None:
    """Reads are core's *_queries functions and writes are actions: no screen
    runs SQL on a connection or signs an op through a group of its own."""

    def a_group(node: ast.expr) -> bool:
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
        return name in {"g", "group", "own"}

    found = {
        f"{path.name}:{node.lineno}"
        for path in sorted(TUI.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and (
            node.func.attr in {"execute", "executemany", "executescript"}
            or (node.func.attr == "write" and a_group(node.func.value))
        )
    }
    assert found == set()
