"""When a sync round is due: files of the group landed in the shared folder,
the folder went away or came back (unmounted, a pulled USB stick), another
command changed our database, or a period passed (a git remote, where nothing
local changes when someone pushes). `sync --watch` and the app's folder
watcher both follow `due_rounds`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from watchfiles import watch

if TYPE_CHECKING:
    from watchfiles import Change

ROUND_EVERY_SECONDS = 30.0  # `sync --watch`: a round at least this often
LOOK_AGAIN_SECONDS = 2.0  # how often a missing folder is looked for

# Why a round is due.
CHANGED = "changed"  # a file of the group's landed in (or left) the folder
LOCAL = "local"  # our database changed: another command may have written something to send
GONE = "gone"  # the folder is no longer there (the round says so)
BACK = "back"  # the folder is there again
DUE = "due"  # `every` seconds passed without a round

_DATABASE_FILES = ("group.db", "group.db-wal")


def watch_filter(folder: Path, group_id: str, me: str) -> Callable[[Change, str], bool]:
    """Changes worth a round: anything of this group's except our own exports
    and half-written temp files."""
    group_dir = str(folder / group_id)
    own = str(folder / group_id / "changes" / me)

    def wanted(change: Change, path: str) -> bool:
        if not path.startswith(group_dir) or path.startswith(own):
            return False
        return not Path(path).name.startswith(".tmp-")

    return wanted


def due_rounds(folder: Path | None, wanted: Callable[[Change, str], bool], *, stop: threading.Event,
               every: float | None = None, database_dir: Path | None = None,
               debounce_ms: int = 400) -> Iterator[str]:
    """Yield why, each time a round is due, until `stop` is set.

    `folder` None (a git remote) yields DUE every `every` seconds. A folder
    that disappears ends the OS's watch on it: GONE is yielded once, the folder
    is looked for every LOOK_AGAIN_SECONDS, and BACK starts a new watch when it
    returns. With `database_dir`, a change to the group's database there yields
    LOCAL (our own rounds change it too: the caller decides whether it matters)."""
    last = time.monotonic()

    def due() -> bool:
        return every is not None and time.monotonic() - last >= every

    present = folder is not None and folder.is_dir()
    while not stop.is_set():
        why: str | None = None
        if folder is None or not present:
            stop.wait(every if folder is None and every is not None else LOOK_AGAIN_SECONDS)
            if folder is not None and folder.is_dir():
                present, why = True, BACK
            elif due():
                why = DUE
        else:
            for why in _watch(folder, wanted, stop, due, database_dir, debounce_ms):
                last = time.monotonic()
                yield why
            why = None
            if not stop.is_set() and not folder.is_dir():
                present, why = False, GONE
        if why is not None and not stop.is_set():
            last = time.monotonic()
            yield why


def _watch(folder: Path, wanted: Callable[[Change, str], bool], stop: threading.Event, due: Callable[[], bool],
           database_dir: Path | None, debounce_ms: int) -> Iterator[str]:
    """One OS watch of the folder (and the database), until the folder goes or `stop` is set."""
    paths = [folder] if database_dir is None else [folder, database_dir]
    database = {str(database_dir / name) for name in _DATABASE_FILES} if database_dir is not None else set()

    def worth_it(change: Change, path: str) -> bool:
        return path in database or wanted(change, path)

    try:
        # watchfiles debounces bursts (a peer writing many files) into one
        # yield; the timeout yields nothing every second so a vanished folder
        # and the period are noticed.
        for changes in watch(*paths, watch_filter=worth_it, debounce=debounce_ms, step=50, stop_event=stop,
                             rust_timeout=1000, yield_on_timeout=True, raise_interrupt=True):
            if not folder.is_dir():
                return
            if any(path not in database for _, path in changes):
                yield CHANGED
            elif changes:
                yield LOCAL
            elif due():
                yield DUE
    except (OSError, RuntimeError):  # the OS dropped the watch (the folder went, or a watch limit)
        if folder.is_dir():
            stop.wait(LOOK_AGAIN_SECONDS)  # not a spin if it keeps failing
