"""The Moderation section, driven by Pilot against real homes and a real folder:
Ana moderates; Ben and Cat are members; Ben has reported two of Cat's posts;
Dee is asking to join."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from textual.widgets import Input, Static

from tablespace import actions
from tablespace.actions import admit, create_invite, found_group, join_group, sync_group
from tablespace.core import group_queries, member_queries, thread_queries
from tablespace.core.clock import iso
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.core.identity import Identity
from tablespace.sync.moderation import file_report, moderation_log, reports
from tablespace.sync.sealing import my_exchange_key
from tablespace.tui.app import TablespaceApp
from tablespace.tui.chrome import SectionBar
from tablespace.tui.modals import AskForm
from tablespace.tui.moderation import ModerationScreen
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.keys import jobs_done
from tests.tui.waits import screen_text, wait_for

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SIZE = (100, 32)


@dataclass
class Table:
    shared: Path
    homes: dict[str, Home]

    def open(self, name: str) -> Group:
        return Group.open(self.homes[name])


@pytest.fixture
def table(tmp_path, monkeypatch) -> Table:
    seeds = iter(range(1000))  # fixed signing keys: the same ids every run (snapshots)
    monkeypatch.setattr(
        Identity,
        "generate",
        classmethod(
            lambda cls: cls(
                Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"moderation {next(seeds)}".encode()).digest())
            )
        ),
    )

    def at(hours: float) -> None:
        monkeypatch.setenv("TABLESPACE_NOW", iso(NOW - timedelta(days=3) + timedelta(hours=hours)))

    shared = tmp_path / "shared"
    shared.mkdir()
    transport = Transport(folder=shared)
    homes = {name: Home(tmp_path / name.lower()) for name in ("Ana", "Ben", "Cat", "Dee")}
    at(0)
    ana = found_group(homes["Ana"], "Sourdough circle", "Ana", transport)
    sync_group(ana)
    members = {}
    for n, name in enumerate(("Ben", "Cat"), 1):
        at(n * 0.1)
        members[name], request = join_group(homes[name], create_invite(ana, timedelta(days=1), 1), name, transport)
        admit(ana, request[:8])
    sync_group(ana)
    for g in members.values():
        sync_group(g)
        g.mark_welcomed()  # these tests are about moderation: the welcome walk has its own
    at(1)
    cat = members["Cat"]
    first = actions.post(cat, "Sourdough classes, 20% off", "Book now at my site.")
    second = actions.post(cat, "Your crumb is a mess", "Honestly, start over.")
    sync_group(cat)
    sync_group(members["Ben"])
    at(20)  # 61 hours before NOW: red
    file_report(members["Ben"], first, "Selling in the main room.")
    at(70)  # 2 hours before NOW: not yet amber
    file_report(members["Ben"], second, "Unkind to a beginner.")
    sync_group(members["Ben"])
    at(71)
    dee, _ = join_group(homes["Dee"], create_invite(ana, timedelta(days=1), 1), "Dee", transport)
    monkeypatch.setenv("TABLESPACE_NOW", iso(NOW))
    sync_group(ana)
    for g in (ana, dee, *members.values()):
        g.close()
    return Table(shared, homes)


async def moderation(pilot) -> ModerationScreen:
    await pilot.press("6")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ModerationScreen)
    return screen


async def fill(pilot, *texts: str, check: bool = False) -> None:
    """Type into the open form's fields in turn, tick its box if asked, submit."""
    form = pilot.app.screen
    assert isinstance(form, AskForm)
    for n, text in enumerate(texts):
        if n:
            await pilot.press("tab")
        widget = pilot.app.focused
        if hasattr(widget, "clear"):
            widget.clear()
        await pilot.press(*text)
    if check:
        await pilot.press("tab", "space")
    await pilot.press("ctrl+s")
    await jobs_done(pilot)


async def test_only_moderators_see_the_section(table) -> None:
    ben = table.open("Ben")
    async with TablespaceApp(ben, sync=False).run_test(size=SIZE) as pilot:
        assert "Moderation" not in str(pilot.app.screen.query_one(SectionBar).render())
        await pilot.press("6")
        await pilot.pause()
        assert pilot.app.current_mode == "threads"
    ben.close()
    ana = table.open("Ana")
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        assert "6 Moderation" in str(pilot.app.screen.query_one(SectionBar).render())
        await moderation(pilot)
    ana.close()


async def test_open_reports_come_oldest_first_with_their_response_clock(table) -> None:
    ana = table.open("Ana")
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        screen = await moderation(pilot)
        assert [r.reason for r in screen.reports] == ["Selling in the main room.", "Unkind to a beginner."]
        grid = screen.table("reports")
        assert "red" in str(grid.get_cell_at((0, 0)).style)
        assert "green" in str(grid.get_cell_at((1, 0)).style)
        assert str(grid.get_cell_at((0, 1))) == "Ben"
        assert "Reports (2)" in str(screen.query_one("#mod-tabs").get_tab("reports").label)
    ana.close()


@pytest.mark.slow
async def test_deciding_a_report_records_it_and_can_hide_the_post(table) -> None:
    ana = table.open("Ana")
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        screen = await moderation(pilot)
        await pilot.press("d")
        await fill(pilot, "   ")  # a decision is required: the form stays, nothing is written
        assert isinstance(pilot.app.screen, AskForm)
        await pilot.press("escape")
        await pilot.press("d")
        await fill(pilot, "Promo belongs in the promo thread; told Cat.", "Thanks, it is hidden.", check=True)
        assert pilot.app.screen is screen
        assert [r.reason for r in screen.reports] == ["Unkind to a beginner."]
    done = [r for r in reports(ana, my_exchange_key(ana)) if r.status == "resolved"]
    assert [(r.decision, r.hid_post, r.told) for r in done] == [
        ("Promo belongs in the promo thread; told Cat.", True, "Thanks, it is hidden.")
    ]
    assert [t.title for t in thread_queries.threads(ana.conn)] == ["Your crumb is a mess"]
    ana.close()


@pytest.mark.parametrize("decide", ["admit", "deny"])
async def test_join_requests_are_admitted_or_denied_from_the_pane(table, decide) -> None:
    ana = table.open("Ana")
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        screen = await moderation(pilot)
        await pilot.press("right_square_bracket")
        assert screen.tab == "requests"
        await wait_for(pilot, lambda: [r.name for r in screen.requests] == ["Dee"])  # read on a worker
        if decide == "admit":
            await pilot.press("a")
            await jobs_done(pilot)
        else:
            await pilot.press("x")
            await fill(pilot, "We are full until spring.")
        await wait_for(pilot, lambda: screen.requests == [])
    assert ("Dee" in {m.name for m in member_queries.members(ana.conn)}) == (decide == "admit")
    if decide == "deny":
        last = moderation_log(ana, my_exchange_key(ana))[-1]
        assert (last.why, last.what.split()[0]) == ("We are full until spring.", "Dee")
    ana.close()


async def test_an_invite_is_made_seen_and_copied_from_the_requests_tab(table) -> None:
    """As `tablespace invite`: how long it works and how many may use it; the
    code that comes back lets that many people ask to join."""
    ana = table.open("Ana")
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        screen = await moderation(pilot)
        await pilot.press("right_square_bracket")
        assert screen.tab == "requests" and screen.check_action("copy_invite", ()) is False
        await pilot.press("i")
        await pilot.pause()
        form = pilot.app.screen
        assert isinstance(form, AskForm)
        assert (form.query_one("#expires", Input).value, form.query_one("#uses", Input).value) == ("7d", "1")
        form.query_one("#expires", Input).value = "2d"
        form.query_one("#uses", Input).value = "many"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert pilot.app.screen is form  # refused: the form stays with its text
        form.query_one("#uses", Input).value = "3"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert pilot.app.screen is screen
        code = pilot.app.clipboard
        shown = str(screen.query_one("#invite-made", Static).render())
        assert code and code in shown and "3 people" in shown and "2 days" in shown
        pilot.app.copy_to_clipboard("")
        await pilot.press("y")
        assert pilot.app.clipboard == code
    sync_group(ana)
    ana.close()
    for name in ("Eve", "Fay", "Gil"):
        join_group(Home(table.shared.parent / name.lower()), code, name, Transport(folder=table.shared))
    ana = table.open("Ana")
    asking = {r.name: r.problem for r in actions.join_requests(ana)}
    assert asking == {"Dee": None, "Eve": None, "Fay": None, "Gil": None}
    ana.close()


@pytest.mark.slow
async def test_members_are_timed_out_removed_and_made_moderators_with_reasons(table) -> None:
    ana = table.open("Ana")
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        screen = await moderation(pilot)
        await pilot.press("right_square_bracket", "right_square_bracket")
        assert screen.tab == "members"
        names = [m.name for m in screen.people]
        await pilot.press(*["j"] * names.index("Cat"), "t")
        await fill(pilot, "48h", "Second unkind post this week.")
        assert {m.name: m.status for m in screen.people}["Cat"] == "timed_out"
        await pilot.press("u")
        await fill(pilot, "Apologised; ending it early.")
        assert {m.name: m.status for m in screen.people}["Cat"] == "active"
        await pilot.press("k", "m")  # Ben
        await fill(pilot, "Ben has been steady and kind.")
        await pilot.press("j", "r")  # Cat
        await fill(pilot, "Kept selling after the time-out.")
        status = {m.name: (m.status, m.roles) for m in screen.people}
        assert status["Cat"][0] == "removed" and "moderator" in status["Ben"][1]
    why = {e.action: e.why for e in moderation_log(ana, my_exchange_key(ana))}
    assert why["timed out"] == "Second unkind post this week."
    assert why["removed"] == "Kept selling after the time-out."
    assert why["gave a role"] == "Ben has been steady and kind."
    assert why["ended the time-out of"] == "Apologised; ending it early."
    ana.close()


@pytest.mark.slow
async def test_settings_keep_the_code_of_conduct_and_the_post_cap(table) -> None:
    ana = table.open("Ana")
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        screen = await moderation(pilot)
        for _ in range(6):
            await pilot.press("right_square_bracket")
        assert screen.tab == "settings"
        await wait_for(pilot, lambda: "Weekly post cap" in screen_text(pilot.app))  # filled as its tab shows
        await pilot.press("p")
        await fill(pilot, "lots")  # refused: the form stays open
        assert isinstance(pilot.app.screen, AskForm)
        await fill(pilot, "4")
        await pilot.press("c")
        await fill(pilot, "Critique the loaf, never the baker.")
        await pilot.press("z")
        await fill(pilot, "1d")
    settings = group_queries.settings(ana.conn)
    assert settings["post_cap"] == "4" and settings["conduct"] == "Critique the loaf, never the baker."
    assert thread_queries.threads(ana.conn) == []  # both threads were quiet for 3 days: archived
    ana.close()


async def test_a_member_reports_a_post_from_the_thread_view(table) -> None:
    ben = table.open("Ben")
    async with TablespaceApp(ben, sync=False).run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ThreadScreen)
        await pilot.press("exclamation_mark")
        await fill(pilot, "CANARY-pane report")
        assert isinstance(pilot.app.screen, ThreadScreen)
    # Sealed: in the outbox, or already delivered to the shared folder.
    sealed = [*(ben.path / "outbox").glob("*.tsm"), *table.shared.rglob("*.tsm")]
    assert sealed and not any(b"CANARY" in path.read_bytes() for path in sealed)
    ben.close()


async def test_at_80_columns_the_bar_says_the_report_counts_whole(table) -> None:
    """Open and late reports in fewer words, not cut mid-word; the
    requests are counted on their tab."""
    ana = table.open("Ana")
    app = TablespaceApp(ana, sync=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        await wait_for(pilot, lambda: len(app.screen.requests) == 1)
        await pilot.pause()
        bar = screen_text(app).splitlines()[1]
        assert "…" not in bar and "2 open, 1 late" in bar, bar
    ana.close()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_moderation_section_snapshot(table, snap_compare, size) -> None:
    ana = table.open("Ana")

    async def requests_read(pilot) -> None:  # noqa: ANN001 - a textual Pilot
        await pilot.press("6")
        await wait_for(pilot, lambda: len(pilot.app.screen.requests) == 1)  # read on a worker

    assert snap_compare(TablespaceApp(ana, sync=False), terminal_size=size, run_before=requests_read)


async def test_edit_and_delete_keys_are_offered_only_where_they_work(table) -> None:
    ben = table.open("Ben")
    async with TablespaceApp(ben, sync=False).run_test(size=SIZE) as pilot:
        await pilot.press("enter")  # Cat's thread
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, ThreadScreen) and not screen.focused_post.mine
        shown = {b.binding.action for b in screen.active_bindings.values()}
        assert "report" in shown and not {"edit", "delete"} & shown
        await pilot.press("d")
        await pilot.pause()
        assert pilot.app.screen is screen  # no "Delete?" question for a post Ben may not delete
    ben.close()


async def test_evidence_shows_the_highlighted_file_and_its_reason_in_full(table) -> None:
    changeset = sorted(table.shared.glob("*/changes/*/*.tsc"))[0]
    changeset.write_bytes(changeset.read_bytes()[:-3])  # damaged in transit
    ana = table.open("Ana")
    sync_group(ana)
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        screen = await moderation(pilot)
        screen.query_one("#mod-tabs").active = "evidence"
        await pilot.pause()
        (item,) = screen.evidence
        assert item.kind == "quarantined" and changeset.name in item.who
        detail = str(screen.query_one("#evidence-empty").render())
        assert item.detail in detail and changeset.name in detail  # the whole reason, not cut to the column
    ana.close()


async def test_giving_back_needs_no_reason_taking_away_does(table) -> None:
    ana = table.open("Ana")
    async with TablespaceApp(ana, sync=False).run_test(size=SIZE) as pilot:
        screen = await moderation(pilot)
        await pilot.press("right_square_bracket", "right_square_bracket")
        names = [m.name for m in screen.people]
        await pilot.press(*["j"] * names.index("Cat"), "t")
        await fill(pilot, "48h", "")  # taking away: refused without a reason, the form stays
        assert isinstance(pilot.app.screen, AskForm)
        assert {m.name: m.status for m in screen.people}["Cat"] == "active"
        await pilot.press(*"Second unkind post this week.", "ctrl+s")  # in the reason field, still focused
        await jobs_done(pilot)
        assert {m.name: m.status for m in screen.people}["Cat"] == "timed_out"
        await pilot.press("u", "ctrl+s")  # giving back: no reason needed
        await jobs_done(pilot)
        assert {m.name: m.status for m in screen.people}["Cat"] == "active"
        # The log lists oldest first, as `tablespace modlog` does, and opens on the newest.
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        await pilot.pause()
        assert screen.tab == "log"
        actions_ = [e.action for e in screen.log_entries]
        assert actions_[-2:] == ["timed out", "ended the time-out of"]
        assert screen.table("log").cursor_row == len(actions_) - 1
    ana.close()


LONG_REASON = "Selling sourdough classes in the main room again, the third time this month after two warnings"
LONG_TITLE = "Looking for a beginner's schedule that fits around a full-time job and a toddler"
LONG_WHY = "Quiet since spring; the questions in it are answered in the pinned beginner's guide now"


@pytest.fixture
def long_texts(table) -> Table:
    """Ben reports Cat's first post at length; Ana archives a long-titled thread saying why at length."""
    ben = table.open("Ben")
    file_report(ben, actions.report_queue(table.open("Ana"))[0].post, LONG_REASON)
    sync_group(ben)
    ben.close()
    ana = table.open("Ana")
    sync_group(ana)
    actions.archive(ana, actions.post(ana, LONG_TITLE, "Any ideas?"), why=LONG_WHY)
    ana.close()
    return table


def no_sideways_scroll(screen: ModerationScreen) -> None:
    for tab in ("reports", "requests", "members", "circles", "evidence", "log"):
        table = screen.table(tab)
        assert table.max_scroll_x == 0, f"{tab} scrolls sideways"


async def test_report_and_log_columns_use_the_width_there_is(long_texts) -> None:
    ana = long_texts.open("Ana")
    async with TablespaceApp(ana, sync=False).run_test(size=(120, 40)) as pilot:
        screen = await moderation(pilot)
        await pilot.press("v")  # every report, so the long one is there whichever is open
        await pilot.pause()
        shown = screen_text(pilot.app)
        assert LONG_REASON[:64] + "…" in shown  # more than a fixed cut at 60 showed, and an ellipsis
        assert "Cat: Book now at my site." in shown
        await pilot.press(*["right_square_bracket"] * 5)
        await pilot.pause()
        shown = screen_text(pilot.app)
        assert LONG_TITLE[:45] in shown and LONG_WHY[:45] in shown
        assert "…" in shown  # what does not fit is cut with an ellipsis, in full below the table
        no_sideways_scroll(screen)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        no_sideways_scroll(screen)
        assert LONG_TITLE[:15] in screen_text(pilot.app)
    ana.close()
