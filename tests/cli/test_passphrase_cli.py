"""An optional passphrase on a group's keys, through the real CLI: asked only
when a locked key is needed, TABLESPACE_PASSPHRASE for scripts, and a wrong
or missing one refused with one line and nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tablespace import cli
from tablespace.core import keyfile
from tablespace.sync.keyring import Keyring
from tests.clirun import TS, everyone_syncs

PASSPHRASE = "rye and patience"


def key_files(ts: TS) -> list[Path]:
    (group_dir,) = ts.home.glob("groups/*")
    return Keyring.key_files(group_dir)


def snapshot(ts: TS) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in ts.home.rglob("*") if p.is_file() and p.suffix != ".db-shm"}


def locked(ts: TS) -> bool:
    return all(keyfile.is_locked(p.read_bytes()) for p in key_files(ts))


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    path = tmp_path / "shared"
    path.mkdir()
    return path


@pytest.fixture
def ana(tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch) -> TS:
    """A founder whose keys are locked (init --passphrase, from the environment)."""
    ts = TS(tmp_path / "ana", monkeypatch)
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, PASSPHRASE)
    ts.out("init", "Circle", "--as", "Ana", "--folder", str(shared), "--passphrase")
    monkeypatch.delenv(keyfile.PASSPHRASE_ENV)
    assert locked(ts)
    return ts


def test_reading_a_locked_group_needs_no_passphrase(ana: TS) -> None:
    assert ana.json("threads") == [] and ana.json("members")[0]["name"] == "Ana"


def test_no_terminal_and_no_variable_is_one_clear_line_and_nothing_changed(ana: TS) -> None:
    before = snapshot(ana)
    err = ana.error("post", "Hello", "--body", "hi")
    assert "locked with a passphrase" in err and "TABLESPACE_PASSPHRASE" in err
    err = ana.error("sync")
    assert "locked with a passphrase" in err
    assert snapshot(ana) == before


def test_a_wrong_passphrase_is_refused_and_changes_nothing(ana: TS, monkeypatch) -> None:
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, "rye and impatience")
    before = snapshot(ana)
    for command in (["post", "Hello", "--body", "hi"], ["sync"], ["passphrase", "remove"], ["passphrase", "change"]):
        assert "wrong passphrase" in ana.error(*command)
    assert snapshot(ana) == before


def test_post_and_sync_work_with_the_variable(ana: TS, tmp_path: Path, shared: Path, monkeypatch) -> None:
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, PASSPHRASE)
    thread = ana.out("post", "Hello", "--body", "locked keys still sign")
    ana.json("sync")
    code = ana.out("invite")
    ana.json("sync")
    monkeypatch.delenv(keyfile.PASSPHRASE_ENV)
    bo = TS(tmp_path / "bo", monkeypatch)  # an unlocked member beside a locked one
    request = bo.out("join", code, "--as", "Bo", "--folder", str(shared))
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, PASSPHRASE)
    ana.run("admit", request[:6])
    everyone_syncs(ana, bo)
    assert bo.json("show", thread)["posts"][0]["body"] == "locked keys still sign"
    bo.out("reply", thread, "--body", "read you")
    everyone_syncs(bo, ana)
    assert len(ana.json("show", thread)["posts"]) == 2
    assert locked(ana)


def test_the_prompt_asks_once_at_a_terminal(ana: TS, monkeypatch) -> None:
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    result = ana.run("post", "Hello", "--body", "typed", input=f"{PASSPHRASE}\n")
    assert result.stderr.count("Passphrase for the keys") == 1 and PASSPHRASE not in result.output
    refused = ana.run("post", "Again", "--body", "x", input="nope\n", code=1)
    assert refused.stderr.count("Passphrase for the keys") == 1  # asked once, refused once: no second ask
    assert "wrong passphrase" in refused.stderr.strip().splitlines()[-1]
    assert [t["title"] for t in ana.json("threads")] == ["Hello"]


def test_set_change_remove(tmp_path: Path, shared: Path, monkeypatch) -> None:
    ts = TS(tmp_path / "cy", monkeypatch)
    ts.out("init", "Circle", "--as", "Cy", "--folder", str(shared))
    clear = {p: p.read_bytes() for p in key_files(ts)}
    assert not any(keyfile.is_locked(b) for b in clear.values())
    assert "not locked" in ts.out("doctor")
    assert "not locked" in ts.error("passphrase", "change")
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: True)
    ts.run("passphrase", "set", input="first one\nfirst one\n")  # asked twice, hidden
    assert locked(ts) and "locked with a passphrase" in ts.out("doctor")
    assert "already locked" in ts.error("passphrase", "set")
    monkeypatch.setattr(cli, "stdin_is_terminal", lambda: False)
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, "first one")
    monkeypatch.setenv("TABLESPACE_NEW_PASSPHRASE", "second one")
    ts.run("passphrase", "change")
    assert "wrong passphrase" in ts.error("post", "x", "--body", "y")
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, "second one")
    ts.out("post", "x", "--body", "y")
    ts.run("passphrase", "remove")
    assert {p: p.read_bytes() for p in key_files(ts)} == clear  # exactly as they were
    monkeypatch.delenv(keyfile.PASSPHRASE_ENV)
    ts.out("post", "z", "--body", "no passphrase any more")


def test_an_empty_new_passphrase_or_no_way_to_ask_is_refused(tmp_path: Path, shared: Path, monkeypatch) -> None:
    ts = TS(tmp_path / "dee", monkeypatch)
    assert "set TABLESPACE_PASSPHRASE" in ts.error(
        "init", "Circle", "--as", "Dee", "--folder", str(shared), "--passphrase"
    )
    assert not (tmp_path / "dee" / "groups").exists() or not list((tmp_path / "dee" / "groups").iterdir())
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, "")
    assert "cannot be empty" in ts.error("init", "Circle", "--as", "Dee", "--folder", str(shared), "--passphrase")


def test_join_with_a_passphrase_locks_the_joiners_keys(ana: TS, tmp_path: Path, shared: Path, monkeypatch) -> None:
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, PASSPHRASE)
    code = ana.out("invite")
    ana.json("sync")
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, "bo's own")
    bo = TS(tmp_path / "bo", monkeypatch)
    request = bo.out("join", code, "--as", "Bo", "--folder", str(shared), "--passphrase")
    assert locked(bo)
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, PASSPHRASE)
    ana.run("admit", request[:6])
    ana.json("sync")
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, "bo's own")
    bo.json("sync")
    assert bo.json("members")[-1]["name"] in {"Ana", "Bo"} and len(bo.json("members")) == 2
