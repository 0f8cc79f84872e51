"""The Health section (key 5): this week's figures, 12-week sparklines and
newcomers waiting for a reply, over a group with nine weeks of history."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from textual.renderables.sparkline import Sparkline as SparklineRenderable
from textual.widget import Widget
from textual.widgets import DataTable, Static

from tablespace import actions
from tablespace.core.clock import datetime_to_hlc, iso
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.core.identity import Identity
from tablespace.core.metrics import weekly_series
from tablespace.tui.app import TablespaceApp
from tablespace.tui.commands import TablespaceCommands
from tablespace.tui.live import SyncRound, SyncStatus
from tablespace.tui.thread_screen import ThreadScreen
from tests.core.opkit import Feed, member_add_payload

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SIZE = (100, 32)


@dataclass
class Garden:
    home: Home
    feeds: dict[str, Feed]
    quiet_thread: str  # Eve's first thread, still unanswered


@pytest.fixture
def garden(tmp_path, monkeypatch) -> Garden:
    """Ana founds an allotment group nine weeks before NOW; Bo, Cy and Di write
    a little every week (more lately); Eve and Fay joined this week."""
    shared = tmp_path / "shared"
    shared.mkdir()
    home = Home(tmp_path / "home")
    seeds = iter(range(1000))
    monkeypatch.setattr(
        Identity,
        "generate",
        classmethod(
            lambda cls: cls(
                Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"garden {next(seeds)}".encode()).digest())
            )
        ),
    )

    def at(moment: datetime) -> None:
        monkeypatch.setenv("TABLESPACE_NOW", iso(moment))

    start = NOW - timedelta(weeks=9)
    at(start)
    group = Group.found(home, "Allotment", "Ana", Transport(folder=shared))
    feeds: dict[str, Feed] = {}

    def admit(name: str, moment: datetime) -> None:
        at(moment)
        identity = Identity.generate()
        group.write("member.add", member_add_payload(identity, name))
        feeds[name] = Feed(identity, group.id)

    def remote(name: str, kind: str, payload: dict, moment: datetime) -> str:
        at(moment)  # the wall clock has reached it (an op from the future would be held)
        op = feeds[name].op(kind, payload, hlc=datetime_to_hlc(moment))
        group.store.ingest([op])
        state = group.conn.execute("SELECT state, reason FROM ops WHERE id = ?", (op.id,)).fetchone()
        assert state[0] == "accepted", state
        return op.id

    for n, name in enumerate(("Bo", "Cy", "Di")):
        admit(name, start + timedelta(hours=1 + n))
    people = ("Bo", "Cy", "Di")
    for w in range(8, -1, -1):  # w weeks before NOW
        monday = NOW - timedelta(weeks=w, days=6)
        if w == 0:  # two newcomers, just before this week's activity
            admit("Eve", monday - timedelta(hours=2))
            admit("Fay", monday - timedelta(hours=1))
        author = people[w % 3]
        thread = remote(
            author, "thread.start", {"title": f"Week {9 - w}: what's growing", "body": "Beans.", "tags": []}, monday
        )
        replier = people[(w + 1) % 3]
        remote(
            replier, "post.reply", {"thread": thread, "body": "Courgettes!"}, monday + timedelta(hours=1 + w)
        )  # replies get faster week by week
        if w < 4:  # the last month: Ana joins in and people share wins
            at(monday + timedelta(days=1))
            win = actions.post(group, f"First harvest, week {9 - w}", "Radishes.", ["win"])
            for k, name in enumerate(people[: 4 - w]):
                remote(name, "post.reply", {"thread": win, "body": "Lovely"}, monday + timedelta(days=2, hours=k))
    quiet = remote(
        "Eve",
        "thread.start",
        {"title": "Hello from plot 7", "body": "Any tips for clay soil?", "tags": ["intro"]},
        NOW - timedelta(days=2),
    )
    answered = remote(
        "Fay",
        "thread.start",
        {"title": "Fay here, plot 12", "body": "Hi all", "tags": ["intro"]},
        NOW - timedelta(days=1),
    )
    remote("Bo", "post.reply", {"thread": answered, "body": "Welcome Fay"}, NOW - timedelta(hours=20))
    group.close()
    at(NOW)
    return Garden(home, feeds, quiet)


@pytest.fixture
def health_group(garden: Garden):
    g = Group.open(garden.home)
    yield g
    g.close()


@pytest.fixture
def health_app(health_group: Group) -> TablespaceApp:
    return TablespaceApp(health_group, sync=False)


def text_of(widget: Static) -> str:
    return str(widget.render())


def drawn_lines(app: TablespaceApp, widget: Widget) -> list[str]:
    """The lines the terminal shows where `widget` is."""
    strips = app.screen._compositor.render_strips()
    region = widget.region
    return [strips[y].crop(region.x, region.right).text for y in range(region.y, region.bottom)]


async def test_key_5_shows_this_weeks_figures_and_twelve_weeks(health_app, health_group):
    from tablespace.tui.health import LABEL_WIDTH, VALUE_WIDTH, HealthRow, HealthScreen

    async with health_app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        screen = health_app.screen
        assert isinstance(screen, HealthScreen) and health_app.current_mode == "health"
        series = weekly_series(health_group.conn, NOW, now=NOW)
        this = series[-1]
        rows = {row.figure.key: row for row in screen.query(HealthRow)}
        assert list(rows) == [
            "weekly_active_pct",
            "contributor_ratio",
            "median_first_reply_s",
            "reply_coverage",
            "wins",
        ]
        drawn = {key: drawn_lines(health_app, row) for key, row in rows.items()}
        value = {key: head[LABEL_WIDTH : LABEL_WIDTH + VALUE_WIDTH].strip() for key, (head, _) in drawn.items()}
        assert value["weekly_active_pct"] == f"{this.weekly_active_pct:.0f}%"
        assert value["wins"] == str(this.wins) == "4"  # Ana's win post and Bo's, Cy's and Di's replies
        # first replies this week: week 9's thread 1 h, Fay's 4 h, the win thread 1 day; Eve's none
        assert value["median_first_reply_s"] == "4h 00m"
        assert value["reply_coverage"] == "75%"
        cell = screen.cell
        bars = drawn["wins"][0][LABEL_WIDTH + VALUE_WIDTH :].rstrip()
        assert len(bars) == 12 * cell and set(bars) <= set(SparklineRenderable.BARS)
        assert all(len(set(bars[n : n + cell])) == 1 for n in range(0, len(bars), cell))  # a bar a week
        assert rows["wins"].values == [w.wins for w in series]
        assert drawn["wins"][1].split() == [str(w.wins) for w in series]
        empty_weeks = drawn["median_first_reply_s"][1].split()
        assert empty_weeks[:3] == ["—", "—", "—"]  # before the group existed: no threads, no median
        assert "Last 7 days · 6 members" in text_of(screen.query_one("#health-summary", Static))


async def test_quiet_newcomer_opens_with_enter_and_escape_comes_back(health_app, garden):
    from tablespace.tui.health import HealthScreen

    async with health_app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        table = health_app.screen.query_one("#newcomers", DataTable)
        assert table.row_count == 1  # Eve; Fay's first thread has Bo's answer
        assert [str(c) for c in table.get_row_at(0)] == ["Eve", "Hello from plot 7", "2d"]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(health_app.screen, ThreadScreen)
        assert health_app.screen.thread_id == garden.quiet_thread
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(health_app.screen, HealthScreen)


async def test_health_refreshes_when_sync_brings_a_reply(health_app, health_group, garden):
    async with health_app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        table = health_app.screen.query_one("#newcomers", DataTable)
        assert table.row_count == 1
        op = garden.feeds["Cy"].op(
            "post.reply",
            {"thread": garden.quiet_thread, "body": "Add compost"},
            hlc=datetime_to_hlc(NOW - timedelta(hours=1)),
        )
        health_group.store.ingest([op])  # as the sync worker would, then it reports the round
        health_app.post_message(SyncRound(SyncStatus(enabled=False, imported=1), manual=False))
        await pilot.pause()
        assert table.row_count == 0
        title = text_of(health_app.screen.query_one("#newcomers-title", Static))
        assert "none right now" in title


async def test_health_is_in_help_and_the_palette(health_app):
    async with health_app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        ids = {row.binding_id for row in health_app.help_rows()}
        assert {"app.section.health", "health.open"} <= ids
        provider = TablespaceCommands(health_app.screen)
        assert "Go to Health" in [title for title, _, _ in provider.commands()]


async def test_the_bar_says_up_to_when_in_the_reader_s_own_time(health_app, in_new_york):
    """The figures run up to now: said in the reader's zone, not UTC's."""
    from tablespace.tui.chrome import SectionBar

    async with health_app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await pilot.pause()
        bar = str(health_app.screen.query_one(SectionBar).render())
        assert "up to 02 Mar 04:00" in bar, bar  # 09:00 UTC
        assert "UTC" not in bar


def test_health_section(health_app, snap_compare):
    assert snap_compare(health_app, terminal_size=SIZE, press=["5"])


def test_health_section_narrow(health_app, snap_compare):
    assert snap_compare(health_app, terminal_size=(80, 24), press=["5"])


def test_health_section_wide(health_app, snap_compare):
    assert snap_compare(health_app, terminal_size=(120, 40), press=["5"])
