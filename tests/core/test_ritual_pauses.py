"""Pausing, resuming, skipping and removing a ritual, and quiet spells: what
opens is decided in the fold from the ops' own times, so every replica
agrees whatever its clock says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tablespace.core.calendar_queries import rituals
from tablespace.core.clock import datetime_to_hlc
from tablespace.core.group_queries import quiet_now

from .opkit import World, new_store

DAILY = {"name": "Check-in", "prompt": "How is it going?", "rrule": "FREQ=DAILY", "start": "2026-03-01"}


def day(n: int) -> str:
    return f"2026-03-{n:02d}T09:00:00Z"


@pytest.fixture
def world(tmp_path):
    w = World(tmp_path / "group.db", members=1)
    w.hlc = datetime_to_hlc(datetime(2026, 3, 1, tzinfo=UTC))
    return w


def at_time(world: World, moment: str) -> None:
    """Later ops are dated `moment` (and on)."""
    world.hlc = max(world.hlc, datetime_to_hlc(datetime.fromisoformat(moment.replace("Z", "+00:00"))))


def occur(world: World, ritual: str, n: int) -> str:
    at_time(world, day(n))
    op = world.do(world.members[0], "ritual.occur", {"ritual": ritual, "at": day(n)})
    state, reason = world.state(op)
    return "opened" if state == "accepted" else str(reason)


def test_a_quiet_spell_crossing_a_ritual_closes_only_the_days_inside_it(world, tmp_path):
    ada = world.founder
    ritual = world.accepted(ada, "ritual.add", DAILY).id
    spell = {"from": "2026-03-03T00:00:00Z", "until": "2026-03-05T00:00:00Z", "reason": "holidays"}
    world.accepted(ada, "quiet.start", spell)
    assert [occur(world, ritual, n) for n in (2, 3, 4, 5)] == [
        "opened",
        "the group is in a quiet spell",
        "the group is in a quiet spell",
        "opened",
    ]
    # Another replica folding the same log in another order agrees.
    other = new_store(tmp_path / "other.db", world.group_id)
    other.ingest(reversed(world.log))
    assert other.canonical_dump() == world.store.canonical_dump()


def test_the_listing_skips_a_quiet_spell_and_the_header_finds_it(world):
    ada = world.founder
    world.accepted(ada, "ritual.add", DAILY)
    world.accepted(ada, "quiet.start", {"from": "2026-03-03T00:00:00Z", "until": "2026-03-10T00:00:00Z"})
    inside = datetime(2026, 3, 4, 12, tzinfo=UTC)
    assert rituals(world.store.conn, inside)[0].next == datetime(2026, 3, 10, 9, tzinfo=UTC)
    spell = quiet_now(world.store.conn, inside)
    assert spell is not None and spell.ends == datetime(2026, 3, 10, tzinfo=UTC)
    assert quiet_now(world.store.conn, datetime(2026, 3, 10, tzinfo=UTC)) is None


def test_ending_a_quiet_spell_opens_the_days_after_the_end(world):
    ada = world.founder
    ritual = world.accepted(ada, "ritual.add", DAILY).id
    world.accepted(ada, "quiet.start", {"from": "2026-03-03T00:00:00Z", "until": "2026-03-10T00:00:00Z"})
    world.accepted(ada, "quiet.start", {"from": "2026-04-01T00:00:00Z", "until": "2026-04-03T00:00:00Z"})
    at_time(world, "2026-03-05T12:00:00Z")
    world.accepted(ada, "quiet.end", {})
    assert world.store.conn.execute("SELECT starts, ends FROM quiet_spells").fetchall() == [
        ("2026-03-03T00:00:00Z", "2026-03-05T12:00:00Z")  # the later one is called off
    ]
    assert occur(world, ritual, 4) == "the group is in a quiet spell"
    assert occur(world, ritual, 6) == "opened"
    assert world.rejected(ada, "quiet.end", {}) == "there is no quiet spell to end"


def test_members_may_not_set_or_end_a_quiet_spell_and_bad_ones_are_refused(world):
    ada, (bo,) = world.founder, world.members
    spell = {"from": "2026-03-03T00:00:00Z", "until": "2026-03-05T00:00:00Z"}
    assert world.rejected(bo, "quiet.start", spell) == "only a moderator can set a quiet spell"
    backwards = {"from": spell["until"], "until": spell["from"]}
    assert world.rejected(ada, "quiet.start", backwards) == "a quiet spell ends after it starts"
    assert world.rejected(ada, "quiet.start", {**spell, "until": "2027-06-01T00:00:00Z"}) == (
        "a quiet spell lasts at most a year"
    )


def test_pause_until_a_day_then_it_opens_again_by_itself(world):
    ada = world.founder
    ritual = world.accepted(ada, "ritual.add", DAILY).id
    world.accepted(ada, "ritual.pause", {"ritual": ritual, "paused": True, "until": "2026-03-04T00:00:00Z"})
    assert [occur(world, ritual, n) for n in (2, 3, 4)] == ["the ritual is paused", "the ritual is paused", "opened"]
    view = rituals(world.store.conn, datetime(2026, 3, 2, tzinfo=UTC))[0]
    assert view.to_json()["paused"] is True and view.to_json()["paused_until"] == "2026-03-04T00:00:00Z"
    assert view.next == datetime(2026, 3, 4, 9, tzinfo=UTC)
    assert rituals(world.store.conn, datetime(2026, 3, 5, tzinfo=UTC))[0].paused is False


def test_pause_resume_and_remove(world):
    ada, (bo,) = world.founder, world.members
    ritual = world.accepted(ada, "ritual.add", DAILY).id
    assert world.rejected(bo, "ritual.remove", {"ritual": ritual}) == "only a moderator can remove rituals"
    world.accepted(ada, "ritual.pause", {"ritual": ritual, "paused": True})
    assert occur(world, ritual, 2) == "the ritual is paused"
    assert rituals(world.store.conn, datetime(2026, 3, 2, tzinfo=UTC))[0].next is None
    world.accepted(ada, "ritual.pause", {"ritual": ritual, "paused": False})
    assert occur(world, ritual, 3) == "opened"
    world.accepted(ada, "ritual.remove", {"ritual": ritual})
    assert occur(world, ritual, 4) == "no such ritual"
    assert world.one("SELECT count(*) FROM threads WHERE ritual_id = ?", ritual) == (1,)  # the earlier thread stays
    assert world.rejected(ada, "ritual.edit", {"ritual": ritual, "name": "Back"}) == "no such ritual"


def test_skipping_one_occurrence(world):
    ada = world.founder
    ritual = world.accepted(ada, "ritual.add", DAILY).id
    assert world.rejected(ada, "ritual.skip", {"ritual": ritual, "at": "2026-03-03T10:00:00Z", "skipped": True}) == (
        "not an occurrence of the ritual's schedule"
    )
    world.accepted(ada, "ritual.skip", {"ritual": ritual, "at": day(3), "skipped": True})
    world.accepted(ada, "ritual.skip", {"ritual": ritual, "at": day(4), "skipped": True})
    world.accepted(ada, "ritual.skip", {"ritual": ritual, "at": day(4), "skipped": False})
    assert [occur(world, ritual, n) for n in (2, 3, 4)] == ["opened", "this occurrence is skipped", "opened"]
