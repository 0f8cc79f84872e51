"""A long thread opens at once: the thread view mounts the posts its first
screen needs, paints, then mounts the rest in small batches without moving
what the reader sees; a jump to a post not yet mounted mounts it first.
Ana's home holds a thread of 61 posts, the last 30 Ben Ode's and unread."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tablespace import actions
from tablespace.actions import sync_group
from tablespace.core import post_queries
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.thread_screen import PostCard, ThreadScreen
from tests.tui.members import ana_and_ben
from tests.tui.waits import wait_for

SIZE = (100, 32)
BODY = "Post {n}: the first paragraph.\n\nA second, **bold** one.\n\n- one item\n- and another"
QUOTED, QUOTING = 2, 56  # the reply at 56 quotes the post at 2


@dataclass
class LongThread:
    ana: Home
    thread: str
    posts: list[str]  # every post id, in the thread's order


@pytest.fixture
def long_thread(tmp_path: Path, monkeypatch) -> LongThread:
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T08:00:00Z")
    ana, ben = ana_and_ben(tmp_path, "Ben Ode")
    thread = actions.post(ana, "A long thread", BODY.format(n=0))
    posts = [thread] + [actions.reply(ana, thread, BODY.format(n=n)) for n in range(1, 31)]
    sync_group(ana)
    sync_group(ben)
    for n in range(31, 61):
        quote = posts[QUOTED] if n == QUOTING else None
        posts.append(actions.reply(ben, thread, BODY.format(n=n), quote=quote))
    sync_group(ben)
    sync_group(ana)
    assert [p.id for p in post_queries.thread(ana.conn, thread).posts] == posts
    home = ana.home
    ana.close()
    ben.close()
    return LongThread(home, thread, posts)


@asynccontextmanager
async def ana_s_app(long_thread: LongThread) -> AsyncIterator[tuple[Pilot[None], TablespaceApp, Group]]:
    """Ana's app on the long thread's group, running headless."""
    group = Group.open(long_thread.ana)
    app = TablespaceApp(group, sync=False)
    try:
        async with app.run_test(size=SIZE) as pilot:
            yield pilot, app, group
    finally:
        group.close()


async def open_at(pilot, app: TablespaceApp, thread: str, post: str | None = None) -> ThreadScreen:
    await app.push_screen(ThreadScreen(thread, post))
    screen = app.screen
    assert isinstance(screen, ThreadScreen)
    await wait_for(pilot, lambda: screen.painted_with is not None)
    return screen


def in_view(screen: ThreadScreen, card: PostCard) -> bool:
    return card.is_attached and card.region.overlaps(screen.query_one("#posts").region)


def focused_id(screen: ThreadScreen) -> str | None:
    card = screen.focused_post
    return card.post.id if card is not None else None


async def test_the_first_paint_mounts_what_two_screens_show_at_the_first_unread(long_thread) -> None:
    async with ana_s_app(long_thread) as (pilot, app, group):
        screen = await open_at(pilot, app, long_thread.thread)
        first_unread = long_thread.posts[31]
        assert focused_id(screen) == first_unread
        # a post is 8 rows here and the view 25: two screens hold 7 posts at most
        assert screen.painted_with is not None and screen.painted_with <= 8
        assert screen.query_one("#posts").region.contains_region(screen.cards[31].region)  # all of it in view
        await wait_for(pilot, lambda: all(card.is_attached for card in screen.cards), timeout=30)
        assert len(screen.cards) == 61 and focused_id(screen) == first_unread


async def test_posts_mounted_above_the_view_do_not_move_it(long_thread) -> None:
    async with ana_s_app(long_thread) as (pilot, app, group):
        screen = await open_at(pilot, app, long_thread.thread)
        card, where = screen.cards[31], screen.cards[31].region
        assert in_view(screen, card) and not screen.cards[0].is_attached
        await wait_for(pilot, lambda: all(c.is_attached for c in screen.cards), timeout=30)
        await pilot.pause()
        assert card.region == where and screen.focused is card


async def test_a_quote_jump_to_a_post_not_mounted_yet_lands_on_it(long_thread) -> None:
    async with ana_s_app(long_thread) as (pilot, app, group):
        screen = await open_at(pilot, app, long_thread.thread, long_thread.posts[QUOTING])
        quoted = screen.cards[QUOTED]
        assert focused_id(screen) == long_thread.posts[QUOTING] and not quoted.is_attached
        await pilot.press("enter")
        await wait_for(pilot, lambda: in_view(screen, quoted) and screen.focused is quoted)
        assert focused_id(screen) == long_thread.posts[QUOTED]


async def test_end_and_n_reach_posts_not_mounted_yet(long_thread) -> None:
    async with ana_s_app(long_thread) as (pilot, app, group):
        screen = await open_at(pilot, app, long_thread.thread, long_thread.thread)
        last, first_unread = screen.cards[-1], screen.cards[31]
        assert not last.is_attached and not first_unread.is_attached
        await pilot.press("end")
        await wait_for(pilot, lambda: in_view(screen, last))
        posts = screen.query_one("#posts")
        await wait_for(pilot, lambda: posts.scroll_y == posts.max_scroll_y)
        await pilot.press("home", "n")
        await wait_for(pilot, lambda: in_view(screen, first_unread) and screen.focused is first_unread)


async def test_a_post_deleted_while_the_rest_mount_leaves_every_other_post_mounted(long_thread) -> None:
    async with ana_s_app(long_thread) as (pilot, app, group):
        screen = await open_at(pilot, app, long_thread.thread)
        assert not all(card.is_attached for card in screen.cards)
        actions.delete(group, long_thread.posts[40])
        screen.refresh_data()  # as a change to the database does: the thread is built again
        await wait_for(pilot, lambda: len(screen.cards) == 60, timeout=10)
        await wait_for(pilot, lambda: all(card.is_attached for card in screen.cards), timeout=30)
        assert len(screen.query(PostCard)) == 60
