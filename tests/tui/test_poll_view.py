"""A poll in the thread view: its results as bars, and `v` to vote (again
replaces the vote), run as a job like every write."""

from __future__ import annotations

from datetime import timedelta

from textual.widgets import Input

from tablespace import actions
from tablespace.core.polls import poll
from tablespace.tui.app import TablespaceApp
from tablespace.tui.modals import AskForm
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.keys import jobs_done
from tests.tui.waits import screen_text, wait_for

SIZE = (80, 24)


async def test_voting_with_v_redraws_the_bars(group) -> None:
    thread = actions.poll(group, "Bake day?", ["Saturday", "Sunday", "Monday"])
    plain = actions.post(group, "No poll here")
    app = TablespaceApp(group, sync=False)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ThreadScreen(thread))
        await wait_for(pilot, lambda: "v to vote" in screen_text(app))
        text = screen_text(app)
        assert "1. Saturday" in text and "0 voters · one choice · open" in text
        assert "████" not in text and "(no text)" not in text
        assert app.screen.check_action("vote", ()) is True  # the footer offers the key

        await pilot.press("v")
        form = app.screen
        assert isinstance(form, AskForm)
        form.query_one("#choices", Input).value = "2"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        await wait_for(pilot, lambda: "v to change your vote" in screen_text(app))
        text = screen_text(app)
        assert "✓ 2. Sunday" in text and "█" * 20 in text and "1 voter · one choice" in text
        view = poll(group.conn, thread, group.me)
        assert view is not None and view.mine == [2]

        await pilot.press("v")  # again: the form holds my vote, and a new one replaces it
        form = app.screen
        assert isinstance(form, AskForm) and form.query_one("#choices", Input).value == "2"
        form.query_one("#choices", Input).value = "Monday"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        await wait_for(pilot, lambda: "✓ 3. Monday" in screen_text(app))
        view = poll(group.conn, thread, group.me)
        assert view is not None and [o.votes for o in view.options] == [0, 0, 1]

        await pilot.press("v")
        form = app.screen
        assert isinstance(form, AskForm)
        form.query_one("#choices", Input).value = "7"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, AskForm)  # refused: the form stays open with the text
        await pilot.press("escape")

        app.switch_screen(ThreadScreen(plain))
        await wait_for(pilot, lambda: "No poll here" in screen_text(app))
        assert app.screen.check_action("vote", ()) is False
        await pilot.press("v")
        await pilot.pause()
        assert not isinstance(app.screen, AskForm)


def test_a_poll_at_80x24(group, snap_compare) -> None:
    """A multiple-choice poll with a closing time, voted on: bars, ticks and the status line."""
    thread = actions.poll(
        group, "Which bake days suit you?", ["Saturday", "Sunday", "Monday"], multi=True, closes_in=timedelta(days=3)
    )
    actions.vote(group, thread, ["1", "Monday"])
    app = TablespaceApp(group, sync=False)

    async def open_the_poll(pilot) -> None:
        await pilot.app.push_screen(ThreadScreen(thread))
        await wait_for(pilot, lambda: "1 voter" in screen_text(pilot.app))

    assert snap_compare(app, terminal_size=SIZE, run_before=open_the_poll)
