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


SYNCTHING_CONFIG = """<configuration version="37">
    <folder id="bread-club" label="Bread club" path="{path}" type="sendreceive">
        <device id="AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA-AAAAAAA"></device>
        <fsWatcherEnabled>true</fsWatcherEnabled>{max_conflicts}
    </folder>
    <folder id="photos" path="{elsewhere}"><maxConflicts>0</maxConflicts></folder>
</configuration>
"""


def test_doctor_says_when_syncthing_keeps_no_conflict_copies(tmp_path: Path, monkeypatch) -> None:
    """Syncthing 1.19 reads a folder entry without maxConflicts as 0 and then
    drops one side of an edit made on two devices at once: doctor says so."""
    folder = tmp_path / "Sync" / "bread"
    folder.mkdir(parents=True)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    config = tmp_path / "config" / "syncthing" / "config.xml"
    config.parent.mkdir(parents=True)
    ana = TS(tmp_path / "ana", monkeypatch)
    ana.out("init", "Circle", "--as", "Ana", "--folder", str(folder))
    assert "Syncthing" not in ana.out("doctor")  # no Syncthing here: nothing to say

    def write(max_conflicts: str) -> None:
        text = SYNCTHING_CONFIG.format(path=folder.parent, elsewhere=tmp_path / "Photos", max_conflicts=max_conflicts)
        config.write_text(text)

    write("")  # written by hand: Syncthing reads it as 0
    (failed,) = [line for line in ana.run("doctor", code=1).stdout.splitlines() if line.startswith("FAIL")]
    assert "'bread-club'" in failed and "maxConflicts 0" in failed and "set it to 10" in failed
    write("\n        <maxConflicts>10</maxConflicts>")
    assert "ok    Syncthing folder 'bread-club' keeps conflict copies (maxConflicts 10)" in ana.out("doctor")
    config.write_text("<configuration><folder")  # damaged: Syncthing's to say, not ours
    assert "Syncthing" not in ana.out("doctor")
