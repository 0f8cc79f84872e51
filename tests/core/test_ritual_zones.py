"""Rituals keep their local time of day across daylight-saving changes:
RFC 5545 section 3.8.5.3's examples (America/New_York), times included, a
ritual in Europe/Berlin and in New York over both of 2026's changes, a
local time that does not exist and one that happens twice."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from tablespace.core.clock import datetime_to_hlc
from tablespace.core.errors import Rejected
from tablespace.core.fold import derived_id
from tablespace.core.rituals import (
    check_zone,
    expand,
    in_zone,
    occurrences_between,
    parse_local_start,
    start_text,
    zone,
)

from .opkit import World

EDT, EST = timezone(timedelta(hours=-4)), timezone(timedelta(hours=-5))
CEST, CET = timezone(timedelta(hours=2)), timezone(timedelta(hours=1))
NY = "America/New_York"
BERLIN = "Europe/Berlin"


def at9(offset: timezone, year: int, month: int, *days: int, hour: int = 9, minute: int = 0) -> list[datetime]:
    return [datetime(year, month, day, hour, minute, tzinfo=offset).astimezone(UTC) for day in days]


def rfc(rule: str, start: datetime, until: datetime = datetime(2001, 1, 1, tzinfo=UTC)) -> list[datetime]:
    """The rule expanded from a DTSTART;TZID=America/New_York (RFC 5545's examples
    are from 1997, before the range a ritual may start in: expand takes the start as given)."""
    return expand(rule, start.replace(tzinfo=zone(NY)), datetime(1990, 1, 1, tzinfo=UTC), until)


SEP2 = datetime(1997, 9, 2, 9, 0)

# (rule, DTSTART on New York's clock, the RFC's list, and how far to look when the rule runs forever)
RFC_EXAMPLES = [
    pytest.param("FREQ=DAILY;COUNT=10", SEP2, at9(EDT, 1997, 9, *range(2, 12)), None, id="daily-count"),
    pytest.param(
        "FREQ=DAILY;UNTIL=19971224T000000Z",
        SEP2,
        at9(EDT, 1997, 9, *range(2, 31))
        + at9(EDT, 1997, 10, *range(1, 26))
        + at9(EST, 1997, 10, *range(26, 32))
        + at9(EST, 1997, 11, *range(1, 31))
        + at9(EST, 1997, 12, *range(1, 24)),
        None,
        id="daily-until",
    ),
    pytest.param(
        "FREQ=DAILY;INTERVAL=2",
        SEP2,
        at9(EDT, 1997, 9, *range(2, 31, 2))
        + at9(EDT, 1997, 10, *range(2, 25, 2))
        + at9(EST, 1997, 10, 26, 28, 30)
        + at9(EST, 1997, 11, *range(1, 30, 2))
        + at9(EST, 1997, 12, 1, 3),
        datetime(1997, 12, 4, tzinfo=UTC),
        id="every-other-day",
    ),
    pytest.param(
        "FREQ=DAILY;INTERVAL=10;COUNT=5",
        SEP2,
        at9(EDT, 1997, 9, 2, 12, 22) + at9(EDT, 1997, 10, 2, 12),
        None,
        id="every-10-days",
    ),
    pytest.param(
        "FREQ=YEARLY;UNTIL=20000131T140000Z;BYMONTH=1;BYDAY=SU,MO,TU,WE,TH,FR,SA",
        datetime(1998, 1, 1, 9, 0),
        [d for year in (1998, 1999, 2000) for d in at9(EST, year, 1, *range(1, 32))],
        None,
        id="every-day-in-january",
    ),
    pytest.param(
        "FREQ=WEEKLY;COUNT=10",
        SEP2,
        at9(EDT, 1997, 9, 2, 9, 16, 23, 30)
        + at9(EDT, 1997, 10, 7, 14, 21)
        + at9(EST, 1997, 10, 28)
        + at9(EST, 1997, 11, 4),
        None,
        id="weekly-count",
    ),
    pytest.param(
        "FREQ=WEEKLY;INTERVAL=2;UNTIL=19971224T000000Z;WKST=SU;BYDAY=MO,WE,FR",
        datetime(1997, 9, 1, 9, 0),
        at9(EDT, 1997, 9, 1, 3, 5, 15, 17, 19, 29)
        + at9(EDT, 1997, 10, 1, 3, 13, 15, 17)
        + at9(EST, 1997, 10, 27, 29, 31)
        + at9(EST, 1997, 11, 10, 12, 14, 24, 26, 28)
        + at9(EST, 1997, 12, 8, 10, 12, 22),
        None,
        id="every-other-week-mo-we-fr",
    ),
    pytest.param(
        "FREQ=MONTHLY;COUNT=10;BYDAY=1FR",
        datetime(1997, 9, 5, 9, 0),
        at9(EDT, 1997, 9, 5)
        + at9(EDT, 1997, 10, 3)
        + at9(EST, 1997, 11, 7)
        + at9(EST, 1997, 12, 5)
        + at9(EST, 1998, 1, 2)
        + at9(EST, 1998, 2, 6)
        + at9(EST, 1998, 3, 6)
        + at9(EST, 1998, 4, 3)
        + at9(EDT, 1998, 5, 1)
        + at9(EDT, 1998, 6, 5),
        None,
        id="first-friday",
    ),
    pytest.param(
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=TU",
        SEP2,
        at9(EDT, 1997, 9, 2, 9, 16, 23, 30)
        + at9(EST, 1997, 11, 4, 11, 18, 25)
        + at9(EST, 1998, 1, 6, 13, 20, 27)
        + at9(EST, 1998, 3, 3, 10, 17, 24, 31),
        datetime(1998, 4, 1, tzinfo=UTC),
        id="tuesdays-every-other-month",
    ),
    pytest.param(
        "FREQ=YEARLY;BYDAY=20MO",
        datetime(1997, 5, 19, 9, 0),
        at9(EDT, 1997, 5, 19) + at9(EDT, 1998, 5, 18) + at9(EDT, 1999, 5, 17),
        datetime(1999, 12, 31, tzinfo=UTC),
        id="20th-monday",
    ),
    pytest.param(
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15",
        SEP2,
        at9(EDT, 1997, 9, 2, 15)
        + at9(EDT, 1997, 10, 2, 15)
        + at9(EST, 1997, 11, 2, 15)
        + at9(EST, 1997, 12, 2, 15)
        + at9(EST, 1998, 1, 2, 15),
        None,
        id="2nd-and-15th",
    ),
    pytest.param(
        "FREQ=YEARLY;COUNT=10;BYMONTH=6,7",
        datetime(1997, 6, 10, 9, 0),
        [d for year in range(1997, 2002) for month in (6, 7) for d in at9(EDT, year, month, 10)],
        datetime(2002, 1, 1, tzinfo=UTC),
        id="june-and-july",
    ),
    pytest.param(
        "FREQ=MONTHLY;BYDAY=TU,WE,TH;BYSETPOS=3;COUNT=3",
        datetime(1997, 9, 4, 9, 0),
        at9(EDT, 1997, 9, 4) + at9(EDT, 1997, 10, 7) + at9(EST, 1997, 11, 6),
        None,
        id="third-tu-we-th",
    ),
    pytest.param(
        "FREQ=DAILY;BYHOUR=9,10,11,12,13,14,15,16;BYMINUTE=0,20,40",
        SEP2,
        [
            datetime(1997, 9, day, hour, minute, tzinfo=EDT).astimezone(UTC)
            for day in (2, 3)
            for hour in range(9, 17)
            for minute in (0, 20, 40)
        ],
        datetime(1997, 9, 4, tzinfo=UTC),
        id="every-20-minutes-9-to-5",
    ),
]


@pytest.mark.parametrize(("rule", "start", "expected", "until"), RFC_EXAMPLES)
def test_rfc_5545_examples_keep_their_local_time(rule, start, expected, until):
    assert rfc(rule, start, until or datetime(2001, 1, 1, tzinfo=UTC)) == expected


def stored(start: str, tz: str) -> str:
    return start_text(parse_local_start(start, tz))


@pytest.mark.parametrize(
    ("tz", "before", "after", "spring", "autumn"),
    [
        (NY, EST, EDT, (3, 8), (11, 1)),
        (BERLIN, CET, CEST, (3, 29), (10, 25)),
    ],
)
def test_a_daily_09_00_stays_at_09_00_across_both_changes(tz, before, after, spring, autumn):
    start = stored("2026-03-01", tz)  # a day: 09:00 on the ritual's clock
    march = occurrences_between(
        "FREQ=DAILY", start, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), tz
    )
    change = spring[1]
    assert march == at9(before, 2026, 3, *range(1, change)) + at9(after, 2026, 3, *range(change, 32))
    change_day = datetime(2026, *autumn, tzinfo=UTC)
    autumn_days = occurrences_between(
        "FREQ=DAILY", start, change_day - timedelta(days=2), change_day + timedelta(days=3), tz
    )
    expected = [
        datetime.combine((change_day + timedelta(days=n)).date(), time(9), tzinfo=after if n < 0 else before)
        for n in range(-2, 3)
    ]
    assert autumn_days == [moment.astimezone(UTC) for moment in expected]
    assert {moment.astimezone(zone(tz)).hour for moment in march + autumn_days} == {9}


@pytest.mark.parametrize(
    ("tz", "gap_day", "opens_at"),
    [
        (NY, "2026-03-08", datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),  # 02:30 EST would be; it is 03:30 EDT
        (BERLIN, "2026-03-29", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # 02:30 CET would be; 03:30 CEST
    ],
)
def test_a_local_time_that_does_not_exist_opens_an_hour_later(tz, gap_day, opens_at):
    """02:30 on the day clocks go forward: read with the offset before the gap
    (RFC 5545 section 3.3.5), so it opens at 03:30 on the new clock; the day
    after, 02:30 again."""
    start = stored(f"{gap_day}T02:30", tz)
    assert start == f"{gap_day}T02:30:00"  # the local time is what is kept, not the instant
    found = occurrences_between("FREQ=DAILY", start, opens_at - timedelta(days=1), opens_at + timedelta(days=1), tz)
    assert found[0] == opens_at
    assert found[0].astimezone(zone(tz)).strftime("%H:%M") == "03:30"
    assert found[1].astimezone(zone(tz)).strftime("%H:%M") == "02:30"


@pytest.mark.parametrize(
    ("tz", "day", "first"),
    [
        (NY, "2026-11-01", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),  # 01:30 EDT, not 01:30 EST
        (BERLIN, "2026-10-25", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # 02:30 CEST, not 02:30 CET
    ],
)
def test_a_local_time_that_happens_twice_opens_once_at_the_first(tz, day, first):
    hour = "01:30" if tz == NY else "02:30"
    start = stored(f"{day}T{hour}", tz)
    found = occurrences_between("FREQ=DAILY", start, first - timedelta(hours=3), first + timedelta(hours=3), tz)
    assert found == [first]


def test_two_local_times_on_one_instant_open_once_in_order():
    """01:30, 02:30 and 03:30 on the day New York skips 02:00-03:00: 02:30 and
    03:30 are the same instant, and it opens once."""
    start = stored("2026-03-08T00:00", NY)
    found = occurrences_between(
        "FREQ=DAILY;BYHOUR=1,2,3;BYMINUTE=30",
        start,
        datetime(2026, 3, 8, 5, tzinfo=UTC),
        datetime(2026, 3, 8, 9, tzinfo=UTC),
        NY,
    )
    assert found == [datetime(2026, 3, 8, 6, 30, tzinfo=UTC), datetime(2026, 3, 8, 7, 30, tzinfo=UTC)]


def test_a_utc_ritual_is_stored_and_expanded_as_before():
    assert stored("2026-03-01", "UTC") == "2026-03-01T09:00:00Z"
    found = occurrences_between(
        "FREQ=WEEKLY", "2026-03-01T09:00:00Z", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    )
    assert {m.hour for m in found} == {9} and len(found) == 5


def test_moving_to_another_zone_keeps_the_time_of_day():
    assert in_zone("2026-03-01T09:00:00Z", "UTC", BERLIN) == "2026-03-01T09:00:00"
    assert in_zone("2026-03-01T09:00:00", BERLIN, "UTC") == "2026-03-01T09:00:00Z"


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe/Berlin\n", "x" * 300, ""]
)
def test_a_zone_that_is_not_iana_is_refused_in_one_line(name):
    with pytest.raises(Rejected) as raised:
        check_zone(name)
    text = raised.value.refusal.text
    assert "unknown time zone" in text and "\n" not in text and len(text) < 200


# --- in the fold ---------------------------------------------------------------------


def at_hlc(moment: datetime) -> int:
    return datetime_to_hlc(moment)


@pytest.fixture
def world(tmp_path):
    return World(tmp_path / "group.db", members=1)


def weekly(**extra: str) -> dict[str, str]:
    return {"name": "Standup", "prompt": "What now?", "rrule": "FREQ=DAILY", "start": "2026-03-01", **extra}


def test_the_fold_opens_a_zoned_occurrence_at_its_local_time_only(world):
    ada, (bo,) = world.founder, world.members
    ritual = world.accepted(ada, "ritual.add", weekly(tz=BERLIN)).id
    assert world.one("SELECT start, tz FROM rituals") == ("2026-03-01T09:00:00", BERLIN)
    world.hlc = at_hlc(datetime(2026, 4, 1, 12, tzinfo=UTC))
    summer = "2026-03-30T07:00:00Z"  # 09:00 CEST
    assert world.rejected(bo, "ritual.occur", {"ritual": ritual, "at": "2026-03-30T08:00:00Z"}) == (
        "not an occurrence of the ritual's schedule"
    )
    world.accepted(bo, "ritual.occur", {"ritual": ritual, "at": summer})
    thread = derived_id("ritual.occur", ritual, summer)  # the same id as ever: (ritual, instant)
    assert world.one("SELECT title FROM threads WHERE id = ?", thread) == ("Standup · Mon 30 Mar 2026",)


def test_without_tz_a_ritual_takes_the_groups_zone_of_that_moment(world):
    ada = world.founder
    world.accepted(ada, "ritual.add", weekly(name="Before"))
    world.accepted(ada, "group.edit", {"tz": NY})
    world.accepted(ada, "ritual.add", weekly(name="After"))
    assert world.store.conn.execute("SELECT name, tz, start FROM rituals ORDER BY name").fetchall() == [
        ("After", NY, "2026-03-01T09:00:00"),
        ("Before", "UTC", "2026-03-01T09:00:00Z"),
    ]
    assert "unknown time zone" in world.rejected(ada, "group.edit", {"tz": "Mars/Base"})
    assert "unknown time zone" in world.rejected(ada, "ritual.add", weekly(tz="Nowhere"))


def test_editing_the_zone_keeps_the_local_time(world):
    ada = world.founder
    ritual = world.accepted(ada, "ritual.add", weekly()).id
    world.accepted(ada, "ritual.edit", {"ritual": ritual, "tz": BERLIN})
    assert world.one("SELECT start, tz FROM rituals") == ("2026-03-01T09:00:00", BERLIN)
