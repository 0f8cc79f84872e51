"""Symbolic links in the shared folder are never followed, at any level, for
reading or writing: a link where a directory of the group belongs is
reported by `sync` and `doctor`, what lies behind it is never read, and our
changes wait in the outbox until it is a real directory again. Over git, a
link committed to the remote never becomes a link in the clone."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tablespace.sync.git import git_env
from tests.clirun import TS, make_group
from tests.sync.test_hostile_names import group_dir, push_planted


def titles(member: TS) -> set[str]:
    return {t["title"] for t in member.json("threads")}


def member_id(ana: TS, name: str) -> str:
    return next(m["id"] for m in ana.json("members") if m["name"] == name)


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file())


def test_a_linked_author_directory_is_not_read(tmp_path, monkeypatch) -> None:
    """Bob's real changesets moved outside, a link left in their place: Ana
    reads nothing through it, and says so."""
    folder, ana, members = make_group(tmp_path, monkeypatch, "Bob")
    bob = members["Bob"]
    bob.out("post", "Behind the link")
    bob.json("sync")
    bob_dir = group_dir(folder) / "changes" / member_id(ana, "Bob")
    outside = tmp_path / "outside"
    os.rename(bob_dir, outside)
    bob_dir.symlink_to(outside, target_is_directory=True)

    report = ana.json("sync")
    assert "Behind the link" not in titles(ana)
    assert f"changes/{member_id(ana, 'Bob')}" in report["links"]
    line = ana.run("sync").stderr
    assert "symbolic link" in line and "never followed" in line
    doctor = ana.run("doctor", code=1)
    assert f"changes/{member_id(ana, 'Bob')}" in doctor.stdout and "FAIL" in doctor.stdout

    bob_dir.unlink()
    os.rename(outside, bob_dir)
    report = ana.json("sync")
    assert report["links"] == [] and "Behind the link" in titles(ana)


@pytest.mark.parametrize("linked", ["changes", "own", "group"])
def test_our_changes_are_never_written_through_a_link(tmp_path, monkeypatch, linked) -> None:
    folder, ana, _ = make_group(tmp_path, monkeypatch, "Bob")
    gdir = group_dir(folder)
    target = {"changes": gdir / "changes", "own": gdir / "changes" / member_id(ana, "Ana"), "group": gdir}[linked]
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(target, elsewhere, symlinks=True)
    before = files_under(elsewhere)
    real = tmp_path / "real-dir-aside"
    os.rename(target, real)
    target.symlink_to(elsewhere, target_is_directory=True)

    ana.out("post", "Stays home")
    if linked == "group":  # nothing of the group can be read or written: the round stops, one line
        err = ana.error("sync")
        assert "symbolic link" in err and "outbox" in err
        assert ana.run("doctor", code=1).stdout.count("FAIL") >= 1
    else:
        report = ana.json("sync")
        assert report["exported"] == 0
        assert report["links"]
    assert files_under(elsewhere) == before  # nothing written through the link

    target.unlink()
    os.rename(real, target)
    report = ana.json("sync")  # a real directory again: the outbox goes out by itself
    assert report["exported"] >= 1 and report["links"] == []
    members_bob = TS(tmp_path / "bob", monkeypatch)
    members_bob.json("sync")
    assert "Stays home" in titles(members_bob)


def test_linked_reports_keys_needs_and_requests_are_never_followed(tmp_path, monkeypatch) -> None:
    folder, ana, members = make_group(tmp_path, monkeypatch, "Bob")
    bob = members["Bob"]
    post = bob.out("post", "Hello")
    bob.json("sync")
    ana.json("sync")
    gdir = group_dir(folder)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("reports", "requests", "needs", "answers"):
        if (gdir / name).exists():
            shutil.rmtree(gdir / name)
        (gdir / name).symlink_to(elsewhere, target_is_directory=True)
    shutil.rmtree(gdir / "keys" / member_id(ana, "Bob"))
    (gdir / "keys" / member_id(ana, "Bob")).symlink_to(elsewhere, target_is_directory=True)

    ana.run("report", post, "--reason", "spam")  # the moderator reports: waits, never written through
    for member in (ana, bob, ana):
        report = member.json("sync")
        assert "reports" in report["links"]
    assert list(elsewhere.iterdir()) == []
    assert len(list((ana.home).glob("groups/*/outbox/*"))) == 1


def test_doctor_and_sync_on_a_link_to_a_root_directory(tmp_path, monkeypatch) -> None:
    folder, ana, _ = make_group(tmp_path, monkeypatch, "Bob")
    changes = group_dir(folder) / "changes"
    shutil.rmtree(changes)
    changes.symlink_to("/usr", target_is_directory=True)
    report = ana.json("sync")
    assert report["links"] == ["changes"] and report["quarantined"] == []
    out = ana.run("doctor", code=1).stdout
    assert "changes" in out and "symbolic link" in out


# --- git ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_link_committed_to_the_git_remote_never_becomes_a_link(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "machine-home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True, env=git_env())
    ana = TS(tmp_path / "ana", monkeypatch)
    ana.out("init", "Circle", "--as", "Ana", "--git", str(remote))
    ana.json("sync")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "0-1-0000000000000000.tsc").write_bytes(b"outside the folder")

    def plant(work: Path) -> None:
        (gid,) = [p for p in work.iterdir() if p.name != ".git"]
        (gid / "changes" / "evil").symlink_to(secret, target_is_directory=True)
        (gid / "reports").symlink_to("/usr", target_is_directory=True)
        (gid / "changes" / "file-link.tsc").symlink_to(secret / "0-1-0000000000000000.tsc")

    push_planted(remote, tmp_path, plant)
    ana.out("post", "Still goes out")
    report = ana.json("sync")
    clone = next(ana.home.glob("groups/*/remote"))
    links = [p for p in clone.rglob("*") if p.is_symlink()]
    assert links == []
    assert "outside the folder" not in str(report)
    assert report["exported"] >= 1
    ben = TS(tmp_path / "ben", monkeypatch)  # a fresh clone too
    code = ana.out("invite")
    ana.json("sync")
    ben.out("join", code, "--as", "Ben", "--git", str(remote))
    ben.json("sync")
    assert [p for p in next(ben.home.glob("groups/*/remote")).rglob("*") if p.is_symlink()] == []


@pytest.mark.parametrize("level", ["group", "changes", "author"])
def test_the_store_never_goes_through_a_link_at_any_level(tmp_path, level) -> None:
    """FolderStore itself: reading, listing, looking and writing all refuse
    a link on the way, wherever it sits, and nothing behind it changes."""
    from tablespace.sync.folder import FolderStore, LinkInFolder

    outside = tmp_path / "outside"
    (outside / "changes" / "bob").mkdir(parents=True)
    (outside / "changes" / "bob" / "1-1-0000000000000000.tsc").write_bytes(b"secret")
    root = tmp_path / "shared"
    (root / "g" / "changes" / "bob").mkdir(parents=True)
    linked, target = {
        "group": (root / "g", outside),
        "changes": (root / "g" / "changes", outside / "changes"),
        "author": (root / "g" / "changes" / "bob", outside / "changes" / "bob"),
    }[level]
    shutil.rmtree(linked)
    linked.symlink_to(target, target_is_directory=True)
    before = files_under(outside)
    store = FolderStore(root, "g")
    path = "changes/bob/1-1-0000000000000000.tsc"
    assert list(store.list()) == []
    assert list(store.small_files("changes/bob", ".tsc")) == []
    assert not store.exists(path)
    with pytest.raises(LinkInFolder):
        store.read(path, 100)
    with pytest.raises(LinkInFolder):
        store.write_once("changes/bob/2-2-0000000000000000.tsc", b"x")
    store.prepare()
    assert store.blocked("changes/bob")
    assert files_under(outside) == before
    assert set(store.links) == {{"group": ".", "changes": "changes", "author": "changes/bob"}[level]}
