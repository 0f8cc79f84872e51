"""The one-member group most CLI tests start from: Ana founds "Circle" on a shared folder."""

from pathlib import Path

import pytest

from tests.clirun import TS


@pytest.fixture
def ts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TS:
    shared = tmp_path / "shared"
    shared.mkdir()
    cli = TS(tmp_path / "home", monkeypatch)
    cli.out("init", "Circle", "--as", "Ana", "--folder", str(shared))
    return cli
