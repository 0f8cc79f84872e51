"""The application layer: every action a person can take, in one place.

The front ends (cli.py, tui/) call these functions and print or show what
comes back; nothing else writes to a group. Each action takes the `Group`
it acts in (`open_group`) and typed arguments, and returns a typed result
or raises a `TablespaceError` whose class is its kind: `UsageError` (exit
2), `PermissionDenied` (exit 3), `Busy` and `Unreachable` (exit 1, try
again), any other a refusal (exit 1). A refusal by the fold carries its
`Refusal`, worded for whoever reads it.

Reads are not actions: screens and commands read with `core.queries` on
`group.conn`. Where an action goes, and how to add one: docs/architecture.md.
"""

# The actions load on first use (PEP 562), so a command or the app's first
# frame pays only for the modules it calls: most of them bring in the sync
# layer and its cryptography.
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tablespace.actions.content import delete, edit, library_add, library_remove, pin, post, react, reply, tag
    from tablespace.actions.founding import Joined, found_group, join_group
    from tablespace.actions.keys import change_passphrase, lock_keys, unlock_keys_for_good
    from tablespace.actions.membership import (
        Removed,
        admit,
        create_invite,
        deny,
        end_time_out,
        join_requests,
        leave,
        remove,
        set_role,
        time_out,
    )
    from tablespace.actions.moderation import (
        Archived,
        Evidence,
        FiledReport,
        archive,
        archive_stale,
        evidence,
        modlog,
        note,
        report,
        report_queue,
        resolve,
        response_clock,
    )
    from tablespace.actions.notify import (
        Notification,
        Notifier,
        NotifySettings,
        SilentNotifier,
        TerminalNotifier,
        choose_notifier,
        notify_new,
        notify_settings,
        set_notify_settings,
        start_notifying,
    )
    from tablespace.actions.reading import (
        ExportFormat,
        export_text,
        export_to,
        follow,
        inbox,
        mark_entry_read,
        mute_member,
        mute_thread,
        read_thread,
    )
    from tablespace.actions.rituals import open_due_rituals, ritual_add, ritual_pause
    from tablespace.actions.session import in_own_group, open_group
    from tablespace.actions.settings import change_settings
    from tablespace.actions.summaries import (
        DigestFormat,
        digest,
        digest_text,
        post_recap,
        weekly_recap,
        write_digest,
    )
    from tablespace.actions.syncing import (
        DATABASE_CHANGED,
        Back,
        Rebuilt,
        RoundDone,
        RoundFailed,
        SyncFailure,
        Unwatched,
        doctor,
        rebuild,
        sync_failure,
        sync_group,
        watch,
        watch_folder,
    )
    from tablespace.core.doctor import Check
    from tablespace.core.errors import Busy, PermissionDenied, TablespaceError, Unreachable, UsageError
    from tablespace.core.group import Group, Transport
    from tablespace.core.modlog import LogEntry
    from tablespace.sync.engine import SyncReport
    from tablespace.sync.membership import JoinRequest
    from tablespace.sync.moderation import Report
    from tablespace.sync.requests import ANSWER_WORDS, PROBLEM_NOTES

_HOME: dict[str, str] = {
    "SyncReport": "tablespace.sync.engine",
    "JoinRequest": "tablespace.sync.membership",
    "Report": "tablespace.sync.moderation",
    "PROBLEM_NOTES": "tablespace.sync.requests",
    "ANSWER_WORDS": "tablespace.sync.requests",
    "LogEntry": "tablespace.core.modlog",
    "Check": "tablespace.core.doctor",
    "delete": "tablespace.actions.content",
    "edit": "tablespace.actions.content",
    "library_add": "tablespace.actions.content",
    "library_remove": "tablespace.actions.content",
    "pin": "tablespace.actions.content",
    "post": "tablespace.actions.content",
    "react": "tablespace.actions.content",
    "reply": "tablespace.actions.content",
    "tag": "tablespace.actions.content",
    "Joined": "tablespace.actions.founding",
    "found_group": "tablespace.actions.founding",
    "join_group": "tablespace.actions.founding",
    "change_passphrase": "tablespace.actions.keys",
    "lock_keys": "tablespace.actions.keys",
    "unlock_keys_for_good": "tablespace.actions.keys",
    "Removed": "tablespace.actions.membership",
    "admit": "tablespace.actions.membership",
    "create_invite": "tablespace.actions.membership",
    "deny": "tablespace.actions.membership",
    "end_time_out": "tablespace.actions.membership",
    "join_requests": "tablespace.actions.membership",
    "leave": "tablespace.actions.membership",
    "remove": "tablespace.actions.membership",
    "set_role": "tablespace.actions.membership",
    "time_out": "tablespace.actions.membership",
    "Archived": "tablespace.actions.moderation",
    "FiledReport": "tablespace.actions.moderation",
    "archive": "tablespace.actions.moderation",
    "archive_stale": "tablespace.actions.moderation",
    "modlog": "tablespace.actions.moderation",
    "note": "tablespace.actions.moderation",
    "report": "tablespace.actions.moderation",
    "report_queue": "tablespace.actions.moderation",
    "resolve": "tablespace.actions.moderation",
    "ExportFormat": "tablespace.actions.reading",
    "export_text": "tablespace.actions.reading",
    "export_to": "tablespace.actions.reading",
    "read_thread": "tablespace.actions.reading",
    "inbox": "tablespace.actions.reading",
    "mark_entry_read": "tablespace.actions.reading",
    "follow": "tablespace.actions.reading",
    "mute_thread": "tablespace.actions.reading",
    "mute_member": "tablespace.actions.reading",
    "Notification": "tablespace.actions.notify",
    "Notifier": "tablespace.actions.notify",
    "NotifySettings": "tablespace.actions.notify",
    "SilentNotifier": "tablespace.actions.notify",
    "TerminalNotifier": "tablespace.actions.notify",
    "choose_notifier": "tablespace.actions.notify",
    "notify_new": "tablespace.actions.notify",
    "notify_settings": "tablespace.actions.notify",
    "set_notify_settings": "tablespace.actions.notify",
    "start_notifying": "tablespace.actions.notify",
    "DigestFormat": "tablespace.actions.summaries",
    "digest": "tablespace.actions.summaries",
    "digest_text": "tablespace.actions.summaries",
    "post_recap": "tablespace.actions.summaries",
    "weekly_recap": "tablespace.actions.summaries",
    "write_digest": "tablespace.actions.summaries",
    "Evidence": "tablespace.actions.moderation",
    "evidence": "tablespace.actions.moderation",
    "response_clock": "tablespace.actions.moderation",
    "open_due_rituals": "tablespace.actions.rituals",
    "ritual_add": "tablespace.actions.rituals",
    "ritual_pause": "tablespace.actions.rituals",
    "in_own_group": "tablespace.actions.session",
    "open_group": "tablespace.actions.session",
    "change_settings": "tablespace.actions.settings",
    "Back": "tablespace.actions.syncing",
    "DATABASE_CHANGED": "tablespace.actions.syncing",
    "Rebuilt": "tablespace.actions.syncing",
    "RoundDone": "tablespace.actions.syncing",
    "RoundFailed": "tablespace.actions.syncing",
    "SyncFailure": "tablespace.actions.syncing",
    "sync_failure": "tablespace.actions.syncing",
    "Unwatched": "tablespace.actions.syncing",
    "doctor": "tablespace.actions.syncing",
    "rebuild": "tablespace.actions.syncing",
    "sync_group": "tablespace.actions.syncing",
    "watch": "tablespace.actions.syncing",
    "watch_folder": "tablespace.actions.syncing",
    "Busy": "tablespace.core.errors",
    "PermissionDenied": "tablespace.core.errors",
    "TablespaceError": "tablespace.core.errors",
    "Unreachable": "tablespace.core.errors",
    "UsageError": "tablespace.core.errors",
    "Group": "tablespace.core.group",
    "Transport": "tablespace.core.group",
}


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name]), name)
    globals()[name] = value
    return value


__all__ = [
    "ANSWER_WORDS",
    "DATABASE_CHANGED",
    "Archived",
    "Back",
    "Busy",
    "Check",
    "Evidence",
    "ExportFormat",
    "FiledReport",
    "Group",
    "JoinRequest",
    "Joined",
    "LogEntry",
    "PROBLEM_NOTES",
    "PermissionDenied",
    "Rebuilt",
    "Removed",
    "Report",
    "RoundDone",
    "RoundFailed",
    "SyncFailure",
    "SyncReport",
    "TablespaceError",
    "Transport",
    "Unreachable",
    "Unwatched",
    "UsageError",
    "admit",
    "archive",
    "archive_stale",
    "change_passphrase",
    "change_settings",
    "create_invite",
    "delete",
    "deny",
    "doctor",
    "edit",
    "end_time_out",
    "evidence",
    "export_text",
    "export_to",
    "found_group",
    "in_own_group",
    "join_group",
    "join_requests",
    "leave",
    "library_add",
    "library_remove",
    "lock_keys",
    "modlog",
    "note",
    "open_due_rituals",
    "open_group",
    "pin",
    "post",
    "react",
    "read_thread",
    "inbox",
    "Notification",
    "Notifier",
    "NotifySettings",
    "SilentNotifier",
    "TerminalNotifier",
    "choose_notifier",
    "notify_new",
    "notify_settings",
    "set_notify_settings",
    "start_notifying",
    "DigestFormat",
    "digest",
    "digest_text",
    "post_recap",
    "weekly_recap",
    "write_digest",
    "mark_entry_read",
    "follow",
    "mute_thread",
    "mute_member",
    "rebuild",
    "remove",
    "reply",
    "report",
    "report_queue",
    "resolve",
    "response_clock",
    "ritual_add",
    "ritual_pause",
    "set_role",
    "sync_failure",
    "sync_group",
    "tag",
    "time_out",
    "unlock_keys_for_good",
    "watch",
    "watch_folder",
]
