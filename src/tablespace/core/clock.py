"""Wall clock (overridable with TABLESPACE_NOW) and the hybrid logical clock.

An HLC value is one int: milliseconds since the epoch shifted left 16 bits,
plus a logical counter in the low bits. Ordering ints orders events; when the
counter would overflow it simply carries into the millisecond part, which keeps
the clock monotonic even under a frozen TABLESPACE_NOW.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta

from tablespace.core.errors import TablespaceError

SHIFT = 16
# Every instant tablespace takes in lies in [EARLIEST, END): the clock, a
# TABLESPACE_NOW, a start date, the end of a duration, an op's HLC. Inside it
# an HLC (ms << 16) stays far from SQLite's signed 64 bits (overflowed past
# year ~6400) and date arithmetic far from datetime's year 9999.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
END = datetime(3000, 1, 1, tzinfo=UTC)
SUPPORTED_RANGE = "2000-01-01 to 2999-12-31 UTC"
# A remote HLC more than this far ahead of our wall clock is not merged (it
# would drag every later op of ours into the future); sync holds such ops.
MAX_DRIFT_MS = 5 * 60 * 1000


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant; a bare date or naive time is taken as UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TablespaceError(f"not an ISO-8601 instant: {text!r} (try 2026-11-23T09:00:00Z)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
        raise TablespaceError(f"{text!r} is outside the supported range ({SUPPORTED_RANGE})") from None


def in_range(moment: datetime) -> bool:
    return EARLIEST <= moment < END


def hlc_in_range(hlc: int) -> bool:
    return _EARLIEST_HLC <= hlc < _END_HLC  # asked of every imported op


def check_in_range(moment: datetime, what: str) -> datetime:
    """`moment`, or a one-line refusal naming `what` if it is out of range."""
    if not in_range(moment):
        raise TablespaceError(f"{what} is outside the supported range ({SUPPORTED_RANGE})")
    return moment


def parse_duration(text: str) -> timedelta:
    """`30m`, `24h`, `7d`: how durations are written everywhere (CLI and app)."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", text.lower())
    if not match:
        raise TablespaceError(f"{text!r} is not a duration like 30m, 24h or 7d")
    amount, unit = int(match.group(1)), match.group(2)
    if amount > 100_000:
        raise TablespaceError(f"{text!r} is far too long")
    return (
        timedelta(minutes=amount) if unit == "m" else timedelta(hours=amount) if unit == "h" else timedelta(days=amount)
    )


def now() -> datetime:
    """The current instant, UTC; TABLESPACE_NOW replaces the wall clock everywhere."""
    fixed = os.environ.get("TABLESPACE_NOW")
    if fixed:
        try:
            return check_in_range(parse_instant(fixed), f"TABLESPACE_NOW={fixed}")
        except TablespaceError as exc:
            message = str(exc)
            raise TablespaceError(
                message if message.startswith("TABLESPACE_NOW") else f"TABLESPACE_NOW: {message}"
            ) from None
    moment = datetime.now(UTC)
    if not in_range(moment):  # the message is only formatted when it is needed: now() runs on every write
        check_in_range(moment, f"this computer's clock ({iso(moment)})")
    return moment


def today() -> date:
    """The calendar date on the reader's own clock (the system's time zone):
    what a date a member typed, such as a circle's end, is measured against."""
    return now().astimezone().date()


def from_now(duration: timedelta, *, what: str) -> datetime:
    """now() + duration (parse_duration keeps it under 300 years), refused
    with a line naming `what` if that leaves the supported range."""
    end = now() + duration
    return check_in_range(end, f"{what} ({iso(end)})")


def now_ms() -> int:
    return int(now().timestamp() * 1000)


def hlc_ms(hlc: int) -> int:
    return hlc >> SHIFT


def hlc_to_datetime(hlc: int) -> datetime:
    return datetime.fromtimestamp(hlc_ms(hlc) / 1000, tz=UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with a Z, to the second: the form every JSON output uses."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def hlc_iso(hlc: int) -> str:
    return iso(hlc_to_datetime(hlc))


def datetime_to_hlc(moment: datetime) -> int:
    return int(moment.timestamp() * 1000) << SHIFT


_EARLIEST_HLC = datetime_to_hlc(EARLIEST)
_END_HLC = datetime_to_hlc(END)


class HybridClock:
    """Issues strictly increasing HLC values and absorbs remote ones.

    `last` is persisted by the store, so the clock never runs backwards across
    restarts even if the wall clock does.
    """

    def __init__(self, last: int = 0) -> None:
        self.last = last

    def tick(self) -> int:
        self.last = max(self.last + 1, now_ms() << SHIFT)
        return self.last

    def is_too_far_ahead(self, remote: int) -> bool:
        return hlc_ms(remote) > now_ms() + MAX_DRIFT_MS

    def observe(self, remote: int) -> None:
        """Merge a remote timestamp so our next op sorts after it, unless it is
        implausibly far in the future (then it must not drag our clock)."""
        if not self.is_too_far_ahead(remote):
            self.last = max(self.last, remote)
