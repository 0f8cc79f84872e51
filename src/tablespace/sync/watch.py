"""When a sync round is due: files of the group landed in the shared folder,
the folder went away or came back (unmounted, a pulled USB stick, another
disk mounted in its place), we wrote something from another command, or a
period passed (a git remote: nothing local changes when someone pushes).
`sync --watch` and the app's folder watcher both follow `due_rounds`."""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from watchfiles import Change, watch

from tablespace.sync.folder import TMP_PREFIX
from tablespace.sync.watched import SeenChanges

# `sync --watch`: a round at least this often. (The app has its own timer,
# tui/live.py's SYNC_EVERY, and asks for a round itself whenever it writes.)
ROUND_EVERY_SECONDS = 30.0
LOOK_AGAIN_SECONDS = 2.0  # how often a missing folder, or one the OS would not watch, is tried again

# Why a round is due.
CHANGED = "changed"  # a file of the group's landed in (or left) the folder
LOCAL = "local"  # the database changed and `local_pending` says we wrote something
FOLDER = "folder"  # the folder went, came back, or another is at its path (an unmount leaves the mount point)
UNWATCHED = "unwatched"  # the OS refused to watch: from now on a round every `every` seconds only
DUE = "due"  # `every` seconds passed without a round

_DATABASE_FILES = ("group.db", "group.db-wal")

Identity = tuple[int, int]  # (device, inode): which directory is at a path


# Files the sync software writes while a file is on its way: the finished
# file, renamed into place, is what a round wants (Syncthing's temp names).
SYNC_SOFTWARE_TEMP = (".syncthing.", "~syncthing~")


def is_temp_name(name: str) -> bool:
    """A half-written file: ours, or the sync software's."""
    return name.startswith(TMP_PREFIX) or (name.startswith(SYNC_SOFTWARE_TEMP) and name.endswith(".tmp"))


def watch_filter(folder: Path, group_id: str, me: str) -> Callable[[Change, str], bool]:
    """Changes worth a round: anything of this group's but half-written temp
    files and our own exports, unless one of ours is deleted (by the sync
    software, or a person): the round writes it again. Paths compare
    resolved, as the OS reports them (macOS gives /private/var for /var)."""
    group_dir = str(folder.resolve() / group_id)
    own = str(folder.resolve() / group_id / "changes" / me)

    def wanted(change: Change, path: str) -> bool:
        if not path.startswith(group_dir) or (path.startswith(own) and change != Change.deleted):
            return False
        return not is_temp_name(Path(path).name)

    return wanted


def _identity(path: Path) -> Identity | None:
    """The directory at `path`, or None if there is none we can see (a
    stale mount or a pulled stick raise EIO or ESTALE, not just ENOENT)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None


def due_rounds(
    folder: Path | None,
    wanted: Callable[[Change, str], bool],
    *,
    stop: threading.Event,
    every: float | None = None,
    database_dir: Path | None = None,
    local_pending: Callable[[], bool] = lambda: True,
    debounce_ms: int = 400,
    changes: SeenChanges | None = None,
) -> Iterator[str]:
    """Yield why, each time a round is due, until `stop` is set.

    A folder that goes, or is replaced (its device and inode change), ends
    the OS's watch on it: FOLDER is yielded when it goes, nothing while it
    is away (a round could only fail), and FOLDER again once a new watch is
    up on what is there now. With `database_dir` (required without a folder:
    a git remote), a change to the group's database yields LOCAL when
    `local_pending()` says so (our own rounds change the database too). With
    `every`, DUE comes when that long passed without a round. `changes` is
    told what changed in the folder, for the rounds (sync/watched.py)."""
    watching = folder if folder is not None else database_dir
    if watching is None:
        raise ValueError("due_rounds needs a folder or a database to watch")
    last = time.monotonic()
    changes = changes if folder is not None else None
    seen = _identity(folder) if folder is not None else None
    owed: str | None = None  # FOLDER, yielded at the new watch's first batch: no file lands unseen
    refused = False  # the OS refused the last watch (said once)
    while not stop.is_set():
        if folder is not None and seen is None:  # away: look again later
            stop.wait(LOOK_AGAIN_SECONDS)
            seen = _identity(folder)
            owed = FOLDER if seen is not None else None
            continue
        try:
            for why in _watch(watching, folder, seen, wanted, stop, database_dir, local_pending, debounce_ms, changes):
                refused = False
                why, owed = owed or why, None
                if why is None and every is not None and time.monotonic() - last >= every:
                    why = DUE
                if why is not None and not stop.is_set():
                    last = time.monotonic()
                    yield why
        except OSError:  # e.g. "OS file watch limit reached", or a permission error inside the folder
            if folder is None or _identity(folder) == seen:  # the watch itself was refused: try it again later
                why, owed, refused = owed or (None if refused else UNWATCHED), None, True
                if why is None:
                    stop.wait(every if every is not None else LOOK_AGAIN_SECONDS)
                    why = DUE if every is not None else None
                if why is not None and not stop.is_set():
                    last = time.monotonic()
                    yield why
                continue
        if folder is not None and not stop.is_set():
            now = _identity(folder)
            if now != seen:
                seen = now
                if now is None:
                    last = time.monotonic()
                    yield FOLDER  # gone: the round says so
                else:
                    owed = FOLDER


def _watch(
    watching: Path,
    folder: Path | None,
    seen: Identity | None,
    wanted: Callable[[Change, str], bool],
    stop: threading.Event,
    database_dir: Path | None,
    local_pending: Callable[[], bool],
    debounce_ms: int,
    changes: SeenChanges | None,
) -> Iterator[str | None]:
    """One OS watch, until the folder at the path is no longer `seen` or
    `stop` is set. Yields CHANGED, LOCAL, or None for a batch (or a quiet
    second) that makes no round due. Raises OSError when the OS refuses.
    `changes` is told when the watch is up (its first batch), every path
    of each batch before the round it makes due, and when it ends."""
    paths = [watching.resolve()]
    database: set[str] = set()
    if database_dir is not None:
        database = {str(database_dir.resolve() / name) for name in _DATABASE_FILES}
        if database_dir.resolve() != paths[0]:
            paths.append(database_dir.resolve())
    # No filter in watchfiles itself: every batch comes back here, so the
    # period and a vanished folder are checked even while unwanted changes
    # keep arriving; the timeout yields an empty batch every second. Without
    # a folder (a git remote) only the database's own directory is watched,
    # not the clone inside it: a watch per directory of .git, and every
    # fetch and push of a round coming back as changes.
    try:
        for batch in watch(
            *paths,
            watch_filter=None,
            debounce=debounce_ms,
            step=50,
            stop_event=stop,
            rust_timeout=1000,
            yield_on_timeout=True,
            raise_interrupt=True,
            recursive=folder is not None,
        ):
            if folder is not None and _identity(folder) != seen:
                return
            if changes is not None:
                if not changes.up:
                    changes.watching()
                changes.saw(path for _, path in batch)
            if any(path not in database and wanted(change, path) for change, path in batch):
                yield CHANGED
            elif any(path in database for _, path in batch) and local_pending():
                yield LOCAL
            else:
                yield None
    except RuntimeError as exc:  # watchfiles reports the OS's refusals as RuntimeError or OSError
        raise OSError(str(exc)) from exc
    finally:
        if changes is not None:
            changes.stopped()
