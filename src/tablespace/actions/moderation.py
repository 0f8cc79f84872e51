"""Reports and what moderators do with them, archives, and the moderation
log. Reports, decisions and notes are sealed to the moderators' key
(sync/sealing.py); this module composes those steps into actions. The
Moderation pane's other reads are re-exported from here: a report's
response clock and the evidence sync set aside."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tablespace.core import post_queries
from tablespace.core.clock import datetime_to_hlc, now
from tablespace.core.errors import TablespaceError, UsageError
from tablespace.core.group import Group
from tablespace.core.modlog import LogEntry
from tablespace.sync.delivery import deliver_reports
from tablespace.sync.moderation import Evidence as Evidence
from tablespace.sync.moderation import (
    Report,
    add_note,
    document,
    file_report,
    moderation_log,
    reports,
    resolve_report,
)
from tablespace.sync.moderation import evidence as evidence
from tablespace.sync.moderation import response_clock as response_clock
from tablespace.sync.sealing import my_exchange_key
from tablespace.sync.service import folder_for

# --- reports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FiledReport:
    id: str
    delivered: bool  # in the shared folder now; False: it waits in the outbox for a sync


def report(group: Group, post_ref: str, reason: str) -> FiledReport:
    """Seal a report to the moderators and, over a shared folder that
    answers, deliver it at once: this action writes nothing else of ours, so
    the file cannot be told apart from anyone else's. Over git it waits for
    a sync round with nothing else of ours to push (SyncEngine.run)."""
    report_id = file_report(group, post_ref, reason)
    delivered = False
    if group.transport.folder is not None:
        folder = folder_for(group)
        try:
            folder.check(expect_existing=group.store.get_meta("last_sync") is not None)
            delivered = deliver_reports(group, folder) > 0
        except (TablespaceError, OSError):
            pass  # it stays in the outbox: the next sync delivers it
    return FiledReport(report_id, delivered)


def report_queue(group: Group) -> list[Report]:
    """Moderators: the report queue, open reports oldest first, then resolved ones."""
    group.require_moderator()
    return reports(group, my_exchange_key(group))


def resolve(
    group: Group, report_ref: str, decision: str, *, hide_post: bool = False, tell_reporter: str | None = None
) -> None:
    """Moderators: resolve a report with a decision, hide the post if asked,
    and tell the reporter a word of it if the moderators choose to."""
    resolve_report(
        group, my_exchange_key(group), report_ref, decision, hide_post=hide_post, tell_reporter=tell_reporter
    )


def note(group: Group, report_ref: str, text: str) -> None:
    """Moderators: a note on a report, for the other moderators."""
    add_note(group, my_exchange_key(group), report_ref, text)


def modlog(group: Group, *, limit: int = 200) -> list[LogEntry]:
    """Moderators: the moderation log, oldest first: what was done, by whom, and why."""
    group.require_moderator()
    return moderation_log(group, my_exchange_key(group), limit=limit)


# --- archives ---------------------------------------------------------------------------


def archive(group: Group, thread_ref: str, *, undo: bool = False, why: str = "") -> None:
    """Moderators: archive a thread (read-only, out of the list, still
    searchable), or bring it back (`undo`); the reason is kept sealed."""
    group.require_moderator()
    with group.store.db.atomic():
        op = group.write("thread.archive", {"thread": group.thread_id(thread_ref), "archived": not undo})
        document(group, op.id, why)


@dataclass(frozen=True)
class Archived:
    thread: str
    title: str


MIN_STALE = timedelta(days=1)


def archive_stale(group: Group, quiet: timedelta) -> list[Archived]:
    """Moderators: archive every thread quiet for `quiet` (a day at least),
    all or nothing; returns what was archived, oldest first."""
    group.require_moderator()
    if quiet < MIN_STALE:
        raise UsageError("archive threads quiet for at least a day (e.g. 90d)")
    stale = post_queries.stale_threads(group.conn, datetime_to_hlc(now() - quiet))
    archived = [Archived(thread, post_queries.thread(group.conn, thread).title) for thread in stale]
    with group.store.db.atomic():
        for thread in stale:
            group.write("thread.archive", {"thread": thread, "archived": True})
    return archived
