"""Switching sections: a section is built once and kept; on its return it
re-reads only what changed since it last read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tablespace import actions
from tablespace.core.group import Group
from tablespace.tui.registry import sections_for
from tests.tui.waits import screen_text, wait_for


@contextmanager
def statements(group: Group) -> Iterator[list[str]]:
    """The SQL the app runs on the group's connection meanwhile, apart from
    asking whether anything changed (`PRAGMA data_version`)."""
    ran: list[str] = []
    group.conn.set_trace_callback(lambda sql: ran.append(sql) if "data_version" not in sql else None)
    try:
        yield ran
    finally:
        group.conn.set_trace_callback(None)


async def visit_every_section(pilot, keys: list[str]) -> None:  # noqa: ANN001 - a textual Pilot
    for key in [*keys[1:], keys[0]]:
        await pilot.press(key)
        await pilot.pause()


async def test_a_section_returned_to_with_nothing_changed_reads_nothing(app, group):
    keys = [s.key for s in sections_for(group.is_moderator)]
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        await visit_every_section(pilot, keys)  # each section built and read once
        with statements(group) as ran:
            await visit_every_section(pilot, keys)
        assert ran == []


async def test_a_section_returned_to_after_a_write_elsewhere_shows_it(app, group, kitchen):
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("3")
        await wait_for(pilot, lambda: "The Perfect Loaf" in screen_text(app))
        await pilot.press("1")
        await pilot.pause()
        beside = Group.open(kitchen.home)  # a command beside the app
        try:
            actions.library_add(beside, "Tartine Bread", "https://example.org/tartine", "", ["books"])
        finally:
            beside.close()
        await pilot.press("3")
        await wait_for(pilot, lambda: "Tartine Bread" in screen_text(app))
        assert "3 resources" in screen_text(app)


async def test_showing_a_section_the_first_time_does_not_parse_the_css_again(app, group, monkeypatch):
    """A new section's widgets are styled as they mount, and so were the
    first section's: no re-parse of every rule on a first show or on the
    first return to Threads (a theme change still re-parses, see test_app)."""
    from textual.css.stylesheet import Stylesheet

    parsed: list[int] = []
    original = Stylesheet.reparse
    monkeypatch.setattr(Stylesheet, "reparse", lambda self: (parsed.append(1), original(self))[1])
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.pause()
        parsed.clear()
        for key in "234571":  # the first section's return too
            await pilot.press(key)
            await pilot.pause()
        assert parsed == []
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        assert parsed  # a real change of the rules still re-parses them


async def test_the_moderation_settings_are_filled_when_their_tab_shows(app, group, monkeypatch):
    """The Settings pane is Markdown: not filled while another tab is shown."""
    from textual.widgets import Markdown

    from tablespace.tui.moderation import ModerationScreen

    filled: list[str | None] = []  # the Markdown widgets given text
    update = Markdown.update
    monkeypatch.setattr(Markdown, "update", lambda self, text: (text and filled.append(self.id), update(self, text))[1])
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(app.screen, ModerationScreen) and app.screen.reports is not None)
        await pilot.pause()
        assert "settings-view" not in filled
        for _ in range(6):
            await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: "Weekly post cap" in screen_text(app))
        assert filled.count("settings-view") == 1


async def test_a_section_is_restyled_on_its_return_only_when_the_styles_changed(app, group, monkeypatch):
    """Showing a screen restyles every widget of it; a section kept while
    hidden needs that only if the app's styles changed meanwhile (a theme)."""
    from textual.screen import Screen

    from tablespace.tui.chrome import SectionBar

    restyled: list[str] = []
    original = Screen.update_node_styles
    monkeypatch.setattr(
        Screen,
        "update_node_styles",
        lambda self, animate=True: (restyled.append(type(self).__name__), original(self, animate=animate))[1],
    )
    async with app.run_test(size=(100, 32)) as pilot:
        for key in "2321":
            await pilot.press(key)
            await pilot.pause()
        restyled.clear()
        for key in "3121":
            await pilot.press(key)
            await pilot.pause()
        assert restyled == []

        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        here = app.screen.query_one(SectionBar).styles.background  # the shown screen takes the theme at once
        await pilot.press("3")
        await pilot.pause()
        assert "LibraryScreen" in restyled
        assert app.screen.query_one(SectionBar).styles.background == here


async def until_prepared(pilot, app) -> None:  # noqa: ANN001 - a textual Pilot and the app
    await wait_for(pilot, lambda: app.sections_prepared, timeout=20)
    await pilot.pause()


async def test_every_section_is_prepared_after_the_first_frame_and_its_first_visit_reads_nothing(app, group):
    """A person reads the first screen; meanwhile the app makes, reads, lays
    out and renders every section they may open, so the first visit of one
    costs what a later one does."""
    from tablespace.tui.sections import LibraryScreen, MembersScreen

    app.PREPARE_SECTIONS = True
    async with app.run_test(size=(100, 32)) as pilot:
        await until_prepared(pilot, app)
        assert app.current_mode == "threads"  # nothing was shown meanwhile
        with statements(group) as ran:
            await pilot.press("3")
            await pilot.pause()
            assert isinstance(app.screen, LibraryScreen)
            assert "The Perfect Loaf" in screen_text(app)
            await pilot.press("4")
            await pilot.pause()
            assert isinstance(app.screen, MembersScreen)
            # the house rules: Markdown, filled in the background while it was prepared
            assert "Be kind. Assume good intent" in screen_text(app)
        assert ran == []


async def test_a_prepared_section_is_rendered_once_on_its_first_visit(app, group, monkeypatch):
    """Its layout and lines were made off screen until it asked for no more
    (a scroll bar showing, the footer fitting its keys): the first show
    renders each widget once, as a later one does, not pass after pass."""
    from textual.widget import Widget

    from tablespace.core.clock import iso, now

    # Sections that read the clock read again when the minute turns: a slow
    # run crossing one would render them again, rightly.
    monkeypatch.setenv("TABLESPACE_NOW", iso(now()))
    renders: dict[int, int] = {}
    render_lines = Widget.render_lines

    def counted(self, crop):  # noqa: ANN001, ANN202 - Textual's own signature
        renders[id(self)] = renders.get(id(self), 0) + 1
        return render_lines(self, crop)

    app.PREPARE_SECTIONS = True
    async with app.run_test(size=(100, 32)) as pilot:
        await until_prepared(pilot, app)
        monkeypatch.setattr(Widget, "render_lines", counted)
        for key in "2345671":
            renders.clear()
            await pilot.press(key)
            await pilot.pause()
            assert renders and max(renders.values()) == 1, key


async def test_join_requests_read_slowly_are_in_place_before_moderation_is_shown(app, group, monkeypatch):
    """The requests live in the shared folder and are read on a worker; a
    slow folder must not finish that read after the prepared section is
    shown, drawing it a second time."""
    import time

    read = actions.join_requests

    def slow_folder(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - passed through
        time.sleep(0.3)
        return read(*args, **kwargs)

    monkeypatch.setattr(actions, "join_requests", slow_folder)
    await test_a_prepared_section_is_rendered_once_on_its_first_visit(app, group, monkeypatch)


async def test_a_section_key_pressed_while_the_sections_are_prepared_shows_it(app, group):
    """A key does not wait for the preparation: its section is made then (or
    shown, if made already), and the preparation leaves it as it is."""
    from tablespace.tui.moderation import ModerationScreen
    from tablespace.tui.sections import LibraryScreen, MembersScreen

    app.PREPARE_SECTIONS = True
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("4", "3")
        await wait_for(pilot, lambda: "The Perfect Loaf" in screen_text(app))
        await until_prepared(pilot, app)
        assert isinstance(app.screen, LibraryScreen)
        library = app.screen
        shown = {}
        for key in "46":
            await pilot.press(key)
            await pilot.pause()
            shown[key] = app.screen
        assert isinstance(shown["4"], MembersScreen) and isinstance(shown["6"], ModerationScreen)
        await pilot.press("3")
        await pilot.pause()
        assert app.screen is library  # the one made on its key: the preparation made no second


async def test_preparing_the_sections_writes_nothing(app, group):
    before = group.conn.execute("SELECT count(*) FROM ops").fetchone()[0]
    app.PREPARE_SECTIONS = True
    async with app.run_test(size=(100, 32)) as pilot:
        await until_prepared(pilot, app)
        assert group.conn.execute("SELECT count(*) FROM ops").fetchone()[0] == before
        assert not app.jobs


async def test_quitting_restyles_nothing_on_the_sections_not_shown(app, group, monkeypatch):
    """Closing the app closes every kept section; a hidden one's focused
    table is not blurred (and restyled, row styles and all) on its way out."""
    from textual.dom import DOMNode

    restyled: list[DOMNode] = []
    update_node_styles = DOMNode.update_node_styles

    def counted(self, animate: bool = True) -> None:  # noqa: ANN001
        restyled.append(self)
        update_node_styles(self, animate=animate)

    app.PREPARE_SECTIONS = True
    async with app.run_test(size=(100, 32)) as pilot:
        await until_prepared(pilot, app)
        shown = set(app.screen.walk_children(with_self=True))
        monkeypatch.setattr(DOMNode, "update_node_styles", counted)
        await pilot.press("q")
    assert [type(node).__name__ for node in restyled if node not in shown] == []


async def test_the_sections_are_prepared_after_the_first_run_form_founds_a_group(tmp_path, monkeypatch):
    """A new home founds its group from the app: the sections are made off
    screen then, as they are after the first frame of an app opened on one."""
    from textual.widgets import Input

    from tablespace.core.home import Home
    from tablespace.tui.app import TablespaceApp
    from tablespace.tui.screens import ThreadsScreen
    from tablespace.tui.sections import LibraryScreen
    from tests.tui.keys import jobs_done

    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:00:00Z")
    shared = tmp_path / "shared"
    shared.mkdir()
    app = TablespaceApp(None, Home(tmp_path / "home"), sync=False)
    app.PREPARE_SECTIONS = True
    async with app.run_test(size=(100, 32)) as pilot:
        for field, value in {"found-name": "Bread club", "found-display": "Ana", "found-folder": str(shared)}.items():
            app.screen.query_one(f"#{field}", Input).value = value
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, ThreadsScreen)
        await until_prepared(pilot, app)
        with statements(app.group) as ran:
            await pilot.press("3")
            await pilot.pause()
            assert isinstance(app.screen, LibraryScreen)
        assert ran == []
    app.group.close()
