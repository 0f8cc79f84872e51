"""Pilot tests from trying the app as a member would: times that move on
while it sits open, drafts that are not lost, keys typed in one burst, and
escape going back where you came from."""

from __future__ import annotations

from dataclasses import replace

from textual.widgets import DataTable, Input, TextArea

from tablespace import actions
from tablespace.core.clock import parse_instant
from tablespace.tui.app import TablespaceApp
from tablespace.tui.live import SyncStatus
from tablespace.tui.modals import AskForm, ComposeModal, ConfirmModal, Field, ResourceForm
from tablespace.tui.screens import ThreadsScreen
from tablespace.tui.sections import LibraryScreen, RitualsScreen
from tablespace.tui.thread_list import ThreadList
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.keys import burst, jobs_done
from tests.tui.waits import refusal_line, wait_for

NOW = "2026-03-02T09:00:00Z"  # as in conftest.py


LATER = "2026-03-02T11:00:00Z"  # two hours after NOW
SIZE = (100, 32)


async def open_thread(pilot, app: TablespaceApp, title: str) -> ThreadScreen:
    thread_list = app.screen.query_one(ThreadList)
    thread_list.cursor = next(i for i in range(thread_list.count) if thread_list.row(i).title == title)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ThreadScreen)
    return app.screen


def text_of(widget) -> str:
    return str(widget.render())


async def test_relative_times_and_sync_status_move_on_while_the_app_is_open(group, monkeypatch):
    app = TablespaceApp(group, sync=False)
    app.TIME_TICK = 0.1
    async with app.run_test(size=SIZE) as pilot:
        thread_list = app.screen.query_one(ThreadList)
        assert thread_list.render_line(1).text.rstrip().endswith("14 hours ago")  # "Rye starter…"
        app.sync_status = replace(SyncStatus(), last=parse_instant(NOW))
        app.refresh_times()
        assert app.sub_title.startswith("synced just now")
        monkeypatch.setenv("TABLESPACE_NOW", LATER)
        await wait_for(
            pilot,
            lambda: (
                thread_list.render_line(1).text.rstrip().endswith("16 hours ago")
                and app.sub_title.startswith("synced 2h ago")
            ),
        )  # the list and the header both move on
        thread = await open_thread(pilot, app, "Rye starter feeding schedule")
        monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T13:00:00Z")
        await wait_for(pilot, lambda: "18 hours ago" in text_of(thread.cards[0].query_one(".post-meta")))


async def test_escape_with_a_draft_asks_before_discarding_it(app, group, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r")
        await pilot.pause()
        await pilot.press(*"75, always")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")  # keep writing
        await pilot.pause()
        assert isinstance(app.screen, ComposeModal)
        assert app.screen.query_one("#body", TextArea).text == "75, always"
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("y")  # discard
        await pilot.pause()
        assert isinstance(app.screen, ThreadScreen)
        assert len(app.screen.cards) == 1  # nothing was posted


async def test_escape_with_nothing_written_closes_at_once(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ComposeModal)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ThreadsScreen)


async def test_keys_typed_in_a_burst_go_to_the_modal_not_the_screen_beneath(app, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        assert isinstance(app.screen, LibraryScreen)
        await burst(pilot, "a", "o", "a", "t")
        assert opened == []
        assert isinstance(app.screen, ResourceForm)
        assert app.screen.query_one("#title").value == "oat"


async def test_reply_typed_in_a_burst_lands_in_the_draft(app, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Hydration for a first loaf?")
        await burst(pilot, "r", "e", "d")  # `e` would edit, `d` would delete on the thread
        assert isinstance(app.screen, ComposeModal)
        assert app.screen.query_one("#body", TextArea).text == "ed"


async def test_escape_from_a_ritual_thread_returns_to_rituals(kitchen, group, monkeypatch):
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-06T10:00:00Z")  # a Friday: the ritual's thread opens
    actions.open_due_rituals(group)
    app = TablespaceApp(group, sync=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, RitualsScreen)
        table = screen.query_one(DataTable)
        row = next(n for n, o in enumerate(screen.rows) if o.has_thread)
        table.move_cursor(row=row)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ThreadScreen) and app.current_mode == "rituals"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and app.current_mode == "rituals"
        assert table.cursor_row == row


async def test_header_and_section_bar_fit_at_80_columns(group):
    from rich.cells import cell_len

    from tablespace.tui.chrome import SectionBar

    status = SyncStatus(last=parse_instant(NOW), outbox=3, quarantined=2, pending=5, problem="folder unreachable")
    app = TablespaceApp(group, sync=False)
    async with app.run_test(size=(80, 24)) as pilot:
        app.sync_status = status
        app.refresh_times()
        await pilot.press("3")
        await pilot.pause()
        app.screen.query_one(SectionBar).set_info("1 resource tagged #a-long-tag-name")
        await pilot.pause()
        header = f"{app.title} — {app.sub_title}"
        assert cell_len(header) <= 80 - 20  # clear of the header's icon and clock space
        assert app.sub_title.startswith("⚠") and "2 quarantined" in app.sub_title
        bar = app.screen.query_one(SectionBar)
        assert cell_len(str(bar.render())) <= 78
        assert "3 Library" in str(bar.render())
    app = TablespaceApp(group, sync=False)
    async with app.run_test(size=(140, 30)) as pilot:  # wide: every word
        app.sync_status = status
        app.refresh_times()
        await pilot.pause()
        assert app.sub_title == "⚠ folder unreachable · outbox 3 · 2 quarantined · 5 waiting"


async def test_a_resource_typed_in_one_burst_fills_each_field(app, group):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        await burst(
            pilot, "a", *"Oat", "enter", *"https://example.org/oat", "enter", *"Tested", "enter", *"flour", "enter"
        )
        await jobs_done(pilot)  # the resource is written on a worker
        assert isinstance(app.screen, LibraryScreen)
        added = next(r for r in app.screen.resources if r.title == "Oat")
        assert (added.url, added.summary, added.tags) == ("https://example.org/oat", "Tested", ["flour"])


async def test_keys_after_one_that_opens_a_modal_go_on_into_it(app, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Hydration for a first loaf?")
        await burst(pilot, "r", *"Good luck", "escape")  # `c` of "luck" would start a thread on the list
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)  # escape with a draft asks first
        await burst(pilot, "n", *"!")
        assert app.screen.query_one("#body", TextArea).text == "Good luck!"


def ask(got: list[dict[str, str | bool]], *fields: Field, checkbox: str | None = None) -> AskForm:
    return AskForm("Test", "Fill it in.", list(fields), got.append, checkbox=checkbox)


async def test_an_ask_form_typed_in_one_burst_fills_each_field(app):
    got: list[dict[str, str | bool]] = []
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(ask(got, Field("one", "One"), Field("two", "Two"), Field("three", "Three")))
        await pilot.pause()
        await burst(pilot, *"abc", "enter", *"def", "enter", *"ghi", "ctrl+s")
        assert got == [{"one": "abc", "two": "def", "three": "ghi"}]
        assert isinstance(app.screen, ThreadsScreen)


async def test_enter_in_an_ask_forms_last_field_goes_round_without_submitting(app):
    got: list[dict[str, str | bool]] = []
    async with app.run_test(size=SIZE) as pilot:
        form = ask(got, Field("one", "One"), Field("two", "Two", required="Two is needed."))
        await app.push_screen(form)
        await pilot.pause()
        await burst(pilot, *"abc", "enter", "enter")
        assert got == [] and app.screen is form
        assert app.focused is form.query_one("#one", Input)  # round to the first field again
        await burst(pilot, "ctrl+s")  # "two" is required and empty: the form stays
        assert got == [] and app.screen is form
        assert refusal_line(app) == "✗ Two is needed." and not app._notifications


async def test_enter_still_ticks_an_ask_forms_checkbox(app):
    got: list[dict[str, str | bool]] = []
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(ask(got, Field("one", "One"), checkbox="Tick"))
        await pilot.pause()
        await burst(pilot, "x", "enter", "enter", "ctrl+s")
        assert got == [{"one": "x", "check": True}]


async def test_enter_in_a_new_threads_title_and_tags_moves_on_to_the_body(app):
    async with app.run_test(size=SIZE) as pilot:
        await burst(pilot, "c", *"Rye", "enter", *"rye", "enter", *"Hi", "enter", *"there")
        assert isinstance(app.screen, ComposeModal)
        draft = app.screen.draft()  # enter in the body is a new line
        assert (draft.title, draft.tags, draft.body) == ("Rye", ["rye"], "Hi\nthere")


async def test_keys_typed_right_after_enter_on_the_list_act_in_the_thread(app, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        thread_list = app.screen.query_one(ThreadList)
        thread_list.select_id(kitchen.ids["nail"])  # the opening post and two replies
        cursor = thread_list.cursor
        await burst(pilot, "enter", "j")  # on the list, `j` would move to the next thread
        thread = app.screen
        assert isinstance(thread, ThreadScreen) and thread.thread_id == kitchen.ids["nail"]
        assert thread.focus_index == 1 and thread.focused_post is thread.cards[1]
        assert thread_list.cursor == cursor
        await burst(pilot, "escape", "enter", "r", *"75")  # on the list, `r` would do nothing
        assert isinstance(app.screen, ComposeModal) and app.screen_stack[-2].thread_id == kitchen.ids["nail"]
        assert app.screen.query_one("#body", TextArea).text == "75"


async def test_a_key_typed_right_after_j_acts_on_the_post_j_moved_to(app, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "My starter smells like nail polish")
        await burst(pilot, "j", "e")  # the focus follows `j` a moment after `e` has come in
        assert isinstance(app.screen, ComposeModal)
        assert app.screen.initial_title is None  # a reply, not the opening post
        assert app.screen.initial_body == "It's hungry. Feed it twice a day."


def test_without_a_terminal_the_app_says_so_instead_of_waiting(kitchen):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "tablespace", "--home", str(kitchen.home.path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "needs a terminal" in result.stderr
