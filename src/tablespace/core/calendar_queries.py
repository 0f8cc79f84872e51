"""Rituals and events, each with what comes next."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tablespace.core.clock import datetime_to_hlc, iso, parse_instant
from tablespace.core.events import LONGEST_MINUTES
from tablespace.core.group_queries import quiet_spells
from tablespace.core.rituals import Closed, closed_because, first_open, occurrences_after


@dataclass(frozen=True)
class RitualView:
    id: str
    name: str
    prompt: str
    rrule: str
    start: str
    paused: bool
    next: datetime | None
    tz: str = "UTC"
    paused_until: datetime | None = None
    skipped: frozenset[datetime] = frozenset()
    quiet: tuple[tuple[datetime, datetime], ...] = ()
    circle: str | None = None  # the circle it belongs to; None: the group's

    def closed_because(self, at: datetime) -> Closed | None:
        """Why the occurrence at `at` does not open, or None (the fold's own rule)."""
        return closed_because(
            at, paused=self.paused, paused_until=self.paused_until, skipped=self.skipped, quiet=self.quiet
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prompt": self.prompt,
            "rrule": self.rrule,
            "start": self.start,
            "tz": self.tz,
            "paused": self.paused,
            "paused_until": iso(self.paused_until) if self.paused_until else None,
            "next": iso(self.next) if self.next else None,
            "circle": self.circle,
        }


@dataclass(frozen=True)
class EventView:
    """An event: its thread, its time (a UTC instant and the zone it was set
    in), its length, its place or link, and who answered what (names, in order)."""

    id: str
    title: str
    at: datetime
    tz: str
    minutes: int
    where: str
    author: str
    going: tuple[str, ...] = ()
    maybe: tuple[str, ...] = ()
    declined: tuple[str, ...] = ()
    mine: str | None = None  # the reader's own answer

    @property
    def ends(self) -> datetime:
        return self.at + timedelta(minutes=self.minutes)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "at": iso(self.at),
            "where": self.where,
            "going": list(self.going),
            "maybe": list(self.maybe),
            "declined": list(self.declined),
        }


# The circles this home's member is in: a circle's rituals are theirs while
# they are in it (the rows stay after they go, like the threads they read).
_MY_CIRCLES = "SELECT circle_id FROM circle_members WHERE member = (SELECT value FROM meta WHERE key = 'me')"


def rituals(conn: sqlite3.Connection, now: datetime) -> list[RitualView]:
    """The group's rituals and those of the circles I am in, each with its
    next occurrence that opens (not paused, skipped or inside a quiet
    spell). `paused` is whether it is paused at `now`."""
    quiet = tuple((s.starts, s.ends) for s in quiet_spells(conn, now))
    skips: dict[str, set[datetime]] = {}
    for ritual_id, at in conn.execute("SELECT ritual_id, at FROM ritual_skips"):
        skips.setdefault(ritual_id, set()).add(parse_instant(at))
    views = []
    for r in conn.execute(
        f"""SELECT id, name, prompt, rrule, start, paused, tz, paused_until, circle_id FROM rituals
            WHERE circle_id IS NULL OR circle_id IN ({_MY_CIRCLES}) ORDER BY name, id"""
    ):
        until = parse_instant(r[7]) if r[7] else None
        paused = bool(r[5]) and (until is None or now < until)
        skipped = frozenset(skips.get(r[0], ()))
        upcoming = first_open(
            occurrences_after(r[3], r[4], now, r[6]),
            paused=paused,
            paused_until=until if paused else None,
            skipped=skipped,
            quiet=quiet,
        )
        views.append(
            RitualView(
                id=r[0],
                name=r[1],
                prompt=r[2],
                rrule=r[3],
                start=r[4],
                paused=paused,
                next=upcoming,
                tz=r[6],
                paused_until=until if paused else None,
                skipped=skipped,
                quiet=quiet,
                circle=r[8],
            )
        )
    views.sort(key=lambda v: (v.next is None, v.next or now, v.name))
    return views


def events(
    conn: sqlite3.Connection, now: datetime, *, past: bool = False, me: str | None = None, until: datetime | None = None
) -> list[EventView]:
    """Events in time order: those not over by `now` (with `past`, all), up
    to `until` if given. `me` fills each one's `mine`."""
    return _events(conn, now, past=past, me=me, until=until)


def event(conn: sqlite3.Connection, thread_id: str, *, me: str | None = None) -> EventView | None:
    """The event whose thread is `thread_id` (over or not), or None if that thread is no event."""
    found = _events(conn, None, past=True, me=me, only=thread_id)
    return found[0] if found else None


def _event_range(now: datetime | None, until: datetime | None) -> tuple[str, dict[str, Any]]:
    """The condition on events.at_hlc for events not over by `now` (None:
    any) and begun by `until` (None: any time)."""
    lo = -1 if now is None else datetime_to_hlc(now - timedelta(minutes=LONGEST_MINUTES))
    hi = datetime_to_hlc(until) if until is not None else 1 << 62
    # hi's own millisecond is in: `until` is inclusive.
    return "e.at_hlc > :lo AND e.at_hlc <= :hi", {"lo": lo, "hi": hi | 0xFFFF}


def _events(
    conn: sqlite3.Connection,
    now: datetime | None,
    *,
    past: bool,
    me: str | None,
    until: datetime | None = None,
    only: str | None = None,
) -> list[EventView]:
    # CROSS JOIN: from the events in range to their threads, not from every thread.
    sql = """SELECT e.id, t.title, e.at, e.tz, e.minutes, e.place, coalesce(m.name, e.author)
             FROM events e CROSS JOIN threads t ON t.id = e.id AND t.deleted = 0
             LEFT JOIN members m ON m.id = e.author WHERE """
    if only is not None:
        which, params = "e.id = :only", {"only": only}
    else:
        # The events_at range: begun no longer ago than the longest event, up to `until`.
        which, params = _event_range(now if not past else None, until)
    rows = conn.execute(sql + which + " ORDER BY e.at_hlc, e.id", params).fetchall()
    if not past and now is not None:
        rows = [r for r in rows if parse_instant(r[2]) + timedelta(minutes=r[4]) > now]
    answers: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for event_id, member, name, answer in conn.execute(
        """SELECT r.event_id, r.member, coalesce(m.name, r.member), r.answer
           FROM event_rsvps r LEFT JOIN members m ON m.id = r.member
           WHERE r.event_id IN (SELECT value FROM json_each(?)) ORDER BY r.hlc, r.member""",
        (json.dumps([r[0] for r in rows]),),
    ):
        answers.setdefault(event_id, {}).setdefault(answer, []).append((member, name))
    found = []
    for event_id, title, at, tz, minutes, place, author in rows:
        begins = parse_instant(at)
        given = answers.get(event_id, {})
        mine = next((a for a, people in given.items() for member, _ in people if member == me), None)
        found.append(
            EventView(
                id=event_id,
                title=title,
                at=begins,
                tz=tz,
                minutes=minutes,
                where=place,
                author=author,
                going=tuple(name for _, name in given.get("going", ())),
                maybe=tuple(name for _, name in given.get("maybe", ())),
                declined=tuple(name for _, name in given.get("no", ())),
                mine=mine,
            )
        )
    return found
