"""Actions a person takes that are more than one step, each whole in one
function: the front ends call these and only print what comes back.

A moderator's action checks the role first, so someone without it is told
so (exit 3) before anything is read from the folder or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tablespace.core import queries
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group
from tablespace.core.modlog import LogEntry
from tablespace.sync import service
from tablespace.sync.delivery import deliver_reports
from tablespace.sync.membership import JoinRequest
from tablespace.sync.moderation import (
    Report,
    add_note,
    end_timeout,
    file_report,
    moderation_log,
    reports,
    resolve_report,
)
from tablespace.sync.roster import remove_member, timeout_member
from tablespace.sync.sealing import my_exchange_key

# --- members ---------------------------------------------------------------------------


def remove(group: Group, member_ref: str, reason: str = "") -> bool:
    """Remove a member, then renew the group's key at once so nothing written
    afterwards is readable by them. Returns whether the key was renewed now
    (False: the folder or remote did not answer; the next sync renews it,
    and until then nothing new leaves this home)."""
    group.require_moderator()
    remove_member(group, member_ref, reason)
    return service.rotate_now(group)


def time_out(group: Group, member_ref: str, duration: timedelta, reason: str = "") -> None:
    group.require_moderator()
    timeout_member(group, member_ref, duration, reason)


def end_time_out(group: Group, member_ref: str, reason: str = "") -> None:
    group.require_moderator()
    end_timeout(group, member_ref, why=reason)


# --- join requests ----------------------------------------------------------------------


def join_requests(group: Group) -> list[JoinRequest]:
    """The join requests waiting for a moderator's decision, the folder pulled first."""
    group.require_moderator()
    return service.pending_requests(group)


def admit_request(group: Group, request_ref: str) -> str:
    """Admit a join request and grant the group's keys; returns the new member's id."""
    group.require_moderator()
    return service.admit(group, request_ref)


def deny_request(group: Group, request_ref: str, reason: str = "") -> None:
    group.require_moderator()
    service.deny(group, request_ref, reason)


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
        folder = service.folder_for(group)
        try:
            folder.check(expect_existing=group.store.get_meta("last_sync") is not None)
            delivered = deliver_reports(group, folder) > 0
        except (TablespaceError, OSError):
            pass  # it stays in the outbox: the next sync delivers it
    return FiledReport(report_id, delivered)


def report_queue(group: Group) -> list[Report]:
    """The report queue: open reports oldest first, then resolved ones."""
    group.require_moderator()
    return reports(group, my_exchange_key(group))


def resolve(group: Group, report_ref: str, decision: str, *, hide_post: bool = False) -> None:
    resolve_report(group, my_exchange_key(group), report_ref, decision, hide_post=hide_post)


def note(group: Group, report_ref: str, text: str) -> None:
    add_note(group, my_exchange_key(group), report_ref, text)


def modlog(group: Group, *, limit: int) -> list[LogEntry]:
    """The moderation log, oldest first: what was done, by whom, and why."""
    group.require_moderator()
    return moderation_log(group, my_exchange_key(group), limit=limit)


# --- threads ----------------------------------------------------------------------------


def archive_stale(group: Group, quiet: timedelta) -> list[tuple[str, str]]:
    """Archive every thread quiet for `quiet`; returns (id, title) of each archived."""
    group.require_moderator()
    titles = {t: queries.thread(group.conn, t).title for t in group.stale_threads(quiet)}
    return [(thread, titles.get(thread, "")) for thread in group.archive_stale(quiet)]
