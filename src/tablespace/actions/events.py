"""Events: add one, answer one, and the group's calendar as iCalendar."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tablespace.actions.rituals import chosen_zone
from tablespace.core import calendar_queries, group_queries
from tablespace.core.calendar import calendar_ics
from tablespace.core.clock import iso, now
from tablespace.core.errors import Rejected, TablespaceError, checked_before_writing
from tablespace.core.events import DEFAULT_MINUTES, check_answer, parse_event_duration
from tablespace.core.files import write_atomically
from tablespace.core.group import Group
from tablespace.core.rituals import parse_local_start

# How far ahead `events --ics` lists the rituals' occurrences.
CALENDAR_AHEAD = timedelta(weeks=8)


def event_moment(text: str, zone_name: str) -> datetime:
    """A local date and time on the clock of `zone_name` (or an instant with
    an offset) as an aware datetime. A day alone is refused: an event needs
    its hour."""
    text = text.strip()
    if len(text) <= 10:
        raise TablespaceError(f"{text!r} has no time of day: give YYYY-MM-DD HH:MM")
    try:
        return parse_local_start(text, zone_name)
    except Rejected:
        raise TablespaceError(f"{text!r} is not a date and time (use YYYY-MM-DD HH:MM)") from None


def event_add(
    group: Group,
    title: str,
    at: str,
    *,
    tz: str | None = None,
    duration: str | None = None,
    where: str = "",
    body: str = "",
) -> str:
    """Any member: an event at `at` (on the clock of `tz`, the group's by
    default) lasting `duration` (45m, 2h, 1h30m; an hour by default), at a
    place or link. It is a thread; returns its id."""
    zone_name = chosen_zone(group, tz)
    moment = event_moment(at, zone_name)
    if moment <= now():
        raise TablespaceError(f"{at.strip()} has passed")
    with checked_before_writing():
        minutes = parse_event_duration(duration) if duration is not None else DEFAULT_MINUTES
    payload: dict[str, Any] = {"title": title.strip(), "at": iso(moment), "tz": zone_name, "minutes": minutes}
    if body.strip():
        payload["body"] = body
    if where.strip():
        payload["where"] = where.strip()
    return group.write("event.add", payload).id


def event_id(group: Group, ref: str) -> str:
    """The event a typed id prefix names."""
    thread = group.thread_id(ref)
    if calendar_queries.event(group.conn, thread) is None:
        raise TablespaceError(f"{ref!r} is a thread, not an event")
    return thread


def rsvp(group: Group, event_ref: str, answer: str) -> None:
    """Answer an event: going, maybe or no. A later answer replaces yours."""
    with checked_before_writing():
        check_answer(answer)
    group.write("event.rsvp", {"event": event_id(group, event_ref), "answer": answer})


def calendar(group: Group, *, past: bool = False) -> bytes:
    """The group's calendar as iCalendar: events (with `past`, those over
    too) and the rituals' occurrences in the next weeks."""
    moment = now()
    settings = group_queries.group_settings(group.conn)
    return calendar_ics(
        settings.name,
        calendar_queries.events(group.conn, moment, past=past),
        calendar_queries.rituals(group.conn, moment),
        moment,
        moment + CALENDAR_AHEAD,
    )


def write_calendar(group: Group, path: Path, *, past: bool = False) -> None:
    """The calendar written to `path` whole or not at all, readable as any file the user makes."""
    write_atomically(path, calendar(group, past=past), mode=0o666)
