"""When a round is due (sync/watch.py), on a real folder with the OS's own
watcher, and `sync --watch` as a real process: files landing, a folder that
is unmounted and comes back, and changes written by another command."""

from __future__ import annotations

import errno
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tablespace.sync import watch as watch_module
from tablespace.sync.watch import CHANGED, DUE, FOLDER, LOCAL, UNWATCHED, due_rounds, watch_filter

GROUP = "ab" * 16
ME = "cd" * 16
OTHER = "ef" * 16
WAIT = 10.0  # seconds: generous, the machines are shared


def test_half_written_files_wake_no_round(tmp_path) -> None:
    """Ours and Syncthing's temp files are renamed into place when whole: the
    rename is what a round wants, not each write on the way."""
    from watchfiles import Change

    wanted = watch_filter(tmp_path, GROUP, ME)
    theirs = tmp_path / GROUP / "changes" / OTHER
    for name in (".tmp-123-x.tsc", ".syncthing.1-x.tsc.tmp", "~syncthing~1-x.tsc.tmp"):
        assert not wanted(Change.added, str(theirs / name)), name
    assert wanted(Change.added, str(theirs / "1-x.tsc"))
    assert wanted(Change.added, str(theirs / ".syncthing.notes"))  # not a temp file's name


class Watcher:
    """due_rounds in a thread, its answers in a queue."""

    def __init__(self, folder: Path, *, primed: bool = True, **kw: object) -> None:
        self.stop = threading.Event()
        self.whys: queue.Queue[str] = queue.Queue()
        wanted = watch_filter(folder, GROUP, ME)
        self.thread = threading.Thread(target=self._run, args=(folder, wanted, kw), daemon=True)
        self.thread.start()
        if primed:  # wait until the OS watch is up and seeing files: a quiet() after means something
            deadline = time.monotonic() + WAIT
            while time.monotonic() < deadline:
                (folder / GROUP / "changes" / OTHER / "primer.tsc").write_bytes(b"%f" % time.monotonic())
                try:
                    assert self.next(timeout=0.5) == CHANGED
                    break
                except queue.Empty:
                    continue
            else:
                pytest.fail("the watch never saw a file")
            while not self.whys.empty():  # a primer written twice may bring a second round
                self.whys.get()

    def _run(self, folder: Path, wanted, kw: dict) -> None:
        for why in due_rounds(folder, wanted, stop=self.stop, debounce_ms=50, **kw):
            self.whys.put(why)

    def next(self, timeout: float = WAIT) -> str:
        return self.whys.get(timeout=timeout)

    def quiet(self, seconds: float = 1.5) -> bool:
        try:
            why = self.whys.get(timeout=seconds)
        except queue.Empty:
            return True
        pytest.fail(f"a round was due without cause: {why}")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=WAIT)
        assert not self.thread.is_alive()


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    shared = tmp_path / "shared"
    (shared / GROUP / "changes" / ME).mkdir(parents=True)
    (shared / GROUP / "changes" / OTHER).mkdir(parents=True)
    yield shared


def test_a_file_from_someone_else_makes_a_round_due_and_our_own_exports_do_not(folder: Path) -> None:
    w = Watcher(folder)
    try:
        (folder / GROUP / "changes" / ME / "00000001-00000001-aa.tsc").write_bytes(b"ours")
        (folder / GROUP / "changes" / OTHER / ".tmp-123").write_bytes(b"half written")
        (folder / "another-group.txt").write_bytes(b"not ours")
        assert w.quiet()
        for i in range(5):  # a burst is one round, or a few: never none
            (folder / GROUP / "changes" / OTHER / f"0000000{i + 1}-0000000{i + 1}-bb.tsc").write_bytes(b"theirs")
        assert w.next() == CHANGED
    finally:
        w.close()


def test_our_own_file_deleted_by_the_sync_software_makes_a_round_due(folder: Path) -> None:
    ours = folder / GROUP / "changes" / ME / "00000001-00000001-aa.tsc"
    ours.write_bytes(b"ours")
    w = Watcher(folder)
    try:
        os.utime(ours, (1, 1))  # touched: the bytes are all there, nothing to send
        assert w.quiet()
        ours.unlink()  # lost: the round sends it again
        assert w.next() == CHANGED
    finally:
        w.close()


@pytest.mark.slow
def test_a_folder_that_goes_away_and_comes_back(folder: Path) -> None:
    w = Watcher(folder)
    away = folder.with_name("away")
    try:
        folder.rename(away)  # unmounted
        assert w.next() == FOLDER  # gone: one round, which says so
        assert w.quiet(3.0)  # looked for quietly, no round each time
        away.rename(folder)
        assert w.next() == FOLDER  # back
        # and it is watched again: a new file is seen
        (folder / GROUP / "changes" / OTHER / "00000009-00000009-cc.tsc").write_bytes(b"theirs")
        assert w.next() == CHANGED
    finally:
        w.close()


@pytest.mark.slow
def test_another_directory_put_at_the_folder_s_path_is_watched_in_its_place(folder: Path) -> None:
    w = Watcher(folder)
    try:
        folder.rename(folder.with_name("old"))
        (folder / GROUP / "changes" / OTHER).mkdir(parents=True)  # within the look-again time: never missing
        assert w.next() == FOLDER
        try:  # a second FOLDER if it was looked at while away (gone, then back)
            assert w.next(timeout=4.0) == FOLDER
        except queue.Empty:
            pass
        (folder / GROUP / "changes" / OTHER / "00000002-00000002-dd.tsc").write_bytes(b"theirs")
        assert w.next() == CHANGED  # the new directory is watched
    finally:
        w.close()


@pytest.mark.slow
@pytest.mark.xdist_group("mounts")  # mounts a tmpfs
def test_a_real_unmount_and_remount(tmp_path: Path) -> None:
    # An unmount leaves the empty mount point: the path is still a directory.
    folder = tmp_path / "stick"
    folder.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "none", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("mounting a tmpfs needs privileges this machine does not give")
    try:
        (folder / GROUP / "changes" / OTHER).mkdir(parents=True)
        w = Watcher(folder)
        try:
            subprocess.run(["umount", str(folder)], check=True)
            assert w.next() == FOLDER
            subprocess.run(["mount", "-t", "tmpfs", "none", str(folder)], check=True)
            assert w.next() == FOLDER
            (folder / GROUP / "changes" / OTHER).mkdir(parents=True)
            assert w.next() == CHANGED  # the new mount is watched
        finally:
            w.close()
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True)


def test_a_folder_the_os_will_not_watch_still_gets_its_rounds(folder: Path, monkeypatch) -> None:
    def refuse(*_paths, **_kw):
        raise OSError("OS file watch limit reached")
        yield  # a generator, like watchfiles.watch

    monkeypatch.setattr(watch_module, "watch", refuse)
    w = Watcher(folder, every=0.3, primed=False)
    try:
        assert w.next() == UNWATCHED  # said once
        assert w.next() == DUE  # and then the period
        assert w.next() == DUE
    finally:
        w.close()


@pytest.mark.slow
def test_a_folder_that_fails_to_read_counts_as_gone(folder: Path, monkeypatch) -> None:
    # a stick pulled without unmounting: stat raises EIO, not "no such file"
    real_stat = Path.stat
    broken = threading.Event()

    def stat(self: Path, *args, **kw):
        if broken.is_set() and self == folder:
            raise OSError(errno.EIO, "Input/output error")
        return real_stat(self, *args, **kw)

    monkeypatch.setattr(Path, "stat", stat)
    w = Watcher(folder)
    try:
        broken.set()
        assert w.next() == FOLDER
        broken.clear()
        assert w.next() == FOLDER
    finally:
        w.close()


@pytest.mark.slow
def test_a_folder_missing_at_the_start_is_waited_for(tmp_path: Path) -> None:
    folder = tmp_path / "not-yet"
    w = Watcher(folder, primed=False)
    try:
        assert w.quiet(2.5)
        (folder / GROUP / "changes" / OTHER).mkdir(parents=True)
        assert w.next() == FOLDER
    finally:
        w.close()


def test_the_database_and_the_period(folder: Path, tmp_path: Path) -> None:
    home_group = tmp_path / "home" / "groups" / GROUP
    home_group.mkdir(parents=True)
    w = Watcher(folder, database_dir=home_group, every=1.0)
    try:
        (home_group / "group.db-wal").write_bytes(b"another command wrote")
        assert w.next() == LOCAL
        started = time.monotonic()
        assert w.next() == DUE
        assert time.monotonic() - started >= 0.5  # counted from the last round, not from the start
    finally:
        w.close()


@pytest.mark.slow
def test_a_database_change_that_sends_nothing_is_no_round(folder: Path, tmp_path: Path) -> None:
    home_group = tmp_path / "home" / "groups" / GROUP
    home_group.mkdir(parents=True)
    pending = threading.Event()
    w = Watcher(folder, database_dir=home_group, local_pending=pending.is_set)
    try:
        (home_group / "group.db-wal").write_bytes(b"a round's own bookkeeping")
        assert w.quiet()
        pending.set()
        (home_group / "notes.txt").write_bytes(b"beside the database, not in it")
        assert w.quiet()
        (home_group / "group.db-wal").write_bytes(b"a post from another terminal")
        assert w.next() == LOCAL
    finally:
        w.close()


def test_with_a_git_remote_the_database_is_watched_and_the_period_kept(tmp_path: Path) -> None:
    home_group = tmp_path / "home" / "groups" / GROUP
    home_group.mkdir(parents=True)
    stop = threading.Event()
    whys: queue.Queue[str] = queue.Queue()
    thread = threading.Thread(
        target=lambda: [
            whys.put(why)
            for why in due_rounds(
                None, lambda _c, _p: False, stop=stop, database_dir=home_group, every=1.0, debounce_ms=50
            )
        ],
        daemon=True,
    )
    thread.start()
    try:
        deadline, why = time.monotonic() + WAIT, None
        while why != LOCAL and time.monotonic() < deadline:
            (home_group / "group.db-wal").write_bytes(b"a post")  # until the watch is up (DUEs may come first)
            try:
                why = whys.get(timeout=0.5)
            except queue.Empty:
                continue
        assert why == LOCAL
        while (why := whys.get(timeout=WAIT)) == LOCAL:  # the last primer writes may still come in
            pass
        assert why == DUE
    finally:
        stop.set()
        thread.join(timeout=WAIT)


def test_nothing_to_watch_is_a_mistake_not_a_silent_loop() -> None:
    with pytest.raises(ValueError):
        next(due_rounds(None, lambda _c, _p: False, stop=threading.Event(), every=0.3))


# --- `sync --watch`, a real process ---------------------------------------------------


def tablespace(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TABLESPACE_HOME": str(home)}
    env.pop("TABLESPACE_NOW", None)  # the watch runs on the wall clock
    return subprocess.run(
        [sys.executable, "-m", "tablespace", *args], env=env, capture_output=True, text=True, check=check, timeout=60
    )


def exported(folder: Path) -> int:
    return len(list(folder.rglob("*.tsc")))


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"waited {timeout:.0f} s for {what}")


@pytest.mark.slow
def test_sync_watch_sends_what_another_command_writes_and_outlives_an_unmount(tmp_path: Path) -> None:
    home, folder = tmp_path / "ana", tmp_path / "shared"
    folder.mkdir()
    tablespace(home, "init", "Circle", "--as", "Ana", "--folder", str(folder))
    env = {**os.environ, "TABLESPACE_HOME": str(home)}
    env.pop("TABLESPACE_NOW", None)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tablespace", "sync", "--watch"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    said: list[str] = []  # the watch's stderr, line by line as it comes
    reader = threading.Thread(target=lambda: said.extend(iter(watcher.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda: exported(folder) == 1, "the first round's export")
        tablespace(home, "post", "Written elsewhere", "--body", "by another command")
        wait_for(lambda: exported(folder) == 2, "the watch to send a post made by another command")
        away = tmp_path / "away"
        folder.rename(away)  # the stick is pulled
        wait_for(lambda: any("missing or unmounted" in line for line in said), "the watch to see the folder go")
        tablespace(home, "post", "While it was away", "--body", "stays in the outbox")
        time.sleep(1.0)  # a window for a wrong round to recreate the folder: nothing to wait on when none does
        assert not folder.exists()  # nothing created in its place
        away.rename(folder)
        wait_for(lambda: exported(folder) == 3, "the watch to send the outbox when the folder came back")
    finally:
        watcher.terminate()
        watcher.wait(timeout=WAIT)
        reader.join(timeout=WAIT)
        out = watcher.stdout.read()
        watcher.stdout.close()
        watcher.stderr.close()
    err = "".join(said)
    assert "missing or unmounted" in err and f"the shared folder {folder} is back" in err
    assert "Traceback" not in err
    assert out.count("exported 1") >= 2


@pytest.mark.slow
def test_sync_watch_sends_again_a_file_of_ours_the_sync_software_deleted(tmp_path: Path) -> None:
    home, folder = tmp_path / "ana", tmp_path / "shared"
    folder.mkdir()
    tablespace(home, "init", "Circle", "--as", "Ana", "--folder", str(folder))
    tablespace(home, "sync")
    before = set(folder.rglob("*.tsc"))
    tablespace(home, "post", "Kept safe", "--body", "even when deleted")
    tablespace(home, "sync")
    (lost,) = set(folder.rglob("*.tsc")) - before  # the post's
    env = {**os.environ, "TABLESPACE_HOME": str(home)}
    env.pop("TABLESPACE_NOW", None)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tablespace", "sync", "--watch"],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(watcher.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda: len(lines) >= 1, "the first round")
        assert lines[0].startswith("exported 0,")
        lost.unlink()
        wait_for(lambda: exported(folder) == 2, "the watch to send the lost file again")
        assert any(line.startswith("exported 1,") for line in lines[1:])
    finally:
        watcher.terminate()
        watcher.wait(timeout=WAIT)
        reader.join(timeout=WAIT)
        watcher.stdout.close()
