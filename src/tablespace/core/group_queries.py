"""The group's settings, quiet spells and this home's sync state, as the app's chrome shows them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tablespace.core import limits
from tablespace.core.clock import iso, parse_instant
from tablespace.core.database import one_int


@dataclass(frozen=True)
class QuietSpell:
    """A stretch [starts, ends) in which no ritual opens."""

    id: str
    starts: datetime
    ends: datetime
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "from": iso(self.starts), "until": iso(self.ends), "reason": self.reason}


@dataclass(frozen=True)
class GroupSettings:
    """The settings a member sees (`tablespace settings`); unset ones are empty."""

    name: str
    purpose: str
    conduct: str
    rules: str
    post_cap: int  # threads and replies per member per 7 days; 0: no cap
    tz: str = "UTC"  # the zone rituals take when added without one
    member_cap: int = limits.MEMBER_CAP_DEFAULT  # admissions stop here (fold/membership.py)
    welcome: str = ""  # the onboarding walk's first message (core/onboarding.py)
    intro_template: str = ""  # prefilled in a newcomer's intro
    first_win: str | None = None  # the library resource a newcomer opens first

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "purpose": self.purpose,
            "conduct": self.conduct,
            "rules": self.rules,
            "post_cap": self.post_cap,
            "tz": self.tz,
            "member_cap": self.member_cap,
            "welcome": self.welcome,
            "intro_template": self.intro_template,
            "first_win": self.first_win,
        }


def quiet_spells(conn: sqlite3.Connection, since: datetime | None = None) -> list[QuietSpell]:
    """Quiet spells in order of start; with `since`, only those not over by then."""
    sql = "SELECT id, starts, ends, reason FROM quiet_spells"
    args: tuple[str, ...] = ()
    if since is not None:
        sql, args = sql + " WHERE ends > ?", (iso(since),)
    return [
        QuietSpell(id=r[0], starts=parse_instant(r[1]), ends=parse_instant(r[2]), reason=r[3])
        for r in conn.execute(sql + " ORDER BY starts, id", args)
    ]


def quiet_now(conn: sqlite3.Connection, now: datetime) -> QuietSpell | None:
    """The quiet spell under way at `now` (the latest ending, if several are)."""
    spells = [s for s in quiet_spells(conn, now) if s.starts <= now]
    return max(spells, key=lambda s: s.ends, default=None)


def settings(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM settings"))


def group_settings(conn: sqlite3.Connection) -> GroupSettings:
    current = settings(conn)
    return GroupSettings(
        name=current.get("name", ""),
        purpose=current.get("purpose", ""),
        conduct=current.get("conduct", ""),
        rules=current.get("rules", ""),
        post_cap=int(current.get("post_cap", "0") or 0),
        tz=current.get("tz", "UTC"),
        member_cap=int(current.get("member_cap", limits.MEMBER_CAP_DEFAULT)),
        welcome=current.get("welcome", ""),
        intro_template=current.get("intro_template", ""),
        first_win=current.get("first_win") or None,
    )


def outbox_count(conn: sqlite3.Connection, me: str) -> int:
    """Our own ops not yet written to the folder (past the sync engine's exported_seq)."""
    head = conn.execute("SELECT max(seq) FROM ops WHERE author = ?", (me,)).fetchone()[0] or 0
    meta = conn.execute("SELECT value FROM meta WHERE key = 'exported_seq'").fetchone()
    return max(0, head - (int(meta[0]) if meta and meta[0] else 0))


def last_sync_hlc(conn: sqlite3.Connection) -> int | None:
    meta = conn.execute("SELECT value FROM meta WHERE key = 'last_sync'").fetchone()
    return int(meta[0]) if meta and meta[0] else None


def quarantined_count(conn: sqlite3.Connection) -> int:
    return one_int(conn, "SELECT count(*) FROM sync_files WHERE status = 'quarantined'")


def data_version(conn: sqlite3.Connection) -> tuple[int, int]:
    """Changes whenever this connection or any other commits to the database:
    a reader compares it to skip re-reading what cannot have changed."""
    return conn.total_changes, conn.execute("PRAGMA data_version").fetchone()[0]
