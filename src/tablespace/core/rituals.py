"""Ritual schedules: RFC 5545 RRULEs anchored on their start, via dateutil."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import takewhile
from typing import TYPE_CHECKING, Any

from tablespace.core.clock import SUPPORTED_RANGE, in_range, iso
from tablespace.core.errors import Rejected

if TYPE_CHECKING:  # dateutil (~25 ms) is imported on first use: not needed to open a group
    from dateutil.rrule import rrule

ALLOWED_FREQUENCIES = {0, 1, 2, 3}  # dateutil.rrule's YEARLY, MONTHLY, WEEKLY, DAILY
# A ritual with no date given starts today at this UTC hour.
DEFAULT_HOUR_UTC = 9


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
    at all within HORIZON of `at` (the fold passes the op's own time)."""
    rule = _parsed(rule_text, iso(start))
    per_day = len(rule._timeset)  # noqa: SLF001 -- each day's times (BYHOUR x BYMINUTE x BYSECOND)
    if rule._bysetpos:  # noqa: SLF001 -- BYSETPOS keeps this many of each period's
        per_day = min(per_day, len(rule._bysetpos))  # noqa: SLF001
    if per_day > MAX_PER_DAY:
        raise Rejected.invalid(f"RRULE {rule_text!r} fires up to {per_day} times a day; the limit is {MAX_PER_DAY}")
    since = max(at, start)
    if next(_walk(rule, since, at + HORIZON), None) is None:
        raise Rejected.invalid(f"RRULE {rule_text!r} has no occurrence in the next {HORIZON_TEXT}")


def next_occurrence(rule_text: str, start: str, after: datetime) -> datetime | None:
    """First occurrence at or after `after`, or None if there is none within HORIZON."""
    return next(_walk(_parsed(rule_text, start), after, after + HORIZON), None)


def occurrences_between(rule_text: str, start: str, since: datetime, until: datetime) -> list[datetime]:
    return list(_walk(_parsed(rule_text, start), since, until))


@lru_cache(maxsize=4096)
def is_occurrence(rule_text: str, start: str, moment: datetime) -> bool:
    return next(_walk(_parsed(rule_text, start), moment, moment), None) == moment


@lru_cache(maxsize=256)
def _parsed(rule_text: str, start: str) -> rrule:
    """The rule, parsed once per process (only its parameters are used: every
    search walks a fresh copy)."""
    return parse_rule(rule_text, parse_start(start))


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
    return (moment for moment in takewhile(lambda moment: moment <= until, walk) if moment >= since)


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
