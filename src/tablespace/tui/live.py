"""Live sync for the app: one sync thread, one folder watcher, typed messages.

SQLite connections belong to the thread that opened them, so the sync thread
opens its own `Group` on the same home and never touches the app's. It runs a
round when asked (the watcher saw a file land, the reader pressed `s`, the app
wrote something) or every `SYNC_EVERY` seconds, and reports each round to the
app as a `SyncStatus` inside a `SyncRound` message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from tablespace.core.clock import hlc_to_datetime, now
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group
from tablespace.core.home import GroupEntry, Home
from tablespace.tui import data
from tablespace.tui.format import short_relative

if TYPE_CHECKING:
    from watchfiles import Change

SYNC_EVERY = 45.0  # seconds between rounds when nothing asks for one
WATCH_DEBOUNCE_MS = 150  # a peer's burst of files becomes one round


@dataclass(frozen=True)
class SyncStatus:
    """What the header says about sync."""

    enabled: bool = True
    running: bool = False
    last: datetime | None = None  # end of the last successful round
    outbox: int = 0  # our ops not yet in the folder
    pending: int = 0  # others' ops or files waiting (gaps, keys, future clocks)
    quarantined: int = 0
    problem: str | None = None  # "folder unreachable" and friends
    detail: str | None = None  # the full message behind `problem`
    imported: int = 0  # in the round just finished
    exported: int = 0
    opened_rituals: int = 0

    def line(self) -> str:
        if not self.enabled:
            return "sync off"
        parts: list[str] = []
        if self.running:
            parts.append("syncing…")
        elif self.problem:
            parts.append(f"⚠ {self.problem}")
        elif self.last is None:
            parts.append("not synced yet")
        else:
            parts.append(f"synced {short_relative(self.last)}")
        parts.append(f"outbox {self.outbox}")
        if self.quarantined:
            parts.append(f"{self.quarantined} quarantined")
        if self.pending:
            parts.append(f"{self.pending} waiting")
        return " · ".join(parts)


def initial_status(group: Group, *, enabled: bool) -> SyncStatus:
    """The status before the first round, from what the last one left behind."""
    last = data.last_sync_hlc(group.conn)
    return SyncStatus(enabled=enabled, last=hlc_to_datetime(last) if last else None,
                      outbox=data.outbox_count(group.conn, group.me),
                      quarantined=data.quarantined_count(group.conn))


class SyncRound(Message):
    """A sync round finished (posted from the sync thread)."""

    def __init__(self, status: SyncStatus, manual: bool) -> None:
        super().__init__()
        self.status = status
        self.manual = manual


def one_round(group: Group, previous: SyncStatus) -> SyncStatus:
    """Open due rituals, export our outbox, import what is new. Never raises."""
    from tablespace.sync.folder import SyncUnavailable  # the crypto stack loads here, in the sync thread
    from tablespace.sync.service import engine_for, sync_group

    data.absorb_clock(group.store)
    opened = 0
    may_open = True
    try:
        opened = len(group.open_due_rituals())
    except TablespaceError:
        may_open = False  # timed out, not admitted yet, or gone: we may not write, but we still sync
    try:
        # sync_group opens due rituals first and would refuse the whole round
        # for a member who may not write; then run the engine alone.
        report = sync_group(group) if may_open else engine_for(group).run()
    except SyncUnavailable as exc:
        problem = "folder unreachable" if group.transport.folder is not None else "remote unreachable"
        return replace(previous, running=False, problem=problem, detail=str(exc), imported=0, exported=0,
                       opened_rituals=opened, outbox=data.outbox_count(group.conn, group.me))
    except Exception as exc:  # noqa: BLE001 - keep the loop (and the app) alive, say what broke
        return replace(previous, running=False, problem="sync failed", detail=str(exc) or type(exc).__name__,
                       imported=0, exported=0, opened_rituals=opened,
                       outbox=data.outbox_count(group.conn, group.me))
    return SyncStatus(enabled=True, last=now(), outbox=data.outbox_count(group.conn, group.me),
                      pending=report.pending, quarantined=len(report.quarantined), imported=report.imported,
                      exported=report.exported, opened_rituals=opened)


class SyncLoop:
    """The body of the app's sync thread, and the handles to steer it."""

    def __init__(self, home: Home, group: Group, report: Callable[[SyncStatus, bool], None], *,
                 every: float = SYNC_EVERY) -> None:
        self.home = home
        self.entry = GroupEntry(group.id, "", group.path)
        self.report = report
        self.every = every
        self.wanted = threading.Event()
        self.stop = threading.Event()
        self.manual = False
        self.rounds = 0

    def request(self, *, manual: bool = False) -> None:
        self.manual = self.manual or manual
        self.wanted.set()

    def shutdown(self) -> None:
        self.stop.set()
        self.wanted.set()

    def run(self, status: SyncStatus, cancelled: Callable[[], bool] = lambda: False) -> None:
        """Runs in its own thread until `shutdown()` (or `cancelled()`); owns its
        own connection."""
        group = Group(self.home, self.entry)  # not Group.open: no config write from this thread
        try:
            next_due = 0.0
            while not (self.stop.is_set() or cancelled()):
                if self.wanted.is_set() or time.monotonic() >= next_due:
                    self.wanted.clear()
                    manual, self.manual = self.manual, False
                    if manual:
                        self.report(replace(status, running=True), False)
                    status = one_round(group, status)
                    self.rounds += 1
                    next_due = time.monotonic() + self.every
                    if self.stop.is_set() or cancelled():
                        break
                    self.report(status, manual)
                self.wanted.wait(timeout=max(0.05, min(0.5, next_due - time.monotonic())))
        finally:
            group.close()


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
