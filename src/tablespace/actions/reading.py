"""Reading that changes something of ours: a thread shown is marked read,
the inbox and what I follow or mute (kept in my home only), and an export
can be written to a file. Plain reads stay in core's *_queries modules and core.inbox."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from tablespace.core import inbox as inbox_queries
from tablespace.core import post_queries
from tablespace.core.errors import TablespaceError
from tablespace.core.export import export_json, export_markdown
from tablespace.core.files import write_atomically
from tablespace.core.group import Group
from tablespace.core.text import json_text, visible

ExportFormat = Literal["json", "markdown"]


def read_thread(group: Group, thread_ref: str) -> post_queries.ThreadDetail:
    """A thread with its posts, oldest first, marked read up to its newest."""
    detail = post_queries.thread(group.conn, group.thread_id(thread_ref), me=group.me)
    group.mark_read(detail.id)
    return detail


def inbox(
    group: Group, *, include_read: bool = False, limit: int | None = inbox_queries.DEFAULT_LIMIT
) -> list[inbox_queries.InboxEntry]:
    """What concerns me, newest first (unread only unless `include_read`)."""
    return inbox_queries.inbox(group.conn, group.me, include_read=include_read, limit=limit)


def mark_entry_read(group: Group, entry: inbox_queries.InboxEntry) -> None:
    """Reading an entry's post marks it read: its thread is read up to now,
    deleted or not (a report's outcome may have taken the thread with it)."""
    group.mark_read(entry.thread)


def follow(group: Group, thread_ref: str, *, undo: bool = False) -> None:
    """Follow a thread (its replies reach my inbox), or stop: mine alone,
    kept in my home, never synced."""
    group.set_follow(group.thread_id(thread_ref), on=not undo)


def mute_thread(group: Group, thread_ref: str, *, undo: bool = False) -> None:
    """Nothing from this thread reaches my inbox (or, `undo`, it does again)."""
    group.set_mute("thread", group.thread_id(thread_ref), on=not undo)


def mute_member(group: Group, member_ref: str, *, undo: bool = False) -> None:
    """Nothing this member does reaches my inbox (or, `undo`, it does again)."""
    member = group.member_id(member_ref)
    if member == group.me:
        raise TablespaceError("you cannot mute yourself (your own doings never reach your inbox)")
    group.set_mute("member", member, on=not undo)


def export_text(group: Group, fmt: ExportFormat) -> str:
    """The whole readable group as JSON or Markdown. Made safe for a
    terminal even when written to a file: it is read with `less` or `cat`."""
    if fmt == "json":
        return json_text(export_json(group.conn))
    return visible(export_markdown(group.conn), multiline=True)


def export_to(group: Group, fmt: ExportFormat, path: Path) -> None:
    """Write the export to `path` whole or not at all (a temp file renamed
    over it), readable as any file the user makes."""
    write_atomically(path, (export_text(group, fmt) + "\n").encode("utf-8"), mode=0o666)
