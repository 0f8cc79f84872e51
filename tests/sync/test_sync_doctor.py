"""`doctor` checks the group's shared folder as `sync` would (the git remote's
check is in test_sync_git.py), through sync's check: core does not know transports."""

from __future__ import annotations

from pathlib import Path

from tests.clirun import TS


def test_doctor_checks_the_shared_folder(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    ana = TS(tmp_path / "ana", monkeypatch)
    ana.out("init", "Circle", "--as", "Ana", "--folder", str(folder))
    ana.json("sync")
    assert f"ok    shared folder {folder} is reachable" in ana.out("doctor")
    assert "0 file(s) in the folder quarantined" in ana.out("doctor")
    (changeset,) = folder.glob("*/changes/*/*.tsc")
    whole = changeset.read_bytes()
    changeset.write_bytes(whole[:-1])  # damaged in transit
    assert [q["new"] for q in ana.json("sync")["quarantined"]] == [True]
    again = ana.run("sync").stderr  # named once; after that, counted
    assert "1 file(s) quarantined earlier" in again and "quarantined changes/" not in again
    assert changeset.name in again  # still named on stderr, as the contract says
    assert "1 file(s) in the folder quarantined" in ana.out("doctor")
    changeset.write_bytes(whole)  # the transfer completes: tried again, and counted as sync counts it
    assert ana.json("sync")["quarantined"] == []
    assert "0 file(s) in the folder quarantined" in ana.out("doctor")

    (next(folder.iterdir())).rename(tmp_path / "elsewhere")  # mounted, but not our folder any more
    (failed,) = [line for line in ana.run("doctor", code=1).stdout.splitlines() if line.startswith("FAIL")]
    assert "has no" in failed and "`tablespace sync`" in failed and "outbox" not in failed

    folder.rename(tmp_path / "unplugged")
    (failed,) = [line for line in ana.run("doctor", code=1).stdout.splitlines() if line.startswith("FAIL")]
    assert "missing or unmounted" in failed and "mount" in failed
    assert not folder.exists()  # doctor never creates it
