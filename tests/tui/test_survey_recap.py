"""Surveys and the weekly recap in the app: `a` answers a survey (sealed by
the same action as `tablespace answer`, so no plaintext stays in the
answering home), `A` shows a moderator the answers in memory, and the
Health section's `r` shows this week's recap, the past ones, and (for a
note-taker or a moderator only) posts it. Ana moderates; Ben is a plain
member and Cat a note-taker, each in their own home, synced through a real
folder."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from textual.widgets import Input, Static, TextArea

from tablespace import actions
from tablespace.actions import admit, create_invite, found_group, join_group, sync_group
from tablespace.core import post_queries, thread_queries
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.core.polls import sealed_answers, survey
from tablespace.core.recap import RECAP_TAG
from tablespace.tui.app import TablespaceApp
from tablespace.tui.health import HealthScreen
from tablespace.tui.modals import AskForm, ComposeModal, ReadModal
from tablespace.tui.recap import RecapModal
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.keys import jobs_done
from tests.tui.waits import screen_text, wait_for

SIZE = (80, 24)
CANARY = "CANARY-app-survey-9c2b"


@dataclass
class Circle:
    homes: dict[str, Home]
    survey: str  # the thread id of Ana's survey


@pytest.fixture
def circle(tmp_path: Path, monkeypatch) -> Circle:
    """Ana founds the group and admits Ben and Cat (a note-taker); a few
    threads this week, and Ana's two-question survey, synced to everyone."""
    clock = iter(range(100))

    def tick() -> None:
        monkeypatch.setenv("TABLESPACE_NOW", f"2026-03-03T08:{next(clock):02d}:00Z")

    tick()
    shared = tmp_path / "shared"
    shared.mkdir()
    transport = Transport(folder=shared)
    homes = {name: Home(tmp_path / name.lower()) for name in ("Ana", "Ben", "Cat")}
    ana = found_group(homes["Ana"], "Sourdough circle", "Ana", transport)
    sync_group(ana)
    members = {}
    for name in ("Ben", "Cat"):
        members[name], request = join_group(homes[name], create_invite(ana, timedelta(days=1), 1), name, transport)
        admit(ana, request[:8])
    actions.set_role(ana, "Cat", "note-taker")
    tick()
    thread = actions.post(ana, "Rye starter feeding schedule", "1:5:5 at night.")
    tick()
    actions.post(ana, "Why is my crumb gummy?", "Baked at 230 °C for 40 min.")
    tick()
    survey_id = actions.survey(ana, "End of week 2", ["What worked?", "What should change?"])
    sync_group(ana)
    for name in ("Ben", "Cat"):
        sync_group(members[name])
        members[name].mark_welcomed()  # the onboarding walk has its own tests
    tick()
    actions.reply(members["Ben"], thread, "Try 1:2:2 in the morning too.")
    sync_group(members["Ben"])
    sync_group(ana)
    sync_group(members["Cat"])
    for group in (ana, *members.values()):
        group.close()
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-04T09:00:00Z")
    return Circle(homes, survey_id)


def all_files(root: Path) -> dict[Path, bytes]:
    """Every file under `root`, SQLite's -wal and -shm included."""
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def answer_in_app(group: Group, thread: str, answers: list[str]) -> str:
    """Open the survey in the app, press `a`, fill the fields, send; the
    screen's text after it is done."""
    app = TablespaceApp(group, sync=False)
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ThreadScreen(thread))
        await wait_for(pilot, lambda: "a to answer" in screen_text(app))
        text = screen_text(app)
        assert "1. What worked?" in text and "0 answered" in text
        assert app.screen.check_action("read_answers", ()) is group.is_moderator
        await pilot.press("a")
        form = app.screen
        assert isinstance(form, AskForm)
        for n, said in enumerate(answers, 1):
            form.query_one(f"#q{n}", Input).value = said
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        await wait_for(pilot, lambda: "You answered" in screen_text(app))
        return screen_text(app)


async def test_a_member_answers_in_the_app_and_keeps_no_plaintext(circle: Circle) -> None:
    ben_home = circle.homes["Ben"]
    # A reader holds Ben's database open, so the write-ahead log keeps every page the answer wrote.
    (db,) = ben_home.path.glob("groups/*/group.db")
    held = sqlite3.connect(db)
    held.execute("SELECT count(*) FROM ops").fetchone()
    ben = Group.open(ben_home)
    try:
        text = await answer_in_app(ben, circle.survey, [f"{CANARY} the rituals", f"{CANARY} fewer pings"])
        assert "1 answered" in text and "a to change your answers" in text and "A to read" not in text
        assert CANARY not in text
        view = survey(ben.conn, circle.survey, ben.me)
        assert view is not None and view.mine and view.answered == 1
        (sealed,) = sealed_answers(ben.conn, circle.survey)
        assert sealed.member == ben.me and sealed.sealed
    finally:
        ben.close()
        wal = db.with_name("group.db-wal")
        assert wal.exists() and wal.stat().st_size > 0
        held.close()
    leaks = [str(p) for p, data in all_files(ben_home.path).items() if CANARY.encode() in data]
    assert leaks == []


async def test_a_moderator_reads_the_answers_in_a_modal_and_writes_none(circle: Circle) -> None:
    ben = Group.open(circle.homes["Ben"])
    try:
        actions.answer(ben, circle.survey, [f"{CANARY} the rituals", "fewer pings"])
        sync_group(ben)
    finally:
        ben.close()
    ana = Group.open(circle.homes["Ana"])
    try:
        sync_group(ana)
        app = TablespaceApp(ana, sync=False)
        async with app.run_test(size=SIZE) as pilot:
            app.push_screen(ThreadScreen(circle.survey))
            await wait_for(pilot, lambda: "1 answered" in screen_text(app))  # the key is said under the survey
            assert "A to read them" in screen_text(app)
            assert app.screen.check_action("read_answers", ()) is True
            await pilot.press("A")
            await jobs_done(pilot)
            await wait_for(pilot, lambda: isinstance(app.screen, ReadModal))
            body = str(app.screen.query_one("#read-body", Static).render())
            assert "1 member answered" in body and "1. What worked?" in body
            assert f"Ben: {CANARY} the rituals" in body and "Ben: fewer pings" in body
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, ThreadScreen)
    finally:
        ana.close()
    leaks = [str(p) for p, data in all_files(circle.homes["Ana"].path).items() if CANARY.encode() in data]
    assert leaks == []


async def open_recap(pilot, app: TablespaceApp) -> RecapModal:  # noqa: ANN001 - a textual Pilot
    await pilot.press("5")
    await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))
    await pilot.press("r")
    await wait_for(pilot, lambda: isinstance(app.screen, RecapModal))
    assert isinstance(app.screen, RecapModal)
    return app.screen


def recap_threads(group: Group) -> list[thread_queries.ThreadSummary]:
    return [t for t in thread_queries.threads(group.conn) if RECAP_TAG in t.tags]


async def test_a_note_taker_edits_the_recap_posts_it_and_finds_it_again(circle: Circle) -> None:
    cat = Group.open(circle.homes["Cat"])
    try:
        app = TablespaceApp(cat, sync=False)
        async with app.run_test(size=SIZE) as pilot:
            modal = await open_recap(pilot, app)
            bullets = str(modal.query_one("#recap-bullets", Static).render())
            assert "• 3 new threads and 1 reply from 2 members." in bullets
            text = screen_text(app)
            assert "Recap: week of 2026-03-02" in text and "none posted yet" in text and "p post it" in text

            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, ComposeModal))
            await pilot.press("escape")  # not yet: nothing is posted
            await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen))
            assert recap_threads(cat) == []

            await open_recap(pilot, app)
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, ComposeModal))
            composer = app.screen
            body = composer.query_one("#body", TextArea)
            assert "- 3 new threads and 1 reply from 2 members." in body.text  # the recap, to edit
            body.text += "\n- Thanks, everyone: a good first week."
            await pilot.press("ctrl+s")
            await jobs_done(pilot)
            await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen))
            (posted,) = recap_threads(cat)
            assert posted.title == "Recap: week of 2026-03-02" and posted.author == "Cat"
            assert app.screen.thread_id == posted.id
            opening = post_queries.thread(cat.conn, posted.id).posts[0].body
            assert opening.endswith("- Thanks, everyone: a good first week.")  # as edited

            await pilot.press("escape")
            await open_recap(pilot, app)
            await wait_for(pilot, lambda: "Past recaps  ·  1" in screen_text(app))
            await pilot.press("enter")  # the past recap opens
            await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen))
            assert app.screen.thread_id == posted.id
    finally:
        cat.close()


async def test_a_plain_member_reads_the_recap_but_has_no_key_to_post_it(circle: Circle) -> None:
    ben = Group.open(circle.homes["Ben"])
    try:
        app = TablespaceApp(ben, sync=False)
        async with app.run_test(size=SIZE) as pilot:
            modal = await open_recap(pilot, app)
            assert "3 new threads" in str(modal.query_one("#recap-bullets", Static).render())
            assert modal.check_action("post", ()) is False
            assert "post it" not in screen_text(app)
            await pilot.press("p")
            await pilot.pause()
            assert app.screen is modal  # no confirmation, nothing posted
        assert recap_threads(ben) == []
    finally:
        ben.close()
