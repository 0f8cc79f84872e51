"""First run with an empty home, and the rituals calendar."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Static

from tablespace import actions
from tablespace.actions import create_invite, found_group, sync_group
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.screens import ThreadsScreen
from tablespace.tui.sections import RitualsScreen
from tablespace.tui.setup import SetupScreen
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.keys import jobs_done
from tests.tui.waits import screen_text

SIZE = (100, 32)


def fill(screen, **values: str) -> None:
    for input_id, value in values.items():
        screen.query_one(f"#{input_id.replace('_', '-')}", Input).value = value


async def test_an_empty_home_opens_the_setup_screen_and_founds_a_group(tmp_path, monkeypatch):
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:00:00Z")
    shared = tmp_path / "shared"
    shared.mkdir()
    home = Home(tmp_path / "home")
    app = TablespaceApp(None, home, sync=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await pilot.press("1", "s")  # section and sync keys do nothing yet (they type into the field)
        assert isinstance(app.screen, SetupScreen)
        fill(screen, found_name="", found_display="Ana", found_folder=str(shared))
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert "give the group a name" in str(screen.query_one("#setup-error", Static).render())
        fill(screen, found_name="Bread club", found_folder=str(tmp_path / "missing"))
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert "does not exist" in str(screen.query_one("#setup-error", Static).render())
        assert not home.groups()
        fill(screen, found_folder=str(shared), found_purpose="Loaves on Sundays")
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, ThreadsScreen)
        assert app.group is not None and app.title == "Bread club" and app.sub_title.startswith("sync off")
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, RitualsScreen)
    assert [g.name for g in home.groups()] == ["Bread club"]
    app.group.close()


async def test_joining_from_the_setup_screen_waits_for_admission(tmp_path, monkeypatch):
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:00:00Z")
    shared = tmp_path / "shared"
    shared.mkdir()
    ana = found_group(Home(tmp_path / "ana"), "Bread club", "Ana", Transport(folder=shared))
    code = create_invite(ana, __import__("datetime").timedelta(days=1), 1)
    sync_group(ana)
    ana.close()
    home = Home(tmp_path / "ben")
    app = TablespaceApp(None, home, sync=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+t")  # to the join form
        fill(screen, join_code="ts1-nonsense", join_display="Ben", join_folder=str(shared))
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert str(screen.query_one("#setup-error", Static).render()).startswith("⚠")
        fill(screen, join_code="", join_folder="", join_git="https://example.org/x.git")
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert "paste the invite code" in str(screen.query_one("#setup-error", Static).render())
        fill(screen, join_code=code)
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, SetupScreen)  # git joins are not there yet: the service says so
        assert "git" in str(screen.query_one("#setup-error", Static).render())
        fill(screen, join_git="", join_folder=str(shared))
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, ThreadsScreen)
        assert any("Waiting to be admitted" in (n.title or "") for n in app._notifications)
        assert app.title == "Waiting to be admitted"  # not the group's id: its name is not readable yet
        assert "Waiting to be admitted" in app.screen.thread_list.empty_hint
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        shown = " ".join(line.strip() for line in screen_text(app).splitlines()[2:6])
        # the whole hint, wrapped at 80 columns, and what the header's "waiting" means
        assert "fills in here by itself." in shown and "sealed until then." in shown
    app.group.close()


async def test_rituals_show_today_and_enter_jumps_into_an_occurrence(kitchen, monkeypatch):
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-06T10:00:00Z")  # a Friday
    group = Group.open(kitchen.home)
    opened = actions.open_due_rituals(group)
    assert len(opened) == 1  # today's (27 Feb is past the catch-up window)
    app = TablespaceApp(group, sync=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            await pilot.pause()
            screen = app.screen
            today = str(screen.query_one("#today", Static).render())
            assert "Today · Friday 06 March" in today and "Friday wins — Share one win from your week." in today
            table = screen.query_one(DataTable)
            assert table.cursor_row == 1 and str(table.get_row_at(1)[0]) == "Fri 06 Mar  today"
            assert str(table.get_row_at(1)[2]) == "↩ 0 replies"
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ThreadScreen) and app.screen.thread_id == opened[0]
            await pilot.press("2", "down", "o")  # a future one has no thread yet
            await pilot.pause()
            assert isinstance(app.screen, RitualsScreen)
            assert any("opens in 7 days" in str(n.message) for n in app._notifications)
    finally:
        group.close()


async def test_keys_typed_right_after_enter_on_a_ritual_act_in_its_thread(kitchen, monkeypatch):
    """Enter opens the occurrence from the screen's binding, so a reply typed
    straight after it lands in the thread, not on the calendar."""
    from textual.widgets import TextArea

    from tablespace.tui.modals import ComposeModal
    from tests.tui.keys import burst

    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-06T10:00:00Z")  # a Friday
    group = Group.open(kitchen.home)
    (opened,) = actions.open_due_rituals(group)
    app = TablespaceApp(group, sync=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            await pilot.pause()
            await burst(pilot, "enter", "r", *"one win")
            assert isinstance(app.screen, ComposeModal) and app.screen_stack[-2].thread_id == opened
            assert app.screen.query_one("#body", TextArea).text == "one win"
    finally:
        group.close()
