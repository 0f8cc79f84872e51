"""The Rituals section as the group's calendar: rituals and events together in
time order on the reader's clock, adding an event, answering one, and an
event's thread saying when, where and who is coming."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static, TextArea

from tablespace import actions
from tablespace.core import calendar_queries
from tablespace.core.clock import now
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.modals import AskForm, RsvpModal
from tablespace.tui.sections import RitualsScreen
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.keys import jobs_done
from tests.tui.waits import screen_text

SIZE = (100, 32)
MONDAY = "2026-03-02T09:00:00Z"  # the kitchen's clock (tests/tui/conftest.py)


@pytest.fixture
def event_id(kitchen, monkeypatch) -> str:
    """An AMA on Wednesday 18:00 in Berlin (17:00 UTC), an hour and a half,
    on a call; Ana is going."""
    monkeypatch.setenv("TABLESPACE_NOW", MONDAY)
    group = Group.open(kitchen.home)
    try:
        event = actions.event_add(
            group,
            "Shaping AMA with Ben",
            "2026-03-04 18:00",
            tz="Europe/Berlin",
            duration="1h30m",
            where="https://meet.example.org/shaping",
            body="Bring your questions about shaping.",
        )
        actions.rsvp(group, event, "going")
    finally:
        group.close()
    return event


@pytest.fixture
def calendar_app(kitchen, event_id):
    group = Group.open(kitchen.home)
    yield TablespaceApp(group, sync=False)
    group.close()


def cells(screen: RitualsScreen) -> list[list[str]]:
    table = screen.query_one(DataTable)
    return [[str(cell) for cell in table.get_row_at(n)] for n in range(table.row_count)]


def row_of(screen: RitualsScreen, what: str) -> int:
    return next(n for n, row in enumerate(cells(screen)) if what in row[1])


async def open_calendar(pilot) -> RitualsScreen:
    await pilot.press("2")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, RitualsScreen)
    return screen


async def test_rituals_and_events_share_the_calendar_in_time_order(calendar_app, in_new_york):
    async with calendar_app.run_test(size=SIZE) as pilot:
        screen = await open_calendar(pilot)
        rows = cells(screen)
        whats = [row[1] for row in rows]
        ama = row_of(screen, "Shaping AMA")
        # Friday wins on Fri 27 Feb comes before it, Fri 06 Mar after it
        assert any("Friday wins" in w for w in whats[:ama]) and any("Friday wins" in w for w in whats[ama + 1 :])
        when, _what, details = rows[ama]
        assert when.startswith("Wed 04 Mar")
        # 17:00 UTC on the reader's New York clock, with its length and the answers, mine marked
        assert details == "12:00 1h30m · ✓1 going"
        screen.query_one(DataTable).move_cursor(row=ama)
        await pilot.pause()
        detail = str(screen.query_one("#ritual-prompt", Static).render())
        assert "https://meet.example.org/shaping" in detail
        assert "Wed 04 Mar 12:00–13:30" in detail and "Going: Ana" in detail
        # an event has no ritual to tend, and a ritual no answer
        assert screen.check_action("rsvp", ()) is True and screen.check_action("pause", ()) is False
        screen.query_one(DataTable).move_cursor(row=ama + 1)
        await pilot.pause()
        assert screen.check_action("rsvp", ()) is False and screen.check_action("pause", ()) is True


async def test_a_member_adds_an_event_from_the_calendar(calendar_app, in_new_york):
    async with calendar_app.run_test(size=SIZE) as pilot:
        screen = await open_calendar(pilot)
        await pilot.press("a")
        form = calendar_app.screen
        assert isinstance(form, AskForm)
        assert form.query_one("#tz", Input).value == "America/New_York"  # the group has no zone: the reader's
        assert form.query_one("#duration", Input).value == "1h"
        form.query_one("#title", Input).value = "Bake-along: focaccia"
        form.query_one("#at", Input).value = "2026-03-10 19:00"
        form.query_one("#duration", Input).value = "2h"
        form.query_one("#where", Input).value = "Ana's kitchen, 12 Mill Lane"
        form.query_one("#body", TextArea).text = "Bring a tin."
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert calendar_app.screen is screen
        added = next(
            e for e in calendar_queries.events(calendar_app.group.conn, now()) if e.title == "Bake-along: focaccia"
        )
        assert (added.tz, added.minutes, added.where) == ("America/New_York", 120, "Ana's kitchen, 12 Mill Lane")
        assert added.at.isoformat() == "2026-03-10T23:00:00+00:00"  # 19:00 in New York, summer time by then
        assert cells(screen)[row_of(screen, "focaccia")][2] == "19:00 2h · no answers yet"


async def test_a_refused_event_keeps_the_form_and_its_text(calendar_app):
    async with calendar_app.run_test(size=SIZE) as pilot:
        await open_calendar(pilot)
        await pilot.press("a")
        form = calendar_app.screen
        form.query_one("#title", Input).value = "Too late"
        form.query_one("#at", Input).value = "2026-03-01 10:00"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert calendar_app.screen is form and form.query_one("#title", Input).value == "Too late"
        assert all(e.title != "Too late" for e in calendar_queries.events(calendar_app.group.conn, now(), past=True))


async def test_answering_an_event_from_the_calendar(calendar_app, event_id):
    async with calendar_app.run_test(size=SIZE) as pilot:
        screen = await open_calendar(pilot)
        screen.query_one(DataTable).move_cursor(row=row_of(screen, "Shaping AMA"))
        await pilot.press("r")
        assert isinstance(calendar_app.screen, RsvpModal)
        await pilot.press("m")  # maybe
        await jobs_done(pilot)
        (event,) = [e for e in calendar_queries.events(calendar_app.group.conn, now(), me=calendar_app.group.me)]
        assert (event.id, event.mine, event.maybe, event.going) == (event_id, "maybe", ("Ana",), ())
        assert cells(screen)[row_of(screen, "Shaping AMA")][2].endswith("· ✓1 maybe")


async def test_enter_opens_the_event_thread_with_when_where_and_answers(calendar_app, event_id, in_new_york):
    async with calendar_app.run_test(size=SIZE) as pilot:
        screen = await open_calendar(pilot)
        screen.query_one(DataTable).move_cursor(row=row_of(screen, "Shaping AMA"))
        await pilot.press("enter")
        await pilot.pause()
        thread = calendar_app.screen
        assert isinstance(thread, ThreadScreen) and thread.thread_id == event_id
        heading = str(thread.query_one("#thread-title", Static).render())
        assert "Wed 04 Mar 12:00–13:30" in heading and "https://meet.example.org/shaping" in heading
        assert "✓1 going" in heading
        await pilot.press("escape")
        assert calendar_app.screen is screen


@pytest.fixture
def home_shown_at_a_fixed_path(calendar_app, monkeypatch):
    """The help screen says where config.json is: the same path every run."""
    monkeypatch.setattr(Home, "config_path", property(lambda self: Path("/home/ana/.tablespace/config.json")))


@pytest.mark.usefixtures("home_shown_at_a_fixed_path")
def test_calendar_snapshot(calendar_app, snap_compare):
    assert snap_compare(calendar_app, terminal_size=(120, 40), press=["2"])


@pytest.mark.usefixtures("home_shown_at_a_fixed_path")
def test_calendar_snapshot_narrow(calendar_app, snap_compare):
    assert snap_compare(calendar_app, terminal_size=(80, 24), press=["2"])


async def test_on_a_narrow_bar_the_calendar_s_count_is_said_whole(calendar_app):
    """Where "1 ritual, 1 event" does not fit beside the section names (the
    demo's unread counts at 80 columns; here 66), the bar says the rituals
    whole rather than cut mid-word."""
    async with calendar_app.run_test(size=(66, 24)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        bar = screen_text(calendar_app).splitlines()[1]
        assert "…" not in bar and "1 ritual" in bar, bar
