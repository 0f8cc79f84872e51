"""Beginning circles from the app, with the calls the commands make: `C` in
Threads makes a circle from the roster, `i` and `L` in a circle's room
invite someone and leave it, `c` on a member's row in Members begins (or
returns to) a direct conversation. The group of test_circles_app: Ana, Ben,
Cy and Dee; Ana, Ben and Cy in the Rye pod; Ana and Ben in a conversation."""

from __future__ import annotations

from textual.widgets import Input, SelectionList, Static, TextArea

from tablespace.actions import sync_group
from tablespace.core import circle_queries, post_queries
from tablespace.core.group import Group
from tablespace.tui.circles import CircleForm, InviteForm
from tablespace.tui.commands import TablespaceCommands
from tablespace.tui.modals import ComposeModal, ConfirmModal
from tablespace.tui.screens import ThreadsScreen
from tests.tui import test_circles_app
from tests.tui.keys import jobs_done
from tests.tui.test_circles_app import POD, SIZE, titles
from tests.tui.waits import screen_text, wait_for

# The four members, the pod and the conversation of test_circles_app.
table, ana, app = test_circles_app.table, test_circles_app.ana, test_circles_app.app


def refusal(app) -> str:  # noqa: ANN001
    line = app.screen.query_one("#refusal", Static)
    return str(line.render()) if line.display else ""


def pick(app, *names: str) -> None:  # noqa: ANN001
    """Tick `names` in the circle form's roster."""
    picks = app.screen.query_one("#members", SelectionList)
    for n in range(picks.option_count):
        if str(picks.get_option_at_index(n).prompt) in names:
            picks.select(picks.get_option_at_index(n).value)


async def in_the_pod(pilot) -> None:  # noqa: ANN001
    await wait_for(pilot, lambda: "Group bake this weekend" in titles(pilot.app))
    await pilot.press("right_square_bracket")
    await wait_for(pilot, lambda: titles(pilot.app) == ["Monday check-in"])


async def test_C_makes_a_circle_of_members_picked_from_the_roster_and_opens_its_room(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, CircleForm))
        form = app.screen
        picks = form.query_one("#members", SelectionList)
        assert [str(picks.get_option_at_index(n).prompt) for n in range(picks.option_count)] == ["Ben", "Cy", "Dee"]
        await pilot.press(*"Bagel crew", "enter", *"Boiled, then baked", "enter", *"2026-04-30", "enter")
        assert app.focused is picks  # enter walks the fields down to the roster
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert app.screen is form  # nobody picked: refused, in a line of the form
        assert "a circle has 2 to 12 members" in refusal(app)
        await pilot.press("down", "space")  # Cy, below Ben, highlighted first
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadsScreen))
        screen = app.screen
        assert isinstance(screen, ThreadsScreen)
        await wait_for(pilot, lambda: screen.room.label == "Bagel crew")
        assert "Boiled, then baked · Ana, Cy · until 2026-04-30" in screen_text(app)
    (made,) = [c for c in circle_queries.circles(ana.conn, ana.me) if c.name == "Bagel crew"]
    assert made.members == ["Ana", "Cy"] and made.ends == "2026-04-30"
    sync_group(ana)
    for name, names_it in (("Cy", True), ("Dee", False)):
        other = Group.open(table.homes[name])
        try:
            sync_group(other)
            assert [c.name for c in circle_queries.circles(other.conn, other.me) if c.id == made.id] == (
                ["Bagel crew"] if names_it else []
            )
        finally:
            other.close()


async def test_a_wrong_end_date_is_refused_in_the_form_with_what_was_typed_kept(app) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, CircleForm))
        form = app.screen
        await pilot.press(*"Rye pod two", "tab", "tab", *"soon")
        pick(app, "Ben", "Dee")
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert app.screen is form and "is not a date: give YYYY-MM-DD" in refusal(app)
        assert form.query_one("#name", Input).value == "Rye pod two"


async def test_i_in_a_circle_lets_in_a_member_who_is_not_in_it(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await in_the_pod(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteForm))
        text = screen_text(app)
        assert f"Invite someone into {POD}" in text and "In it: Ana, Ben, Cy" in text
        assert "Dee" in text  # the one member of the group not in the pod
        await pilot.press("enter")
        await jobs_done(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadsScreen))
        await wait_for(pilot, lambda: "Ana, Ben, Cy, Dee" in screen_text(app))
    assert ana.member_id("Dee") in circle_queries.circle_member_ids(ana.conn, table.pod)


async def test_L_leaves_a_circle_once_confirmed_and_goes_back_to_the_group_s_room(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        for room in ("the group's", "the conversation with Ben"):  # neither is a circle to leave or invite into
            await pilot.press("i", "L")
            await pilot.pause()
            assert isinstance(app.screen, ThreadsScreen), room
            await pilot.press("left_square_bracket")
        await wait_for(pilot, lambda: titles(app) == ["Monday check-in"])
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert f"Leave {POD}?" in screen_text(app)
        await pilot.press("n")  # not yet
        await wait_for(pilot, lambda: isinstance(app.screen, ThreadsScreen))
        assert ana.me in circle_queries.circle_member_ids(ana.conn, table.pod)
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await jobs_done(pilot)
        await wait_for(pilot, lambda: titles(app) == ["Group bake this weekend"])
        assert POD not in screen_text(app)  # gone from the room bar
    assert ana.me not in circle_queries.circle_member_ids(ana.conn, table.pod)


async def test_c_on_a_member_begins_a_conversation_and_opens_its_room(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: "Cy" in screen_text(app) and app.current_mode == "members")
        rows = [m.name for m in app.screen.people]
        await pilot.press(*["j"] * rows.index("Cy"), "c")
        await wait_for(pilot, lambda: isinstance(app.screen, ComposeModal))
        assert "New message to Cy" in screen_text(app)
        app.screen.query_one("#body", TextArea).text = "Rye tips?"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        await wait_for(pilot, lambda: app.current_mode == "threads" and isinstance(app.screen, ThreadsScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.room.dm and screen.room.label == "Cy")
        await wait_for(pilot, lambda: titles(app) == ["Ana and Cy"])
    (with_cy,) = [d for d in circle_queries.dms(ana.conn, ana.me) if d.with_name == "Cy"]
    assert [p.body for p in post_queries.thread(ana.conn, with_cy.thread).posts] == ["Rye tips?"]


async def test_c_on_a_member_already_written_to_opens_the_conversation(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: "Ben" in screen_text(app) and app.current_mode == "members")
        rows = [m.name for m in app.screen.people]
        await pilot.press(*["j"] * rows.index("Ben"), "c")
        await wait_for(pilot, lambda: app.current_mode == "threads" and isinstance(app.screen, ThreadsScreen))
        await wait_for(pilot, lambda: titles(app) == ["Ben and Ana"])
        assert app.screen.room.circle == table.dm
    assert len(circle_queries.dms(ana.conn, ana.me)) == 1  # the same conversation, no second one


async def test_the_keys_are_in_help_and_new_circle_in_the_palette(app) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        ids = {row.binding_id for row in app.help_rows()}
        assert "threads.new_circle" in ids and "threads.circle_leave" not in ids  # the group's room: nothing to leave
        await in_the_pod(pilot)
        ids = {row.binding_id for row in app.help_rows()}
        assert {"threads.new_circle", "threads.circle_invite", "threads.circle_leave"} <= ids
        commands = {title: run for title, _, run in TablespaceCommands(app.screen).commands()}
        await pilot.press("4")
        await pilot.pause()
        assert "members.message" in {row.binding_id for row in app.help_rows()}
        commands["New circle"]()
        await wait_for(pilot, lambda: isinstance(app.screen, CircleForm))
        assert app.current_mode == "threads"


def test_new_circle_form_80x24(app, snap_compare):
    assert snap_compare(app, terminal_size=(80, 24), press=["C", *"Bagel crew"])


async def test_the_circle_form_refuses_an_end_date_that_has_passed(app, ana, table) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "Group bake this weekend" in titles(app))
        await pilot.press("C")
        await wait_for(pilot, lambda: isinstance(app.screen, CircleForm))
        form = app.screen
        await pilot.press(*"Bagel crew", "enter", "enter", *"2026-02-27", "enter", "space")
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert app.screen is form
        assert "2026-02-27 has passed" in refusal(app)
    assert all(c.name != "Bagel crew" for c in circle_queries.circles(ana.conn, ana.me))
