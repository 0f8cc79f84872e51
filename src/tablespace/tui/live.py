"""Live sync for the app: one sync thread, one folder watcher, typed messages.

SQLite connections belong to the thread that opened them, so the sync thread
opens its own `Group` on the same home and never touches the app's. It runs a
round when asked (the watcher saw a file land, the reader pressed `s`, the app
wrote something) or every `SYNC_EVERY` seconds, and reports each round to the
app as a `SyncStatus` inside a `SyncRound` message.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from rich.cells import cell_len
from textual.app import App
from textual.message import Message

from tablespace import actions
from tablespace.core import group_queries
from tablespace.core.clock import hlc_to_datetime, now
from tablespace.core.errors import TablespaceError, Unreachable
from tablespace.core.group import Group
from tablespace.core.home import GroupEntry, Home
from tablespace.tui.format import short_relative

# What the status's "N waiting" counts, for the places that explain it.
WAITING_MEANS = (
    "changes from others that arrived before what they build on, or before the keys to read them; "
    "they are read as soon as that arrives"
)
SYNC_EVERY = 45.0  # seconds between rounds when nothing asks for one
WATCH_DEBOUNCE_MS = 150  # a peer's burst of files becomes one round
# The sync thread sleeps until a round is due or asked for (`request` and
# `shutdown` wake it); at most this long, to notice a cancelled worker.
IDLE_WAKE_SECONDS = 5.0


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
    refused_mine: tuple[str, ...] = ()  # why the group refused ops of ours, found this round
    join_answer: str | None = None  # not admitted: the moderators' answer (sync/requests.py)

    def line(self, width: int | None = None) -> str:
        """What the header says, in at most `width` cells if it can: first in
        short words, then without the least urgent parts."""
        parts = self.parts()
        while True:
            for shorten in (False, True):
                text = " · ".join(short if shorten else full for full, short, _ in parts)
                if width is None or cell_len(text) <= width:
                    return text
                if any(urgency == 0 for _, _, urgency in parts[1:]):
                    break  # say nothing of an empty outbox before shortening words
            if len(parts) == 1:  # the sync state itself stays, whatever the width
                return text
            parts.remove(min(parts[1:], key=lambda part: part[2]))

    def parts(self) -> list[tuple[str, str, int]]:
        """(full words, short words, urgency) for each thing worth saying."""
        if not self.enabled:
            return [("sync off", "sync off", 9)]
        if self.running:
            state = ("syncing…", "syncing…")
        elif self.problem:
            state = (f"⚠ {self.problem}", f"⚠ {self.problem.split()[-1]}")
        elif self.last is None:
            state = ("not synced yet", "not synced")
        elif self.join_answer:
            state = (f"⚠ not admitted: {self.join_answer}", "⚠ not admitted")
        else:
            ago = short_relative(self.last)
            state = (f"synced {ago}", ago)
        parts = [(*state, 9), (f"outbox {self.outbox}", f"↑{self.outbox}", 2 if self.outbox else 0)]
        if self.quarantined:
            parts.append((f"{self.quarantined} quarantined", f"{self.quarantined} quarantined", 3))
        if self.pending:
            parts.append((f"{self.pending} waiting", f"{self.pending} waiting", 1))
        return parts


def initial_status(group: Group, *, enabled: bool) -> SyncStatus:
    """The status before the first round, from what the last one left behind."""
    last = group_queries.last_sync_hlc(group.conn)
    return SyncStatus(enabled=enabled, last=hlc_to_datetime(last) if last else None, **stored_counts(group))


class SyncRound(Message):
    """A sync round finished (posted from the sync thread)."""

    def __init__(self, status: SyncStatus, manual: bool) -> None:
        super().__init__()
        self.status = status
        self.manual = manual


class DatabaseChanged(Message):
    """The group's database changed (posted from the folder watcher's thread):
    maybe by `sync --watch` or a command beside the app, maybe by the app."""


def one_round(group: Group, previous: SyncStatus) -> SyncStatus:
    """Open due rituals, export our outbox, import what is new. Never raises."""
    opened = 0
    try:
        opened = len(actions.open_due_rituals(group))
    except TablespaceError:
        pass  # timed out, not admitted yet, or gone: we may not write, but we still sync
    try:
        report = actions.sync_group(group, open_rituals=False)  # opened above, where a refusal is not fatal
    except Unreachable as exc:
        problem = "folder unreachable" if group.transport.folder is not None else "remote unreachable"
        return replace(
            previous,
            running=False,
            problem=problem,
            detail=str(exc),
            imported=0,
            exported=0,
            opened_rituals=opened,
            **stored_counts(group),
        )
    except Exception as exc:  # noqa: BLE001 - keep the loop (and the app) alive, say what broke
        return replace(
            previous,
            running=False,
            problem="sync failed",
            detail=str(exc) or type(exc).__name__,
            imported=0,
            exported=0,
            opened_rituals=opened,
            **stored_counts(group),
        )
    return SyncStatus(
        enabled=True,
        last=now(),
        pending=report.pending,
        imported=report.imported,
        exported=report.exported,
        opened_rituals=opened,
        join_answer=report.join_answer,
        refused_mine=tuple(refusal.for_author() for _, refusal in report.refused_mine),
        **stored_counts(group),
    )


def stored_counts(group: Group) -> dict[str, int]:
    """The outbox and quarantine as the database holds them once a round is
    over, whether it finished or broke off half-way (a file quarantined
    before the failure stays quarantined)."""
    return {
        "outbox": group_queries.outbox_count(group.conn, group.device),
        "quarantined": group_queries.quarantined_count(group.conn),
    }


class InAppNotifier:
    """Where there is no desktop, the app owns the terminal: a new inbox entry
    rings its bell and shows a toast (plain text: other members' words are
    never read as markup). Called from the sync thread."""

    def __init__(self, app: App[Any]) -> None:
        self.app = app

    def show(self, note: actions.Notification) -> None:
        self.app.call_from_thread(self._show, note)

    def _show(self, note: actions.Notification) -> None:
        self.app.bell()
        self.app.notify(note.body, title=note.title, markup=False)


class SyncLoop:
    """The body of the app's sync thread, and the handles to steer it."""

    def __init__(
        self,
        home: Home,
        group: Group,
        report: Callable[[SyncStatus, bool], None],
        *,
        every: float = SYNC_EVERY,
        notifier: actions.Notifier | None = None,
    ) -> None:
        self.home = home
        self.entry = GroupEntry(group.id, "", group.path)
        self.report = report
        self.notifier = notifier
        self.every = every
        self.wanted = threading.Event()
        self.stop = threading.Event()
        self.manual = False
        self.rounds = 0

    def _notify(self, group: Group, *, first: bool = False) -> None:
        """Notify what is new in the inbox (the first time: only remember what
        is there), when the app notifies; a failure (the database busy) only
        skips it: the next round catches up."""
        if self.notifier is None:
            return
        with contextlib.suppress(TablespaceError, sqlite3.Error):
            if first:
                actions.start_notifying(group)
            else:
                actions.notify_new(group, self.notifier)

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
            self._notify(group, first=True)
            next_due = 0.0
            while not (self.stop.is_set() or cancelled()):
                if self.wanted.is_set() or time.monotonic() >= next_due:
                    self.wanted.clear()
                    manual, self.manual = self.manual, False
                    if manual:
                        self.report(replace(status, running=True), False)
                    status = one_round(group, status)
                    self._notify(group)
                    self.rounds += 1
                    next_due = time.monotonic() + self.every
                    if self.stop.is_set() or cancelled():
                        break
                    self.report(status, manual)
                self.wanted.wait(timeout=max(0.05, min(IDLE_WAKE_SECONDS, next_due - time.monotonic())))
        finally:
            group.close()
