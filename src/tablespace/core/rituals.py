"""Ritual schedules: RFC 5545 RRULEs anchored on their start, via dateutil.

A schedule is expanded on the clock of its time zone (an IANA name, or UTC)
and each occurrence is converted to UTC on its own, so a 09:00 ritual stays
at 09:00 local time across daylight-saving changes (RFC 5545 section 3.3.5,
a DTSTART with a TZID). A local time that does not exist (the hour skipped
when clocks go forward) is read with the offset before the gap, so 02:30 on
that day opens at 03:30; a local time that happens twice (clocks going back)
is the first of the two. Two local times that land on the same instant open
once.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from functools import lru_cache
from itertools import takewhile
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tablespace.core import limits
from tablespace.core.clock import SUPPORTED_RANGE, in_range, iso
from tablespace.core.errors import Rejected

if TYPE_CHECKING:  # dateutil (~25 ms) is imported on first use: not needed to open a group
    from dateutil.rrule import rrule

ALLOWED_FREQUENCIES = {0, 1, 2, 3}  # dateutil.rrule's YEARLY, MONTHLY, WEEKLY, DAILY
# A ritual with no time given starts at this hour on its zone's clock.
DEFAULT_HOUR = 9
DEFAULT_HOUR_UTC = DEFAULT_HOUR
UTC_NAME = "UTC"
ZONE_NAME_MAX = 64
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    """The IANA names in the tzdata package: every replica reads the same
    table, whatever its system has (or lacks) in /usr/share/zoneinfo."""
    from importlib.resources import files

    return frozenset((files("tzdata") / "zones").read_text(encoding="utf-8").split())


def zone_field(payload: dict[str, Any]) -> str:
    """The IANA zone an op's payload names in "tz", checked as check_zone does."""
    return check_zone(limits.one_line(payload, "tz", label="time zone", max_chars=ZONE_NAME_MAX * 2))


def check_zone(name: str) -> str:
    """`name` if it is an IANA time zone (or UTC), else one clear refusal."""
    if name == UTC_NAME:
        return name
    if len(name) > ZONE_NAME_MAX or not _ZONE_NAME.fullmatch(name) or name not in _known_zones():
        shown = name if len(name) <= ZONE_NAME_MAX else name[:ZONE_NAME_MAX] + "…"
        raise Rejected.invalid(f"unknown time zone {shown!r}: give an IANA name such as Europe/Berlin or UTC")
    return name


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The time zone called `name`, read from the tzdata package (so replicas
    agree) after the same check the fold makes."""
    if check_zone(name) == UTC_NAME:
        return UTC
    from importlib.resources import files

    with (files("tzdata") / "zoneinfo" / name).open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


def parse_local_start(text: str, zone_name: str = UTC_NAME) -> datetime:
    """A start on the clock of `zone_name`: a day (taken at DEFAULT_HOUR
    there), a local date and time, or an instant with an offset (read on
    that clock). The result carries the zone, so a schedule built on it
    repeats the local time of day."""
    where = zone(zone_name)
    if where is UTC:
        return parse_start(text)
    text = text.strip()
    try:
        if len(text) == 10:
            value = datetime.combine(date.fromisoformat(text), time(DEFAULT_HOUR))
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected.invalid(f"start {text!r} is not a date (use YYYY-MM-DD)") from None
    try:
        value = value.replace(tzinfo=where) if value.tzinfo is None else value.astimezone(where)
        instant = value.astimezone(UTC)
    except OverflowError:
        raise Rejected.invalid(f"start {text!r} is outside the supported range ({SUPPORTED_RANGE})") from None
    if not in_range(instant):
        raise Rejected.invalid(f"start {text!r} is outside the supported range ({SUPPORTED_RANGE})")
    return value.replace(microsecond=0)


def start_text(start: datetime) -> str:
    """How a start is stored: a UTC instant for a UTC ritual (as before
    zones existed), else the local date and time with no offset, as an
    iCalendar DTSTART with a TZID."""
    if start.tzinfo is UTC:
        return iso(start)
    return start.replace(tzinfo=None).isoformat(timespec="seconds")


def in_zone(start: str, old_zone: str, new_zone: str) -> str:
    """A stored start moved to another zone keeping its local date and time
    of day: a 09:00 ritual stays at 09:00 on its new zone's clock."""
    local = parse_local_start(start, old_zone).replace(tzinfo=None)
    return start_text(parse_local_start(local.isoformat(timespec="seconds"), new_zone))


def parse_start(text: str) -> datetime:
    """A start date (`2026-11-23`, taken at 09:00 UTC) or instant."""
    text = text.strip()
    try:
        if len(text) == 10:
            value = datetime.combine(date.fromisoformat(text), time(DEFAULT_HOUR_UTC), tzinfo=UTC)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected.invalid(f"start {text!r} is not a date (use YYYY-MM-DD)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00: this escaped the fold as a crash
        raise Rejected.invalid(f"start {text!r} is outside the supported range ({SUPPORTED_RANGE})") from None
    if not in_range(value):
        raise Rejected.invalid(f"start {text!r} is outside the supported range ({SUPPORTED_RANGE})")
    return value


def parse_rule(rule_text: str, start: datetime) -> rrule:
    from dateutil.rrule import rrule, rrulestr

    cleaned = rule_text.strip()
    if cleaned.upper().startswith("RRULE:"):
        cleaned = cleaned[6:]
    if not cleaned or "\n" in cleaned or "DTSTART" in cleaned.upper() or "FREQ=" not in cleaned.upper():
        raise Rejected.invalid(f"invalid RRULE {rule_text!r}: give only the rule, e.g. FREQ=WEEKLY;BYDAY=FR")
    try:
        rule = rrulestr(cleaned, dtstart=start)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        # dateutil names the bad part ("invalid 'BYDAY': FRI", "unknown parameter 'FOO'");
        # a malformed part gives an unpacking error, which names nothing useful.
        detail = str(exc) if str(exc).startswith(("invalid '", "unknown parameter")) else "expected NAME=VALUE parts"
        if detail.startswith("invalid 'BYDAY'"):
            detail += " (days are MO, TU, WE, TH, FR, SA, SU)"
        raise Rejected.invalid(f"invalid RRULE {rule_text!r}: {detail}, e.g. FREQ=WEEKLY;BYDAY=FR") from None
    if not isinstance(rule, rrule) or rule._freq not in ALLOWED_FREQUENCIES:  # noqa: SLF001
        raise Rejected.invalid(f"invalid RRULE {rule_text!r}: rituals repeat DAILY, WEEKLY, MONTHLY or YEARLY")
    if rule._interval < 1:  # noqa: SLF001 -- INTERVAL=0 makes dateutil loop forever
        raise Rejected.invalid(f"invalid RRULE {rule_text!r}: INTERVAL must be at least 1")
    return rule


# A schedule must fire within this long of when it is set, and at most this
# often a day; the search for an occurrence never looks further ahead.
HORIZON = timedelta(days=5 * 366)
HORIZON_TEXT = "5 years"
MAX_PER_DAY = 24


def check_schedule(rule_text: str, start: datetime, at: datetime) -> None:
    """Refuse a schedule that fires more than MAX_PER_DAY times a day, or not
    at all within HORIZON of `at` (the fold passes the op's own time).
    `start` carries the ritual's zone (parse_local_start)."""
    zone_name = _zone_name(start)
    rule = _parsed(rule_text, start_text(start), zone_name)
    per_day = len(rule._timeset)  # noqa: SLF001 -- each day's times (BYHOUR x BYMINUTE x BYSECOND)
    if rule._bysetpos:  # noqa: SLF001 -- BYSETPOS keeps this many of each period's
        per_day = min(per_day, len(rule._bysetpos))  # noqa: SLF001
    if per_day > MAX_PER_DAY:
        raise Rejected.invalid(f"RRULE {rule_text!r} fires up to {per_day} times a day; the limit is {MAX_PER_DAY}")
    since = max(at, start.astimezone(UTC))
    if next(_walk(rule, since, at + HORIZON), None) is None:
        raise Rejected.invalid(f"RRULE {rule_text!r} has no occurrence in the next {HORIZON_TEXT}")


def _zone_name(start: datetime) -> str:
    return UTC_NAME if start.tzinfo is UTC else str(start.tzinfo)


def next_occurrence(rule_text: str, start: str, after: datetime, tz: str = UTC_NAME) -> datetime | None:
    """First occurrence (UTC) at or after `after`, or None if there is none within HORIZON."""
    return next(_walk(_parsed(rule_text, start, tz), after, after + HORIZON), None)


def occurrences_between(
    rule_text: str, start: str, since: datetime, until: datetime, tz: str = UTC_NAME
) -> list[datetime]:
    """The occurrences in [since, until], as UTC instants in order."""
    return list(_walk(_parsed(rule_text, start, tz), since, until))


def expand(rule_text: str, start: datetime, since: datetime, until: datetime) -> list[datetime]:
    """occurrences_between for a start already parsed (it carries its zone)."""
    return list(_walk(parse_rule(rule_text, start), since, until))


def occurrences_after(rule_text: str, start: str, after: datetime, tz: str = UTC_NAME) -> Iterator[datetime]:
    """The occurrences at or after `after` within HORIZON, lazily."""
    return _walk(_parsed(rule_text, start, tz), after, after + HORIZON)


@lru_cache(maxsize=4096)
def is_occurrence(rule_text: str, start: str, moment: datetime, tz: str = UTC_NAME) -> bool:
    return next(_walk(_parsed(rule_text, start, tz), moment, moment), None) == moment


@lru_cache(maxsize=256)
def _parsed(rule_text: str, start: str, tz: str = UTC_NAME) -> rrule:
    """The rule, parsed once per process (only its parameters are used: every
    search walks a fresh copy)."""
    return parse_rule(rule_text, parse_local_start(start, tz))


class Closed(StrEnum):
    """Why an occurrence opens no thread: the fold's words, and a short one
    for a row in a list."""

    PAUSED = "the ritual is paused"
    SKIPPED = "this occurrence is skipped"
    QUIET = "the group is in a quiet spell"

    @property
    def short(self) -> str:
        return {Closed.PAUSED: "paused", Closed.SKIPPED: "skipped", Closed.QUIET: "quiet spell"}[self]


def closed_because(
    at: datetime,
    *,
    paused: bool,
    paused_until: datetime | None,
    skipped: Collection[datetime],
    quiet: Iterable[tuple[datetime, datetime]],
) -> Closed | None:
    """Why the occurrence at `at` does not open (paused, skipped, or inside a
    quiet spell [start, end)), or None if it opens. The fold and every
    listing ask this one question."""
    if paused and (paused_until is None or at < paused_until):
        return Closed.PAUSED
    if at in skipped:
        return Closed.SKIPPED
    if any(begins <= at < ends for begins, ends in quiet):
        return Closed.QUIET
    return None


def first_open(
    moments: Iterable[datetime],
    *,
    paused: bool,
    paused_until: datetime | None,
    skipped: Collection[datetime],
    quiet: Sequence[tuple[datetime, datetime]],
) -> datetime | None:
    """The first of `moments` that opens (closed_because is None)."""
    if paused and paused_until is None:
        return None
    for moment in moments:
        if closed_because(moment, paused=paused, paused_until=paused_until, skipped=skipped, quiet=quiet) is None:
            return moment
    return None


class _WalkedTooFar(Exception):
    pass


def _walk_class() -> type[rrule]:
    from dateutil.rrule import rrule

    class Walk(rrule):  # type: ignore[misc]  # dateutil ships no type hints: rrule is Any
        """An rrule that gives up after `rebuilds` calendar steps.

        dateutil walks a rule period by period until one yields an occurrence,
        as far as year 9999: seconds of CPU for a rule that never fires. Its
        walk rebuilds its calendar masks at least every month it enters (every
        period for MONTHLY and YEARLY), reading `_byeaster` once or twice each
        time; counting those reads bounds the walk."""

        def __init__(self, rebuilds: int, **params: Any) -> None:
            self._rebuilds_left: int | None = None
            super().__init__(**params)
            self._rebuilds_left = rebuilds

        @property
        def _byeaster(self) -> Any:
            if self._rebuilds_left is not None:
                self._rebuilds_left -= 1
                if self._rebuilds_left < 0:
                    raise _WalkedTooFar
            return self.__dict__["_byeaster_value"]

        @_byeaster.setter
        def _byeaster(self, value: Any) -> None:
            self.__dict__["_byeaster_value"] = value

        def _iter(self) -> Iterator[datetime]:
            try:
                yield from super()._iter()
            except _WalkedTooFar:
                return

    return Walk


_Walk: type[rrule] | None = None


def _walk(rule: rrule, since: datetime, until: datetime) -> Iterator[datetime]:
    """The rule's occurrences in [since, until], walking only from a start
    near `since` to just past `until`."""
    global _Walk
    if _Walk is None:
        _Walk = _walk_class()
    zoned = rule._dtstart.tzinfo is not UTC  # noqa: SLF001
    if zoned:
        # Local times convert to instants out of order inside a skipped hour
        # (02:30 opens after 03:00 there): walk a margin either side, then
        # sort within it.
        since, until, asked = since - _ZONE_MARGIN, until + _ZONE_MARGIN, (since, until)
    anchor = _anchor(rule, since)
    months = (until.year - anchor.year) * 12 + until.month - anchor.month
    params = {
        "interval": rule._interval,
        "count": rule._count,
        "freq": rule._freq,  # noqa: SLF001
        "wkst": rule._wkst,
        "until": rule._until,
        **rule._original_rule,
        "dtstart": anchor,
    }  # noqa: SLF001
    if rule._count is None:  # noqa: SLF001 -- dateutil deprecates COUNT with UNTIL
        params["until"] = min(rule._until, until) if rule._until else until  # noqa: SLF001
    walk = _Walk(2 * (months + 2), **params)
    if zoned:
        return _in_utc_order(walk, *asked)
    return (moment for moment in takewhile(lambda moment: moment <= until, walk) if moment >= since)


# More than the longest skip in the tz database (a whole day, Samoa 2011).
_ZONE_MARGIN = timedelta(days=2)


def _in_utc_order(local: Iterable[datetime], since: datetime, until: datetime) -> Iterator[datetime]:
    """The local occurrences as UTC instants in [since, until], sorted, each
    once. An instant can come at most _ZONE_MARGIN before one already seen,
    so whatever is that far behind the newest is final."""
    waiting: list[datetime] = []
    last: datetime | None = None

    def settled(upto: datetime | None) -> Iterator[datetime]:
        nonlocal last
        while waiting and (upto is None or waiting[0] <= upto):
            moment = heapq.heappop(waiting)
            if moment != last and moment >= since:
                last = moment
                yield moment

    for moment in local:
        instant = moment.astimezone(UTC)
        heapq.heappush(waiting, instant)
        for ready in settled(instant - _ZONE_MARGIN):
            if ready > until:
                return
            yield ready
    for ready in settled(None):
        if ready > until:
            return
        yield ready


def _anchor(rule: rrule, since: datetime) -> datetime:
    """The latest start at or before `since` from which the rule yields the
    same occurrences as from its own start: a whole number of periods after
    it, on the same day of the month (or week) and time of day, so every part
    dateutil fills in from the start stays the same. A rule with COUNT counts
    from its start, and a WEEKLY one with BYSETPOS counts positions in a week
    its start may cut short: both keep their start."""
    from dateutil.relativedelta import relativedelta
    from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY

    start: datetime = rule._dtstart  # noqa: SLF001
    freq, interval = rule._freq, rule._interval  # noqa: SLF001
    if since <= start or rule._count is not None or (freq == WEEKLY and rule._bysetpos):  # noqa: SLF001
        return start
    if freq in (DAILY, WEEKLY):
        step = interval * (7 if freq == WEEKLY else 1)
        return start + timedelta(days=(since - start).days // step * step)
    unit = 12 if freq == YEARLY else 1
    assert freq in (YEARLY, MONTHLY)
    months = (since.year - start.year) * 12 + since.month - start.month
    periods = months // (unit * interval)
    for back in range(periods, max(periods - 60, 0), -1):  # a day of the month some months lack
        candidate: datetime = start + relativedelta(months=back * unit * interval)
        if candidate.day == start.day and candidate <= since:
            return candidate
    return start
