"""Ritual schedules are bounded: a schedule that never fires, or fires more
than 24 times a day, is refused (by the fold, from the op's own time), and no
accepted schedule makes the search for its occurrences walk far."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dateutil.rrule import _iterinfo, rrulestr

from tablespace.core import rituals
from tablespace.core.clock import datetime_to_hlc
from tablespace.core.errors import Rejected
from tablespace.core.rituals import (
    check_schedule,
    is_occurrence,
    next_occurrence,
    occurrences_between,
    parse_start,
)

from .opkit import World

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
EVERY_HOUR = "FREQ=DAILY;BYHOUR=" + ",".join(str(h) for h in range(24))
NEVER = [
    "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31",
    "FREQ=MONTHLY;BYYEARDAY=367",
    "FREQ=WEEKLY;BYDAY=MO;BYMONTHDAY=1;BYMONTH=2;BYYEARDAY=100",
    "FREQ=DAILY;UNTIL=20250101T000000Z",
]
# Monday 29 February: 2044 is the next one after 2026.
RARE = "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO"


@pytest.fixture
def world(tmp_path):
    return World(tmp_path / "group.db", members=1)


def ritual(rrule: str, start: str = "2026-01-02") -> dict[str, str]:
    return {"name": "Check-in", "prompt": "How is it going?", "rrule": rrule, "start": start}


@pytest.mark.parametrize("rule", NEVER)
def test_a_schedule_that_never_fires_is_refused(world, rule):
    reason = world.rejected(world.founder, "ritual.add", ritual(rule), hlc=datetime_to_hlc(NOW))
    assert reason == f"RRULE {rule!r} has no occurrence in the next 5 years"


def test_more_than_24_a_day_is_refused_and_24_is_not(world):
    minutes = EVERY_HOUR + ";BYMINUTE=0,30"
    reason = world.rejected(world.founder, "ritual.add", ritual(minutes), hlc=datetime_to_hlc(NOW))
    assert reason == f"RRULE {minutes!r} fires up to 48 times a day; the limit is 24"
    world.accepted(world.founder, "ritual.add", ritual(EVERY_HOUR), hlc=datetime_to_hlc(NOW) + 1)
    world.accepted(world.founder, "ritual.add", ritual(minutes + ";BYSETPOS=1,-1"), hlc=datetime_to_hlc(NOW) + 2)


def test_an_edit_to_a_never_firing_schedule_is_refused(world):
    added = world.accepted(world.founder, "ritual.add", ritual("FREQ=WEEKLY"), hlc=datetime_to_hlc(NOW))
    reason = world.rejected(
        world.founder, "ritual.edit", {"ritual": added.id, "rrule": NEVER[0]}, hlc=datetime_to_hlc(NOW) + 1
    )
    assert "no occurrence in the next 5 years" in reason


def test_the_fold_measures_five_years_from_the_op_not_the_wall_clock(world, monkeypatch):
    later = datetime(2040, 1, 1, tzinfo=UTC)
    monkeypatch.setenv("TABLESPACE_NOW", "2040-01-01T00:00:00Z")  # from here 2044 is within 5 years
    reason = world.rejected(world.founder, "ritual.add", ritual(RARE), hlc=datetime_to_hlc(NOW))
    assert "no occurrence in the next 5 years" in reason
    world.accepted(world.founder, "ritual.add", ritual(RARE), hlc=datetime_to_hlc(later))
    world.store.rebuild()  # and again, whatever the clock says by then
    monkeypatch.setenv("TABLESPACE_NOW", "2026-05-01T00:00:00Z")
    world.store.rebuild()
    assert [name for (name,) in world.store.conn.execute("SELECT name FROM rituals")] == ["Check-in"]


def count_walked(monkeypatch) -> list[int]:
    """Counts the months (calendar rebuilds) dateutil walks through."""
    walked = [0]
    real = _iterinfo.rebuild

    def rebuild(self, year, month):
        walked[0] += 1
        return real(self, year, month)

    monkeypatch.setattr(_iterinfo, "rebuild", rebuild)
    return walked


@pytest.mark.parametrize("rule", [NEVER[0], RARE, "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", EVERY_HOUR])
def test_no_schedule_makes_the_search_walk_far(monkeypatch, rule):
    walked = count_walked(monkeypatch)
    with pytest.raises(Rejected):  # dateutil alone walks to year 9999 to say so
        check_schedule(NEVER[0], parse_start("2026-01-01"), NOW)
    assert walked[0] <= 200
    walked[0] = 0
    next_occurrence(rule, "2000-01-01", NOW)  # a start long ago is not walked from either
    occurrences_between(rule, "2000-01-01", NOW - timedelta(days=3), NOW)
    is_occurrence(rule, "2000-01-01", NOW)
    assert walked[0] <= 3 * 200


RULES = [
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=WEEKLY;BYDAY=MO,FR",
    "FREQ=WEEKLY;INTERVAL=2",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYSETPOS=-1",
    "FREQ=MONTHLY",
    "FREQ=MONTHLY;INTERVAL=5",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=2",
    "FREQ=YEARLY",
    "FREQ=YEARLY;INTERVAL=3",
    "FREQ=YEARLY;BYWEEKNO=53;BYDAY=TH",
    "FREQ=YEARLY;BYYEARDAY=-1",
    "FREQ=DAILY;COUNT=500",
    "FREQ=DAILY;BYHOUR=8,20;BYSETPOS=2",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=DAILY;UNTIL=20270101T000000Z",
    RARE,
]
STARTS = ["2000-01-31", "2001-02-28T17:45:00Z", "2004-02-29", "2019-12-30T23:00:00Z", "2026-04-30"]


@pytest.mark.slow
@pytest.mark.parametrize("rule", RULES)
def test_the_bounded_search_finds_what_dateutil_finds(rule):
    """The search starts near the window, not at the ritual's start: the
    occurrences must be exactly those of the rule walked from its start."""
    for start in STARTS:
        full = rrulestr(rule, dtstart=parse_start(start))
        for since in (NOW, NOW - timedelta(days=400), datetime(2028, 2, 27, tzinfo=UTC)):
            until = since + timedelta(days=70)
            expected = list(full.between(since, until, inc=True))
            assert occurrences_between(rule, start, since, until) == expected, (rule, start, since)
            following = full.after(since, inc=True)
            if following is not None and following - since > rituals.HORIZON:
                following = None
            assert next_occurrence(rule, start, since) == following, (rule, start, since)
            for moment in expected[:3]:
                assert is_occurrence(rule, start, moment)
                assert not is_occurrence(rule, start, moment + timedelta(minutes=1))
