"""Live sync in the running app: two real homes syncing through a tmp folder.

Ana's app runs its sync thread and folder watcher for real; Ben writes in
his own home (in another thread, with his own connection) and syncs, exactly
as another member's machine would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from tablespace import actions
from tablespace.actions import admit, create_invite, found_group, join_group, sync_group
from tablespace.core import queries
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.screens import ThreadScreen, ThreadsScreen
from tablespace.tui.thread_list import ThreadList
from tests.tui.waits import wait_for

NOW = "2026-03-02T09:00:00Z"  # as in conftest.py

SIZE = (100, 32)


@dataclass
class Pair:
    shared: Path
    ana: Home
    ben: Home

    def as_ben(self, action: Callable[[Group], object]) -> Callable[[], object]:
        def run() -> object:
            group = Group.open(self.ben)
            try:
                result = action(group)
                sync_group(group)
                return result
            finally:
                group.close()

        return run


@pytest.fixture
def pair(tmp_path, monkeypatch) -> Pair:
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    shared = tmp_path / "shared"
    shared.mkdir()
    transport = Transport(folder=shared)
    ana = found_group(Home(tmp_path / "ana"), "Sourdough circle", "Ana", transport)
    sync_group(ana)
    code = create_invite(ana, timedelta(days=1), 1)
    ben, request = join_group(Home(tmp_path / "ben"), code, "Ben", transport)
    admit(ana, request[:8])
    actions.post(ana, "Welcome to the circle", "Say hi.", ["welcome"])
    actions.post(ana, "Hydration for a first loaf?", "70% or 75%?")
    actions.post(ana, "Rye starter feeding schedule", "1:5:5 at night.")
    sync_group(ana)
    sync_group(ben)
    ana.close()
    ben.close()
    return Pair(shared, Home(tmp_path / "ana"), Home(tmp_path / "ben"))


def titles(thread_list: ThreadList) -> list[str]:
    return [thread_list.row(i).title for i in range(thread_list.count)]


@pytest.fixture
async def ana_group(pair):
    group = Group.open(pair.ana)
    yield group
    group.close()


async def test_a_post_from_another_home_appears_without_a_keypress(pair, ana_group, monkeypatch):
    app = TablespaceApp(ana_group, sync_every=600)  # only the watcher can bring it in time
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        thread_list = app.screen.query_one(ThreadList)
        await pilot.press("j")  # the reader is on "Rye starter…"
        selected = thread_list.current.title
        monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:05:00Z")  # Ben posts five minutes later
        await asyncio.to_thread(pair.as_ben(lambda g: actions.post(g, "Hello from Ben", "First bake tonight.")))
        took = await wait_for(pilot, lambda: "Hello from Ben" in titles(thread_list), timeout=1.5)
        assert took < 1.5
        # the new thread went on top; the reader's thread is still the selected one
        assert titles(thread_list)[0] == "Hello from Ben"
        assert thread_list.current.title == selected and thread_list.cursor == 2
        assert thread_list.render_line(0).text.strip().startswith("●")  # unread


async def test_the_watcher_sees_the_folder_go_and_watches_it_again_when_it_is_back(pair, ana_group, monkeypatch):
    app = TablespaceApp(ana_group, sync_every=600)  # no periodic round: only the watcher can tell
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        away = pair.shared.with_name("away")
        pair.shared.rename(away)  # unmounted
        await wait_for(pilot, lambda: app.sync_status.problem == "folder unreachable", timeout=5)
        away.rename(pair.shared)
        await wait_for(pilot, lambda: app.sync_status.problem is None, timeout=8)
        # and what lands now arrives: the folder is watched again
        thread_list = app.screen.query_one(ThreadList)
        monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:05:00Z")
        await asyncio.to_thread(pair.as_ben(lambda g: actions.post(g, "After the remount", "Still here.")))
        await wait_for(pilot, lambda: "After the remount" in titles(thread_list), timeout=5)


async def test_the_open_thread_appends_a_new_reply_in_place(pair, ana_group):
    app = TablespaceApp(ana_group, sync_every=600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        thread_list = app.screen.query_one(ThreadList)
        thread_list.cursor = titles(thread_list).index("Hydration for a first loaf?")
        thread_id = thread_list.current.id
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ThreadScreen)
        first_card = screen.cards[0]
        await asyncio.to_thread(pair.as_ben(lambda g: actions.reply(g, thread_id, "75%, and a long autolyse.")))
        await wait_for(pilot, lambda: len(screen.cards) == 2, timeout=1.5)
        assert screen.cards[0] is first_card  # appended, not rebuilt
        assert screen.cards[1].post.body == "75%, and a long autolyse." and screen.cards[1].post.author == "Ben"
        assert screen.focused is first_card  # the reader's place is kept


async def test_sync_now_brings_news_and_says_so(pair, ana_group):
    app = TablespaceApp(ana_group, watch=False, sync_every=600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        await asyncio.to_thread(pair.as_ben(lambda g: actions.post(g, "Quiet news", "Only a sync finds this.")))
        await pilot.pause(0.3)
        thread_list = app.screen.query_one(ThreadList)
        assert "Quiet news" not in titles(thread_list)  # no watcher, no periodic round yet
        await pilot.press("s")
        await wait_for(pilot, lambda: "Quiet news" in titles(thread_list))
        await wait_for(pilot, lambda: any("1 new" in str(n.message) for n in app._notifications))
        assert app.sync_rounds == 2


async def test_a_write_in_the_app_is_exported_right_away(pair, ana_group):
    app = TablespaceApp(ana_group, watch=False, sync_every=600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        assert app.sub_title == "synced just now · outbox 0"
        await pilot.press("c")
        await pilot.pause()
        await pilot.press(*"Oven thermometer?")
        app.screen.query_one("#body").text = "Which one do you use?"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.sync_rounds >= 2)
        assert app.sub_title == "synced just now · outbox 0"
        seen = await asyncio.to_thread(pair.as_ben(lambda g: None))  # Ben syncs…
        assert seen is None
        group = Group.open(pair.ben)  # …and has it
        try:
            assert "Oven thermometer?" in [t.title for t in queries.threads(group.conn)]
        finally:
            group.close()


def plant_bad_changeset(pair: Pair, group: Group) -> Path:
    """A file in the folder that every sync quarantines."""
    bad = pair.shared / group.id / "changes" / ("ab" * 16) / "1-1-0000000000000000.tsc"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a changeset at all")
    return bad


async def test_header_counts_quarantined_files(pair, ana_group):
    app = TablespaceApp(ana_group, watch=False, sync_every=600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        plant_bad_changeset(pair, ana_group)
        await pilot.press("s")
        await wait_for(pilot, lambda: "1 quarantined" in app.sub_title)
        assert app.sub_title.startswith("synced just now · outbox 0")


async def test_header_says_when_the_folder_is_unreachable(pair, ana_group):
    app = TablespaceApp(ana_group, watch=False, sync_every=600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        pair.shared.rename(pair.shared.with_name("unmounted"))
        await pilot.press("s")
        await wait_for(pilot, lambda: "folder unreachable" in app.sub_title)
        assert any(n.severity == "warning" and "missing or unmounted" in str(n.message) for n in app._notifications)
        await pilot.press("c")
        await pilot.pause()
        await pilot.press(*"Written offline")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "outbox 1" in app.sub_title)
        assert "folder unreachable" in app.sub_title
        pair.shared.with_name("unmounted").rename(pair.shared)  # back again: the outbox drains
        await pilot.press("s")
        await wait_for(pilot, lambda: app.sub_title == "synced just now · outbox 0")


async def test_sync_off_says_so(app):
    async with app.run_test(size=SIZE) as pilot:
        assert app.sub_title == "sync off"
        await pilot.press("s")
        assert any("off" in str(n.message) for n in app._notifications)
        assert isinstance(app.screen, ThreadsScreen)


async def test_a_round_that_fails_after_quarantining_a_file_still_counts_it(pair, ana_group, monkeypatch):
    app = TablespaceApp(ana_group, watch=False, sync_every=600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        plant_bad_changeset(pair, ana_group)

        def broken(*args: object) -> None:
            raise RuntimeError("key rotation broke")

        monkeypatch.setattr("tablespace.sync.engine.rotate_if_needed", broken)  # after the import
        await pilot.press("s")
        await wait_for(pilot, lambda: "sync failed" in app.sub_title)
        assert "1 quarantined" in app.sub_title
