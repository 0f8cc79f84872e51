"""Events and their answers in the fold: hostile payloads are refused alike
by every replica, one answer per member (the later in the fold's order
replaces the earlier), and the view is the same whatever order ops arrive in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tablespace.core import calendar_queries
from tablespace.core.calendar import calendar_entries
from tablespace.core.calendar_queries import events
from tablespace.core.clock import datetime_to_hlc
from tablespace.core.events import duration_text, parse_event_duration

from .opkit import World, new_store

AMA = {"title": "AMA", "at": "2026-03-05T17:00:00Z", "tz": "Europe/Berlin", "minutes": 90, "where": "Mill Lane"}


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path / "group.db", members=2)
    w.hlc = datetime_to_hlc(datetime(2026, 3, 1, tzinfo=UTC))
    return w


def test_hostile_events_are_refused(world):
    bo = world.members[0]
    assert world.rejected(bo, "event.add", {**AMA, "at": "2026-02-01T10:00:00Z"}) == "the event's time has passed"
    assert world.rejected(bo, "event.add", {**AMA, "at": "2032-01-01T10:00:00Z"}) == "an event is at most 5 years ahead"
    assert "unknown time zone" in world.rejected(bo, "event.add", {**AMA, "tz": "Mars/Base"})
    for minutes in (0, -5, 7 * 24 * 60 + 1, True, "90", 1.5):
        assert world.rejected(bo, "event.add", {**AMA, "minutes": minutes}) == "an event lasts from a minute to a week"
    assert "could drive a reader's terminal" in world.rejected(bo, "event.add", {**AMA, "where": "\x1b]8;;x"})
    assert "not a date" in world.rejected(bo, "event.add", {**AMA, "at": "soon"})
    assert world.one("SELECT count(*) FROM events") == (0,)
    assert world.one("SELECT count(*) FROM threads") == (0,)


def test_one_answer_per_member_the_later_replaces(world, tmp_path):
    bo, cy = world.members
    event = world.accepted(bo, "event.add", AMA).id
    assert world.one("SELECT title FROM threads WHERE id = ?", event) == ("AMA",)
    world.accepted(bo, "event.rsvp", {"event": event, "answer": "going"})
    world.accepted(cy, "event.rsvp", {"event": event, "answer": "no"})
    world.accepted(bo, "event.rsvp", {"event": event, "answer": "maybe"})
    assert world.rejected(cy, "event.rsvp", {"event": event, "answer": "yes"}) == "answer going, maybe or no"
    assert world.rejected(cy, "event.rsvp", {"event": "f" * 32, "answer": "going"}) == "no such event"
    (view,) = events(world.store.conn, datetime(2026, 3, 1, tzinfo=UTC), me=world.members[0].id)
    assert (view.going, view.maybe, view.declined, view.mine) == ((), ("Bo",), ("Cy",), "maybe")
    assert view.tz == "Europe/Berlin" and view.minutes == 90 and view.where == "Mill Lane"
    # Another replica folding the same log backwards agrees, byte for byte.
    other = new_store(tmp_path / "other.db", world.group_id)
    other.ingest(reversed(world.log))
    assert other.canonical_dump() == world.store.canonical_dump()


def test_no_answer_after_the_event_and_none_once_it_is_deleted(world):
    bo, cy = world.members
    event = world.accepted(bo, "event.add", AMA).id
    second = world.accepted(bo, "event.add", {**AMA, "at": "2026-03-20T17:00:00Z"}).id
    world.hlc = datetime_to_hlc(datetime(2026, 3, 5, 18, 30, tzinfo=UTC))  # the first's 90 minutes are over
    assert world.rejected(cy, "event.rsvp", {"event": event, "answer": "going"}) == "the event is over"
    world.accepted(cy, "event.rsvp", {"event": second, "answer": "going"})
    world.accepted(bo, "post.delete", {"post": second})
    assert world.one("SELECT count(*) FROM events WHERE id = ?", second) == (0,)  # its place goes with it
    assert world.one("SELECT count(*) FROM event_rsvps WHERE event_id = ?", second) == (0,)
    assert world.rejected(cy, "event.rsvp", {"event": second, "answer": "no"}) == "no such event"


def test_one_event_by_its_thread_and_its_length_in_words(world):
    bo, cy = world.members
    event = world.accepted(bo, "event.add", AMA).id
    world.accepted(cy, "event.rsvp", {"event": event, "answer": "going"})
    view = calendar_queries.event(world.store.conn, event, me=cy.id)
    assert view is not None and (view.title, view.going, view.mine) == ("AMA", ("Cy",), "going")
    thread = world.accepted(bo, "thread.start", {"title": "Not an event", "body": "hi", "tags": []}).id
    assert calendar_queries.event(world.store.conn, thread) is None
    assert [duration_text(m) for m in (45, 60, 90, 120, 7 * 24 * 60)] == ["45m", "1h", "1h30m", "2h", "168h"]
    assert all(parse_event_duration(duration_text(m)) == m for m in (1, 59, 61, 600))


def test_the_calendar_can_keep_the_occurrences_that_do_not_open(world):
    """The app's calendar shows a paused ritual's days (to resume it); the iCalendar does not."""
    bo = world.members[0]
    daily = {"name": "Check-in", "prompt": "How is it going?", "rrule": "FREQ=DAILY", "start": "2026-03-01"}
    ritual = world.accepted(world.founder, "ritual.add", daily).id
    world.accepted(world.founder, "ritual.pause", {"ritual": ritual, "paused": True})
    event = world.accepted(bo, "event.add", AMA).id
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    since, until = datetime(2026, 3, 4, tzinfo=UTC), datetime(2026, 3, 7, tzinfo=UTC)
    found = events(world.store.conn, moment)
    rituals_now = calendar_queries.rituals(world.store.conn, moment)
    assert [e.id for e in calendar_entries(found, rituals_now, since, until)] == [event]
    every = calendar_entries(found, rituals_now, since, until, closed=True)
    assert [(e.kind, e.at.day) for e in every] == [("ritual", 4), ("ritual", 5), ("event", 5), ("ritual", 6)]
    assert every[0].ritual is not None and every[0].ritual.paused
