"""A removed member reads nothing written afterwards, even what a member wrote
without having seen the removal: a sync imports before it exports, and seals
what goes out under the newest key the member holds after that import.

Real homes, a real shared folder and a real bare git repository; what the
removed member can read is checked with every epoch key her home holds.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.sync import roster
from tablespace.sync.envelope import BadChangeset, decode_changeset, peek_header
from tablespace.sync.git import git_env
from tablespace.sync.keyring import Keyring
from tests.clirun import TS, everyone_syncs, group_through, make_group

REPO = Path(__file__).resolve().parents[2]
BOB_WRITES = "Bob writes after the removal"
# The removal is made at AHEAD; a member whose clock is behind writes at BEHIND,
# so their post's HLC is earlier than the removal's (within the drift allowed).
AHEAD = "2026-11-23T09:04:00Z"
BEHIND = "2026-11-23T09:01:00Z"


def titles(member: TS) -> set[str]:
    return {t["title"] for t in member.json("threads")}


def statuses(member: TS) -> dict[str, str]:
    return {x["name"]: x["status"] for x in member.json("members")}


def member_id(member: TS) -> str:
    group = Group.open(Home(member.home))
    group.close()
    return group.me


def query(member: TS, sql: str, *args: object):
    group = Group.open(Home(member.home))
    try:
        return group.conn.execute(sql, args).fetchone()[0]
    finally:
        group.close()


def opens_for(member: TS, data: bytes) -> bool:
    """Whether any epoch key `member`'s home holds, of any epoch, opens the
    changeset `data`: each is offered as the key of the file's epoch."""
    group = Group.open(Home(member.home))
    group_id, keys = group.id, Keyring.load(group.path).keys
    group.close()
    epoch = peek_header(data).epoch
    for key in keys:
        try:
            decode_changeset(data, group_id=group_id, epoch_keys={epoch: key.key})
            return True
        except BadChangeset:  # UnknownEpoch too: not the key it was written under
            continue
    return False


def folder_files(folder: Path, author: TS) -> dict[str, bytes]:
    """The changesets `author` has in the shared folder, by path."""
    return {str(p): p.read_bytes() for p in folder.glob(f"*/changes/{member_id(author)}/*.tsc")}


def our_post_is_dated_before_the_removal(member: TS) -> bool:
    """Whether `member`'s latest thread has an HLC earlier than the departure's."""
    post_hlc = query(member, "SELECT max(hlc) FROM ops WHERE author = ? AND kind = 'thread.start'", member_id(member))
    removal = query(member, "SELECT max(hlc) FROM ops WHERE kind IN ('member.remove', 'member.leave')")
    return post_hlc < removal


@pytest.mark.slow
@pytest.mark.parametrize("bobs_clock", ["level", "behind"])
def test_a_post_written_before_the_removal_was_seen_is_sealed_under_the_new_key(
    tmp_path, monkeypatch, bobs_clock
) -> None:
    """Ana removes Cat (and renews the key) and syncs; Bob, who has not synced
    since, posts and syncs. His post goes out under the key that left Cat
    out, whether its HLC is after the removal's or before it (his clock is
    behind): Cat's home, with every key she holds, opens none of his new
    files. Cat still learns she was removed; Ana and Dan read Bob's post."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Bob", "Cat", "Dan")
    bob, cat, dan = m["Bob"], m["Cat"], m["Dan"]
    everyone_syncs(ana, bob, cat, dan)
    before = folder_files(folder, bob)
    monkeypatch.setenv("TABLESPACE_NOW", AHEAD)
    ana.run("remove", "cat", "--reason", "spam")
    ana.json("sync")
    if bobs_clock == "behind":
        monkeypatch.setenv("TABLESPACE_NOW", BEHIND)
    bob.out("post", BOB_WRITES)
    report = bob.json("sync")
    assert our_post_is_dated_before_the_removal(bob) == (bobs_clock == "behind")
    new = {p: d for p, d in folder_files(folder, bob).items() if p not in before}
    assert report["exported"] >= 1 and new
    for data in new.values():
        assert not opens_for(cat, data)
    everyone_syncs(ana, dan, cat)
    assert BOB_WRITES in titles(ana) and BOB_WRITES in titles(dan)
    assert BOB_WRITES not in titles(cat)
    assert statuses(cat)["Cat"] == "removed"  # the removal itself reached her


@pytest.mark.slow
@pytest.mark.parametrize("departure", ["removal", "leave"])
def test_with_no_new_key_yet_a_post_dated_before_the_departure_waits_for_one(tmp_path, monkeypatch, departure) -> None:
    """Cat is gone (removed by Ana, who leaves the renewal to others; or she
    left) and nobody has renewed the key. Bob, his clock behind, wrote a post
    dated before her departure without having seen it. Its HLC says nothing
    about when it was written: it does not go out under the key Cat holds;
    Bob renews the key himself (something of his waits for it) and sends it
    under the new one. Ana's removal went out under the old key: Cat learns."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Bob", "Cat", "Dan")
    bob, cat, dan = m["Bob"], m["Cat"], m["Dan"]
    everyone_syncs(ana, bob, cat, dan)
    ana_id = member_id(ana)
    should_rotate = roster.should_rotate
    monkeypatch.setattr(
        roster, "should_rotate", lambda group, *a, **k: group.me != ana_id and should_rotate(group, *a, **k)
    )
    monkeypatch.setenv("TABLESPACE_NOW", AHEAD)
    if departure == "removal":
        ana.run("remove", "cat")
        ana.json("sync")
    else:
        cat.run("leave")
        cat.json("sync")
    assert query(ana if departure == "removal" else cat, "SELECT count(*) FROM epochs") == 1  # nobody renewed
    before = folder_files(folder, bob)
    monkeypatch.setenv("TABLESPACE_NOW", BEHIND)
    bob.out("post", BOB_WRITES)
    report = bob.json("sync")
    assert our_post_is_dated_before_the_removal(bob)
    assert report["renewed_key"] is True
    new = {p: d for p, d in folder_files(folder, bob).items() if p not in before}
    assert new
    for data in new.values():
        assert not opens_for(cat, data)
    everyone_syncs(ana, dan, cat)
    assert BOB_WRITES in titles(ana) and BOB_WRITES in titles(dan)
    assert BOB_WRITES not in titles(cat)
    assert statuses(cat)["Cat"] == ("removed" if departure == "removal" else "left")


@pytest.mark.slow
def test_a_removal_renews_the_key_only_after_taking_in_an_earlier_departure(tmp_path, monkeypatch) -> None:
    """Ben left and synced; Ana, who has not synced since, posts and then
    removes Cat, which renews the key at once (rotate_now). It takes in
    Ben's leave first: her post and the removal go out under a key Ben never
    had (Cat was still a member when they were written, so hers opens it and
    she learns of her removal), and nothing after under one Cat has."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    everyone_syncs(ana, ben, cat)
    ben.run("leave")
    ben.json("sync")
    before = folder_files(folder, ana)
    monkeypatch.setenv("TABLESPACE_NOW", AHEAD)
    ana.out("post", "Ana after Ben left")
    ana.run("remove", "cat")
    new = {p: d for p, d in folder_files(folder, ana).items() if p not in before}
    assert new
    everyone_syncs(ben, cat)  # each picks up the keys granted to them
    assert not any(opens_for(ben, d) for d in new.values())
    assert any(opens_for(cat, d) for d in new.values())  # the file with her removal in it
    ana.out("post", "Ana after both")
    everyone_syncs(ana, ben, cat)
    assert not {"Ana after Ben left", "Ana after both"} & titles(ben)
    assert "Ana after Ben left" in titles(cat) and "Ana after both" not in titles(cat)
    assert statuses(cat)["Cat"] == "removed"


@pytest.mark.slow
def test_a_removal_dated_before_a_leave_it_had_not_seen_is_not_sent_to_the_removed(tmp_path, monkeypatch) -> None:
    """The one case where a removed member does not receive their removal:
    Ana removes Cat offline; Ben leaves later (by the clock) and syncs
    before Ana's folder is back. Ana's removal could go out only under a key
    Ben holds, and Ana cannot tell whether it was made after he left: it
    goes out under the newest key only. Neither reads what Ana wrote; the
    others refuse what Cat writes after her removal all the same."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat", "Dan")
    ben, cat, dan = m["Ben"], m["Cat"], m["Dan"]
    everyone_syncs(ana, ben, cat, dan)
    unplugged = tmp_path / "unplugged"
    folder.rename(unplugged)
    ana.run("remove", "cat")
    ana.out("post", "Ana after the removal")
    unplugged.rename(folder)
    monkeypatch.setenv("TABLESPACE_NOW", AHEAD)
    ben.run("leave")
    ben.json("sync")
    ana.json("sync")
    everyone_syncs(ben, cat, dan)
    assert statuses(cat)["Cat"] == "active"  # as far as she can tell
    assert "Ana after the removal" not in titles(cat) | titles(ben)
    assert "Ana after the removal" in titles(dan)
    cat.out("post", "Cat after her removal")
    everyone_syncs(cat, ana, dan)
    assert "Cat after her removal" not in titles(ana) | titles(dan)


def test_a_member_with_nothing_to_send_still_waits_for_a_moderator(tmp_path, monkeypatch) -> None:
    """Importing first changes nothing for a member with nothing of theirs
    waiting: Bob sees Cat's leave and leaves the renewal to a moderator."""
    _, _, m = make_group(tmp_path, monkeypatch, "Bob", "Cat")
    bob, cat = m["Bob"], m["Cat"]
    cat.run("leave")
    cat.json("sync")
    report = bob.json("sync")
    assert report["renewed_key"] is False and report["exported"] == 0
    assert query(bob, "SELECT count(*) FROM epochs") == 1


# --- kill -9 and a failing import -----------------------------------------------------

DRIVER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from tablespace.core.group import Group
    from tablespace.core.home import Home
    from tablespace.sync.engine import SyncEngine
    from tablespace.actions import sync_group

    real = SyncEngine.import_new
    def import_new(self, *a, **k):  # the import committed, nothing exported since
        real(self, *a, **k)
        os.kill(os.getpid(), signal.SIGKILL)
    SyncEngine.import_new = import_new
    group = Group.open(Home(Path(sys.argv[1])))
    sync_group(group)
""")


@pytest.mark.slow
@pytest.mark.xdist_group("kill9")
def test_a_kill_between_import_and_export_leaves_the_post_waiting_for_the_new_key(tmp_path, monkeypatch) -> None:
    """Bob's sync is killed (-9) once the import that brought Cat's removal
    has committed: nothing of his went out, the removal is in his log, the
    database is whole; his next sync sends the post under the new key."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Bob", "Cat")
    bob, cat = m["Bob"], m["Cat"]
    everyone_syncs(ana, bob, cat)
    ana.run("remove", "cat")
    ana.json("sync")
    bob.out("post", BOB_WRITES)
    before = folder_files(folder, bob)
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(bob.home)],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (db,) = bob.home.glob("groups/*/group.db")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert statuses(bob)["Cat"] == "removed"
    assert folder_files(folder, bob) == before  # nothing of Bob's went out under any key
    bob.json("sync")
    new = {p: d for p, d in folder_files(folder, bob).items() if p not in before}
    assert new and not any(opens_for(cat, d) for d in new.values())
    everyone_syncs(ana, cat)
    assert BOB_WRITES in titles(ana) and BOB_WRITES not in titles(cat)


@pytest.mark.slow
def test_a_failing_import_keeps_our_changes_in_the_outbox_for_the_next_round(tmp_path, monkeypatch) -> None:
    """The import fails (here the disk, mid-round): nothing of Bob's goes out,
    since he cannot know which key is safe, and nothing is lost: his next
    sync sends the post, under the key that left Cat out."""
    from tablespace.actions import sync_group
    from tablespace.core.store import Store

    folder, ana, m = make_group(tmp_path, monkeypatch, "Bob", "Cat")
    bob, cat = m["Bob"], m["Cat"]
    everyone_syncs(ana, bob, cat)
    ana.run("remove", "cat")
    ana.json("sync")
    bob.out("post", BOB_WRITES)
    before = folder_files(folder, bob)
    real = Store.ingest

    def failing(self, ops):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Store, "ingest", failing)
    group = Group.open(Home(bob.home))
    with pytest.raises(sqlite3.OperationalError):
        try:
            sync_group(group)
        finally:
            group.close()
    monkeypatch.setattr(Store, "ingest", real)
    assert folder_files(folder, bob) == before
    assert query(bob, "SELECT count(*) FROM ops WHERE kind = 'thread.start' AND author = ?", member_id(bob)) == 1
    bob.json("sync")
    new = {p: d for p, d in folder_files(folder, bob).items() if p not in before}
    assert new and not any(opens_for(cat, d) for d in new.values())
    everyone_syncs(ana, cat)
    assert BOB_WRITES in titles(ana) and BOB_WRITES not in titles(cat)


# --- the same over a git remote ---------------------------------------------------------

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def in_bare(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, env=git_env(), check=True)


def remote_files(repo: Path, author: TS) -> dict[str, bytes]:
    """The changesets `author` has on the remote's main branch, by path."""
    listed = in_bare(repo, "ls-tree", "-r", "--name-only", "main").stdout.decode().split()
    me = f"/changes/{member_id(author)}/"
    return {p: in_bare(repo, "show", f"main:{p}").stdout for p in listed if me in p}


def git_group(tmp_path: Path, monkeypatch, *names: str) -> tuple[Path, TS, dict[str, TS]]:
    monkeypatch.setenv("HOME", str(tmp_path / "machine-home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    repo = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(repo)], check=True, env=git_env())
    return repo, *group_through(tmp_path, monkeypatch, ("--git", str(repo)), *names)


@pytest.mark.slow
@needs_git
@pytest.mark.parametrize("bobs_clock", ["level", "behind"])
def test_over_git_a_post_written_before_the_removal_was_seen_is_sealed_under_the_new_key(
    tmp_path, monkeypatch, bobs_clock
) -> None:
    repo, ana, m = git_group(tmp_path, monkeypatch, "Bob", "Cat", "Dan")
    bob, cat, dan = m["Bob"], m["Cat"], m["Dan"]
    everyone_syncs(ana, bob, cat, dan)
    before = remote_files(repo, bob)
    monkeypatch.setenv("TABLESPACE_NOW", AHEAD)
    ana.run("remove", "cat")
    ana.json("sync")  # pushes the removal and the new key
    if bobs_clock == "behind":
        monkeypatch.setenv("TABLESPACE_NOW", BEHIND)
    bob.out("post", BOB_WRITES)
    bob.json("sync")
    assert our_post_is_dated_before_the_removal(bob) == (bobs_clock == "behind")
    new = {p: d for p, d in remote_files(repo, bob).items() if p not in before}
    assert new
    for data in new.values():
        assert not opens_for(cat, data)
    everyone_syncs(ana, dan, cat)
    assert BOB_WRITES in titles(ana) and BOB_WRITES in titles(dan)
    assert BOB_WRITES not in titles(cat)
    assert statuses(cat)["Cat"] == "removed"


@pytest.mark.slow
def test_what_the_removed_member_keeps(tmp_path, monkeypatch) -> None:
    """What a removal cannot take back: everything written before it that
    reached Cat stays readable in her home, and the removal itself reaches
    her; nothing written after it does."""
    _, ana, m = make_group(tmp_path, monkeypatch, "Bob", "Cat")
    bob, cat = m["Bob"], m["Cat"]
    ana.out("post", "Before the removal")
    bob.out("post", "Bob before the removal")
    everyone_syncs(ana, bob, cat)
    ana.run("remove", "cat")
    ana.out("post", "Ana after the removal")
    ana.json("sync")
    bob.out("post", BOB_WRITES)
    everyone_syncs(bob, ana, cat)
    assert titles(cat) == {"Before the removal", "Bob before the removal"}
    assert statuses(cat)["Cat"] == "removed"
    assert titles(bob) >= {"Ana after the removal", BOB_WRITES}
