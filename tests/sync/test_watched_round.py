"""A round beside a running watch (`sync --watch`, the app) looks only at the
directories the watch saw change; without one (`tablespace sync`), at every
directory's signature, listing again any whose times are too close to the
last listing to be trusted (coarse file system clocks)."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tablespace import actions
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.sync import folder as folder_module
from tablespace.sync.watch import CHANGED
from tablespace.sync.watched import LOCAL_FILE_SYSTEMS, SeenChanges, file_system, running_watch
from tests.clirun import TS, founder
from tests.sync.test_idle_round import settle
from tests.sync.test_sync_hygiene import joined, posted_in_rounds


def looked_at(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every path stat'ed or listed from now on, as ("stat" or "list",
    path) (real calls, recorded)."""
    seen: list[tuple[str, str]] = []
    real_stat, real_listdir = os.stat, os.listdir

    def where(path, dir_fd) -> str:  # type: ignore[no-untyped-def]
        if isinstance(path, int):
            return os.readlink(f"/proc/self/fd/{path}")
        return os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path) if dir_fd is not None else str(path)

    def stat(path, *, dir_fd=None, follow_symlinks=True):  # type: ignore[no-untyped-def]
        seen.append(("stat", where(path, dir_fd)))
        return real_stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    def listdir(path="."):  # type: ignore[no-untyped-def]
        seen.append(("list", where(path, None)))
        return real_listdir(path)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "listdir", listdir)
    return seen


@contextmanager
def watched(member: TS) -> Iterator[queue.Queue[str]]:
    """The app's folder watch on `member`'s group, running in this process
    until the block ends; yields why each round it makes due is due."""
    if file_system(str(member.home)) not in LOCAL_FILE_SYSTEMS:
        pytest.skip("the temporary directory is not on a file system whose every change the OS reports")
    group = Group.open(Home(member.home))
    stop = threading.Event()
    whys: queue.Queue[str] = queue.Queue()

    def run() -> None:
        for why in actions.watch_folder(group, stop, debounce_ms=50):
            whys.put(why)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            seen = running_watch(group.path)
            if seen is not None and seen.up:
                break
            threading.Event().wait(0.05)
        else:
            raise AssertionError("the watch did not come up")
        yield whys
    finally:
        stop.set()
        thread.join(10)
        group.close()


def wait_for(whys: queue.Queue[str], wanted: str) -> None:
    """Until the watch made a round due for `wanted`, then went quiet for a
    second: every change so far has reached it (a round that runs before a
    change's event arrives misses it, and the event makes the next one due)."""
    while whys.get(timeout=10) != wanted:
        pass
    with contextlib.suppress(queue.Empty):
        while True:
            whys.get(timeout=1.0)


def settled_pair(tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[TS, TS, Path]:
    """Ana, who posted a dozen threads, and Ben, whose rounds trust her
    directory now: (ana, ben, her directory)."""
    monkeypatch.setattr(folder_module, "RACY_SECONDS", 0.2)
    ana = founder(tmp_path, folder, monkeypatch)
    ana.folder = folder  # type: ignore[attr-defined]
    ben = joined(tmp_path, folder, monkeypatch, ana)
    files = posted_in_rounds(ana, *(f"Thread {i}" for i in range(12)))
    ben.json("sync")
    settle()
    ben.json("sync")
    return ana, ben, files[0].parent


def test_a_watched_idle_round_looks_at_no_directory_of_authors(tmp_path, folder, monkeypatch) -> None:
    ana, ben, hers = settled_pair(tmp_path, folder, monkeypatch)
    with watched(ben):
        ben.json("sync")  # the first round beside the watch looks at everything once
        paths = looked_at(monkeypatch)
        report = ben.json("sync")
    assert (report["imported"], report["exported"]) == (0, 0)
    assert not [p for _, p in paths if p.startswith(str(hers))]  # neither stat'ed nor listed
    listed = {p for how, p in paths if how == "list"}
    assert str(hers.parent) not in listed  # nor changes/ itself: no directory came or went there
    assert str(hers.parent.parent) not in listed  # nor the group's directory
    # Ben's own directory is listed every round (what became of his files: sync/losses.py).
    assert {p for p in listed if p.startswith(str(hers.parent))} <= {str(d) for d in hers.parent.iterdir()} - {
        str(hers)
    }


def test_a_file_landing_while_watched_is_seen_by_the_next_round(tmp_path, folder, monkeypatch) -> None:
    ana, ben, _ = settled_pair(tmp_path, folder, monkeypatch)
    with watched(ben) as whys:
        ben.json("sync")
        posted_in_rounds(ana, "Landed")
        wait_for(whys, CHANGED)
        assert ben.json("sync")["imported"] == 1
        carl = joined(tmp_path, folder, monkeypatch, ana, "Carl")  # a directory of an author new to Ben
        carl.out("post", "From Carl")
        carl.json("sync")
        wait_for(whys, CHANGED)
        ben.json("sync")
    assert {"Landed", "From Carl"} <= {t["title"] for t in ben.json("threads")}


def test_without_a_watch_a_directory_changed_just_before_a_listing_is_listed_again(
    tmp_path, folder, monkeypatch
) -> None:
    """On FAT (a 2 s clock) a file landing in the same tick as a listing
    leaves its directory's times as that listing saw them: a directory whose
    times are within RACY_SECONDS of the listing is not trusted by the next."""
    monkeypatch.setattr(folder_module, "RACY_SECONDS", 60.0)
    ana = founder(tmp_path, folder, monkeypatch)
    ana.folder = folder  # type: ignore[attr-defined]
    ben = joined(tmp_path, folder, monkeypatch, ana)
    (one,) = posted_in_rounds(ana, "One")
    ben.json("sync")
    paths = looked_at(monkeypatch)
    ben.json("sync")
    assert ("list", str(one.parent)) in paths  # listed again: its times are too fresh to say it is as it was
    monkeypatch.setattr(folder_module, "RACY_SECONDS", 0.0)
    ben.json("sync")  # now trusted
    paths.clear()
    ben.json("sync")
    assert ("list", str(one.parent)) not in paths
    assert ("stat", str(one.parent)) in paths  # its signature is still looked at: no watch says it is as it was


def test_a_round_looks_at_everything_after_the_watch_stops_or_a_round_breaks_off(tmp_path) -> None:
    (tmp_path / "g" / "changes" / "a").mkdir(parents=True)
    seen = SeenChanges(tmp_path, "g")
    with seen.taken() as changed:
        assert changed is None  # not up yet
    seen.watching()
    for expected in (None, frozenset()):  # the first round after it came up looks at everything
        with seen.taken() as changed:
            assert changed == expected
    seen.saw([str(tmp_path.resolve() / "g" / "changes" / "a" / "x.tsc")])
    with pytest.raises(RuntimeError), seen.taken() as changed:
        assert changed == {"changes/a", "changes/a/x.tsc"}
        raise RuntimeError("the round broke off")
    with seen.taken() as changed:
        assert changed is None
    seen.stopped()
    with seen.taken() as changed:
        assert changed is None


def test_a_file_of_ours_written_just_before_a_watched_round_is_not_taken_for_lost(
    tmp_path, folder, monkeypatch
) -> None:
    """Our own directory is listed every round, watched or not: a file a
    command of ours wrote a moment ago, whose event has not reached the
    watch yet, would otherwise be missing from the listing, and counted lost."""
    ana, ben, _ = settled_pair(tmp_path, folder, monkeypatch)
    with watched(ben):
        ben.json("sync")
        ben.json("sync")
        ben.out("post", "Mine")
        assert ben.json("sync")["exported"] == 1
        assert ben.json("sync")["exported"] == 0  # at once: nothing of ours is sent again
