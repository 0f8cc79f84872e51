"""Pilot tests against a real group: every action ends in the database."""

from __future__ import annotations

import sqlite3

from textual.widgets import DataTable, Input, TextArea

from tablespace import actions
from tablespace.core import post_queries, resource_queries, thread_queries
from tablespace.core.home import DB_NAME
from tablespace.tui.app import TablespaceApp
from tablespace.tui.modals import (
    ComposeModal,
    ConfirmModal,
    HelpScreen,
    ReactInsteadModal,
    ReactModal,
    ResourceForm,
    SearchModal,
)
from tablespace.tui.screens import ThreadsScreen
from tablespace.tui.sections import LibraryScreen, MembersScreen, RitualsScreen
from tablespace.tui.thread_list import ThreadList
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.keys import jobs_done
from tests.tui.waits import refusal_line, screen_text, wait_for

SIZE = (100, 32)


def titles(thread_list: ThreadList) -> list[str]:
    return [thread_list.row(i).title for i in range(thread_list.count)]


async def open_thread(pilot, app: TablespaceApp, title: str) -> ThreadScreen:
    thread_list = app.screen.query_one(ThreadList)
    thread_list.cursor = titles(thread_list).index(title)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ThreadScreen)
    return app.screen


async def test_list_shows_threads_pinned_first_then_recent(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ThreadsScreen)
        thread_list = app.screen.query_one(ThreadList)
        assert titles(thread_list) == [
            "Welcome to the circle",
            "Rye starter feeding schedule",
            "Friday wins: first open crumb!",
            "Hydration for a first loaf?",
            "My starter smells like nail polish",
        ]
        first = thread_list.render_line(0).text
        assert "Welcome to the circle" in first and "#welcome" in first and "📌" in first
        nail = thread_list.render_line(4).text
        assert "●" in nail and "2 ↩" in nail and "#help #starter" in nail and "hours ago" in nail
        assert "●" not in thread_list.render_line(1).text  # read
        assert app.title == "Sourdough circle"


async def test_jk_arrows_home_end_move_the_cursor(app):
    async with app.run_test(size=SIZE) as pilot:
        thread_list = app.screen.query_one(ThreadList)
        await pilot.press("j", "j", "down", "k")
        assert thread_list.cursor == 2
        await pilot.press("end")
        assert thread_list.cursor == 4
        await pilot.press("j")
        assert thread_list.cursor == 4  # clamped
        await pilot.press("home", "up")
        assert thread_list.cursor == 0
        await pilot.press("pagedown")
        assert thread_list.cursor == 4


async def test_enter_opens_the_thread_and_escape_goes_back(app, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("end", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ThreadScreen) and screen.thread_id == kitchen.ids["nail"]
        assert [c.post.body for c in screen.cards] == [
            "Is it **dead**?",
            "It's hungry. Feed it twice a day.",
            "Try a warmer spot, around 26 °C.",
        ]
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ThreadsScreen)
        # opening it marked it read
        assert "●" not in app.screen.query_one(ThreadList).render_line(4).text


async def test_opening_a_thread_styles_each_markdown_block_once(app, group, kitchen, monkeypatch):
    """A post's last block keeps no blank line under it, and saying so must
    not make every block of every post be styled again once it is mounted
    (what a rule on the blocks' order costs). A quote keeps the post
    Markdown (the others are drawn flat, tests/tui/test_flat_markdown.py)."""
    from textual.dom import DOMNode
    from textual.widgets.markdown import MarkdownBlock

    actions.reply(group, kitchen.ids["nail"], "First paragraph.\n\nSecond one.\n\n> a quote\n> to end")
    restyled: list[DOMNode] = []
    update_node_styles = DOMNode.update_node_styles

    def counted(self, animate: bool = True) -> None:  # noqa: ANN001
        restyled.append(self)
        update_node_styles(self, animate=animate)

    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        monkeypatch.setattr(DOMNode, "update_node_styles", counted)
        await app.open_thread(kitchen.ids["nail"])
        await wait_for(pilot, lambda: "to end" in screen_text(app))
        await pilot.pause()
        assert [type(node).__name__ for node in restyled if isinstance(node, MarkdownBlock)] == []
        bodies = list(app.screen.query(".post-body"))
        assert len(bodies) == 4
        # the first three are plain paragraphs, drawn as one widget; the last keeps its blocks
        assert [type(b).__name__ for b in bodies[:3]] == ["FlatMarkdown"] * 3
        assert [b.styles.margin.bottom for b in bodies[-1].children] == [1, 1, 0]


async def test_a_thread_s_posts_share_one_markdown_parser(app, kitchen, monkeypatch):
    """Making a parser costs more than parsing a post: a thread of many
    posts makes one at most, not one per post."""
    from markdown_it import MarkdownIt

    made: list[MarkdownIt] = []
    init = MarkdownIt.__init__

    def counted(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - passed through
        made.append(self)
        init(self, *args, **kwargs)

    monkeypatch.setattr(MarkdownIt, "__init__", counted)
    async with app.run_test(size=SIZE) as pilot:
        await app.open_thread(kitchen.ids["nail"])
        await wait_for(pilot, lambda: "26 °C" in screen_text(app))
        await pilot.press("escape")
        await app.open_thread(kitchen.ids["wins"])
        await wait_for(pilot, lambda: "Congratulations!" in screen_text(app))
    assert len(made) <= 1


async def test_n_moves_to_the_next_unread_thread(app):
    async with app.run_test(size=SIZE) as pilot:
        thread_list = app.screen.query_one(ThreadList)
        await pilot.press("n")
        assert thread_list.current.title == "Hydration for a first loaf?"
        await pilot.press("n")
        assert thread_list.current.title == "My starter smells like nail polish"
        await pilot.press("n")
        assert thread_list.current.title == "Hydration for a first loaf?"  # wraps


async def test_reply_through_the_compose_modal(app, group, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ComposeModal)
        await pilot.press(*"Go 70%")
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert app.screen is screen
        bodies = [p.body for p in post_queries.thread(group.conn, kitchen.ids["hydration"]).posts]
        assert bodies == ["70% or 75%?", "Go 70%"]
        assert [c.post.body for c in screen.cards][-1] == "Go 70%"
        assert screen.focused is screen.cards[-1]


async def test_a_plus_one_reply_offers_to_react_instead(app, group, kitchen):
    """No dogpiles: "+1" or an emoji alone as a reply offers the reaction; r
    reacts and drops the draft, escape goes back to it, p posts it."""
    thread = kitchen.ids["hydration"]
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r", *"+1", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ReactInsteadModal) and "👍" in str(app.screen.query_one("#react").label)
        await pilot.press("r")
        await jobs_done(pilot)
        assert app.screen is screen
        posts = post_queries.thread(group.conn, thread).posts
        assert len(posts) == 1 and posts[0].reactions == {"👍": 1}

        await pilot.press("r", "ctrl+s")  # nothing written: refused as before, no offer
        await jobs_done(pilot)
        assert isinstance(app.screen, ComposeModal)
        app.screen.query_one("#body", TextArea).text = "🔥"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ReactInsteadModal)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ComposeModal) and app.screen.query_one("#body", TextArea).text == "🔥"
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("p")
        await jobs_done(pilot)
        assert app.screen is screen
        assert [p.body for p in post_queries.thread(group.conn, thread).posts] == ["70% or 75%?", "🔥"]


async def test_a_reply_closed_while_it_waits_for_the_database_still_lands(app, group, kitchen):
    """Escape while a reply waits for the database (another command holds
    it) closes the form at once; the reply lands when the database is free."""
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r", *"Go 70%")
        holder = sqlite3.connect(group.path / DB_NAME, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: "replying" in app.jobs)
            await pilot.press("escape")
            assert app.screen is screen and "replying" in app.jobs
        finally:
            holder.rollback()
            holder.close()
        await wait_for(pilot, lambda: [c.post.body for c in screen.cards][-1:] == ["Go 70%"])
        assert "replying" not in app.jobs


async def test_an_empty_reply_is_refused_and_the_modal_stays(app, group, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r", "ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, ComposeModal)
        assert refusal_line(app).startswith("✗ Not posted: ") and not app._notifications
        assert len(post_queries.thread(group.conn, kitchen.ids["hydration"]).posts) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ThreadScreen)


async def test_new_thread_with_title_tags_and_preview(app, group):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ComposeModal)
        await pilot.press(*"Banneton care")
        modal.query_one("#tags", Input).value = "tools, #care"
        modal.query_one("#body", TextArea).text = "Dry it in the sun."
        await pilot.press("ctrl+t")
        assert modal.query_one("#preview-box").display is True
        await pilot.press("ctrl+t", "ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, ThreadsScreen)
        made = [t for t in thread_queries.threads(group.conn) if t.title == "Banneton care"]
        assert len(made) == 1 and made[0].tags == ["care", "tools"]
        assert post_queries.thread(group.conn, made[0].id).posts[0].body == "Dry it in the sun."
        thread_list = app.screen.query_one(ThreadList)
        # Posting also opens rituals that came due (the kitchen has one).
        assert (
            thread_list.count == len(thread_queries.threads(group.conn))
            and thread_list.current.title == "Banneton care"
        )


async def test_edit_own_reply(app, group, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Friday wins: first open crumb!")
        await pilot.press("j", "e")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ComposeModal)
        assert modal.query_one("#body", TextArea).text == "Congratulations!"
        modal.query_one("#body", TextArea).text = "Congratulations, lovely crumb!"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        posts = post_queries.thread(group.conn, kitchen.ids["wins"]).posts
        assert posts[1].body == "Congratulations, lovely crumb!" and posts[1].edited_at is not None


async def test_react_and_take_it_back(app, group, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Rye starter feeding schedule")
        await pilot.press("plus")
        await pilot.pause()
        assert isinstance(app.screen, ReactModal)
        await pilot.press("8")
        await jobs_done(pilot)
        assert post_queries.thread(group.conn, kitchen.ids["rye"]).posts[0].reactions == {"🍞": 1}
        assert "🍞 you" in str(app.screen.query_one(".post-reactions").render())
        await pilot.press("plus", "8")
        await jobs_done(pilot)
        assert post_queries.thread(group.conn, kitchen.ids["rye"]).posts[0].reactions == {}


async def test_delete_asks_first(app, group, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "My starter smells like nail polish")
        await pilot.press("j", "d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await pilot.pause()
        assert len(post_queries.thread(group.conn, kitchen.ids["nail"]).posts) == 3
        await pilot.press("d", "y")
        await jobs_done(pilot)
        bodies = [p.body for p in post_queries.thread(group.conn, kitchen.ids["nail"]).posts]
        assert bodies == ["Is it **dead**?", "Try a warmer spot, around 26 °C."]


async def test_deleting_the_opening_post_deletes_the_thread_and_goes_back(app, group, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Rye starter feeding schedule")
        await pilot.press("d", "y")
        await jobs_done(pilot)
        await pilot.pause()
        assert isinstance(app.screen, ThreadsScreen)
        assert kitchen.ids["rye"] not in [t.id for t in thread_queries.threads(group.conn)]
        assert "Rye starter feeding schedule" not in titles(app.screen.query_one(ThreadList))


async def test_search_jumps_to_the_thread_and_post(app, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")
        await pilot.pause()
        assert isinstance(app.screen, SearchModal)
        await pilot.press(*"warm")  # prefix of "warmer", in a reply
        modal = app.screen
        await wait_for(pilot, lambda: [h.thread for h in modal.hits] == [kitchen.ids["nail"]])  # once typing pauses
        await pilot.press("enter")
        await pilot.pause()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ThreadScreen) and screen.thread_id == kitchen.ids["nail"]
        assert screen.focused is screen.cards[2]  # the matching reply


async def test_search_from_another_section(app, kitchen):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "slash", *"crumb", "enter")
        await pilot.pause()
        await pilot.pause()
        assert app.current_mode == "members"  # the thread opens on top: escape comes back here
        assert isinstance(app.screen, ThreadScreen) and app.screen.thread_id == kitchen.ids["wins"]


async def test_number_keys_switch_sections(app):
    async with app.run_test(size=SIZE) as pilot:
        for key, mode, screen_type in [
            ("2", "rituals", RitualsScreen),
            ("3", "library", LibraryScreen),
            ("4", "members", MembersScreen),
            ("1", "threads", ThreadsScreen),
        ]:
            await pilot.press(key)
            await pilot.pause()
            assert app.current_mode == mode
            assert isinstance(app.screen, screen_type)


async def test_rituals_and_members_sections_show_the_group(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(n)] for n in range(table.row_count)]
        assert [r[0] for r in rows] == [
            "Fri 27 Feb",
            "Fri 06 Mar  in 4 days",
            "Fri 13 Mar  in 11 days",
            "Fri 20 Mar  in 18 days",
        ]
        assert rows[0][1] == "Friday wins" and rows[0][2] == "not opened" and rows[1][2] == "opens at 09:00"
        assert table.cursor_row == 1  # the next one coming
        today = str(app.screen.query_one("#today").render())
        assert "Today · Monday 02 March" in today and "Next: Friday wins, in 4 days" in today
        await pilot.press("4")
        await pilot.pause()
        table = app.screen.query_one(DataTable)
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0] == "Ana  (you)" and "moderator" in row[1] and row[2] == "active"


async def test_library_add_through_the_form(app, group):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ResourceForm)
        form.query_one("#title", Input).value = "Crumb guide"  # (typing every character is slow)
        await pilot.press("enter")  # enter moves to the next field
        form.query_one("#url", Input).value = "https://example.org/crumb"
        await pilot.press("enter")
        await pilot.press(*"How to read a crumb", "enter", *"crumb")
        await pilot.press("enter")  # enter in the last field submits
        await jobs_done(pilot)
        assert isinstance(app.screen, LibraryScreen)
        added = [r for r in resource_queries.resources(group.conn) if r.title == "Crumb guide"]
        assert len(added) == 1
        assert (added[0].url, added[0].summary, added[0].tags) == (
            "https://example.org/crumb",
            "How to read a crumb",
            ["crumb"],
        )
        await pilot.pause()
        assert app.screen.current.title == "Crumb guide"


async def test_library_form_refuses_a_bad_link(app, group):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "a")
        await pilot.pause()
        form = app.screen
        form.query_one("#title", Input).value = "Nothing"
        form.query_one("#url", Input).value = ""
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert app.screen is form
        assert refusal_line(app).startswith("✗ Not added: ") and not app._notifications
        assert len(resource_queries.resources(group.conn)) == 2


async def test_library_filter_copy_and_open(app, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        screen = app.screen
        assert [r.title for r in screen.resources] == ["Flour water salt yeast", "The Perfect Loaf"]
        screen.query_one("#tag-filter").value = "guides"
        await pilot.pause()
        assert [r.title for r in screen.resources] == ["The Perfect Loaf"]
        await pilot.press("y")
        assert app.clipboard == "https://www.theperfectloaf.com"
        await pilot.press("o")
        assert opened == ["https://www.theperfectloaf.com"]


async def test_help_lists_the_bindings_of_the_active_screen(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        ids = {row.binding_id for row in app.screen.rows}
        assert {
            "threads.new",
            "threads.next_unread",
            "threads.open",
            "threads.down",
            "app.search",
            "app.section.library",
            "app.quit",
        } <= ids
        keys = {row.binding_id: row.key for row in app.screen.rows}
        assert keys["threads.down"] == "↓, j"
        await pilot.press("escape")
        await pilot.pause()
        await open_thread(pilot, app, "Welcome to the circle")
        await pilot.press("question_mark")
        await pilot.pause()
        ids = {row.binding_id for row in app.screen.rows}
        assert {"thread.reply", "thread.react", "thread.delete", "thread.edit"} <= ids
        assert "threads.new" not in ids


async def test_section_keys_are_inert_while_a_modal_is_open(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark", "3")
        await pilot.pause()
        assert app.current_mode == "threads" and isinstance(app.screen, HelpScreen)


async def test_keymap_from_the_config_remaps_a_binding(kitchen, group):
    kitchen.home.update_config(keymap={"threads.new": "N"})
    app = TablespaceApp(group, sync=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ThreadsScreen)
        await pilot.press("N")
        await pilot.pause()
        assert isinstance(app.screen, ComposeModal)


async def test_theme_is_remembered_and_restored(kitchen, group):
    app = TablespaceApp(group, sync=False)
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "kitchen-table"
        app.theme = "high-contrast"
        await pilot.pause()
    assert kitchen.home.config()["theme"] == "high-contrast"
    again = TablespaceApp(group, sync=False)
    async with again.run_test(size=SIZE):
        assert again.theme == "high-contrast"


async def test_palette_offers_app_commands(app):
    from tablespace.tui.commands import TablespaceCommands

    async with app.run_test(size=SIZE) as pilot:
        titles_ = [title for title, _, _ in TablespaceCommands(app.screen).commands()]
        assert {"Go to Library", "New thread", "Search", "Theme: night-kitchen"} <= set(titles_)
        callback = dict((t, c) for t, _, c in TablespaceCommands(app.screen).commands())["Go to Library"]
        callback()
        await pilot.pause()
        assert app.current_mode == "library"


async def test_q_quits(app):
    async with app.run_test(size=SIZE) as pilot:
        quits: list[bool] = []
        app.exit = lambda *args, **kwargs: quits.append(True)  # type: ignore[method-assign]
        await pilot.press("q")
        assert quits == [True]


async def test_library_t_opens_the_tag_filter(app):
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "t")
        await pilot.pause()
        tag_filter = app.screen.query_one("#tag-filter")
        assert tag_filter.expanded and app.focused in tag_filter.walk_children()
        await pilot.press("down", "down", "enter")  # All tags, #books, #guides
        await pilot.pause()
        assert [r.title for r in app.screen.resources] == ["The Perfect Loaf"]


async def test_thread_list_pages_instead_of_loading_everything(tmp_path, monkeypatch):
    """1,000 threads: opening, paging and jumping to the end read a handful of pages."""
    from tablespace.core.group import Group, Transport
    from tablespace.core.home import Home
    from tablespace.tui.thread_list import PAGE_SIZE

    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:00:00Z")
    (tmp_path / "shared").mkdir()
    group = Group.found(Home(tmp_path / "home"), "Big table", "Ana", Transport(folder=tmp_path / "shared"))
    for n in range(1000):
        actions.post(group, f"Thread {n}")
    app = TablespaceApp(group, sync=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            thread_list = app.screen.query_one(ThreadList)
            assert thread_list.count == 1000
            assert thread_list.pages_loaded == 1
            await pilot.press("pagedown", "pagedown", "end")
            await pilot.pause()
            assert thread_list.current.title == "Thread 0"
            assert thread_list.pages_loaded <= 3
            assert "Thread 0" in thread_list.render_line(thread_list.scrollable_content_region.height - 1).text
            assert len(thread_list._pages) * PAGE_SIZE < 1000
    finally:
        group.close()
