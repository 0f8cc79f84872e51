"""Drive the real `tablespace` CLI in-process against one home, like a script."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from tablespace.cli import main
from tablespace.core.group import Group
from tablespace.core.home import Home

NOW = "2026-11-23T09:00:00Z"


class TS:
    """Runs `tablespace` commands against one home, like a script would."""

    def __init__(self, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.home = home
        monkeypatch.setenv("TABLESPACE_NOW", NOW)
        monkeypatch.delenv("TABLESPACE_HOME", raising=False)
        self.runner = CliRunner()

    def run(self, *args: str, input: str | None = None, code: int = 0):
        result = self.runner.invoke(main, ["--home", str(self.home), *args], input=input, catch_exceptions=False)
        assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
        if code:
            assert "Traceback" not in result.output + result.stderr
        return result

    def out(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout.strip()

    def json(self, *args: str):
        return json.loads(self.run(*args, "--json").stdout)

    def error(self, *args: str, code: int = 1) -> str:
        result = self.run(*args, code=code)
        lines = result.stderr.strip().splitlines()
        if code == 1:
            assert len(lines) == 1, result.stderr
        return result.stderr

    def group(self) -> AbstractContextManager[Group]:
        """This home's group, opened beside the commands (see `opened`)."""
        return opened(self.home)

    def ops(self) -> int:
        (db,) = self.home.glob("groups/*/group.db")
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM ops").fetchone()[0]


@contextmanager
def opened(home: Path) -> Iterator[Group]:
    """The group in `home`, opened to look at what the commands left in it,
    and closed after."""
    group = Group.open(Home(home))
    try:
        yield group
    finally:
        group.close()


def group_dir(folder: Path) -> Path:
    """The one group's directory in a shared folder."""
    (found,) = [p for p in folder.iterdir() if p.is_dir()]
    return found


def make_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> tuple[Path, TS, dict[str, TS]]:
    """A group founded by Ana over a real folder, with each of `names` invited,
    joined, admitted and synced: (folder, ana, {name: member})."""
    folder = tmp_path / "shared"
    folder.mkdir()
    return folder, *group_through(tmp_path, monkeypatch, ("--folder", str(folder)), *names)


def group_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transport: tuple[str, str], *names: str
) -> tuple[TS, dict[str, TS]]:
    """Ana founds a group through `transport` (`--folder PATH` or `--git URL`),
    and each of `names` is invited, joins, is admitted and syncs."""
    ana = TS(tmp_path / "ana", monkeypatch)
    ana.out("init", "Circle", "--as", "Ana", *transport)
    ana.json("sync")
    members = {}
    for name in names:
        member = TS(tmp_path / name.lower(), monkeypatch)
        code = ana.out("invite")
        ana.json("sync")
        request = member.out("join", code, "--as", name, *transport)
        ana.run("admit", request[:6])
        ana.json("sync")
        member.json("sync")
        members[name] = member
    return ana, members


def founder(tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> TS:
    """Ana founds the group through `folder`, and has not synced yet."""
    ana = TS(tmp_path / "ana", monkeypatch)
    ana.out("init", "Sourdough circle", "--as", "Ana", "--folder", str(folder))
    return ana


def export_forged_post(member: TS, title: str, hlc: int) -> str:
    """What a modified client does: sign a thread dated `hlc` as `member`,
    whatever the clock or the fold would say, and write it to the folder.
    Returns the op's id."""
    from tablespace.core.group import Group
    from tablespace.core.home import Home
    from tablespace.core.ops import sign_op
    from tablespace.sync.service import engine_for

    group = Group.open(Home(member.home))
    try:
        seq, prev = group.store.head(group.me)
        payload = {"title": title, "body": "", "tags": []}
        op = sign_op(
            group.identity, group=group.id, seq=seq + 1, prev=prev, hlc=hlc, kind="thread.start", payload=payload
        )
        group.store.ingest([op])
        engine = engine_for(group)
        engine.export({f.path: f for f in engine.folder.list()})
    finally:
        group.close()
    return op.id


def everyone_syncs(*homes: TS, rounds: int = 2) -> None:
    for _ in range(rounds):
        for home in homes:
            home.json("sync")
