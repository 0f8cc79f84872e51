"""Circles and direct messages in the Threads section: a room bar to switch
between the group's room, each circle the reader is in and their direct
messages (`[` and `]`), with unread counts; the chosen room's threads, its
purpose and members on top, and `c` posting into it. A real group of four
homes synced through a real folder."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from rich.text import Text
from textual.widgets import Input, TextArea

from tablespace import actions
from tablespace.actions import admit, create_invite, found_group, join_group, sync_group
from tablespace.core import calendar_queries, circle_queries, post_queries, thread_queries
from tablespace.core.clock import now
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.modals import ComposeModal
from tablespace.tui.rooms import RoomBar
from tablespace.tui.screens import ThreadsScreen
from tablespace.tui.thread_list import ThreadList
from tests.tui.keys import jobs_done
from tests.tui.waits import screen_text, wait_for

SIZE = (100, 32)
POD, PURPOSE = "Rye pod", "Daily rye check-ins"


@dataclass
class Table:
    homes: dict[str, Home]
    pod: str  # the circle's id
    dm: str  # Ana and Ben's two-person circle
    ids: dict[str, str]


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Table:
    """Ana, Ben, Cy and Dee; Ana, Ben and Cy are in the Rye pod, Ana and Ben
    have a direct-message circle. Ben wrote in the pod and in the DM since
    Ana last looked; Dee is in neither."""
    clock = iter(range(100))

    def tick() -> None:
        monkeypatch.setenv("TABLESPACE_NOW", f"2026-03-02T08:{next(clock):02d}:00Z")

    tick()
    shared = tmp_path / "shared"
    shared.mkdir()
    transport = Transport(folder=shared)
    groups = {"Ana": found_group(Home(tmp_path / "ana"), "Sourdough circle", "Ana", transport)}
    sync_group(groups["Ana"])
    for name in ("Ben", "Cy", "Dee"):
        tick()
        code = create_invite(groups["Ana"], timedelta(days=1), 1)
        groups[name], request = join_group(Home(tmp_path / name.lower()), code, name, transport)
        admit(groups["Ana"], request[:8])

    def converge() -> None:
        for _ in range(2):
            for group in groups.values():
                sync_group(group)

    converge()  # everyone's exchange key reaches Ana's log
    ana, ben = groups["Ana"], groups["Ben"]
    tick()
    ids = {"group": actions.post(ana, "Group bake this weekend", "Who is in?")}
    tick()
    pod = actions.circle_add(ana, POD, ["Ben", "Cy"], purpose=PURPOSE)
    tick()
    converge()
    tick()
    ids["pod"] = actions.post(ben, "Monday check-in", "Fed the rye starter.", circle=POD)
    tick()
    ids["dm"] = actions.dm(ben, "Ana", "About Saturday.")
    (conversation,) = circle_queries.dms(ben.conn, ben.me)
    dm = conversation.id
    converge()
    for group in groups.values():
        group.close()
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:00:00Z")
    return Table({name: Home(tmp_path / name.lower()) for name in groups}, pod, dm, ids)


@pytest.fixture
def ana(table: Table):
    group = Group.open(table.homes["Ana"])
    yield group
    group.close()


@pytest.fixture
def app(ana: Group) -> TablespaceApp:
    return TablespaceApp(ana, sync=False)


def titles(app: TablespaceApp) -> list[str]:
    thread_list = app.screen.query_one(ThreadList)
    return [row.title for row in (thread_list.row(i) for i in range(thread_list.count)) if row is not None]


async def test_the_room_bar_switches_between_the_group_a_circle_and_a_dm(app, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        text = screen_text(app)
        assert "Group" in text and POD in text and "DMs" in text and "Ben" in text
        assert titles(app) == ["Group bake this weekend"]

        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: titles(app) == ["Monday check-in"])
        text = screen_text(app)
        assert PURPOSE in text and "Ana, Ben, Cy" in text

        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: titles(app) == ["Ben and Ana"])
        assert "with Ben" in screen_text(app)

        await pilot.press("right_square_bracket")  # round to the group's room
        await wait_for(pilot, lambda: titles(app) == ["Group bake this weekend"])
        await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: titles(app) == ["Ben and Ana"])


async def test_unread_counts_per_room_and_in_the_section_bar(app, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        text = screen_text(app)
        # Ben's posts in the pod and the DM are unread; Ana wrote the group's thread.
        assert f"{POD} (1)" in text and "Ben (1)" in text
        assert "1 Threads (2)" in text  # the section bar counts every room Ana reads
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: titles(app) == ["Monday check-in"])
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("escape")
        await wait_for(pilot, lambda: f"{POD} (1)" not in screen_text(app))
        assert "1 Threads (1)" in screen_text(app)


async def test_a_thread_started_in_a_circle_is_the_circle_s_alone(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: titles(app) == ["Monday check-in"])
        await pilot.press("c")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ComposeModal)
        assert POD in screen_text(app)  # the form says where the thread goes
        modal.query_one("#title", Input).value = "Tuesday check-in"
        modal.query_one("#body", TextArea).text = "Levain doubled by noon."
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, ThreadsScreen)
        await wait_for(pilot, lambda: titles(app)[:1] == ["Tuesday check-in"])

    (made,) = [t for t in thread_queries.threads(ana.conn, circle=table.pod) if t.title == "Tuesday check-in"]
    assert circle_queries.thread_circle(ana.conn, made.id) == table.pod
    assert all(t.id != made.id for t in thread_queries.threads(ana.conn))  # not in the group's room
    sync_group(ana)
    for name, reads in (("Ben", True), ("Dee", False)):
        other = Group.open(table.homes[name])
        try:
            sync_group(other)
            assert thread_queries.thread_exists(other.conn, made.id) is reads
        finally:
            other.close()


def test_threads_section_in_a_circle_80x24(app, snap_compare):
    assert snap_compare(app, terminal_size=(80, 24), press=["right_square_bracket"])


def test_threads_section_in_a_dm_120x40(app, snap_compare):
    assert snap_compare(app, terminal_size=(120, 40), press=["right_square_bracket", "right_square_bracket"])


async def test_a_reply_in_a_dm_stays_between_the_two(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: titles(app) == ["Ben and Ana"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: "🔒 with Ben" in screen_text(app))  # the heading says where it is
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ComposeModal)
        await pilot.press(*"Saturday works")
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
    bodies = [p.body for p in post_queries.thread(ana.conn, table.ids["dm"]).posts]
    assert bodies == ["About Saturday.", "Saturday works"]
    sync_group(ana)
    for name, reads in (("Ben", True), ("Cy", False)):
        other = Group.open(table.homes[name])
        try:
            sync_group(other)
            thread = post_queries.thread(other.conn, table.ids["dm"]) if reads else None
            assert (thread is not None and thread.posts[-1].body == "Saturday works") is reads
            assert thread_queries.thread_exists(other.conn, table.ids["dm"]) is reads
        finally:
            other.close()


def test_the_group_s_list_pages_and_places_only_its_own_threads(ana, table) -> None:
    """Keyset paging and positions in the group's list leave circles' threads
    out, as its first page does (the pod's thread is newer than the group's)."""
    assert thread_queries.threads_next_to(ana.conn, table.ids["group"], after=False, limit=10) == []
    assert thread_queries.thread_position(ana.conn, table.ids["pod"]) is None
    assert thread_queries.thread_position(ana.conn, table.ids["pod"], table.pod) == 0
    assert thread_queries.threads_next_to(ana.conn, table.ids["pod"], after=True, limit=10) is None
    assert thread_queries.count_threads(ana.conn) == 1 and thread_queries.count_threads(ana.conn, table.pod) == 1


async def test_c_in_a_conversation_sends_a_message_into_its_one_thread(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: titles(app) == ["Ben and Ana"])
        await pilot.press("c")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ComposeModal)
        assert "New message to Ben" in screen_text(app) and not modal.query("#title")  # no title: a message
        modal.query_one("#body", TextArea).text = "Bring them!"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadsScreen))
        assert titles(app) == ["Ben and Ana"]  # still one thread
    bodies = [p.body for p in post_queries.thread(ana.conn, table.ids["dm"]).posts]
    assert bodies == ["About Saturday.", "Bring them!"]
    assert [t.id for t in thread_queries.threads(ana.conn, circle=table.dm)] == [table.ids["dm"]]


@pytest.mark.slow
async def test_a_post_reported_in_a_dm_reaches_a_moderator_outside_it_who_hides_it(table) -> None:
    """Dee reports Cy's message from the thread view; Ana moderates, is not in
    their conversation, reads the quote alone in her pane and hides the post."""
    from tablespace.tui.moderation import ModerationScreen
    from tests.tui.test_moderation_pane import fill

    rude = "Dee, your loaf is a brick"
    cy = Group.open(table.homes["Cy"])
    thread = actions.dm(cy, "Dee", rude)
    sync_group(cy)
    dee = Group.open(table.homes["Dee"])
    sync_group(dee)
    dee.mark_welcomed()
    async with TablespaceApp(dee, sync=False).run_test(size=SIZE) as pilot:
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: titles(pilot.app) == ["Cy and Dee"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: rude in screen_text(pilot.app))
        await pilot.press("exclamation_mark")
        await fill(pilot, "Unkind, and in private")
    sync_group(dee)

    ana = Group.open(table.homes["Ana"])
    sync_group(ana)
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ModerationScreen) and pilot.app.screen.reports)
        await wait_for(pilot, lambda: "a circle you are not in" in screen_text(pilot.app))
        assert rude in screen_text(pilot.app) and thread_queries.thread_exists(ana.conn, thread) is False
        await pilot.press("d")
        await fill(pilot, "Unkind: hidden, and I wrote to Cy", "", check=True)
        await wait_for(pilot, lambda: not pilot.app.screen.reports)
    sync_group(ana)
    for group in (cy, dee):
        sync_group(group)
        assert (
            circle_queries.dms(group.conn, group.me)[0].thread is None
        )  # the message, its thread's opening, is hidden
        assert not post_queries.post_exists(group.conn, thread)
    for group in (ana, cy, dee):
        group.close()


@pytest.mark.slow
async def test_a_circle_s_ritual_shows_in_its_room_and_opens_there(table) -> None:
    """Ben gives the pod a daily check-in: choosing the pod's room shows it
    with when it next opens, and today's occurrence is one of its threads."""
    ben = Group.open(table.homes["Ben"])
    actions.ritual_add(ben, "Rye check-in", "How is the rye?", "FREQ=DAILY", start="2026-03-02", circle=POD)
    sync_group(ben)  # opens today's occurrence, sealed in the pod
    ben.close()
    ana = Group.open(table.homes["Ana"])
    sync_group(ana)
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(pilot.app))
        assert "Rye check-in" not in screen_text(pilot.app)  # the group's room has no such ritual
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: "Monday check-in" in titles(pilot.app))
        assert titles(pilot.app) == ["Rye check-in · Mon 02 Mar 2026", "Monday check-in"]
        assert "⟳ Rye check-in (today 09:00)" in screen_text(pilot.app)
        await pilot.press("2")  # the Rituals section marks it as the pod's
        await wait_for(pilot, lambda: "🔒 Rye check-in" in screen_text(pilot.app))
    ana.close()
    dee = Group.open(table.homes["Dee"])
    sync_group(dee)
    assert calendar_queries.rituals(dee.conn, now()) == []
    dee.close()


@pytest.mark.slow
async def test_replying_in_a_circle_completes_only_its_members_names(app, table) -> None:
    """A mention reaches only those who can read it: replying in the pod
    offers Ben and Cy, not Dee, who is in the group and not in the pod."""
    from textual.widgets import OptionList

    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: titles(app) == ["Monday check-in"])
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Fed the rye starter." in screen_text(app))
        await pilot.press("r")
        await wait_for(pilot, lambda: bool(app.screen.query("#body")))
        await pilot.press("@")
        choices = app.screen.query_one("#mention-choices", OptionList)
        await wait_for(pilot, lambda: choices.display)
        assert [str(choices.get_option_at_index(n).id) for n in range(choices.option_count)] == ["Ben", "Cy"]


async def test_at_80_columns_health_s_circle_keys_hint_is_whole_or_left_out(app, table) -> None:
    """The summary line names the `[ ]` keys only when they fit beside the
    figures: cut, they read as a stray bracket."""
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: "Last 7 days" in screen_text(app))
        line = next(line for line in screen_text(app).splitlines() if "Last 7 days" in line)
        assert "[ ] circles" in line or "[" not in line, line


@pytest.mark.slow
async def test_the_health_section_shows_a_circle_s_own_figures(app, table) -> None:
    """`]` in Health turns to the pod's figures over its three members, and
    round again to the group's four."""
    from textual.widgets import Static

    def summary() -> str:
        return str(app.screen.query_one("#health-summary", Static).render())

    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await wait_for(pilot, lambda: "4 members" in summary())
        assert "[ ] circles" in summary()
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: summary().startswith(f"{POD} · Last 7 days · 3 members"))
        assert "1 active, 1 wrote · 0 of 1 new threads answered" in summary()  # Ben's check-in
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: summary().startswith("Last 7 days · 4 members"))


async def test_a_moderator_sees_every_circle_s_members_not_its_name_and_takes_someone_out(table) -> None:
    """Cy and Dee make a circle Ana is not in: the Moderation section's
    Circles tab shows Ana its id, size and members, never its name, and `r`
    takes Dee out of it, as `circle remove` does."""
    from tablespace.tui.moderation import ModerationScreen

    cy = Group.open(table.homes["Cy"])
    try:
        quiet = actions.circle_add(cy, "Quiet corner", ["Dee"], purpose="away from the moderators")
        actions.post(cy, "Crumb talk", "just between us", circle="Quiet corner")
        sync_group(cy)
    finally:
        cy.close()
    ana = Group.open(table.homes["Ana"])
    try:
        sync_group(ana)
        app = TablespaceApp(ana, sync=False)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("6")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ModerationScreen)
            await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
            assert screen.tab == "circles"
            await wait_for(pilot, lambda: "Cy, Dee" in screen_text(app))
            text = screen_text(app)
            assert "Quiet corner" not in text and "away from" not in text and "sealed" in text
            assert quiet[:8] in text and POD in text  # Ana is in the pod: its name is hers to see
            assert "Circles (3)" in str(screen.query_one("#mod-tabs").get_tab("circles").label)
            await pilot.press(*["j"] * [c.id for c in screen.circles].index(quiet), "r")
            await pilot.pause()
            assert "Cy, Dee" in screen_text(app)  # the form names who is in it
            await pilot.press(*"Dee", "ctrl+s")
            await jobs_done(pilot)
            assert app.screen is screen
            await wait_for(pilot, lambda: [c.members for c in screen.circles if c.id == quiet] == [["Cy"]])
        assert [c.members for c in circle_queries.all_circles(ana.conn, ana.me) if c.id == quiet] == [["Cy"]]
    finally:
        ana.close()


async def test_the_circles_tab_is_filled_when_shown_and_kept_right_while_shown(app, ana) -> None:
    """The Circles tab is made and read when it is shown, not on every refresh
    of the section: until then only its count is; once shown, a circle made
    elsewhere appears as the section re-reads."""
    from tablespace.tui.moderation import ModerationScreen

    def rows(screen: ModerationScreen) -> list[str]:
        table = screen.table("circles")
        return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]

    def label(screen: ModerationScreen) -> str:
        return str(screen.query_one("#mod-tabs").get_tab("circles").label)

    def expected() -> list[str]:
        return [c.id[:8] for c in circle_queries.all_circles(ana.conn, ana.me)]

    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ModerationScreen)
        assert screen.tab == "reports"
        # the pod and the DM, counted only: the tab's widgets are made when it is first shown
        assert label(screen) == "Circles (2)" and not screen.query("#circles-table")

        actions.circle_add(ana, "Crumb club", ["Cy"])
        app.refresh_all()
        await wait_for(pilot, lambda: label(screen) == "Circles (3)")
        assert not screen.query("#circles-table")

        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        assert screen.tab == "circles"
        await wait_for(pilot, lambda: len(rows(screen)) == 3)
        assert rows(screen) == expected() and "Crumb club" in screen_text(app)

        actions.circle_add(ana, "Starter swap", ["Dee"])
        app.refresh_all()
        await wait_for(pilot, lambda: len(rows(screen)) == 4)
        assert rows(screen) == expected() and "Starter swap" in screen_text(app)
        assert label(screen) == "Circles (4)"


async def test_a_circle_past_its_end_date_is_dimmed_after_the_running_ones(
    app, ana, table, monkeypatch: pytest.MonkeyPatch, utc: None
) -> None:
    """Ana's Bagel cohort ran until 12 March; on the 20th its room comes
    after the Rye pod's (its name sorts first), dimmed, and says it ended;
    its threads are still there to read."""
    cohort = actions.circle_add(ana, "Bagel cohort", ["Ben"], purpose="Six weeks of bagels", ends="2026-03-12")
    actions.post(ana, "Week one bagels", "Boiled in malt water.", circle="Bagel cohort")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-20T09:00:00Z")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        bar = app.screen.query_one(RoomBar).content
        assert isinstance(bar, Text)
        assert bar.plain.index(POD) < bar.plain.index("Bagel cohort") < bar.plain.index("DMs")
        (span,) = [s for s in bar.spans if bar.plain[s.start : s.end].strip() == "Bagel cohort"]
        assert "dim" in str(span.style)
        assert not any("dim" in str(s.style) for s in bar.spans if POD in bar.plain[s.start : s.end])

        await pilot.press("right_square_bracket", "right_square_bracket")
        await wait_for(pilot, lambda: titles(app) == ["Week one bagels"])
        assert app.screen.room.circle == cohort
        assert "ended on 12 Mar" in screen_text(app)
