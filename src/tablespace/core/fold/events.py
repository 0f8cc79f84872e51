"""Events (a thread with a time, a length and a place) and the answers to them."""

from __future__ import annotations

from datetime import timedelta

from tablespace.core import limits
from tablespace.core.clock import datetime_to_hlc, hlc_to_datetime, iso
from tablespace.core.errors import Rejected
from tablespace.core.events import PLACE_MAX, check_answer, check_minutes, check_when
from tablespace.core.fold.context import FoldContext
from tablespace.core.fold.registry import handles
from tablespace.core.ops import Op
from tablespace.core.rituals import UTC_NAME, parse_start, zone_field

EVENT_TAG = "event"


@handles("event.add")
def event_add(ctx: FoldContext, op: Op) -> None:
    """Any member: an event, whose opening post is its thread's."""
    ctx.require_active(op)
    ctx.check_post_cap(op)
    p = op.payload
    title = limits.one_line(p, "title", label="title", max_chars=limits.TITLE_MAX)
    body = limits.body(p)
    at = parse_start(limits.one_line(p, "at", label="event time", max_chars=40))
    check_when(at, hlc_to_datetime(op.hlc))  # the op's own time: every replica decides alike
    zone_name = zone_field(p) if "tz" in p else UTC_NAME
    minutes = check_minutes(p.get("minutes"))
    place = limits.one_line(p, "where", label="place", max_chars=PLACE_MAX) if p.get("where") else ""
    ctx.add_thread(op.id, title, op.author, op.hlc, body, [EVENT_TAG], None, None)
    ctx.run(
        "INSERT INTO events (id, at, at_hlc, tz, minutes, place, author, created_hlc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        op.id,
        iso(at),
        datetime_to_hlc(at),
        zone_name,
        minutes,
        place,
        op.author,
        op.hlc,
    )


@handles("event.rsvp")
def event_rsvp(ctx: FoldContext, op: Op) -> None:
    """A member's answer; a later one (in the fold's order) replaces theirs."""
    ctx.require_active(op)
    event = limits.ref(op.payload, "event", label="event")
    row = ctx.one("SELECT at, minutes FROM events WHERE id = ?", event)
    if row is None:
        raise Rejected.missing("no such event")
    ctx.live_thread(event)
    answer = check_answer(op.payload.get("answer"))
    if hlc_to_datetime(op.hlc) >= parse_start(row[0]) + _minutes(row[1]):
        raise Rejected.refused("the event is over")
    ctx.run(
        "INSERT OR REPLACE INTO event_rsvps (event_id, member, answer, hlc) VALUES (?, ?, ?, ?)",
        event,
        op.author,
        answer,
        op.hlc,
    )


def _minutes(count: int) -> timedelta:
    return timedelta(minutes=count)
