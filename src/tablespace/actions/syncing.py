"""Sync rounds, once or as things change, and the checks and repairs a
member runs on their own home: `doctor` and `rebuild`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tablespace.actions.rituals import open_due_rituals
from tablespace.core import folder_queries, group_queries, log_queries
from tablespace.core.doctor import Check, diagnose
from tablespace.core.errors import Busy, PermissionDenied, TablespaceError, Unreachable, UsageError
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.sync.engine import SyncReport
from tablespace.sync.report_replies import open_report_replies
from tablespace.sync.sealing import my_exchange_key
from tablespace.sync.service import run_round, sync_checks
from tablespace.sync.watch import LOCAL, ROUND_EVERY_SECONDS, UNWATCHED, due_rounds, watch_filter
from tablespace.sync.watched import SeenChanges, watch_running


def sync_group(group: Group, *, open_rituals: bool = True) -> SyncReport:
    """One round: open due rituals (unless told not to; a member who may not
    write still syncs), then import and export; over git, pull first and
    push after."""
    if open_rituals:
        open_due_rituals(group)
    report = run_round(group)
    if log_queries.report_replies_waiting(group.conn):
        open_report_replies(group, my_exchange_key(group))
    return report


@dataclass(frozen=True)
class SyncFailure:
    """A round that could not run (the folder or remote unreachable, the
    database busy): what `sync --json` prints instead of a report."""

    error: str  # the one line on stderr, without its "tablespace: "
    kind: str  # unreachable, busy, usage, permission or refused
    outbox: int  # ops of ours still waiting to be written
    pending: int  # as a report counts them, as of the last round

    def to_json(self) -> dict[str, Any]:
        """A report's keys (nothing exported or imported), and the error."""
        report = SyncReport(pending=self.pending).to_json()
        return {**report, "error": self.error, "kind": self.kind, "outbox": self.outbox}


_ERROR_KINDS: list[tuple[type[TablespaceError], str]] = [
    (Unreachable, "unreachable"),
    (Busy, "busy"),
    (UsageError, "usage"),
    (PermissionDenied, "permission"),
]


def sync_failure(group: Group, error: TablespaceError) -> SyncFailure:
    """Why the round failed, and what waits meanwhile (nothing was changed)."""
    kind = next((name for cls, name in _ERROR_KINDS if isinstance(error, cls)), "refused")
    conn = group.conn
    pending = log_queries.held_op_count(conn) + folder_queries.waiting_file_count(conn)
    return SyncFailure(str(error), kind, group_queries.outbox_count(conn, group.device), pending)


@dataclass(frozen=True)
class RoundDone:
    report: SyncReport


@dataclass(frozen=True)
class RoundFailed:
    error: TablespaceError  # e.g. the folder was unmounted meanwhile; the watch goes on
    again: bool  # the round before failed the same way


@dataclass(frozen=True)
class Unwatched:
    """The OS would not watch the folder: a round every `every` seconds only."""

    every: float


@dataclass(frozen=True)
class Back:
    """The folder or remote answers again after failed rounds."""


WatchEvent = RoundDone | RoundFailed | Unwatched | Back


def watch(group: Group, *, stop: threading.Event | None = None) -> Iterator[WatchEvent]:
    """Rounds after a first one, until `stop` is set (or the caller stops
    iterating): whenever a file of the group lands in the folder, we write
    from another command, or `ROUND_EVERY_SECONDS` pass (sync/watch.py)."""
    newest = group.store.head(group.device)[0]  # our newest op when the last round began

    def wrote_something() -> bool:
        """Our newest op is newer than when the last round began: another
        command wrote (a round's own bookkeeping changes the database too)."""
        return group.store.head(group.device)[0] > newest

    failing: str | None = None
    for why in _watched(
        group,
        stop=stop or threading.Event(),
        every=ROUND_EVERY_SECONDS,
        database_dir=group.path,
        local_pending=wrote_something,
    ):
        if why == UNWATCHED:
            yield Unwatched(ROUND_EVERY_SECONDS)
        newest = group.store.head(group.device)[0]
        try:
            report = sync_group(group)
        except TablespaceError as exc:
            yield RoundFailed(exc, again=str(exc) == failing)
            failing = str(exc)
            continue
        if failing is not None:
            yield Back()
            failing = None
        yield RoundDone(report)


def watch_folder(group: Group, stop: threading.Event, *, debounce_ms: int) -> Iterator[str]:
    """Why, each time a file of the group lands in (or leaves) its shared
    folder, or the folder goes or comes back, until `stop` is set: for a
    caller that runs its own rounds (the app's sync loop). Also
    `DATABASE_CHANGED` whenever the group's database changes, whoever wrote
    (a `sync --watch` or a command beside the caller, or the caller itself):
    what the caller shows may be out of date. Over git only the latter."""
    return _watched(group, stop=stop, debounce_ms=debounce_ms, database_dir=group.path)


def _watched(group: Group, **how: Any) -> Iterator[str]:
    """`due_rounds` on the group's folder (or only its database, over git);
    while it runs, this process's rounds on the group are handed what it saw
    change (sync/watched.py), so an idle one looks at no directory of authors."""
    folder = group.transport.folder
    if folder is None:
        yield from due_rounds(None, _nothing_wanted, **how)
        return
    seen = SeenChanges(folder, group.id)
    with watch_running(group.path, seen):
        yield from due_rounds(folder, watch_filter(folder, group.id, group.device), changes=seen, **how)


DATABASE_CHANGED = LOCAL  # what `watch_folder` yields when the database changed


def _nothing_wanted(_change: object, _path: str) -> bool:
    return False


def doctor(home: Home, selector: str | None) -> Iterator[Check]:
    """Checks of the home, keys, database, folder or remote, and quarantine:
    (ok, what was found and how to fix it)."""
    return diagnose(home, selector, sync_checks)


@dataclass(frozen=True)
class Rebuilt:
    ops: int  # how many ops were folded again
    repaired: bool  # the views differed from what the log gives, and now match


def rebuild(group: Group) -> Rebuilt:
    """Fold the whole log again from nothing; the log is the truth."""
    before = group.store.dump_digest()
    count = group.store.rebuild()
    return Rebuilt(count, group.store.dump_digest() != before)
