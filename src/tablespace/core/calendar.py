"""The group's calendar, merged (events and rituals' occurrences in time
order) and as iCalendar (RFC 5545) that calendar apps import."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tablespace.core.calendar_queries import EventView, RitualView
from tablespace.core.clock import iso
from tablespace.core.events import is_link
from tablespace.core.fold.ids import derived_id
from tablespace.core.rituals import occurrences_between, zone

# Rituals have no length of their own; a calendar entry needs an end.
RITUAL_LENGTH = timedelta(hours=1)
PRODID = "-//tablespace//calendar//EN"


@dataclass(frozen=True)
class CalendarEntry:
    """One thing on the calendar: an event, or one occurrence of a ritual."""

    kind: str  # "event" or "ritual"
    id: str  # the event's thread, or the ritual
    title: str
    at: datetime
    ends: datetime
    tz: str
    where: str = ""
    event: EventView | None = None
    ritual: RitualView | None = None


def ritual_entries(
    rituals: Iterable[RitualView], since: datetime, until: datetime, *, closed: bool = False
) -> list[CalendarEntry]:
    """The occurrences of `rituals` in [since, until] that open; with
    `closed`, also those that do not (paused, skipped or in a quiet spell),
    which a moderator needs to see to resume or un-skip them."""
    found = []
    for ritual in rituals:
        for at in occurrences_between(ritual.rrule, ritual.start, since, until, ritual.tz):
            if closed or ritual.closed_because(at) is None:
                found.append(
                    CalendarEntry("ritual", ritual.id, ritual.name, at, at + RITUAL_LENGTH, ritual.tz, ritual=ritual)
                )
    return found


def calendar_entries(
    events: Sequence[EventView],
    rituals: Iterable[RitualView],
    since: datetime,
    until: datetime,
    *,
    closed: bool = False,
) -> list[CalendarEntry]:
    """Events and rituals' occurrences together, in time order (`closed`:
    see `ritual_entries`)."""
    entries = [CalendarEntry("event", e.id, e.title, e.at, e.ends, e.tz, e.where, e) for e in events]
    entries += ritual_entries(rituals, since, until, closed=closed)
    return sorted(entries, key=lambda entry: (entry.at, entry.kind, entry.title, entry.id))


def calendar_ics(
    name: str, events: Sequence[EventView], rituals: Iterable[RitualView], since: datetime, until: datetime
) -> bytes:
    """A VCALENDAR with one VEVENT per entry: each has a stable UID, its start
    and end on its own zone's clock (TZID, with the VTIMEZONE), and for an
    event its place (LOCATION) and, if that is a link, URL."""
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    for entry in calendar_entries(events, rituals, since, until):
        item = Event()
        uid = entry.id if entry.kind == "event" else derived_id("ritual.occur", entry.id, iso(entry.at))
        item.add("uid", f"{uid}@tablespace")
        item.add("summary", entry.title)
        item.add("dtstamp", since)
        where = zone(entry.tz)
        item.add("dtstart", entry.at.astimezone(where))
        item.add("dtend", entry.ends.astimezone(where))
        if entry.where:
            item.add("location", entry.where)
            if is_link(entry.where):
                item.add("url", entry.where)
        if entry.event is not None:
            item.add("description", _answers(entry.event))
        cal.add_component(item)
    cal.add_missing_timezones()
    data: bytes = cal.to_ical()
    return data


def _answers(event: EventView) -> str:
    parts = [
        f"{label}: {', '.join(names)}" for label, names in (("going", event.going), ("maybe", event.maybe)) if names
    ]
    return "; ".join(parts) or "no answers yet"
