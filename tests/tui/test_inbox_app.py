"""The inbox in the app: the Inbox section, unread counts, opening at the
first unread post and `n` across threads, mentions highlighted and
completed, quotes, follow and mute. Ana's home holds what Ben Ode wrote,
synced through a real folder."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.widget import Widget
from textual.widgets import DataTable, OptionList, Static, TextArea

from tablespace import actions
from tablespace.actions import sync_group
from tablespace.core import inbox, post_queries
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.chrome import SectionBar
from tablespace.tui.inbox import InboxScreen
from tablespace.tui.thread_list import FOLLOWED, MUTED, ThreadList
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.members import ana_and_ben
from tests.tui.waits import screen_text, wait_for

SIZE = (100, 32)


@dataclass
class Table:
    ana: Home
    ids: dict[str, str]  # short name -> thread or post id


@pytest.fixture
def table(tmp_path: Path, monkeypatch) -> Table:
    """Ana starts two threads; Ben Ode replies in both, mentions her in the
    second, and reacts to her first post. Ana has read nothing since."""
    clock = iter(range(100))

    def tick() -> None:
        monkeypatch.setenv("TABLESPACE_NOW", f"2026-03-02T08:{next(clock):02d}:00Z")

    tick()
    ana, ben = ana_and_ben(tmp_path, "Ben Ode")
    ids: dict[str, str] = {}
    tick()
    ids["rye"] = actions.post(ana, "Rye starter feeding schedule", "1:5:5 at night.")
    tick()
    ids["crumb"] = actions.post(ana, "Why is my crumb gummy?", "Baked at 230 °C for 40 min.")
    sync_group(ana)
    sync_group(ben)
    tick()
    ids["rye_reply"] = actions.reply(ben, ids["rye"], "Try 1:2:2 in the morning too.")
    tick()
    ids["crumb_reply"] = actions.reply(ben, ids["crumb"], "Cut it later, @Ana: it is still baking inside.")
    tick()
    ids["crumb_reply2"] = actions.reply(ben, ids["crumb"], "And a longer bake helps.")
    tick()
    actions.react(ben, ids["rye"], "🍞")
    sync_group(ben)
    sync_group(ana)
    ana.close()
    ben.close()
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:00:00Z")
    return Table(ana.home, ids)


@pytest.fixture
def ana(table: Table):
    group = Group.open(table.ana)
    yield group
    group.close()


@pytest.fixture
def app(ana: Group) -> TablespaceApp:
    return TablespaceApp(ana, sync=False)


def bar_text(app: TablespaceApp) -> str:
    return str(app.screen.query_one(SectionBar).render())


def focused_post(app: TablespaceApp) -> str | None:
    screen = app.screen
    assert isinstance(screen, ThreadScreen)
    card = screen.focused_post
    return card.post.id if card is not None else None


def cells_in(app: TablespaceApp, widget: Widget) -> list[tuple[str, bool]]:
    """The characters the screen shows over the widget, each with whether it is bold."""
    region = widget.region
    out: list[tuple[str, bool]] = []
    for strip in app.screen._compositor.render_strips()[region.y : region.bottom]:
        for segment in strip.crop(region.x, region.right):
            out.extend((char, bool(segment.style and segment.style.bold)) for char in segment.text)
    return out


def bold_in(app: TablespaceApp, widget: Widget) -> str:
    return "".join(char for char, bold in cells_in(app, widget) if bold)


def text_in(app: TablespaceApp, widget: Widget) -> str:
    return "".join(char for char, _ in cells_in(app, widget))


async def open_thread_at(pilot, app: TablespaceApp, thread_id: str, post_id: str | None = None) -> ThreadScreen:
    await app.push_screen(ThreadScreen(thread_id, post_id))
    screen = app.screen
    assert isinstance(screen, ThreadScreen)
    await wait_for(pilot, lambda: bool(screen.cards) and screen.focused_post is not None)
    await pilot.pause()
    return screen


async def test_the_inbox_section_lists_entries_and_enter_lands_on_the_post_and_reads_it(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "7 Inbox (4)" in bar_text(app))
        assert "1 Threads (2)" in bar_text(app)  # both threads have unread replies
        await pilot.press("7")
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and bool(app.screen.entries))
        screen = app.screen
        assert isinstance(screen, InboxScreen)
        assert [e.kind for e in screen.entries] == ["reaction", "reply", "mention", "reply"]  # newest first
        rows = screen.query_one(DataTable)
        assert rows.row_count == 4
        assert "Ben Ode" in str(rows.get_row_at(2)[2]) and "gummy" in str(rows.get_row_at(2)[4])
        await pilot.press("j", "j", "enter")  # the mention
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and bool(app.screen.cards))
        await wait_for(pilot, lambda: focused_post(app) == table.ids["crumb_reply"])
        await wait_for(pilot, lambda: inbox.unread_counts(ana.conn, ana.me)["inbox"] == 2)
        await pilot.press("escape")  # back to the inbox, which re-reads
        await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and len(app.screen.entries) == 2)
        assert "7 Inbox (2)" in bar_text(app)
        await pilot.press("a")  # all, read ones too
        await wait_for(pilot, lambda: len(app.screen.entries) == 4)
        assert sum(e.read for e in app.screen.entries) == 2
        await pilot.press("a")
        await wait_for(pilot, lambda: len(app.screen.entries) == 2)


async def test_a_thread_opens_at_the_first_unread_post_and_n_walks_posts_across_threads(app, ana, table) -> None:
    ids = table.ids
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_thread_at(pilot, app, ids["crumb"])
        assert focused_post(app) == ids["crumb_reply"]  # not the opening post: Ana wrote it
        await pilot.press("n")
        assert focused_post(app) == ids["crumb_reply2"]
        await pilot.press("n")  # the next thread with unread posts, at its first
        await wait_for(pilot, lambda: app.screen is not screen and isinstance(app.screen, ThreadScreen))
        await wait_for(pilot, lambda: bool(app.screen.cards) and focused_post(app) == ids["rye_reply"])
        assert app.screen.thread_id == ids["rye"]
        await pilot.press("n")
        await wait_for(pilot, lambda: "caught up" in " ".join(str(n.message) for n in app._notifications))


async def test_mentions_are_highlighted_and_the_composer_completes_names(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_thread_at(pilot, app, table.ids["crumb"])
        card = next(c for c in screen.cards if c.post.id == table.ids["crumb_reply"])
        assert "@Ana" in bold_in(app, card.query_one(".post-body"))
        plain = next(c for c in screen.cards if c.post.id == table.ids["crumb_reply2"])
        assert "longer bake" in text_in(app, plain.query_one(".post-body"))
        assert bold_in(app, plain.query_one(".post-body")).strip() == ""
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(app.screen.query("#body")))
        await pilot.press("T", "h", "x", "space", "@", "b")
        choices = app.screen.query_one("#mention-choices", OptionList)
        await wait_for(pilot, lambda: choices.display and choices.option_count == 1)
        await pilot.press("tab")
        body = app.screen.query_one("#body", TextArea)
        assert body.text == 'Thx @"Ben Ode" '
        await wait_for(pilot, lambda: not choices.display)
        await pilot.press("@", "z")  # nobody by that name: nothing offered, enter is a new line
        await pilot.pause()
        assert not choices.display
        await pilot.press("enter")
        assert body.text == 'Thx @"Ben Ode" @z\n'
        await pilot.press("@", "O")  # within a name too; enter completes it
        await wait_for(pilot, lambda: choices.display)
        await pilot.press("enter")
        assert body.text == 'Thx @"Ben Ode" @z\n@"Ben Ode" '


async def test_a_quote_shows_above_the_reply_and_jumps_to_the_quoted_post(app, ana, table) -> None:
    ids = table.ids
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = await open_thread_at(pilot, app, ids["crumb"], ids["crumb_reply"])
        await pilot.press("greater_than_sign")
        await wait_for(pilot, lambda: bool(app.screen.query("#body")))
        await pilot.press("O", "k", "ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen and len(screen.cards) == 4)
        newest = post_queries.thread(ana.conn, ids["crumb"]).posts[-1]
        assert newest.quote is not None and newest.quote.post == ids["crumb_reply"]
        await wait_for(pilot, lambda: focused_post(app) == newest.id)
        quote_line = str(screen.cards[-1].query_one(".post-quote", Static).render())
        assert "Ben Ode" in quote_line and "still baking" in quote_line
        await pilot.press("enter")
        assert focused_post(app) == ids["crumb_reply"]


async def test_a_deleted_quoted_post_shows_as_deleted(table, monkeypatch) -> None:
    group = Group.open(table.ana)
    mine = actions.reply(group, table.ids["rye"], "Quote me")
    actions.reply(group, table.ids["rye"], "Quoting", quote=mine)
    actions.delete(group, mine)
    app = TablespaceApp(group, sync=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = await open_thread_at(pilot, app, table.ids["rye"])
            last = screen.cards[-1]
            assert "deleted" in str(last.query_one(".post-quote", Static).render())
            screen.focus_index = len(screen.cards) - 1
            await pilot.press("enter")
            await wait_for(pilot, lambda: any("deleted" in str(n.message) for n in app._notifications))
    finally:
        group.close()


async def test_follow_and_mute_from_the_thread_view_with_marks_in_the_list(app, ana, table, monkeypatch) -> None:
    ids = table.ids
    said: list[str] = []  # every toast, kept: on a loaded machine the first may be gone by the end
    notify = app.notify
    monkeypatch.setattr(app, "notify", lambda message, **kwargs: said.append(message) or notify(message, **kwargs))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await open_thread_at(pilot, app, ids["rye"], ids["rye_reply"])
        await pilot.press("f")
        await wait_for(pilot, lambda: inbox.is_following(ana.conn, ids["rye"]))
        await pilot.press("M")  # the selected post's author
        await wait_for(pilot, lambda: inbox.is_muted(ana.conn, "member", ana.member_id("Ben Ode")))
        await pilot.press("escape")
        thread_list = app.screen.query_one(ThreadList)
        await wait_for(pilot, lambda: FOLLOWED in thread_list.render_line(1).text)  # rye is the older thread
        await open_thread_at(pilot, app, ids["crumb"])
        await pilot.press("m")
        await wait_for(pilot, lambda: inbox.is_muted(ana.conn, "thread", ids["crumb"]))
        await pilot.press("escape")
        await wait_for(pilot, lambda: MUTED in thread_list.render_line(0).text)
        messages = " ".join(said)
        assert "Following" in messages and "Muted Ben Ode" in messages and "Muted:" in messages


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_inbox_section_snapshot(app, snap_compare, size):
    assert snap_compare(app, terminal_size=size, press=["7"])


def test_mention_completion_snapshot(app, snap_compare, table):
    async def reply_with_a_mention(pilot) -> None:
        await pilot.app.push_screen(ThreadScreen(table.ids["crumb"]))
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("@", "b")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=reply_with_a_mention)


async def test_mute_and_unmute_a_member_from_the_members_section(app, ana, table) -> None:
    ben = ana.member_id("Ben Ode")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: app.screen.query("#members") and app.screen.query_one(DataTable).row_count == 2)
        rows = app.screen.query_one(DataTable)
        row = next(n for n in range(rows.row_count) if "Ben Ode" in str(rows.get_row_at(n)[0]))
        rows.move_cursor(row=row)
        await pilot.press("m")
        await wait_for(pilot, lambda: inbox.is_muted(ana.conn, "member", ben))
        await wait_for(pilot, lambda: "muted by you" in str(rows.get_row_at(row)[2]))
        await wait_for(pilot, lambda: "7 Inbox" in bar_text(app) and "7 Inbox (4)" not in bar_text(app))
        await pilot.press("m")
        await wait_for(pilot, lambda: not inbox.is_muted(ana.conn, "member", ben))
        mine = next(n for n in range(rows.row_count) if "(you)" in str(rows.get_row_at(n)[0]))
        rows.move_cursor(row=mine)
        await pilot.press("m")  # refused, one clear line
        await wait_for(pilot, lambda: any("cannot mute yourself" in str(n.message) for n in app._notifications))


async def test_inbox_rows_fit_the_width_there_is(app: TablespaceApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        shown = screen_text(app)
        assert "Rye starter feeding schedule" in shown and "Cut it later, @Ana: it is still baking inside." in shown
        assert table.max_scroll_x == 0
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert table.max_scroll_x == 0  # nothing scrolls sideways: long text is cut with an ellipsis
        assert "Rye starter" in screen_text(app) and "…" in screen_text(app)


async def test_an_inbox_count_at_its_cap_shows_as_a_floor(app, ana, table, monkeypatch) -> None:
    """The count stops at COUNT_CAP (counting further would walk the whole
    inbox): the bar says "1,000+" then, never a number that looks exact."""
    from tablespace.tui import chrome

    cap = inbox.COUNT_CAP
    monkeypatch.setattr(inbox, "COUNT_CAP", 3)  # four unread, counted up to three
    monkeypatch.setattr(chrome, "COUNT_CAP", 3)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "7 Inbox (3+)" in bar_text(app))
        monkeypatch.setattr(chrome, "COUNT_CAP", cap)
        bar = app.screen.query_one(SectionBar)
        bar.set_counts({"inbox": cap})
        await pilot.pause()
        assert "7 Inbox (1,000+)" in bar_text(app)
        bar.set_counts({"inbox": cap - 1})
        await pilot.pause()
        assert "7 Inbox (999)" in bar_text(app)


def test_a_report_s_entries_say_received_then_handled_with_the_moderators_word() -> None:
    from datetime import UTC, datetime

    from tablespace.tui.inbox import entry_what

    def entry(stage: str, note: str | None = None) -> inbox.InboxEntry:
        at = datetime(2026, 12, 1, tzinfo=UTC)
        return inbox.InboxEntry("e", "report", "t", "p", None, None, at, False, "Title", "the post", None, stage, note)

    assert entry_what(entry("received")).plain == "The moderators have your report."
    assert entry_what(entry("handled")).plain == "Your report was handled."
    assert (
        entry_what(entry("handled", "We hid it\x1b[2J")).plain == "Handled: We hid it\\x1b[2J"
    )  # spelled out, never sent to the terminal
    assert entry("handled", "We hid it").headline == "a moderator handled your report and wrote to you"


async def test_the_section_bar_counts_a_ritual_thread_with_news(table: Table, tmp_path: Path) -> None:
    """A ritual's thread that Ben answered since Ana looked counts under
    Rituals in the section bar, as unread threads do under Threads."""
    ana, ben = Group.open(table.ana), Group.open(Home(tmp_path / "ben"))
    try:
        actions.ritual_add(ana, "Monday goals", "What will you bake this week?", "FREQ=DAILY", start="2026-03-01")
        opened = actions.open_due_rituals(ana)[-1]  # the latest day's
        sync_group(ana)
        sync_group(ben)
        actions.reply(ben, opened, "A rye, finally.")
        sync_group(ben)
        sync_group(ana)
    finally:
        ben.close()
    try:
        app = TablespaceApp(ana, sync=False)
        async with app.run_test(size=SIZE) as pilot:
            rituals = inbox.unread_counts(ana.conn, ana.me)["rituals"]
            assert rituals >= 1
            await wait_for(pilot, lambda: re.search(rf"2 Rit\w* \({rituals}\)", bar_text(app)) is not None)
    finally:
        ana.close()
