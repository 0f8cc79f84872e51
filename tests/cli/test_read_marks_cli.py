"""Read marks between a member's own devices, through the real CLI and a real
folder: what Ben reads on his desktop is read on his laptop, and nobody else
(the folder, Ana) learns what or when he read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tablespace.core import read_marks
from tablespace.sync import read_marks as sync_read_marks
from tablespace.sync.git import git_env
from tablespace.sync.read_marks import (
    READS_DIR,
    NotForThisDevice,
    decode_read_marks,
)
from tablespace.sync.sealing import my_exchange_key
from tests.cli.test_devices_cli import pair_laptop
from tests.clirun import TS, everyone_syncs, group_dir, group_through


def unread(who: TS) -> set[str]:
    return {t["id"] for t in who.json("threads", "--unread")}


def mention_for_ben(ana: TS, ben: TS, laptop: TS, title: str) -> str:
    """A thread of Ana's naming Ben, in both of his devices' inboxes, unread."""
    thread = ana.out("post", title, "--body", f"what do you think, @Ben? ({title})")
    everyone_syncs(ana, ben, laptop)
    for device in (ben, laptop):
        assert thread in unread(device)
        assert thread in {e["thread"] for e in device.json("inbox")}
    return thread


def device_id(who: TS) -> str:
    with who.group() as group:
        return group.device


def marks_dir(folder: Path, who: TS) -> Path:
    """Where the read marks `who`'s device writes for its member's other devices are."""
    return group_dir(folder) / READS_DIR / device_id(who)


def test_a_thread_read_on_the_desktop_is_read_on_the_laptop_with_its_inbox_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    thread = mention_for_ben(ana, ben, laptop, "Kiln temperatures")
    ben.out("show", thread[:6])
    everyone_syncs(ben, laptop)
    assert thread not in unread(laptop)
    assert laptop.json("inbox") == []
    assert [e["read"] for e in laptop.json("inbox", "--all") if e["thread"] == thread] == [True]
    # Only Ben's devices wrote read marks; Ana, with one device, wrote none.
    written = {p.name for p in (group_dir(folder) / READS_DIR).iterdir()}
    assert device_id(ana) not in written and written <= {device_id(ben), device_id(laptop)}


def test_a_member_with_one_device_writes_no_read_marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    thread = mention_for_ben(ana, ben, laptop, "Glaze recipes")
    before = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    ana.out("show", thread[:6])
    ana.json("sync")
    after = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())
    assert after == before


def test_the_folder_and_ana_s_home_hold_nothing_of_ben_s_marks_in_the_clear(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    thread = mention_for_ben(ana, ben, laptop, "Wood firing")
    ben.out("show", thread[:6])
    everyone_syncs(ben, laptop, ana)
    files = list((group_dir(folder) / READS_DIR).rglob("*.tso"))
    assert files and thread not in unread(laptop)
    for path in files:
        data = path.read_bytes()
        assert bytes.fromhex(thread) not in data and thread.encode() not in data and thread not in path.name
    with ana.group() as group:
        assert group.conn.execute("SELECT count(*) FROM reads_shared").fetchone() == (0,)
        assert group.conn.execute("SELECT count(*) FROM sync_files WHERE path LIKE 'reads/%'").fetchone() == (0,)
        public = bytes.fromhex(
            group.conn.execute("SELECT public_key FROM devices WHERE id = ?", (device_id(ben),)).fetchone()[0]
        )
        for path in marks_dir(folder, ben).iterdir():
            with pytest.raises(NotForThisDevice):  # sealed to Ben's laptop, not to Ana
                decode_read_marks(
                    path.read_bytes(),
                    group_id=group.id,
                    writer=device_id(ben),
                    public_key=public,
                    exchange=my_exchange_key(group),
                )


def test_a_removed_laptop_receives_no_later_marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    first = mention_for_ben(ana, ben, laptop, "Before the removal")
    ben.out("show", first[:6])
    everyone_syncs(ben, laptop)
    assert first not in unread(laptop)
    later = mention_for_ben(ana, ben, laptop, "After the removal")
    ben.run("device", "remove", "laptop")
    ben.out("show", later[:6])
    everyone_syncs(ben, ana, laptop)
    assert later in unread(laptop)
    mine = marks_dir(folder, ben)
    assert not list(mine.iterdir())  # with no other device left, what the desktop wrote for the laptop went


@pytest.mark.parametrize("first", ["desktop", "laptop"])
def test_marks_from_two_devices_merge_to_the_newest_in_either_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str
) -> None:
    folder, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    one = mention_for_ben(ana, ben, laptop, "One")
    two = mention_for_ben(ana, ben, laptop, "Two")
    ben.out("show", one[:6])  # the desktop reads One, and Two before Ana's reply
    ben.out("show", two[:6])
    ana.out("reply", two[:6], "--body", "and more, @Ben")
    ana.json("sync")
    laptop.json("sync")
    laptop.out("show", two[:6])  # the laptop reads Two, reply and all: a later mark
    order = (ben, laptop) if first == "desktop" else (laptop, ben)
    everyone_syncs(*order)
    for device in (ben, laptop):
        assert not {one, two} & unread(device)
        assert device.json("inbox") == []


def newest_in(who: TS, thread: str) -> int:
    with who.group() as group:
        return int(group.conn.execute("SELECT last_activity_hlc FROM threads WHERE id = ?", (thread,)).fetchone()[0])


def test_a_mark_past_what_this_home_holds_waits_for_the_posts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    thread = mention_for_ben(ana, ben, laptop, "Raku")
    held = newest_in(laptop, thread)
    ana.out("reply", thread[:6], "--body", "one more thing, @Ben")
    ana.json("sync")
    mark = newest_in(ana, thread)  # the desktop read Ana's reply, which the laptop has not synced yet
    with laptop.group() as group:
        with group.store.db.atomic():
            # applied after the mark was made (the test's clock is frozen)
            read_marks.apply_marks(group.conn, {thread: mark}, group.now_hlc(), latest=mark)
        assert group.conn.execute("SELECT read_hlc FROM reads WHERE thread_id = ?", (thread,)).fetchone() == (held,)
        assert group.conn.execute("SELECT read_hlc FROM reads_waiting").fetchall() == [(mark,)]
    laptop.json("sync")  # the reply arrives, read as the desktop read it
    assert thread not in unread(laptop) and laptop.json("inbox") == []
    assert [e["read"] for e in laptop.json("inbox", "--all") if e["thread"] == thread] == [True, True]


def test_a_forged_read_marks_file_is_quarantined_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    forged = marks_dir(folder, ben) / "0123456789abcdef.tso"
    forged.parent.mkdir(parents=True, exist_ok=True)
    forged.write_bytes(b"TSO1" + bytes(300))
    report = laptop.json("sync")
    reasons = {q["file"]: q["reason"] for q in report["quarantined"]}
    assert reasons[f"{READS_DIR}/{device_id(ben)}/{forged.name}"] == "read marks of another group"


def marks_in_remote(remote: Path, device: str) -> set[str]:
    tree = subprocess.run(
        ["git", "--git-dir", str(remote), "ls-tree", "-r", "--name-only", "main"],
        capture_output=True,
        env=git_env(),
        check=True,
    ).stdout.decode()
    return {p for p in tree.splitlines() if f"/{READS_DIR}/{device}/" in p}


def test_over_git_a_full_file_removes_the_earlier_ones_for_everyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full file of marks supersedes the earlier ones; over git their
    removal is committed and pushed, not put back as damage."""
    monkeypatch.setenv("HOME", str(tmp_path / "machine-home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setattr(sync_read_marks, "DELTAS_PER_FULL", 1)  # full, delta, full, ...
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True, env=git_env())
    ana, m = group_through(tmp_path, monkeypatch, ("--git", str(remote)), "Ben")
    ben = m["Ben"]
    code = ben.out("device", "add", "--name", "desktop")
    laptop = TS(tmp_path / "laptop", monkeypatch)
    laptop.run("device", "link", code, "--name", "laptop", "--git", str(remote))
    everyone_syncs(ben, laptop)
    threads = [ana.out("post", title, "--body", "@Ben look") for title in ("A", "B", "C")]
    everyone_syncs(ana, ben, laptop)
    seen: set[str] = set()
    for thread in threads:  # one a round: full files and deltas by turns
        ben.out("show", thread[:6])
        ben.json("sync")
        seen |= marks_in_remote(remote, device_id(ben))
    now = marks_in_remote(remote, device_id(ben))
    assert len(now) <= 2 and len(seen) > len(now)  # at most a full file and a delta after it
    laptop.json("sync")
    assert not set(threads) & unread(laptop)
