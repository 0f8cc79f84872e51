"""Where sync's code goes: SQL on the group's tables lives in core (for the
application layer too), and the moderators' modules stay small and free of
import circles."""

from __future__ import annotations

import ast
from pathlib import Path

SYNC = Path(__file__).resolve().parents[2] / "src" / "tablespace" / "sync"
ACTIONS = SYNC.parent / "actions"
SQL_CALLS = {"execute", "executemany", "executescript"}
MODERATORS_MODULES = ("sealing", "moderator_key", "delivery", "moderation")


def sql_calls(path: Path) -> list[int]:
    """Lines of `path` that run SQL themselves (any `.execute(...)` and kin)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SQL_CALLS
    ]


def sync_imports(path: Path) -> set[str]:
    """The sync modules `path` imports at its top level."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tablespace.sync"):
            if node.module == "tablespace.sync":
                found |= {alias.name for alias in node.names}
            else:
                found.add(node.module.removeprefix("tablespace.sync."))
    return found


def test_sync_and_the_actions_run_no_sql_of_their_own() -> None:
    """Every question and write on the group's tables is a named function in
    core (core/*_queries.py, core/sync_files.py): sync and the actions call it."""
    modules = sorted([*SYNC.glob("*.py"), *ACTIONS.glob("*.py")])
    found = {path.name: lines for path in modules if (lines := sql_calls(path))}
    assert found == {}


def test_the_moderators_modules_are_small_and_import_no_circle() -> None:
    graph = {path.stem: sync_imports(path) for path in SYNC.glob("*.py")}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(step == goal or reaches(step, goal, seen | {step}) for step in graph.get(start, set()) - seen)

    for name in MODERATORS_MODULES:
        assert len((SYNC / f"{name}.py").read_text().splitlines()) <= 400, name
        assert not reaches(name, name, set()), f"sync/{name}.py imports itself through a circle"
