"""Packed history through real folders and the real CLI: each member folds
their own small changesets into packs, removes what a pack holds once it
has been in the folder for the delay, and every reader (one that joins
later, one that reads a pack like any other file) gets every op."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.sync import engine as engine_module
from tablespace.sync.envelope import decode_changeset, peek_header
from tablespace.sync.folder import FolderStore
from tablespace.sync.keyring import Keyring
from tablespace.sync.packing import HELD_ALREADY, PackPolicy, is_pack_name, named_range
from tests.clirun import NOW, TS, everyone_syncs, make_group

POSTS = PackPolicy().min_files + 2  # enough small files to start a pack
AFTER_THE_DELAY = "2026-12-02T09:00:00Z"  # NOW + 9 days: past PackPolicy.delay
LATER_STILL = "2026-12-11T09:00:00Z"  # and the delay again


def member_id(member: TS) -> str:
    group = Group.open(Home(member.home))
    group.close()
    return group.me


def own_files(folder: Path, member: TS) -> dict[str, Path]:
    """The member's changesets in the folder, by file name."""
    return {p.name: p for p in folder.glob(f"*/changes/{member_id(member)}/*.tsc")}


def packs(folder: Path, member: TS) -> dict[str, Path]:
    return {name: p for name, p in own_files(folder, member).items() if is_pack_name(name)}


def small(folder: Path, member: TS) -> dict[str, Path]:
    return {name: p for name, p in own_files(folder, member).items() if not is_pack_name(name)}


def seqs_in(files: dict[str, Path]) -> set[int]:
    found: set[int] = set()
    for path in files.values():
        header = peek_header(path.read_bytes())
        found |= set(range(header.first_seq, header.last_seq + 1))
    return found


def own_seqs(member: TS) -> set[int]:
    group = Group.open(Home(member.home))
    try:
        return {row[0] for row in group.conn.execute("SELECT seq FROM ops WHERE author = ?", (group.me,))}
    finally:
        group.close()


def sync_reasons(member: TS) -> dict[str, str | None]:
    group = Group.open(Home(member.home))
    try:
        return dict(group.conn.execute("SELECT path, reason FROM sync_files").fetchall())
    finally:
        group.close()


def busy(folder: Path, *members: TS, posts: int = POSTS) -> None:
    """Each member posts and syncs, one post at a time."""
    for i in range(posts):
        for member in members:
            member.out("post", f"Post {i} by {member.home.name}")
            member.json("sync")


@pytest.fixture
def two(tmp_path, monkeypatch):
    folder, ana, others = make_group(tmp_path, monkeypatch, "Ben")
    return folder, ana, others["Ben"]


def test_members_pack_their_own_files_and_remove_them_only_after_the_delay(two, tmp_path, monkeypatch) -> None:
    folder, ana, ben = two
    busy(folder, ana, ben)
    everyone_syncs(ana, ben)
    for member in (ana, ben):
        assert packs(folder, member), "a member with many small files writes a pack"
        # before the delay, the packed small files are all still there
        assert seqs_in(small(folder, member)) == own_seqs(member)
        assert seqs_in(packs(folder, member)) <= own_seqs(member)
    before = {name: p.read_bytes() for name, p in own_files(folder, ben).items()}
    anas_before = len(own_files(folder, ana))

    monkeypatch.setenv("TABLESPACE_NOW", AFTER_THE_DELAY)
    assert ana.json("sync")["exported"] == 0
    # Ana removed her own packed files, and never touched Ben's
    assert {name: p.read_bytes() for name, p in own_files(folder, ben).items()} == before
    assert len(own_files(folder, ana)) < anas_before / 2
    assert seqs_in(own_files(folder, ana)) == own_seqs(ana)
    everyone_syncs(ana, ben)
    for member in (ana, ben):
        assert seqs_in(own_files(folder, member)) == own_seqs(member)
        # what is left small is held by a newer pack, and goes after its delay
        assert seqs_in(small(folder, member)) <= seqs_in(packs(folder, member))
    monkeypatch.setenv("TABLESPACE_NOW", LATER_STILL)
    everyone_syncs(ana, ben)
    for member in (ana, ben):
        assert seqs_in(own_files(folder, member)) == own_seqs(member)
        assert small(folder, member) == {}
        assert len(packs(folder, member)) <= 2
    # the removed files are not a loss: nothing goes out again, nothing waits
    for member in (ana, ben):
        report = member.json("sync")
        assert (report["exported"], report["pending"], report["quarantined"]) == (0, 0, [])

    # a member who joins now reads everything from the packs
    cat = TS(tmp_path / "cat", monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    request = cat.out("join", code, "--as", "Cat", "--folder", str(folder))
    ana.run("admit", request[:6])
    everyone_syncs(ana, cat)
    titles = {t["title"] for t in ana.json("threads")}
    assert len(titles) == 2 * POSTS
    assert {t["title"] for t in cat.json("threads")} == titles
    assert cat.ops() == ana.ops()


def test_a_reader_holding_a_pack_s_ops_skips_it_unopened(two, monkeypatch) -> None:
    folder, ana, ben = two
    busy(folder, ana, ben)
    everyone_syncs(ana, ben)
    reasons = sync_reasons(ben)
    (pack,) = [f"changes/{member_id(ana)}/{name}" for name in packs(folder, ana)]
    assert reasons[pack] == HELD_ALREADY
    # a reader that opens it (as a build without packs does) gets nothing
    # new, refuses nothing, and keeps every op
    monkeypatch.setattr(engine_module, "held_already", lambda group, path, read=None, waiting=None: False)
    ops = ben.ops()
    group = Group.open(Home(ben.home))
    with group.store.db.atomic():
        group.conn.execute("DELETE FROM sync_files WHERE path = ?", (pack,))
    group.close()
    report = ben.json("sync")
    assert (report["imported"], report["quarantined"]) == (0, [])
    assert ben.ops() == ops
    assert sync_reasons(ben)[pack] is None


def test_a_new_member_reads_a_pack_once_not_the_smaller_packs_it_holds(two, tmp_path, monkeypatch) -> None:
    folder, ana, ben = two
    busy(folder, ana, ben)
    ((name, path),) = packs(folder, ana).items()
    # a smaller pack the big one holds, still in the folder (as a member's
    # superseded packs are until the delay is over), named so that it sorts first
    inner = f"pack-00000001-00000002-{'0' * 16}.tsc"
    shutil.copyfile(path, path.parent / inner)
    cat = TS(tmp_path / "cat", monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    request = cat.out("join", code, "--as", "Cat", "--folder", str(folder))
    ana.run("admit", request[:6])
    everyone_syncs(ana, cat)
    reasons = sync_reasons(cat)
    anas = f"changes/{member_id(ana)}/"
    assert reasons[anas + name] is None
    assert reasons[anas + inner] == HELD_ALREADY
    assert cat.ops() == ana.ops()


def test_a_pack_is_an_ordinary_changeset_holding_every_op_of_its_range(two) -> None:
    folder, ana, ben = two
    busy(folder, ana, ben)
    everyone_syncs(ana, ben)
    keys = Keyring.load(next((ben.home / "groups").iterdir())).epochs
    group = Group.open(Home(ana.home))
    try:
        for name, path in packs(folder, ana).items():
            data = path.read_bytes()
            changeset = decode_changeset(data, group_id=group.id, epoch_keys=keys)
            assert named_range(f"changes/{group.me}/{name}") == (group.me, changeset.first_seq, changeset.last_seq)
            mine = {op.seq: op for op in group.store.all_ops() if op.author == group.me}
            assert [op.to_wire() for op in changeset.ops] == [
                mine[s].to_wire() for s in range(changeset.first_seq, changeset.last_seq + 1)
            ]
    finally:
        group.close()


def test_a_missing_file_a_pack_holds_is_not_sent_again_but_an_unheld_one_is(two) -> None:
    folder, ana, ben = two
    busy(folder, ana, ben)
    everyone_syncs(ana, ben)
    held = seqs_in(packs(folder, ana))
    for path in small(folder, ana).values():
        header = peek_header(path.read_bytes())
        if header.first_seq in held:
            path.unlink()  # as a slow or careless sync tool might, before the delay
    assert ana.json("sync")["exported"] == 0
    newest = max(small(folder, ana).values(), key=lambda p: peek_header(p.read_bytes()).first_seq)
    newest.unlink()  # a file no pack holds: lost, as before packs
    assert ana.json("sync")["exported"] >= 1
    everyone_syncs(ana, ben)
    assert ben.json("sync")["pending"] == 0


def test_a_pack_that_vanished_keeps_the_small_files_it_held(two, monkeypatch) -> None:
    folder, ana, ben = two
    busy(folder, ana, ben)
    everyone_syncs(ana, ben)
    for path in packs(folder, ana).values():
        path.unlink()
    assert ana.json("sync")["exported"] == 0  # the small files still hold every op
    monkeypatch.setenv("TABLESPACE_NOW", AFTER_THE_DELAY)
    everyone_syncs(ana, ben)
    assert seqs_in(own_files(folder, ana)) == own_seqs(ana)
    assert ben.json("sync")["pending"] == 0


def test_ops_under_two_keys_go_in_separate_packs_each_under_its_own_key(tmp_path, monkeypatch) -> None:
    folder, ana, others = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = others["Ben"], others["Cat"]
    busy(folder, ana, posts=POSTS // 2)
    ana.run("remove", "cat")  # a new key at once; the removal itself goes out under the old one
    ana.json("sync")
    busy(folder, ana, posts=POSTS // 2)
    everyone_syncs(ana, ben, cat)
    monkeypatch.setenv("TABLESPACE_NOW", AFTER_THE_DELAY)
    everyone_syncs(ana, ben)
    everyone_syncs(ana, ben)
    headers = [peek_header(p.read_bytes()) for p in own_files(folder, ana).values()]
    assert len({h.epoch for h in headers}) == 2
    # every file of one epoch holds seqs all before every file of the next
    by_epoch = {e: {s for h in headers if h.epoch == e for s in range(h.first_seq, h.last_seq + 1)} for e in (0, 1)}
    assert max(by_epoch[0]) < min(by_epoch[1])
    assert by_epoch[0] | by_epoch[1] == own_seqs(ana)
    # Cat (removed) can still open what she could before, and nothing after
    cat_keys = Keyring.load(next((cat.home / "groups").iterdir())).epochs
    assert set(cat_keys) == {0}
    # Ben, who holds both keys, has everything; a newcomer would too
    assert ben.json("sync")["pending"] == 0
    assert {t["title"] for t in ben.json("threads")} == {t["title"] for t in ana.json("threads")}


def test_a_pack_changed_in_place_keeps_the_files_it_held(two, monkeypatch) -> None:
    """A pack whose bytes changed but whose size and time did not (damage
    on disk, or a member overwriting it and setting the time back) must not
    stand in for the small files: they stay, and every op stays readable."""
    folder, ana, ben = two
    busy(folder, ana, ben)
    everyone_syncs(ana, ben)
    (pack,) = packs(folder, ana).values()
    stat = pack.stat()
    data = bytearray(pack.read_bytes())
    data[-3] ^= 0xFF
    pack.write_bytes(bytes(data))
    os.utime(pack, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.setenv("TABLESPACE_NOW", AFTER_THE_DELAY)
    ana.json("sync")
    assert seqs_in(small(folder, ana)) == own_seqs(ana)


class Killed(BaseException):
    """The process dies here (kill -9): nothing after it runs."""


def test_a_round_killed_just_after_writing_a_pack_leaves_no_orphan(two, monkeypatch) -> None:
    folder, ana, ben = two
    write_once = FolderStore.write_once

    def killed_after_a_pack(self: FolderStore, path: str, data: bytes, **kw: object) -> object:
        info = write_once(self, path, data, **kw)  # type: ignore[arg-type]
        if is_pack_name(path):
            raise Killed
        return info

    monkeypatch.setattr(FolderStore, "write_once", killed_after_a_pack)
    with pytest.raises(Killed):
        busy(folder, ana)
    monkeypatch.undo()
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    busy(folder, ana, ben, posts=4)
    everyone_syncs(ana, ben)
    for now_ in (AFTER_THE_DELAY, LATER_STILL, "2026-12-20T09:00:00Z"):
        monkeypatch.setenv("TABLESPACE_NOW", now_)
        everyone_syncs(ana, ben)
    # the pack written before the kill is Ana's like any other: once its
    # delay is over nothing is left twice, and every op is there once
    assert small(folder, ana) == {}
    ranges = sorted(named_range(f"changes/{member_id(ana)}/{name}")[1:] for name in packs(folder, ana))  # type: ignore[index]
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False)), ranges
    assert seqs_in(own_files(folder, ana)) == own_seqs(ana)


def test_a_reader_reads_a_pack_it_skipped_once_its_log_turns_out_to_lack_ops(two, monkeypatch) -> None:
    """Skipping by name is a belief about our own log; when ops of that
    author are waiting for a predecessor, the packs skipped are read after all."""
    folder, ana, ben = two
    busy(folder, ana, ben)
    everyone_syncs(ana, ben)
    monkeypatch.setenv("TABLESPACE_NOW", AFTER_THE_DELAY)
    everyone_syncs(ana, ben)
    monkeypatch.setenv("TABLESPACE_NOW", LATER_STILL)
    everyone_syncs(ana, ben)
    assert small(folder, ana) == {}
    anas = member_id(ana)
    assert any(r == HELD_ALREADY for p, r in sync_reasons(ben).items() if p.startswith(f"changes/{anas}/"))
    # Ben's log loses Ana's newest ops (as if the belief had been wrong)
    newest = max(own_seqs(ana))
    group = Group.open(Home(ben.home))
    with group.store.db.atomic():
        group.conn.execute("DELETE FROM ops WHERE author = ? AND seq > ?", (anas, newest - 3))
    group.close()
    ana.out("post", "One more")
    ana.json("sync")
    ben.json("sync")
    assert ben.json("sync")["pending"] == 0
    assert ben.ops() == ana.ops()


def test_files_named_like_our_packs_by_someone_else_are_never_ours(two, monkeypatch) -> None:
    """Another member puts files named as packs of Ana's whole range in her
    directory: garbage, and a changeset of Ben's own. Ana neither adopts nor
    trusts them, removes only what her own packs hold, and loses nothing."""
    folder, ana, ben = two
    busy(folder, ana, ben)
    everyone_syncs(ana, ben)
    anas_dir = next(iter(own_files(folder, ana).values())).parent
    last = max(own_seqs(ana)) + 50
    (anas_dir / f"pack-00000001-{last:08d}-{'0' * 16}.tsc").write_bytes(b"TSC" + os.urandom(2000))
    bens = next(iter(small(folder, ben).values()))
    (anas_dir / f"pack-00000001-{last:08d}-{'1' * 16}.tsc").write_bytes(bens.read_bytes())
    for now_ in (NOW, AFTER_THE_DELAY, LATER_STILL):
        monkeypatch.setenv("TABLESPACE_NOW", now_)
        everyone_syncs(ana, ben)
    genuine = {
        n: p for n, p in own_files(folder, ana).items() if not n.endswith(("0" * 16 + ".tsc", "1" * 16 + ".tsc"))
    }
    assert seqs_in(genuine) == own_seqs(ana)
    assert len(own_files(folder, ana)) == len(genuine) + 2  # never deleted: not hers
    assert ben.json("sync")["pending"] == 0
    assert ben.ops() == ana.ops()


def test_packs_lost_after_their_small_files_went_are_written_again(two, monkeypatch) -> None:
    folder, ana, ben = two
    busy(folder, ana, ben)
    for now_ in (NOW, AFTER_THE_DELAY, LATER_STILL):
        monkeypatch.setenv("TABLESPACE_NOW", now_)
        everyone_syncs(ana, ben)
    assert small(folder, ana) == {}
    for path in packs(folder, ana).values():
        path.unlink()  # the folder lost them (restored from an old copy, a careless delete)
    assert ana.json("sync")["exported"] == len(own_seqs(ana))
    assert seqs_in(own_files(folder, ana)) == own_seqs(ana)
    assert ben.json("sync")["pending"] == 0


def test_a_clock_set_back_after_packing_restarts_the_delay(two, monkeypatch) -> None:
    """A pack written while the clock ran a month ahead: once the clock is
    right again, its delay counts from then, not from a month away."""
    folder, ana, _ben = two
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-23T09:00:00Z")
    busy(folder, ana)
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    ana.json("sync")
    assert packs(folder, ana)
    with_small = len(small(folder, ana))
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-26T09:00:00Z")  # the delay after the clock came back
    ana.json("sync")
    assert len(small(folder, ana)) < with_small
    assert seqs_in(own_files(folder, ana)) == own_seqs(ana)
