"""Polls and surveys in the fold: one vote per member (a later one replaces
it), closing judged by the op's own time, and the checks every replica runs
on a poll or a survey answer from another member."""

from __future__ import annotations

import base64
from datetime import timedelta

from tablespace.core.clock import datetime_to_hlc, hlc_to_datetime, iso
from tablespace.core.store import Store

from .opkit import World, new_store

OPTIONS = ["Saturday", "Sunday", "Monday"]


def poll(world: World, **extra: object) -> str:
    payload = {"title": "Bake day?", "body": "", "options": OPTIONS, "multi": False, **extra}
    return world.accepted(world.members[0], "poll.open", payload).id


def votes(world: World, poll_id: str) -> list[tuple[str, int]]:
    return world.store.conn.execute(
        "SELECT member, idx FROM poll_votes WHERE thread_id = ? ORDER BY member, idx", (poll_id,)
    ).fetchall()


def test_a_second_vote_replaces_the_first(tmp_path) -> None:
    world = World(tmp_path / "g.db")
    bo, cy = world.members
    p = poll(world)
    world.accepted(bo, "poll.vote", {"poll": p, "options": [0]})
    world.accepted(cy, "poll.vote", {"poll": p, "options": [2]})
    world.accepted(bo, "poll.vote", {"poll": p, "options": [1]})
    assert votes(world, p) == sorted([(bo.id, 1), (cy.id, 2)])


def test_one_choice_unless_the_poll_takes_several(tmp_path) -> None:
    world = World(tmp_path / "g.db")
    bo, _ = world.members
    single, multi = poll(world), poll(world, multi=True)
    assert "one choice" in world.rejected(bo, "poll.vote", {"poll": single, "options": [0, 1]})
    world.accepted(bo, "poll.vote", {"poll": multi, "options": [2, 0]})
    assert votes(world, multi) == [(bo.id, 0), (bo.id, 2)]


def test_malformed_polls_and_votes_are_refused_by_the_fold(tmp_path) -> None:
    world = World(tmp_path / "g.db")
    bo, _ = world.members
    base = {"title": "T", "body": "", "multi": False}
    for options in (["only one"], [f"o{i}" for i in range(11)], ["Same", "same"], ["ok", 7], "ab", ["a", "b\x1b[2J"]):
        world.rejected(bo, "poll.open", {**base, "options": options})
    world.rejected(bo, "poll.open", {**base, "options": OPTIONS, "multi": "yes"})
    p = poll(world)
    for choices in ([], [3], [-1], [0, 0], [True], ["1"], "0", None):
        world.rejected(bo, "poll.vote", {"poll": p, "options": choices})
    world.rejected(bo, "poll.vote", {"poll": "f" * 32, "options": [0]})
    assert votes(world, p) == []


def test_a_closed_poll_refuses_a_vote_by_its_own_time_on_every_replica(tmp_path) -> None:
    world = World(tmp_path / "g.db")
    bo, cy = world.members
    opened = hlc_to_datetime(world.hlc)
    closes = opened + timedelta(hours=1)
    p = poll(world, closes=iso(closes))
    on_time = world.sign(bo, "poll.vote", {"poll": p, "options": [0]}, hlc=datetime_to_hlc(closes) - 1)
    # Signed after the close, but it arrives first and sorts after the one on time.
    late = world.sign(cy, "poll.vote", {"poll": p, "options": [1]}, hlc=datetime_to_hlc(closes))
    world.ingest(late, on_time)
    assert world.state(on_time) == ("accepted", None)
    state, reason = world.state(late)
    assert state == "rejected" and "closed" in (reason or "")
    assert votes(world, p) == [(bo.id, 0)]

    other = new_store(tmp_path / "other" / "g.db", world.group_id)  # another replica, the log in another order
    other.ingest(list(reversed(world.log)))
    other.ingest(world.log)
    assert other.canonical_dump() == world.store.canonical_dump()
    world.store.rebuild()
    assert other.canonical_dump() == world.store.canonical_dump()


def test_a_closing_time_in_the_past_or_far_ahead_is_refused(tmp_path) -> None:
    world = World(tmp_path / "g.db")
    bo, _ = world.members
    base = {"title": "T", "body": "", "options": OPTIONS, "multi": False}
    opened = hlc_to_datetime(world.hlc)
    assert "passed" in world.rejected(bo, "poll.open", {**base, "closes": iso(opened - timedelta(days=1))})
    assert "year" in world.rejected(bo, "poll.open", {**base, "closes": iso(opened + timedelta(days=400))})


def test_deleting_a_poll_leaves_no_option_text_or_votes(tmp_path) -> None:
    world = World(tmp_path / "g.db")
    bo, cy = world.members
    p = poll(world)
    world.accepted(cy, "poll.vote", {"poll": p, "options": [1]})
    world.accepted(bo, "post.delete", {"post": p})
    for table in ("polls", "poll_options", "poll_votes"):
        assert world.one(f"SELECT count(*) FROM {table}") == (0,)
    world.rejected(cy, "poll.vote", {"poll": p, "options": [0]})


def sealed_payload(world: World, survey: str, key_id: str = "ab" * 8) -> dict[str, str]:
    header = b"TSM1" + bytes.fromhex(world.group_id) + bytes.fromhex(key_id)
    return {"survey": survey, "key": key_id, "sealed": base64.b64encode(header + b"x" * 64).decode()}


def test_only_moderators_open_a_survey_and_answers_need_a_moderators_key(tmp_path) -> None:
    world = World(tmp_path / "g.db")
    bo, _ = world.members
    payload = {"title": "Week 2", "questions": ["What worked?", "What to change?"]}
    assert "moderator" in world.rejected(bo, "survey.open", payload)
    six = {"title": "Too many", "questions": [f"q{i}" for i in range(6)]}
    world.rejected(world.founder, "survey.open", six)
    survey = world.accepted(world.founder, "survey.open", payload).id
    body = world.one("SELECT body FROM posts WHERE id = ?", survey)[0]
    assert "1. What worked?" in body and "2. What to change?" in body
    # No moderators' key announced: nothing can be sealed to it.
    assert "nobody announced" in world.rejected(bo, "survey.answer", sealed_payload(world, survey))
    world.rejected(bo, "survey.answer", {"survey": survey, "key": "ab" * 8, "sealed": "not base64!"})
    assert world.one("SELECT count(*) FROM survey_answers") == (0,)


def test_rebuild_gives_the_same_polls(tmp_path) -> None:
    world = World(tmp_path / "g.db")
    bo, cy = world.members
    p = poll(world, multi=True)
    world.accepted(bo, "poll.vote", {"poll": p, "options": [0, 1]})
    world.accepted(cy, "poll.vote", {"poll": p, "options": [2]})
    world.accepted(bo, "poll.vote", {"poll": p, "options": [2]})
    before = world.store.canonical_dump()
    world.store.rebuild()
    assert world.store.canonical_dump() == before
    assert isinstance(world.store, Store)
