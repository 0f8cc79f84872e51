"""`event add`, `events`, `rsvp` and `events --ics`, through the real CLI
(TABLESPACE_NOW is Monday 23 Nov 2026 09:00 UTC)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.clirun import TS, make_group


def ama(ts: TS, *extra: str) -> str:
    return ts.out("event", "add", "First AMA", "--at", "2026-12-03 18:00", *extra)


def test_an_event_keeps_its_zone_and_is_a_thread(ts: TS) -> None:
    ts.run("settings", "--tz", "Europe/Berlin")
    event = ama(ts, "--duration", "1h30m", "--where", "https://meet.example.org/ama", "--body", "Ask anything")
    (row,) = ts.json("events")
    assert row == {
        "id": event,
        "title": "First AMA",
        "at": "2026-12-03T17:00:00Z",  # 18:00 in Berlin
        "where": "https://meet.example.org/ama",
        "going": [],
        "maybe": [],
        "declined": [],
    }
    assert ts.json("show", event[:8])["title"] == "First AMA"
    other = ts.out("event", "add", "Meetup", "--at", "2026-12-01 19:00", "--tz", "America/New_York")
    assert [e["id"] for e in ts.json("events")] == [other, event]  # time order
    assert ts.json("events")[0]["at"] == "2026-12-02T00:00:00Z"


def test_refused_events_change_nothing(ts: TS) -> None:
    before = ts.ops()
    assert "has passed" in ts.error("event", "add", "Late", "--at", "2026-11-20 10:00")
    assert "no time of day" in ts.error("event", "add", "Day", "--at", "2026-12-01")
    assert "unknown time zone" in ts.error("event", "add", "X", "--at", "2026-12-01 10:00", "--tz", "Mars/Base")
    assert "not a length" in ts.error("event", "add", "X", "--at", "2026-12-01 10:00", "--duration", "forever")
    assert "a minute to a week" in ts.error("event", "add", "X", "--at", "2026-12-01 10:00", "--duration", "200h")
    assert "5 years" in ts.error("event", "add", "X", "--at", "2032-12-01 10:00")
    ts.error("rsvp", "abcd1234", "perhaps", code=2)
    thread = ts.out("post", "Plain thread", "--body", "no time")
    assert "not an event" in ts.error("rsvp", thread[:8], "going")
    assert ts.ops() == before + 1


def test_rsvp_one_per_member_the_later_replaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ana, members = make_group(tmp_path, monkeypatch, "Bo", "Cy")
    bo, cy = members["Bo"], members["Cy"]
    event = ama(ana, "--where", "The bakery, 12 Mill Lane")
    for member in (ana, bo, cy):
        member.json("sync")
    bo.run("rsvp", event[:8], "going")
    cy.run("rsvp", event[:8], "maybe")
    ana.run("rsvp", event[:8], "no")
    bo.run("rsvp", event[:8], "maybe")
    cy.run("rsvp", event[:8], "going")
    for member in (bo, cy, ana, bo, cy):
        member.json("sync")
    for member in (ana, bo, cy):
        (row,) = member.json("events")
        assert (row["going"], row["maybe"], row["declined"]) == (["Cy"], ["Bo"], ["Ana"])
    assert "you: maybe" in bo.out("events")


def test_past_events_only_with_all(ts: TS, monkeypatch: pytest.MonkeyPatch) -> None:
    event = ama(ts)
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-04T09:00:00Z")
    assert ts.json("events") == []
    assert [e["id"] for e in ts.json("events", "--all")] == [event]
    assert "the event is over" in ts.error("rsvp", event[:8], "going")


def test_ics_is_a_calendar_apps_import(ts: TS, tmp_path: Path) -> None:
    from icalendar import Calendar

    ts.run("settings", "--tz", "Europe/Berlin")
    event = ama(ts, "--where", "https://meet.example.org/ama", "--duration", "2h")
    ts.run(
        "ritual", "add", "Check-in", "--prompt", "How goes?", "--rrule", "FREQ=WEEKLY;BYDAY=FR", "--start", "2026-11-20"
    )
    out = tmp_path / "group.ics"
    ts.run("events", "--ics", "-o", str(out))
    cal = Calendar.from_ical(out.read_bytes())
    assert cal["VERSION"] == "2.0" and cal["PRODID"]
    vevents = cal.walk("VEVENT")
    assert {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")} == {"Europe/Berlin"}
    first = next(v for v in vevents if str(v["UID"]) == f"{event}@tablespace")
    assert first["DTSTART"].params["TZID"] == "Europe/Berlin"
    start, end = first["DTSTART"].dt, first["DTEND"].dt
    assert start.astimezone(UTC) == datetime(2026, 12, 3, 17, tzinfo=UTC) and end - start == timedelta(hours=2)
    assert str(first["LOCATION"]) == str(first["URL"]) == "https://meet.example.org/ama"
    fridays = sorted(v["DTSTART"].dt for v in vevents if str(v["SUMMARY"]) == "Check-in")
    assert len(fridays) == 8 and all(f.hour == 9 and f.weekday() == 4 for f in fridays)  # 09:00 Berlin, every Friday
    assert len({str(v["UID"]) for v in vevents}) == len(vevents)
    assert ts.run("events", "--ics").stdout.startswith("BEGIN:VCALENDAR")
    ts.error("events", "-o", str(out), code=2)


def test_answers_and_reminders_reach_the_inbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ana, members = make_group(tmp_path, monkeypatch, "Bo")
    bo = members["Bo"]
    event = ama(ana)
    ana.json("sync")
    bo.json("sync")
    bo.run("rsvp", event[:8], "going")
    bo.json("sync")
    ana.json("sync")
    (answer,) = ana.json("inbox")
    assert (answer["kind"], answer["from"], answer["thread"]) == ("event", "Bo", event)
    assert "Bo answered your event" in ana.out("inbox")
    ana.run("show", event[:8])
    assert ana.json("inbox") == []
    # A day before it starts, it reaches everyone who has not declined, from no one.
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-02T18:00:00Z")
    (reminder,) = bo.json("inbox")
    assert (reminder["kind"], reminder["from"], reminder["thread"]) == ("event", None, event)
    assert "coming up" in bo.out("inbox")
    bo.run("show", event[:8])
    assert bo.json("inbox") == []
    bo.run("rsvp", event[:8], "no")
    bo.json("sync")
    ana.json("sync")
    entries = {(e["kind"], e["from"]) for e in ana.json("inbox")}
    assert entries == {("event", "Bo"), ("event", None)}  # Bo's new answer, and her own reminder


def test_the_days_ritual_reaches_the_inbox(ts: TS, monkeypatch: pytest.MonkeyPatch) -> None:
    ts.run("ritual", "add", "Check-in", "--prompt", "How goes?", "--rrule", "FREQ=DAILY", "--start", "2026-11-23")
    ts.run("post", "Hello", "--body", "opens what came due")
    (entry,) = [e for e in ts.json("inbox") if e["kind"] == "event"]
    assert entry["from"] is None and "Check-in" in ts.out("inbox")


def test_the_digest_lists_upcoming_events(ts: TS) -> None:
    event = ama(ts, "--where", "The bakery")
    ts.run("rsvp", event[:8], "going")
    section = ts.run("digest", "--format", "json").stdout
    import json

    events = json.loads(section)["sections"]["events"]
    assert events["total"] == 1 and events["items"][0]["ref"] == event
    assert "First AMA, Thu 2026-12-03 18:00 UTC" in events["items"][0]["headline"]
    assert events["items"][0]["text"] == "1 going (Ana) · The bakery"
    assert "## Upcoming events (1)" in ts.out("digest")
