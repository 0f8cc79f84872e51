"""Live sync in the running app: two real homes syncing through a tmp folder.

Ana's app runs its sync thread and folder watcher for real; Ben writes in
his own home (in another thread, with his own connection) and syncs, exactly
as another member's machine would.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tablespace import actions
from tablespace.actions import sync_group
from tablespace.core import thread_queries
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.live import SyncLoop, SyncStatus
from tablespace.tui.screens import ThreadsScreen
from tablespace.tui.thread_list import ThreadList
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.members import ana_and_ben
from tests.tui.waits import wait_for

if TYPE_CHECKING:
    from tests.desktop_bus import NotificationServer

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
    ana, ben = ana_and_ben(tmp_path, "Ben")
    actions.post(ana, "Welcome to the circle", "Say hi.", ["welcome"])
    actions.post(ana, "Hydration for a first loaf?", "70% or 75%?")
    actions.post(ana, "Rye starter feeding schedule", "1:5:5 at night.")
    sync_group(ana)
    sync_group(ben)
    ana.close()
    ben.close()
    return Pair(tmp_path / "shared", ana.home, ben.home)


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
            assert "Oven thermometer?" in [t.title for t in thread_queries.threads(group.conn)]
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


# --- news while the reader is somewhere in a long list ---------------------------------
#
# At 80x24 the list shows 21 rows; the crowded group has 43 threads, so the
# reader can be far down it. What another member writes lands at the top.

SMALL = (80, 24)


@pytest.fixture
def crowded(pair, monkeypatch) -> Pair:
    """The pair's group with 40 more threads (older ones first) and a long thread, which Ben holds too."""
    ana = Group.open(pair.ana)
    try:
        for n in range(40):
            monkeypatch.setenv("TABLESPACE_NOW", f"2026-03-02T09:00:{n + 1:02d}Z")
            actions.post(ana, f"Old thread {n}", "From the archive.")
        monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:01:00Z")
        long = actions.post(ana, "A long thread", "Many replies follow.")
        for n in range(15):
            actions.reply(ana, long, f"Reply number {n}\n\nwith a second paragraph")
        sync_group(ana)
    finally:
        ana.close()
    ben = Group.open(pair.ben)
    try:
        sync_group(ben)
    finally:
        ben.close()
    return pair


def screen_text(app: TablespaceApp) -> str:
    """What the terminal shows, as text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def place(thread_list: ThreadList) -> tuple[str, int]:
    """The selected thread and the screen line it is on."""
    return thread_list.current.id, thread_list.cursor - thread_list.scroll_offset.y


async def far_down(pilot, thread_list: ThreadList) -> tuple[str, int]:
    """The reader goes to the end of the list and a few rows back up."""
    await pilot.press("G", "k", "k", "k")
    assert thread_list.scroll_offset.y > 10
    return place(thread_list)


async def test_a_new_thread_above_a_scrolled_list_is_announced_and_the_place_kept(crowded, monkeypatch):
    group = Group.open(crowded.ana)
    try:
        app = TablespaceApp(group, sync_every=600)
        async with app.run_test(size=SMALL) as pilot:
            await wait_for(pilot, lambda: app.sync_rounds >= 1)
            thread_list = app.screen.query_one(ThreadList)
            before = await far_down(pilot, thread_list)
            top = thread_list.scroll_offset.y
            monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:05:00Z")
            await asyncio.to_thread(crowded.as_ben(lambda g: actions.post(g, "Hello from Ben", "First bake.")))
            await wait_for(pilot, lambda: "↑ 1 new" in screen_text(app), timeout=1.5)
            assert place(thread_list) == before  # same thread, same line
            assert thread_list.scroll_offset.y == top + 1  # the rows in view did not move
            await pilot.press("u")  # jump to what is new
            assert thread_list.current.title == "Hello from Ben"
            assert thread_list.scroll_offset.y == 0
            assert "new" not in screen_text(app).splitlines()[1]  # the section bar no longer says so
    finally:
        group.close()


async def test_a_reply_to_a_thread_above_the_view_is_announced(crowded, monkeypatch):
    group = Group.open(crowded.ana)
    try:
        app = TablespaceApp(group, sync_every=600)
        async with app.run_test(size=SMALL) as pilot:
            await wait_for(pilot, lambda: app.sync_rounds >= 1)
            thread_list = app.screen.query_one(ThreadList)
            before = await far_down(pilot, thread_list)
            replied = thread_list.row(3).id  # above the rows in view: its reply keeps it above
            monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:05:00Z")
            await asyncio.to_thread(crowded.as_ben(lambda g: actions.reply(g, replied, "Late answer.")))
            await wait_for(pilot, lambda: "↑ 1 new" in screen_text(app), timeout=1.5)
            assert place(thread_list) == before
            await pilot.press("u")
            assert thread_list.current.id == replied
    finally:
        group.close()


async def test_at_the_top_a_new_thread_is_inserted_in_view(crowded, monkeypatch):
    group = Group.open(crowded.ana)
    try:
        app = TablespaceApp(group, sync_every=600)
        async with app.run_test(size=SMALL) as pilot:
            await wait_for(pilot, lambda: app.sync_rounds >= 1)
            thread_list = app.screen.query_one(ThreadList)
            await pilot.press("j", "j")
            selected = thread_list.current.id
            monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:05:00Z")
            await asyncio.to_thread(crowded.as_ben(lambda g: actions.post(g, "Hello from Ben", "First bake.")))
            await wait_for(pilot, lambda: "Hello from Ben" in screen_text(app), timeout=1.5)
            assert thread_list.scroll_offset.y == 0 and thread_list.current.id == selected
            assert "new" not in screen_text(app).splitlines()[1]  # nothing hidden, nothing to announce
    finally:
        group.close()


async def test_news_that_came_while_a_thread_was_open_is_announced_on_return(crowded, monkeypatch):
    group = Group.open(crowded.ana)
    try:
        app = TablespaceApp(group, sync_every=600)
        async with app.run_test(size=SMALL) as pilot:
            await wait_for(pilot, lambda: app.sync_rounds >= 1)
            thread_list = app.screen.query_one(ThreadList)
            before = await far_down(pilot, thread_list)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen))
            rounds = app.sync_rounds
            monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:05:00Z")
            await asyncio.to_thread(crowded.as_ben(lambda g: actions.post(g, "Hello from Ben", "First bake.")))
            await wait_for(pilot, lambda: app.sync_rounds > rounds and app.sync_status.imported, timeout=1.5)
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, ThreadsScreen))
            await pilot.pause()
            assert "↑ 1 new" in screen_text(app)
            assert place(thread_list) == before
    finally:
        group.close()


async def test_a_reply_below_the_view_of_the_open_thread_is_announced(crowded):
    group = Group.open(crowded.ana)
    try:
        app = TablespaceApp(group, sync_every=600)
        async with app.run_test(size=SMALL) as pilot:
            await wait_for(pilot, lambda: app.sync_rounds >= 1)
            thread_list = app.screen.query_one(ThreadList)
            thread_list.cursor = titles(thread_list).index("A long thread")
            thread_id = thread_list.current.id
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and len(app.screen.cards) == 16)
            screen = app.screen
            posts = screen.query_one("#posts")
            assert posts.max_scroll_y > 0 and posts.scroll_y == 0  # reading the opening post
            await asyncio.to_thread(crowded.as_ben(lambda g: actions.reply(g, thread_id, "Ben's late reply.")))
            await wait_for(pilot, lambda: "↓ 1 new" in screen_text(app), timeout=1.5)
            assert len(screen.cards) == 17 and posts.scroll_y == 0 and screen.focus_index == 0
            await pilot.press("u")
            await wait_for(pilot, lambda: posts.scroll_y == posts.max_scroll_y)
            assert screen.focused is screen.cards[-1]
            assert "↓ 1 new" not in screen_text(app)
    finally:
        group.close()


# --- `sync --watch` or a command beside the app, on the same home -----------------------


@pytest.fixture
def sync_watch_beside(pair):
    """`tablespace sync --watch` on Ana's home, as a process of its own, after its first round."""
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "tablespace", "--home", str(pair.ana.path), "sync", "--watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline().startswith("exported")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_news_imported_by_sync_watch_beside_the_app_shows(pair, ana_group, sync_watch_beside, monkeypatch):
    app = TablespaceApp(ana_group, sync_every=600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:05:00Z")
        await asyncio.to_thread(pair.as_ben(lambda g: actions.post(g, "Hello from Ben", "First bake tonight.")))
        await wait_for(pilot, lambda: "Hello from Ben" in screen_text(app), timeout=1.5)


async def test_a_post_written_beside_the_app_on_the_same_home_shows(pair, ana_group, sync_watch_beside, monkeypatch):
    """`tablespace post` in another terminal: nothing lands in the folder for
    the app to see, only the database changes (and `sync --watch` exports it)."""
    app = TablespaceApp(ana_group, sync_every=600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)

        def post_as_ana() -> None:
            group = Group.open(pair.ana)
            try:
                actions.post(group, "Written in a terminal", "Beside the app.")
            finally:
                group.close()

        await asyncio.to_thread(post_as_ana)
        await wait_for(pilot, lambda: "Written in a terminal" in screen_text(app), timeout=1.5)


async def test_a_mention_while_the_app_runs_rings_and_shows_a_plain_toast(pair, ana_group, monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)  # no desktop: the app's own bell and toast
    app = TablespaceApp(ana_group, sync_every=600)
    bells: list[None] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(None))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:05:00Z")
        await asyncio.to_thread(
            pair.as_ben(lambda g: actions.post(g, "Crumb [b]shot[/b]", "@Ana is this open enough?"))
        )

        def toasts() -> list[tuple[str, str]]:
            return [(str(n.title), str(n.message)) for n in app._notifications if "mentioned you" in str(n.title)]

        await wait_for(pilot, lambda: len(toasts()) == 1, timeout=3)
        assert toasts() == [("Sourdough circle: Ben mentioned you", "“Crumb [b]shot[/b]”: @Ana is this open enough?")]
        assert bells == [None]
        # A thread that does not concern Ana raises nothing.
        await asyncio.to_thread(pair.as_ben(lambda g: actions.post(g, "Plain news", "nothing for Ana")))
        await wait_for(pilot, lambda: app.sync_rounds >= 3, timeout=3)
        assert len(toasts()) == 1 and bells == [None]


async def test_a_mention_while_the_app_runs_goes_to_the_desktop_when_there_is_one(
    pair, ana_group, desktop: NotificationServer, monkeypatch
):
    app = TablespaceApp(ana_group, sync_every=600)
    bells: list[None] = []
    monkeypatch.setattr(app, "bell", lambda: bells.append(None))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:05:00Z")
        await asyncio.to_thread(pair.as_ben(lambda g: actions.post(g, "Crumb shot", "@Ana is this open enough?")))
        await wait_for(pilot, lambda: len(desktop.shown) == 1, timeout=5)
        assert desktop.shown == [
            ("tablespace", "Sourdough circle: Ben mentioned you", "“Crumb shot”: @Ana is this open enough?")
        ]
        # The desktop showed it: no bell, no toast of it in the app.
        assert bells == [] and not [n for n in app._notifications if "mentioned you" in str(n.title)]
        await asyncio.to_thread(pair.as_ben(lambda g: actions.post(g, "Plain news", "nothing for Ana")))
        await wait_for(pilot, lambda: app.sync_rounds >= 3, timeout=3)
        assert len(desktop.shown) == 1  # a thread that does not concern Ana raises nothing


class CountedWakes(threading.Event):
    """The sync thread's wake-up event, counting how often it wakes."""

    def __init__(self) -> None:
        super().__init__()
        self.wakes = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.wakes += 1
        return super().wait(timeout)


def test_the_idle_sync_thread_sleeps_until_a_round_is_due_or_asked_for(pair):
    """Idle, the app's sync thread does not wake several times a second to
    find nothing to do (a laptop's fan hears it); a request still wakes it."""
    rounds: list[float] = []
    group = Group.open(pair.ana)
    loop = SyncLoop(pair.ana, group, lambda status, manual: rounds.append(time.monotonic()), every=60.0)
    loop.wanted = wakes = CountedWakes()
    thread = threading.Thread(target=loop.run, args=(SyncStatus(),), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not rounds and time.monotonic() < deadline:
            time.sleep(0.02)
        assert rounds, "the first round never ran"
        before = wakes.wakes
        time.sleep(1.2)
        assert wakes.wakes - before <= 1  # the one sleep it went into after the round
        asked = time.monotonic()
        loop.request()
        while len(rounds) < 2 and time.monotonic() < asked + 5:
            time.sleep(0.02)
        assert len(rounds) == 2 and rounds[1] - asked < 1.0
    finally:
        loop.shutdown()
        thread.join(10)
        group.close()
    assert not thread.is_alive()
