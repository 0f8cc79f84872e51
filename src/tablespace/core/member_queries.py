"""Members, their names, roles and devices."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tablespace.core.clock import datetime_to_hlc, hlc_to_datetime, iso
from tablespace.core.clock import now as current_time
from tablespace.core.database import one_int, tag_list


@dataclass(frozen=True)
class MemberView:
    id: str
    name: str
    roles: list[str]
    status: str
    timeout_until: datetime | None = None  # set while timed out
    devices: int = 1  # the member's devices not removed: one person, whatever the count

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "roles": self.roles,
            "status": self.status,
            "timeout_until": iso(self.timeout_until) if self.timeout_until else None,
            "devices": self.devices,
        }


@dataclass(frozen=True)
class DeviceView:
    id: str
    name: str
    added_at: datetime
    this: bool  # the device this home is

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "added_at": iso(self.added_at), "this": self.this}


def member_names(conn: sqlite3.Connection) -> dict[str, str]:
    """Every member's display name by id (present and past members)."""
    return dict(conn.execute("SELECT id, name FROM members"))


def members(conn: sqlite3.Connection, now: datetime | None = None) -> list[MemberView]:
    """The roster. A time-out is a fact with an end, so whether someone is
    `timed_out` is read against `now` (the wall clock, or TABLESPACE_NOW)."""
    moment = datetime_to_hlc(now or current_time())
    rows = conn.execute(
        """SELECT m.id, m.name,
                  CASE WHEN m.status = 'active' AND m.timeout_until_hlc > ? THEN 'timed_out' ELSE m.status END,
                  (SELECT group_concat(role) FROM roles WHERE member_id = m.id), m.timeout_until_hlc,
                  (SELECT count(*) FROM devices d WHERE d.member = m.id AND d.status = 'active')
           FROM members m ORDER BY lower(m.name), m.id""",
        (moment,),
    )
    return [
        MemberView(
            id=r[0],
            name=r[1],
            status=r[2],
            roles=tag_list(r[3]),
            timeout_until=hlc_to_datetime(r[4]) if r[2] == "timed_out" else None,
            devices=r[5] or 1,  # a member who never added one has their first key alone
        )
        for r in rows
    ]


def devices(conn: sqlite3.Connection, member: str, this: str) -> list[DeviceView]:
    """A member's devices not removed, oldest first; `this`: the signing key
    of the home asking. A member who never added one has one: their first."""
    rows = conn.execute(
        "SELECT id, name, added_hlc FROM devices WHERE member = ? AND status = 'active' ORDER BY added_hlc, id",
        (member,),
    ).fetchall()
    if not rows:
        joined = conn.execute("SELECT joined_hlc FROM members WHERE id = ?", (member,)).fetchone()
        rows = [(member, "first device", joined[0])] if joined else []
    return [DeviceView(d, name, hlc_to_datetime(hlc), d == this) for d, name, hlc in rows]


def member_ids(conn: sqlite3.Connection) -> set[str]:
    """Everyone who was ever admitted, whatever their status now."""
    return {row[0] for row in conn.execute("SELECT id FROM members")}


def member_status(conn: sqlite3.Connection, member: str) -> str | None:
    row = conn.execute("SELECT status FROM members WHERE id = ?", (member,)).fetchone()
    return row[0] if row else None


def member_statuses(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT id, status FROM members"))


def member_name_keys(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(id, the key its display name is compared by) of every member."""
    return conn.execute("SELECT id, name_key FROM members").fetchall()


def moderator_ids(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT member_id FROM roles WHERE role = 'moderator'")}


def moderator_count(conn: sqlite3.Connection) -> int:
    return one_int(conn, "SELECT count(*) FROM roles WHERE role = 'moderator'")
