"""Circles and direct conversations: who is in them, their keys, and where a thread, ritual or post belongs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from tablespace.core.circles import has_ended
from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.clock import today as clock_today
from tablespace.core.log_queries import HOLDERS_SQL


@dataclass(frozen=True)
class CircleView:
    id: str
    name: str | None  # None: its details did not open here
    purpose: str
    ends: str | None
    members: list[str]  # display names
    ended: bool = False  # past its end date on the reader's clock

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "members": self.members, "ends": self.ends, "ended": self.ended}


def circles(conn: sqlite3.Connection, me: str, today: date | None = None) -> list[CircleView]:
    """The circles `me` is in, by name, those past their end date (on
    `today`, the reader's by default) after the others; direct conversations
    are `dms`'."""
    day = today or clock_today()
    rows = conn.execute(
        """SELECT c.id, d.name, coalesce(d.purpose, ''), d.ends FROM circles c
           JOIN circle_members cm ON cm.circle_id = c.id AND cm.member = ?
           LEFT JOIN circle_details d ON d.circle_id = c.id
           WHERE coalesce(d.dm, 0) = 0
           ORDER BY coalesce(d.name, ''), c.id""",
        (me,),
    ).fetchall()
    views = [
        CircleView(cid, name, purpose, ends, circle_member_names(conn, cid), has_ended(ends, day))
        for cid, name, purpose, ends in rows
    ]
    return sorted(views, key=lambda view: view.ended)  # a stable sort: by name within each


@dataclass(frozen=True)
class CircleOverview:
    """A circle as the fold shows it to every member of the group: that it
    exists, who made it and when, its members and how much is written in it.
    Its name and end date are sealed: known only where we are in it."""

    id: str
    name: str | None  # None: we are not in it, so its details are sealed to us
    ends: str | None
    members: list[str]  # display names
    maker: str  # display name
    created_at: datetime
    ops: int  # ops written in it (opaque to outsiders, counted by everyone)
    last_activity: datetime | None
    in_circle: bool
    ended: bool | None = None  # past its end date on our clock; None where its details are sealed to us

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "members": self.members,
            "ends": self.ends,
            "size": len(self.members),
            "maker": self.maker,
            "created_at": iso(self.created_at),
            "ops": self.ops,
            "last_activity": iso(self.last_activity) if self.last_activity else None,
            "in_circle": self.in_circle,
            "ended": self.ended,
        }


def count_circles(conn: sqlite3.Connection) -> int:
    """How many circles `all_circles` lists, without reading them."""
    (count,) = conn.execute(
        "SELECT count(*) FROM circles c WHERE EXISTS (SELECT 1 FROM circle_members cm WHERE cm.circle_id = c.id)"
    ).fetchone()
    return int(count)


def all_circles(conn: sqlite3.Connection, me: str, today: date | None = None) -> list[CircleOverview]:
    """Every circle someone is still in, newest first, as a moderator sees
    them: direct conversations too, since outside one nobody can tell it
    from a circle of two. Whether one has ended is said (on `today`, the
    reader's by default) only of those we are in: its end date is sealed."""
    day = today or clock_today()
    rows = conn.execute(
        """SELECT c.id, d.name, d.ends, coalesce(m.name, substr(c.maker, 1, 8)), c.created_hlc,
                  (SELECT count(*) FROM circle_activity a WHERE a.circle_id = c.id),
                  (SELECT max(a.hlc) FROM circle_activity a WHERE a.circle_id = c.id),
                  EXISTS (SELECT 1 FROM circle_members cm WHERE cm.circle_id = c.id AND cm.member = ?1)
           FROM circles c LEFT JOIN circle_details d ON d.circle_id = c.id LEFT JOIN members m ON m.id = c.maker
           WHERE EXISTS (SELECT 1 FROM circle_members cm WHERE cm.circle_id = c.id)
           ORDER BY c.created_hlc DESC, c.id""",
        (me,),
    ).fetchall()
    return [
        CircleOverview(
            cid,
            name if mine else None,
            ends if mine else None,
            circle_member_names(conn, cid),
            maker,
            hlc_to_datetime(created),
            ops,
            hlc_to_datetime(last) if last is not None else None,
            bool(mine),
            has_ended(ends, day) if mine else None,
        )
        for cid, name, ends, maker, created, ops, last, mine in rows
    ]


@dataclass(frozen=True)
class DirectView:
    """A direct conversation: a two-person circle and its one thread."""

    id: str  # the circle
    with_member: str  # the other member's id
    with_name: str
    thread: str | None  # None until its first message, or if it was deleted
    last_activity: str | None  # ISO time of its newest message
    unread: int  # messages we have not read

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "with": self.with_name,
            "thread": self.thread,
            "last_activity": self.last_activity,
            "unread": self.unread,
        }


def direct_thread(conn: sqlite3.Connection, circle: str) -> str | None:
    """A direct conversation's thread: its oldest live one."""
    row = conn.execute(
        "SELECT id FROM threads WHERE circle_id = ? AND deleted = 0 ORDER BY created_hlc, id LIMIT 1", (circle,)
    ).fetchone()
    return row[0] if row else None


def dms(conn: sqlite3.Connection, me: str) -> list[DirectView]:
    """`me`'s direct conversations with members still in them, newest first."""
    rows = conn.execute(
        """SELECT c.id, other.member, coalesce(m.name, substr(other.member, 1, 8)), t.id, t.last_activity_hlc,
                  (SELECT count(*) FROM posts p WHERE p.thread_id = t.id AND p.deleted = 0 AND p.author != :me
                     AND p.created_hlc > coalesce((SELECT read_hlc FROM reads WHERE thread_id = t.id), -1))
           FROM circles c
           JOIN circle_details d ON d.circle_id = c.id AND d.dm = 1
           JOIN circle_members mine ON mine.circle_id = c.id AND mine.member = :me
           JOIN circle_members other ON other.circle_id = c.id AND other.member != :me
           LEFT JOIN members m ON m.id = other.member
           LEFT JOIN threads t ON t.id = (SELECT id FROM threads WHERE circle_id = c.id AND deleted = 0
                                          ORDER BY created_hlc, id LIMIT 1)""",
        {"me": me},
    ).fetchall()
    found = [
        DirectView(circle, other, name, thread, iso(hlc_to_datetime(last)) if thread else None, unread if thread else 0)
        for circle, other, name, thread, last, unread in rows
    ]
    return sorted(found, key=lambda d: (d.last_activity or "", d.id), reverse=True)


def circle_member_names(conn: sqlite3.Connection, circle: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            """SELECT coalesce(m.name, substr(cm.member, 1, 8)) FROM circle_members cm
               LEFT JOIN members m ON m.id = cm.member WHERE cm.circle_id = ? ORDER BY 1""",
            (circle,),
        )
    ]


def circle_current_key(conn: sqlite3.Connection, circle: str) -> tuple[str, int]:
    """(the op that made it, its epoch) of the key a circle is written under next."""
    row = conn.execute("SELECT key_op, epoch FROM circles WHERE id = ?", (circle,)).fetchone()
    return (str(row[0]), int(row[1])) if row else ("", 0)


def circle_member_ids(conn: sqlite3.Connection, circle: str) -> list[str]:
    return [m for (m,) in conn.execute("SELECT member FROM circle_members WHERE circle_id = ? ORDER BY 1", (circle,))]


def circle_needs_new_key(conn: sqlite3.Connection, circle: str) -> bool:
    """Whether the circle's current key reached a device that is no longer
    one of its members' (someone went, or a device was removed), or misses
    one that is (a device added since): nothing more may be written under
    that key (core/fold/circles.py)."""
    row = conn.execute(
        """SELECT e.wrapped FROM circles c
           JOIN circle_epochs e ON e.circle_id = c.id AND e.key_op = c.key_op WHERE c.id = ?""",
        (circle,),
    ).fetchone()
    if row is None:
        return False
    return set(json.loads(row[0])) != set(circle_holders(conn, circle_member_ids(conn, circle)))


def circle_holders(conn: sqlite3.Connection, members: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Signing key -> (member, exchange key) of every device of `members`
    not removed that has published an exchange key: whom a circle key is
    wrapped for."""
    sql = HOLDERS_SQL.format(
        members="m.id = :member", first="m.exchange_key IS NOT NULL", added="d.exchange_key IS NOT NULL", removed="1"
    )
    return {key: (member, exchange) for member in members for key, exchange in conn.execute(sql, {"member": member})}


def circles_of(conn: sqlite3.Connection, member: str) -> list[str]:
    """The circles `member` is in."""
    return [c for (c,) in conn.execute("SELECT circle_id FROM circle_members WHERE member = ? ORDER BY 1", (member,))]


def thread_circle(conn: sqlite3.Connection, thread_id: str) -> str | None:
    """The circle a thread is in; None for the group's room."""
    row = conn.execute("SELECT circle_id FROM threads WHERE id = ?", (thread_id,)).fetchone()
    return row[0] if row else None


def ritual_circle(conn: sqlite3.Connection, ritual_id: str) -> str | None:
    """The circle a ritual is in; None for the group's."""
    row = conn.execute("SELECT circle_id FROM rituals WHERE id = ?", (ritual_id,)).fetchone()
    return row[0] if row else None


def post_circle(conn: sqlite3.Connection, post_id: str) -> str | None:
    row = conn.execute(
        "SELECT t.circle_id FROM posts p JOIN threads t ON t.id = p.thread_id WHERE p.id = ?", (post_id,)
    ).fetchone()
    return row[0] if row else None


def circle_op(conn: sqlite3.Connection, op_id: str) -> tuple[str, str, int] | None:
    """(circle, author, hlc) of an op written in a circle, as every replica
    folds it (sealed or opened); None if `op_id` was not written in one."""
    row: tuple[str, str, int] | None = conn.execute(
        "SELECT circle_id, author, hlc FROM circle_activity WHERE op_id = ?", (op_id,)
    ).fetchone()
    return row


def exchange_keys(conn: sqlite3.Connection, members: Iterable[str]) -> dict[str, str | None]:
    """member -> their published exchange key (hex), None if they have none yet."""
    found: dict[str, str | None] = {}
    for member in members:
        row = conn.execute("SELECT exchange_key FROM members WHERE id = ?", (member,)).fetchone()
        found[member] = row[0] if row else None
    return found
