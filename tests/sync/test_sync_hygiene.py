"""The shared folder as sync software leaves it: files touched or copied
with the same bytes, files of ours deleted, and conflict copies. Real
folders, driven through the CLI."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.clirun import TS, founder


def joined(tmp_path: Path, folder: Path, monkeypatch, ana: TS, name: str = "Ben") -> TS:
    member = TS(tmp_path / name.lower(), monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    request = member.out("join", code, "--as", name, "--folder", str(folder))
    ana.run("admit", request[:6])
    ana.json("sync")
    member.json("sync")
    return member


def changesets(folder: Path) -> set[Path]:
    return set(folder.rglob("changes/*/*.tsc"))


def ops_in(path: Path) -> int:
    first, last, _ = path.name.split("-")
    return int(last) - int(first) + 1


def records(member: TS) -> set[tuple]:
    """What the member's sync knows of each folder file, but its time."""
    (db,) = member.home.glob("groups/*/group.db")
    with sqlite3.connect(db) as conn:
        return set(conn.execute("SELECT path, digest, status, reason, first_seq, last_seq FROM sync_files"))


def posted_in_rounds(ana: TS, *titles: str) -> list[Path]:
    """Each title posted and synced in a round of its own: the file each round wrote."""
    folder_files = []
    for title in titles:
        before = changesets(ana.folder)
        ana.out("post", title)
        ana.json("sync")
        (new,) = changesets(ana.folder) - before
        folder_files.append(new)
    return folder_files


def test_touched_or_copied_files_are_never_sent_again(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ana.folder = folder
    ben = joined(tmp_path, folder, monkeypatch, ana)
    posted_in_rounds(ana, "One", "Two", "Three")
    ben.json("sync")
    before = {p: p.read_bytes() for p in changesets(folder)}
    known = {member.home: records(member) for member in (ana, ben)}
    for path in before:  # a `touch`, and a copy that keeps the bytes (a new inode, a new time)
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    for path in sorted(before)[::2]:
        shutil.copy(path, tmp_path / "copy")
        os.replace(tmp_path / "copy", path)
    for member in (ana, ben):
        report = member.json("sync")
        assert (report["exported"], report["imported"], report["quarantined"]) == (0, 0, [])
        assert records(member) == known[member.home]
    assert {p: p.read_bytes() for p in changesets(folder)} == before
    assert {t["title"] for t in ben.json("threads")} >= {"One", "Two", "Three"}


def test_a_lost_file_of_ours_is_sent_again_alone(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ana.folder = folder
    one, two, three = posted_in_rounds(ana, "One", "Two", "Three")
    two.unlink()  # deleted by the sync software (or a person)
    before = changesets(folder)
    assert ana.json("sync")["exported"] == ops_in(two)
    (again,) = changesets(folder) - before
    assert ops_in(again) == ops_in(two)
    three.write_bytes(three.read_bytes()[:-10] + os.urandom(10))  # damaged in place
    before = changesets(folder)
    assert ana.json("sync")["exported"] == ops_in(three)
    assert len(changesets(folder) - before) == 1
    assert ana.json("sync")["exported"] == 0
    ben = joined(tmp_path, folder, monkeypatch, ana)
    assert {"One", "Two", "Three"} <= {t["title"] for t in ben.json("threads")}


def test_sync_json_is_one_document_even_when_the_folder_is_gone(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ana.json("sync")
    ana.out("post", "Waiting")
    folder.rename(tmp_path / "unplugged")
    result = ana.run("sync", "--json", code=1)
    document = json.loads(result.stdout)  # one document, nothing else on stdout
    assert "missing or unmounted" in document["error"]
    assert document["kind"] == "unreachable"
    assert set(document) >= {"exported", "imported", "pending", "quarantined"}
    assert (document["exported"], document["imported"], document["quarantined"]) == (0, 0, [])
    assert document["outbox"] >= 1
    (line,) = result.stderr.strip().splitlines()
    assert line == f"tablespace: {document['error']}"
    (tmp_path / "unplugged").rename(folder)
    assert ana.json("sync")["exported"] >= 1


def test_conflict_copies_are_named_as_such_and_the_rest_syncs(tmp_path, folder, monkeypatch) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana)
    before = changesets(folder)
    thread = ana.out("post", "Met halfway")
    ana.json("sync")
    (newest,) = changesets(folder) - before
    half = newest.read_bytes()[:150]  # the version one side had while it was still arriving
    syncthing = newest.with_name(newest.stem + ".sync-conflict-20261123-090000-ABCDEFG.tsc")
    dropbox = newest.with_name(newest.stem + " (Ben's conflicted copy 2026-11-23).tsc")
    plain = newest.with_name("00000077-00000077-cccccccccccccccc.tsc")
    for path in (syncthing, dropbox, plain):
        path.write_bytes(half)
    report = ben.json("sync")
    assert [t["id"] for t in ben.json("threads")] == [thread]
    reasons = {Path(q["file"]).name: q["reason"] for q in report["quarantined"]}
    assert set(reasons) == {syncthing.name, dropbox.name, plain.name}
    assert f"a Syncthing conflict copy of {newest.name}" in reasons[syncthing.name]
    assert f"a Dropbox conflicted copy of {newest.name}" in reasons[dropbox.name]
    for name in (syncthing.name, dropbox.name):
        assert "nothing to do" in reasons[name] and "delete it" in reasons[name]
    assert "conflict" not in reasons[plain.name]
    assert all(path.exists() for path in (syncthing, dropbox, plain))  # never deleted by us


@pytest.mark.parametrize(
    ("name", "original", "software"),
    [
        ("00000001-00000002-0123456789abcdef.sync-conflict-20260302-090000-ABCDEFG.tsc", None, "Syncthing"),
        ("a1.sync-conflict-20260302-090000-ABCDEFG.tsk", "a1.tsk", "Syncthing"),
        ("x (Bo's conflicted copy 2026-03-02).tsc", "x.tsc", "Dropbox"),
        ("x (conflicted copy 2026-03-02 (1)).tsm", None, "Dropbox"),
        ("x (Bo (laptop)'s conflicted copy).tsc", None, "Dropbox"),
        ("00000001-00000002-0123456789abcdef.tsc", None, None),
        ("sync-conflict.tsc", None, None),
    ],
)
def test_conflict_copy_names(name, original, software) -> None:
    from tablespace.sync.conflicts import conflict_copy

    found = conflict_copy("changes/ab/" + name)
    if software is None:
        assert found is None
    else:
        assert found is not None and found.software == software
        if original:
            assert found.original == original
