"""cli.py is parse, call, print: every step that changes something is one
call into the application layer (tablespace/actions), and every refusal
leaves with the exit code of its class, never one guessed from its text."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import tablespace.actions
from tablespace.cli import TablespaceCLI
from tablespace.core.database import busy_message
from tablespace.core.errors import (
    Busy,
    PermissionDenied,
    Refusal,
    RefusalKind,
    TablespaceError,
    Unreachable,
    UsageError,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "tablespace"
CLI = SRC / "cli.py"
ACTIONS_INIT = SRC / "actions" / "__init__.py"

# Steps that belong to the layers below: SQL, the write path, the store,
# and the key files' and the export's own writes.
WRITING_CALLS = {
    "write",
    "execute",
    "executemany",
    "executescript",
    "mark_read",
    "relock",
    "new_keys_locked",
    "write_atomically",
}
BELOW_THE_CLI = ("tablespace.sync", "tablespace.core.store", "tablespace.core.fold", "tablespace.core.ops")


def layering_breaches(path: Path) -> list[str]:
    """Each place in `path` that does a lower layer's work itself."""
    breaches: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in WRITING_CALLS:
                breaches.append((node.lineno, f"calls {name}()"))
        if isinstance(node, ast.Attribute) and node.attr == "store":
            breaches.append((node.lineno, "reaches for .store"))
        if isinstance(node, ast.Attribute) and node.attr == "open" and getattr(node.value, "id", "") == "Group":
            breaches.append((node.lineno, "opens a group without actions.open_group"))
        modules = []
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        if below := [module for module in modules if module.startswith(BELOW_THE_CLI)]:
            breaches.append((node.lineno, f"imports {below[0]}"))
    return [f"line {line}: {what}" for line, what in sorted(breaches)]


def test_the_cli_does_no_lower_layers_work_itself() -> None:
    """A new command that writes, runs SQL or imports sync (even inside a
    function, which import-linter does not see) fails here: it belongs in
    tablespace/actions, called from cli.py in one line."""
    assert layering_breaches(CLI) == []


def test_the_check_sees_each_kind_of_breach(tmp_path: Path) -> None:
    breaching = tmp_path / "cli.py"
    breaching.write_text(
        "from tablespace.core import store\n"
        "def show(group):\n"
        "    from tablespace.sync.engine import SyncEngine\n"
        "    group.conn.execute('UPDATE reads SET read_hlc = 0')\n"
        "    group.store.set_meta('x', 'y')\n"
        "    group.mark_read('t')\n"
        "    return Group.open(None)\n"
    )
    assert layering_breaches(breaching) == [
        "line 1: imports tablespace.core.store",
        "line 3: imports tablespace.sync.engine",
        "line 4: calls execute()",
        "line 5: reaches for .store",
        "line 6: calls mark_read()",
        "line 7: opens a group without actions.open_group",
    ]


def test_the_application_layer_names_each_export_in_all_three_places() -> None:
    """tablespace.actions loads lazily: a name is listed in `__all__`, mapped
    to its module in `_HOME`, and imported for type checkers. One left out
    of any of them is an AttributeError at run time or untyped to mypy."""
    tree = ast.parse(ACTIONS_INIT.read_text())
    typed = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for child in node.body
        if isinstance(child, ast.ImportFrom)
        for alias in child.names
    }
    exported = set(tablespace.actions.__all__)
    assert set(tablespace.actions._HOME) == exported
    assert typed == exported
    for name in sorted(exported):
        assert getattr(tablespace.actions, name) is not None, name


# --- exit codes come from the refusal's class ----------------------------------------


def cli_raising(error: BaseException) -> click.Group:
    """The CLI's own error handling around one command that fails with `error`."""

    @click.group(cls=TablespaceCLI)
    def cli() -> None:
        pass

    @cli.command()
    def act() -> None:
        raise error

    return cli


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (UsageError("give --for DURATION, or --end"), 2),
        (PermissionDenied("only a moderator can remove members"), 3),
        (Busy(busy_message()), 1),
        (Unreachable("cannot reach the git remote"), 1),
        (TablespaceError("you have already left this group"), 1),
        # Worded like a permission refusal, but of no such kind: its class decides.
        (TablespaceError("only a moderator can do that, says the text"), 1),
    ],
)
def test_each_kind_of_refusal_leaves_with_its_exit_code(error: TablespaceError, code: int) -> None:
    result = CliRunner().invoke(cli_raising(error), ["act"])
    assert (result.exit_code, result.stdout) == (code, "")
    assert result.stderr == f"tablespace: {error}\n"


# The author lacks a standing (exit 3), gave the command wrongly (2), or the
# group's rules say no (1).
EXIT_BY_KIND = {
    RefusalKind.PERMISSION: 3,
    RefusalKind.NOT_MEMBER: 3,
    RefusalKind.GONE: 3,
    RefusalKind.TIMED_OUT: 3,
    RefusalKind.USAGE: 2,
}


@pytest.mark.parametrize("kind", list(RefusalKind))
def test_a_refusal_by_the_fold_exits_by_its_kind(kind: RefusalKind) -> None:
    refusal = Refusal(kind, text=f"refused as {kind.value}")
    result = CliRunner().invoke(cli_raising(refusal.error()), ["act"])
    assert result.exit_code == EXIT_BY_KIND.get(kind, 1)
    assert result.stderr == f"tablespace: refused as {kind.value}\n"


def test_a_lock_met_outside_a_write_still_says_busy() -> None:
    result = CliRunner().invoke(cli_raising(sqlite3.OperationalError("database is locked")), ["act"])
    assert result.exit_code == 1
    assert result.stderr == f"tablespace: {busy_message()}\n" and "doctor" not in result.stderr
