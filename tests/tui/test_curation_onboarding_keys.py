"""Curation keys (pin and tags on the thread list and in a thread, edit and
remove in the Library), the moderators' invite key and the purpose in
Members, and the onboarding walk, driven with Pilot."""

from __future__ import annotations

from datetime import timedelta

from textual.widgets import Input, Static, TextArea

from tablespace import actions
from tablespace.core import post_queries, resource_queries
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.modals import AskForm, ComposeModal, ConfirmModal
from tablespace.tui.sections import LibraryScreen, MembersScreen
from tablespace.tui.thread_screen import ThreadScreen
from tablespace.tui.welcome import WelcomeWalk
from tests.tui.keys import jobs_done

SIZE = (100, 32)


def pinned(group: Group, thread_id: str) -> bool:
    return post_queries.thread(group.conn, thread_id).pinned


async def test_pin_and_tags_from_the_list_and_the_thread(kitchen, group, app) -> None:
    welcome = kitchen.ids["welcome"]
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.thread_list.current.id == welcome  # pinned: first
        await pilot.press("P")
        await jobs_done(pilot)
        assert not pinned(group, welcome)
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, AskForm)
        app.screen.query_one("#tags", Input).value = "welcome start-here"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert post_queries.thread(group.conn, welcome).tags == ["start-here", "welcome"]

        await app.open_thread(welcome)
        await pilot.pause()
        assert isinstance(app.screen, ThreadScreen)
        await pilot.press("P")
        await jobs_done(pilot)
        assert pinned(group, welcome)


async def test_library_edit_and_remove(group, app) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LibraryScreen)
        first = screen.current
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, AskForm)
        assert app.screen.query_one("#url", Input).value == first.url
        app.screen.query_one("#title", Input).value = "A better title"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert next(r for r in resource_queries.resources(group.conn) if r.id == first.id).title == "A better title"
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.click("#yes")
        await jobs_done(pilot)
        assert first.id not in [r.id for r in resource_queries.resources(group.conn)]


async def test_a_newcomer_is_walked_and_moderators_invite_and_see_who_to_welcome(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:00:00Z")
    shared = tmp_path / "shared"
    shared.mkdir()
    transport = Transport(folder=shared)
    ana = actions.found_group(Home(tmp_path / "ana"), "Circle", "Ana", transport)
    actions.change_settings(ana, purpose="Bake better bread together")
    actions.sync_group(ana)
    code = actions.create_invite(ana, timedelta(days=1), 1)
    ben, request = actions.join_group(Home(tmp_path / "ben"), code, "Ben", transport)
    actions.admit(ana, request[:8])
    actions.sync_group(ana)
    actions.sync_group(ben)
    assert ben.needs_welcome and not ana.needs_welcome

    ben_app = TablespaceApp(ben, sync=False)
    async with ben_app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.pause()
        assert isinstance(ben_app.screen, WelcomeWalk)  # opens by itself, once
        assert "Bake better bread together" in ben_app.screen.step.body
        await pilot.press("escape")
    assert not ben.needs_welcome
    actions.post(ben, "Which flour for rye?", "Any advice?")
    intro = actions.post(ben, "Hello from Ben", "I bake rye.", ["intro"])
    actions.sync_group(ben)
    actions.sync_group(ana)
    actions.post(ana, "Hi, I'm Ana", "I started this.", ["intro"])  # mine: nobody I could welcome

    app = TablespaceApp(ana, sync=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MembersScreen)
        assert "Bake better bread together" in str(screen.query_one("#purpose", Static).render())
        to_welcome = str(screen.query_one("#to-welcome", Static).render())
        assert "Hello from Ben" in to_welcome and "Which flour" not in to_welcome  # the intro, not his first thread
        assert "Hi, I'm Ana" not in to_welcome and "To welcome · 1" in to_welcome
        await pilot.press("o")  # the longest waiting intro, to answer it
        await pilot.pause()
        assert isinstance(app.screen, ThreadScreen) and app.screen.thread_id == intro
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, AskForm)  # how long and for how many, as `tablespace invite`
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        code = screen.invite_code
        assert code and code in str(screen.query_one("#invite-code", Static).render())
        assert app.clipboard == code


async def test_the_welcome_walk_prefills_the_intro_and_opens_the_first_win(group, app) -> None:
    resource = resource_queries.resources(group.conn)[0]
    actions.change_settings(group, intro_template="I bake because …", first_win=resource.id)
    assert not group.needs_welcome  # the founder is not walked through it
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("w")
        await pilot.pause()
        walk = app.screen
        assert isinstance(walk, WelcomeWalk)
        await pilot.press("right")
        assert walk.step.step == "intro"
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ComposeModal)
        assert app.screen.query_one("#body", TextArea).text.startswith("I bake because …")
        assert app.screen.query_one("#tags", Input).value == "intro"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is walk
        await pilot.press("right", "right", "right")
        assert walk.step.step == "first-win"
        await pilot.press("o")
        await pilot.pause()
        await pilot.pause()
        assert isinstance(app.screen, LibraryScreen) and app.screen.current.id == resource.id
        assert group.store.get_meta("welcomed") == "1"
        await pilot.press("w")  # found again
        await pilot.pause()
        assert isinstance(app.screen, WelcomeWalk)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, WelcomeWalk)


def test_the_walk_at_80x24(kitchen, snap_compare) -> None:
    group = Group.open(kitchen.home)
    actions.change_settings(group, purpose="Bake better bread together", rules="Be kind. Share crumb shots.")
    app = TablespaceApp(group, sync=False)
    assert snap_compare(app, terminal_size=(80, 24), press=["w"])
