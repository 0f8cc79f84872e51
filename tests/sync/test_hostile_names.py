"""Names the shared folder (or the git remote) can hold that are not text:
bytes that are not UTF-8 and control characters, as files and as
directories, at every depth of the group's directory. Each is quarantined or
skipped with a reason shown as safe text; everything else still imports, and
nothing of such a name reaches SQLite or a terminal undecoded."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tablespace.sync.folder import shown_name
from tablespace.sync.git import git_env
from tests.clirun import TS, group_dir, make_group

# A name that is not UTF-8, one that would drive a terminal, and one with a newline.
HOSTILE = (b"\xff\xfe.tsc", b"\x1b[2J\x1b]52;c;aGk=\x07.tsc", b"line\nbreak.tsc")


def plant_everywhere(root: Path, member_ids: list[str]) -> list[bytes]:
    """Hostile names as files and directories at every level of the group's
    directory; returns their paths relative to it."""
    base = os.fsencode(root)
    places = [
        b"",
        b"changes",
        b"reports",
        b"requests",
        b"answers",
        b"needs",
        b"keys",
        *[b"changes/" + m.encode() for m in member_ids],
        *[b"keys/" + m.encode() for m in member_ids],
    ]
    planted = []
    for place in places:
        where = os.path.join(base, place) if place else base
        os.makedirs(where, exist_ok=True)
        for name in HOSTILE:
            with open(os.path.join(where, name), "wb") as f:
                f.write(b"not a changeset")
            planted.append(os.path.join(place, name) if place else name)
        inner = os.path.join(where, b"\xc3\x28dir")  # a directory that is not UTF-8, with a file in it
        os.makedirs(inner, exist_ok=True)
        with open(os.path.join(inner, b"0-1-0000000000000000.tsc"), "wb") as f:
            f.write(b"not a changeset")
    return planted


def assert_safe_text(text: str) -> None:
    text.encode("utf-8")  # no lone surrogates
    assert "\x1b" not in text and "\x07" not in text and "\ufffd" not in text


def test_hostile_names_everywhere_are_quarantined_and_the_rest_imports(tmp_path, monkeypatch) -> None:
    folder, ana, members = make_group(tmp_path, monkeypatch, "Bob")
    bob = members["Bob"]
    bob.out("post", "Rye starter", "--body", "Fed twice today")
    bob.json("sync")
    ids = [m["id"] for m in ana.json("members")]
    plant_everywhere(group_dir(folder), ids)

    for member in (ana, bob):  # a moderator (reads reports/, requests/) and a member
        result = member.run("sync")
        assert_safe_text(result.stdout + result.stderr)
        assert "quarantined" in result.stderr
        report = member.json("sync")
        assert_safe_text(str(report))
        files = {q["file"] for q in report["quarantined"]}
        assert {"changes/\\xff\\xfe.tsc", "reports/\\xff\\xfe.tsc", "\\xff\\xfe.tsc"} <= files
        assert any("\\x1b[2J" in f for f in files) and any("line\\nbreak.tsc" in f for f in files)
        assert all("name" in q["reason"] for q in report["quarantined"] if "\\x" in q["file"])
    assert "Rye starter" in {t["title"] for t in ana.json("threads")}
    # and the work goes on both ways
    ana.out("post", "Welcome Bob")
    for _ in range(2):
        ana.json("sync")
        bob.json("sync")
    assert "Welcome Bob" in {t["title"] for t in bob.json("threads")}
    # every path kept in the database is text
    for member in (ana, bob):
        (db,) = member.home.glob("groups/*/group.db")
        with sqlite3.connect(db) as conn:
            for (path,) in conn.execute("SELECT path FROM sync_files"):
                assert_safe_text(path)
        result = member.run("doctor")
        assert_safe_text(result.stdout + result.stderr)


def test_a_changeset_directory_with_a_hostile_name_is_not_walked(tmp_path, monkeypatch) -> None:
    """A real changeset inside a directory whose name is not text is not
    read: its path could not be recorded; the directory is named, escaped."""
    folder, ana, members = make_group(tmp_path, monkeypatch, "Bob")
    bob = members["Bob"]
    bob.out("post", "Hidden away")
    bob.json("sync")
    changes = group_dir(folder) / "changes"
    bob_id = next(m["id"] for m in ana.json("members") if m["name"] == "Bob")
    moved = os.path.join(os.fsencode(changes), b"\xff" + bob_id.encode())
    os.rename(changes / bob_id, moved)
    report = ana.json("sync")
    assert "Hidden away" not in {t["title"] for t in ana.json("threads")}
    assert any(q["file"] == f"changes/\\xff{bob_id}" for q in report["quarantined"])
    os.rename(moved, changes / bob_id)
    ana.json("sync")
    assert "Hidden away" in {t["title"] for t in ana.json("threads")}


def test_shown_name_escapes_every_byte_that_is_not_text() -> None:
    assert shown_name(os.fsdecode(b"\xff\xfe.tsc")) == "\\xff\\xfe.tsc"
    assert shown_name("a\x1bb\u202ec\nd") == "a\\x1bb\\u202ec\\nd"
    assert shown_name("plain-1-2.tsc") == "plain-1-2.tsc"
    assert shown_name("Ana’s copy.tsc") == "Ana’s copy.tsc"
    for raw in (bytes([b]) for b in range(1, 256) if b != ord("/")):
        assert_safe_text(shown_name(os.fsdecode(raw)))


# --- the same over a git remote -----------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture
def no_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "machine-home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)


def git(cwd: Path, *args: str | bytes) -> None:
    subprocess.run(
        ["git", "-c", "user.name=x", "-c", "user.email=x@invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env=git_env(),
    )


def push_planted(remote: Path, tmp_path: Path, plant) -> None:
    """Someone with write access to the remote commits what `plant` makes in
    a clone of it, with plain git."""
    work = tmp_path / "attacker"
    git(tmp_path, "clone", "--quiet", "--branch", "main", str(remote), str(work))
    plant(work)
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", "planted")
    git(work, "push", "--quiet", "origin", "HEAD:main")


@pytest.mark.slow
@needs_git
def test_hostile_names_from_a_git_remote(tmp_path, monkeypatch, no_git_config) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True, env=git_env())
    ana = TS(tmp_path / "ana", monkeypatch)
    ana.out("init", "Circle", "--as", "Ana", "--git", str(remote))
    ana.out("post", "Before")
    ana.json("sync")
    me = ana.json("members")[0]["id"]

    def plant(work: Path) -> None:
        (gid,) = [p for p in work.iterdir() if p.name != ".git"]
        plant_everywhere(gid, [me])

    push_planted(remote, tmp_path, plant)
    ana.out("post", "After")
    result = ana.run("sync")
    assert_safe_text(result.stdout + result.stderr)
    report = ana.json("sync")
    assert any("\\xff\\xfe.tsc" in q["file"] for q in report["quarantined"])
    ben = TS(tmp_path / "ben", monkeypatch)  # a second clone reads the history as it is
    code = ana.out("invite")
    ana.json("sync")
    ben.out("join", code, "--as", "Ben", "--git", str(remote))
    assert_safe_text(str(ben.json("sync")))
