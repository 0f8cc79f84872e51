"""Turning what a user typed (an id prefix, a display name) into a full id."""

from __future__ import annotations

import sqlite3

from tablespace.core.errors import TablespaceError
from tablespace.core.names import name_key

MIN_PREFIX = 4

# what -> (table, extra condition): only things a user can currently see
# `+deleted` keeps the planner on the primary key: an index on `deleted`
# would scan every live row to find one id prefix.
_TARGETS = {
    "thread": ("threads", "+deleted = 0"),
    "post": ("posts", "+deleted = 0"),
    "resource": ("resources", "+deleted = 0"),
    "ritual": ("rituals", "1"),
    "circle": ("circles", "1"),
}


def resolve_id(conn: sqlite3.Connection, what: str, prefix: str) -> str:
    table, condition = _TARGETS[what]
    wanted = prefix.strip().lower()
    if len(wanted) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in wanted):
        raise TablespaceError(f"{prefix!r} is not a {what} id: give at least {MIN_PREFIX} hex characters")
    rows = conn.execute(
        f"SELECT id FROM {table} WHERE id >= ? AND id < ? AND {condition} LIMIT 2",
        (wanted, wanted + "g"),
    ).fetchall()
    if not rows:
        raise TablespaceError(f"no {what} with id {prefix!r}")
    if len(rows) > 1:
        raise TablespaceError(f"{what} id {prefix!r} is ambiguous; give more characters")
    found: str = rows[0][0]
    return found


def resolve_circle(conn: sqlite3.Connection, ref: str, me: str) -> str:
    """One of `me`'s circles, by its name (as names compare) or an id prefix."""
    wanted = ref.strip()
    mine = conn.execute(
        """SELECT c.id, d.name FROM circles c JOIN circle_members cm ON cm.circle_id = c.id AND cm.member = ?
           LEFT JOIN circle_details d ON d.circle_id = c.id""",
        (me,),
    ).fetchall()
    rows = [cid for cid, name in mine if name is not None and name_key(name) == name_key(wanted)]
    if not rows and len(wanted) >= MIN_PREFIX:
        rows = [cid for cid, _ in mine if cid.startswith(wanted.lower())]
    if not rows:
        raise TablespaceError(f"you are in no circle called {ref!r}; `tablespace circles` lists yours")
    if len(rows) > 1:
        raise TablespaceError(f"{ref!r} matches several of your circles; use its id instead")
    found: str = rows[0]
    return found


def resolve_any_circle(conn: sqlite3.Connection, ref: str) -> str:
    """Any circle by an id prefix (a moderator sees every circle's id, not its name)."""
    return resolve_id(conn, "circle", ref)


def resolve_member(conn: sqlite3.Connection, ref: str) -> str:
    """A display name (compared as the fold compares names: core/names.py) or an id prefix."""
    wanted = ref.strip()
    rows = conn.execute("SELECT id FROM members WHERE name_key = ?", (name_key(wanted),)).fetchall()
    if not rows and len(wanted) >= MIN_PREFIX:
        low = wanted.lower()
        rows = conn.execute("SELECT id FROM members WHERE id >= ? AND id < ? LIMIT 2", (low, low + "g")).fetchall()
    if not rows:
        raise TablespaceError(f"no member called {ref!r}; `tablespace members` lists them")
    if len(rows) > 1:
        raise TablespaceError(f"{ref!r} matches several members; use their id instead")
    member: str = rows[0][0]
    return member
