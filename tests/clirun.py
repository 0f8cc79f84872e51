"""Drive the real `tablespace` CLI in-process against one home, like a script."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tablespace.cli import main

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

    def ops(self) -> int:
        (db,) = self.home.glob("groups/*/group.db")
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM ops").fetchone()[0]


