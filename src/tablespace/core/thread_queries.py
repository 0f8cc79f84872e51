"""The thread list: its rows, counts and positions, as the list screen and `list` read them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.database import one_int, tag_list


@dataclass(frozen=True)
class ThreadSummary:
    id: str
    title: str
    author: str
    author_id: str
    created_at: datetime
    last_activity: datetime
    replies: int
    tags: list[str]
    pinned: bool
    unread: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "author": self.author,
            "author_id": self.author_id,
            "created_at": iso(self.created_at),
            "last_activity": iso(self.last_activity),
            "replies": self.replies,
            "tags": self.tags,
            "pinned": self.pinned,
            "unread": self.unread,
        }


THREAD_COLUMNS = """
    t.id, t.title, coalesce(m.name, substr(t.author, 1, 8)), t.author, t.created_hlc,
    t.last_activity_hlc, t.replies, t.pinned,
    (SELECT group_concat(tag) FROM thread_tags WHERE thread_id = t.id),
    r.read_hlc IS NULL OR r.read_hlc < t.last_activity_hlc
"""


def _thread_summary(row: tuple[Any, ...]) -> ThreadSummary:
    return ThreadSummary(
        id=row[0],
        title=row[1],
        author=row[2],
        author_id=row[3],
        created_at=hlc_to_datetime(row[4]),
        last_activity=hlc_to_datetime(row[5]),
        replies=row[6],
        pinned=bool(row[7]),
        tags=tag_list(row[8]),
        unread=bool(row[9]),
    )


def threads(
    conn: sqlite3.Connection,
    *,
    tag: str | None = None,
    unread: bool = False,
    limit: int | None = None,
    offset: int = 0,
    pinned_first: bool = False,
    archived: bool = False,
    circle: str | None = None,
) -> list[ThreadSummary]:
    """Threads of the group's room, or of `circle`, most recent activity
    first (pinned ones on top if asked); archived threads only, if asked."""
    where = ["t.deleted = 0", "t.archived = ?", "t.circle_id IS ?"]
    args: list[Any] = [int(archived), circle]
    if tag:
        where.append("t.id IN (SELECT thread_id FROM thread_tags WHERE tag = ?)")
        args.append(tag)
    if unread:
        where.append("(r.read_hlc IS NULL OR r.read_hlc < t.last_activity_hlc)")
    order = ("t.pinned DESC, " if pinned_first else "") + "t.last_activity_hlc DESC, t.id DESC"
    # Page over ids alone (an index walk), then join and format just that page:
    # a deep OFFSET must not build every skipped row.
    sql = f"""WITH page AS (
                SELECT t.id FROM threads t LEFT JOIN reads r ON r.thread_id = t.id
                WHERE {" AND ".join(where)} ORDER BY {order} LIMIT ? OFFSET ?)
              SELECT {THREAD_COLUMNS} FROM page JOIN threads t ON t.id = page.id
              LEFT JOIN members m ON m.id = t.author LEFT JOIN reads r ON r.thread_id = t.id
              ORDER BY {order}"""
    args += [-1 if limit is None else limit, offset]
    return [_thread_summary(row) for row in conn.execute(sql, args)]


def count_threads(conn: sqlite3.Connection, circle: str | None = None) -> int:
    """Listed threads of the group's room, or of `circle`."""
    return one_int(
        conn, "SELECT count(*) FROM threads WHERE deleted = 0 AND archived = 0 AND circle_id IS ?", (circle,)
    )


def unread_by_room(conn: sqlite3.Connection) -> dict[str | None, int]:
    """Unread listed threads per room: None is the group's, else a circle's id."""
    rows = conn.execute(
        """SELECT t.circle_id, count(*) FROM threads t LEFT JOIN reads r ON r.thread_id = t.id
           WHERE t.deleted = 0 AND t.archived = 0
           AND (r.read_hlc IS NULL OR r.read_hlc < t.last_activity_hlc) GROUP BY t.circle_id"""
    )
    return {circle: count for circle, count in rows}


# The thread list's order (pinned first, then most recent activity), as
# `threads(pinned_first=True)` pages it; the keyset reads below follow it.
_LIST_ORDER = "t.pinned DESC, t.last_activity_hlc DESC, t.id DESC"


_LIST_ORDER = "t.pinned DESC, t.last_activity_hlc DESC, t.id DESC"
_LISTED = "t.deleted = 0 AND t.archived = 0 AND t.circle_id IS ?"  # the room is its parameter


def thread_position(conn: sqlite3.Connection, thread_id: str, circle: str | None = None) -> int | None:
    """Where a thread sits in the thread list of its room (the group's, or
    `circle`), or None if it is not listed there."""
    row = conn.execute(
        f"SELECT pinned, last_activity_hlc FROM threads t WHERE id = ? AND {_LISTED}", (thread_id, circle)
    ).fetchone()
    if row is None:
        return None
    pinned, hlc = row
    return one_int(
        conn,
        f"""SELECT (SELECT count(*) FROM threads t WHERE {_LISTED} AND pinned > ?)
                 + (SELECT count(*) FROM threads t WHERE {_LISTED} AND pinned = ?
                      AND (last_activity_hlc > ? OR (last_activity_hlc = ? AND id > ?)))""",
        (circle, pinned, circle, pinned, hlc, hlc, thread_id),
    )


def threads_next_to(
    conn: sqlite3.Connection, anchor_id: str, *, after: bool, limit: int, circle: str | None = None
) -> list[ThreadSummary] | None:
    """A page of the thread list of a room (the group's, or `circle`) that
    starts right after (or ends right before) a listed thread: keyset paging,
    an index probe however deep the page is, where OFFSET walks every row
    before it. None if the anchor is not listed there."""
    row = conn.execute(
        f"SELECT pinned, last_activity_hlc FROM threads t WHERE id = ? AND {_LISTED}", (anchor_id, circle)
    ).fetchone()
    if row is None:
        return None
    compare, order = ("<", _LIST_ORDER) if after else (">", _LIST_ORDER.replace("DESC", "ASC"))
    sql = f"""WITH page AS (
                SELECT t.id FROM threads t
                WHERE {_LISTED} AND (t.pinned, t.last_activity_hlc, t.id) {compare} (?, ?, ?)
                ORDER BY {order} LIMIT ?)
              SELECT {THREAD_COLUMNS} FROM page JOIN threads t ON t.id = page.id
              LEFT JOIN members m ON m.id = t.author LEFT JOIN reads r ON r.thread_id = t.id
              ORDER BY {_LIST_ORDER}"""
    return [_thread_summary(r) for r in conn.execute(sql, (circle, row[0], row[1], anchor_id, limit))]


def thread_exists(conn: sqlite3.Connection, thread_id: str) -> bool:
    return conn.execute("SELECT 1 FROM threads WHERE id = ? AND deleted = 0", (thread_id,)).fetchone() is not None
