"""The Rituals section's keys (edit, pause and resume, skip once, remove), the
calendar on the reader's own clock, and the header during a quiet spell."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Select

from tablespace import actions
from tablespace.core import calendar_queries
from tablespace.core.clock import now
from tablespace.core.group import Group
from tablespace.tui.app import TablespaceApp
from tablespace.tui.modals import AskForm, ConfirmModal
from tablespace.tui.ritual_form import RitualForm
from tablespace.tui.sections import RitualsScreen
from tests.tui.keys import jobs_done
from tests.tui.waits import refusal_line, screen_text, wait_for

SIZE = (100, 32)


def cells(screen: RitualsScreen) -> list[list[str]]:
    table = screen.query_one(DataTable)
    return [[str(cell) for cell in table.get_row_at(n)] for n in range(table.row_count)]


async def test_the_calendar_shows_local_times_and_the_keys_tend_a_ritual(kitchen, monkeypatch, in_new_york):
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-05T10:00:00Z")  # Thursday 05:00 in New York
    group = Group.open(kitchen.home)
    app = TablespaceApp(group, sync=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, RitualsScreen)
            # Friday wins is at 09:00 UTC: 04:00 on the reader's New York clock
            friday = next(row for row in cells(screen) if row[0].startswith("Fri 06 Mar"))
            assert friday[2] == "opens at 04:00"
            table = screen.query_one(DataTable)
            table.move_cursor(row=[r[0] for r in cells(screen)].index(friday[0]))

            await pilot.press("x")  # skip this one
            await jobs_done(pilot)
            assert next(r for r in cells(screen) if r[0] == friday[0])[2] == "skipped"
            (ritual,) = calendar_queries.rituals(group.conn, now())
            assert ritual.next is not None and ritual.next.day == 13

            await pilot.press("p")  # pause: a form asks until when
            assert isinstance(app.screen, AskForm)
            await pilot.press("ctrl+s")
            await jobs_done(pilot)
            assert calendar_queries.rituals(group.conn, now())[0].paused
            assert {r[2] for r in cells(screen) if not r[2].startswith("↩")} <= {"paused", "not opened", "skipped"}
            await pilot.press("p")  # and again: resumed
            await jobs_done(pilot)
            assert not calendar_queries.rituals(group.conn, now())[0].paused

            await pilot.press("e")
            form = app.screen
            assert isinstance(form, RitualForm)
            assert (
                form.query_one("#repeats", Select).value == "weekly" and form.query_one("#at", Input).value == "09:00"
            )
            form.query_one("#tz", Input).value = "America/New_York"
            form.query_one("#name", Input).value = "Friday wins, local"
            await pilot.press("ctrl+s")
            await jobs_done(pilot)
            (ritual,) = calendar_queries.rituals(group.conn, now())
            assert (ritual.name, ritual.tz) == ("Friday wins, local", "America/New_York")
            assert next(r for r in cells(screen) if r[0].startswith("Fri 13 Mar"))[2] == "opens at 09:00"

            await pilot.press("d")
            assert isinstance(app.screen, ConfirmModal)
            await pilot.press("y")
            await jobs_done(pilot)
            assert calendar_queries.rituals(group.conn, now()) == [] and cells(screen) == []
    finally:
        group.close()


async def test_members_do_not_get_the_moderators_keys(kitchen, monkeypatch):
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-05T10:00:00Z")
    group = Group.open(kitchen.home)
    app = TablespaceApp(group, sync=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            await pilot.pause()
            screen = app.screen
            assert screen.check_action("remove", ()) is True
            monkeypatch.setattr(app, "is_moderator", lambda: False)  # the screens ask the app (see is_moderator)
            assert screen.check_action("remove", ()) is False and screen.check_action("open_occurrence", ()) is True
    finally:
        group.close()


async def test_the_header_says_the_group_is_quiet_and_until_when(kitchen, monkeypatch, in_new_york):
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-05T10:00:00Z")
    group = Group.open(kitchen.home)
    actions.quiet(group, "2026-03-01", "2026-03-09", "holidays")  # the group's zone: UTC
    app = TablespaceApp(group, sync=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            # midnight UTC on 9 March, on a New York clock (summer time began that Sunday)
            assert app.sub_title.startswith("quiet until Sun 08 Mar 20:00")
            await pilot.press("2")
            await pilot.pause()
            friday = next(row for row in cells(app.screen) if row[0].startswith("Fri 06 Mar"))
            assert friday[2] == "quiet spell"
            actions.quiet_end(group)
            app.refresh_times()
            assert not app.sub_title.startswith("quiet")
    finally:
        group.close()


async def test_a_moderator_adds_a_ritual_without_writing_a_rule(kitchen, monkeypatch):
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-05T10:00:00Z")
    group = Group.open(kitchen.home)
    app = TablespaceApp(group, sync=False)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await pilot.pause()
            assert "n New ritual" in screen_text(app).splitlines()[-1]
            await pilot.press("n")
            form = app.screen
            assert isinstance(form, RitualForm)
            await pilot.press(*"Bake day", "enter", *"What did you bake?", "enter")
            assert form.focused is form.query_one("#repeats", Select)
            await pilot.press("enter", "up", "enter")  # every week: every day instead
            await pilot.pause()
            assert form.query_one("#repeats", Select).value == "daily"
            assert not form.query_one("#day-row").display and not form.query_one("#rule-row").display
            form.query_one("#at", Input).value = "25:00"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: bool(refusal_line(app)))
            assert app.screen is form and refusal_line(app).startswith("✗ Not added: '25:00' is not a time of day")
            assert "ctrl+s add" in screen_text(app)  # the form, its refusal and its keys fit 80x24
            form.query_one("#at", Input).value = "7:30"
            form.query_one("#tz", Input).value = "Europe/Berlin"
            form.query_one("#starts", Input).value = "2026-03-09"
            await pilot.press("ctrl+s")
            await jobs_done(pilot)
            assert app.screen is not form
            (ritual,) = [r for r in calendar_queries.rituals(group.conn, now()) if r.name == "Bake day"]
            assert (ritual.prompt, ritual.rrule, ritual.tz) == ("What did you bake?", "FREQ=DAILY", "Europe/Berlin")
            assert ritual.start == "2026-03-09T07:30:00"
    finally:
        group.close()
