"""Paths that worked by hand but no test held: where escape goes back to,
today's ritual before it opens, what "waiting" means after a sync, how long
toasts stay, and the names the palette and `?` give to keys."""

from __future__ import annotations

from textual.widgets import DataTable

from tablespace.tui.app import KEYS_PANEL
from tablespace.tui.commands import TablespaceCommands
from tablespace.tui.live import WAITING_MEANS, SyncRound, SyncStatus
from tablespace.tui.modals import SearchModal
from tablespace.tui.sections import RitualsScreen
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.test_daily import open_by_title
from tests.tui.waits import wait_for

SIZE = (100, 32)


async def test_escape_after_a_search_started_in_a_thread_goes_back_to_that_thread(app, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        start = await open_by_title(pilot, app, "Rye starter feeding schedule")
        await pilot.press("slash", *"warm")
        modal = app.screen
        assert isinstance(modal, SearchModal)
        await wait_for(pilot, lambda: bool(modal.hits))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and app.screen is not start)
        assert app.screen.thread_id == kitchen.ids["nail"]
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is start and start.thread_id == kitchen.ids["rye"]


async def test_todays_ritual_before_it_opens_says_at_what_time(app, monkeypatch):
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-06T07:00:00Z")  # Friday; Friday wins opens at 09:00 UTC
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RitualsScreen)
        table = screen.query_one(DataTable)
        rows = [[str(cell) for cell in table.get_row_at(n)] for n in range(table.row_count)]
        (today,) = [row for row in rows if row[0].endswith("today")]
        assert today[2] == "opens at 09:00"
        table.move_cursor(row=rows.index(today))
        await pilot.pause()
        assert "its thread opens today at 09:00" in str(screen.query_one("#ritual-prompt").render())


async def test_a_sync_by_hand_says_what_waiting_means(app):
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.post_message(SyncRound(SyncStatus(imported=2, exported=1, pending=6), manual=True))
        await wait_for(pilot, lambda: bool(app._notifications))
        (toast,) = list(app._notifications)
        assert toast.title == "Sync"
        assert toast.message == f"Synced: 2 new, 1 sent.\n6 waiting: {WAITING_MEANS}"


async def test_toasts_stay_as_long_as_they_matter(app):
    """News goes in 3 s, a warning in 5, a refusal in 7 (Textual's default: 5 for all)."""
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        for severity in ("information", "warning", "error"):
            app.notify(severity, severity=severity)
        await wait_for(pilot, lambda: len(app._notifications) == 3)
        assert {n.message: n.timeout for n in app._notifications} == {"information": 3, "warning": 5, "error": 7}
        assert app.notify("given", timeout=15).timeout == 15


async def test_the_palettes_two_lists_of_keys_differ_at_a_glance(app):
    async with app.run_test(size=SIZE):
        ours = [title for title, _, _ in TablespaceCommands(app.screen).commands()]
        textuals = [command.title for command in app.get_system_commands(app.screen)]
        assert KEYS_PANEL in textuals and "Keys" not in textuals
        keys = [title for title in ours + textuals if "key" in title.lower()]
        assert len(keys) == 2 and len({title.split()[0] for title in keys}) == 2, keys


async def test_keys_that_do_the_same_are_one_row_of_help(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        opens = [row for row in app.help_rows() if row.description == "Open"]
        assert [(row.key, row.binding_id) for row in opens] == [("⏎, o", "table.open, rituals.open")]
