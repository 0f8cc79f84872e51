"""Ritual schedules: RFC 5545 RRULEs anchored on their start, via dateutil."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from tablespace.core.clock import SUPPORTED_RANGE, in_range
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
            value = datetime.combine(date.fromisoformat(text), time(DEFAULT_HOUR_UTC), tzinfo=timezone.utc)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(f"start {text!r} is not a date (use YYYY-MM-DD)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        value = value.astimezone(timezone.utc)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00: this escaped the fold as a crash
        raise Rejected(f"start {text!r} is outside the supported range ({SUPPORTED_RANGE})") from None
    if not in_range(value):
        raise Rejected(f"start {text!r} is outside the supported range ({SUPPORTED_RANGE})")
    return value


def parse_rule(rule_text: str, start: datetime) -> rrule:
    from dateutil.rrule import rrule, rrulestr

    cleaned = rule_text.strip()
    if cleaned.upper().startswith("RRULE:"):
        cleaned = cleaned[6:]
    if not cleaned or "\n" in cleaned or "DTSTART" in cleaned.upper() or "FREQ=" not in cleaned.upper():
        raise Rejected(f"invalid RRULE {rule_text!r}: give only the rule, e.g. FREQ=WEEKLY;BYDAY=FR")
    try:
        rule = rrulestr(cleaned, dtstart=start)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        # dateutil names the bad part ("invalid 'BYDAY': FRI", "unknown parameter 'FOO'");
        # a malformed part gives an unpacking error, which names nothing useful.
        detail = str(exc) if str(exc).startswith(("invalid '", "unknown parameter")) else "expected NAME=VALUE parts"
        if detail.startswith("invalid 'BYDAY'"):
            detail += " (days are MO, TU, WE, TH, FR, SA, SU)"
        raise Rejected(f"invalid RRULE {rule_text!r}: {detail}, e.g. FREQ=WEEKLY;BYDAY=FR") from None
    if not isinstance(rule, rrule) or rule._freq not in ALLOWED_FREQUENCIES:  # noqa: SLF001
        raise Rejected(f"invalid RRULE {rule_text!r}: rituals repeat DAILY, WEEKLY, MONTHLY or YEARLY")
    if rule._interval < 1:  # noqa: SLF001 -- INTERVAL=0 makes dateutil loop forever
        raise Rejected(f"invalid RRULE {rule_text!r}: INTERVAL must be at least 1")
    return rule


def next_occurrence(rule_text: str, start: str, after: datetime) -> datetime | None:
    """First occurrence at or after `after`, or None if the rule has ended."""
    rule = parse_rule(rule_text, parse_start(start))
    return rule.after(after, inc=True)


def occurrences_between(rule_text: str, start: str, since: datetime, until: datetime) -> list[datetime]:
    rule = parse_rule(rule_text, parse_start(start))
    return list(rule.between(since, until, inc=True))


def is_occurrence(rule_text: str, start: str, moment: datetime) -> bool:
    rule = parse_rule(rule_text, parse_start(start))
    return rule.after(moment - timedelta(seconds=1), inc=False) == moment
