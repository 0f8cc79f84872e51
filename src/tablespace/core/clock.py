"""Wall clock (overridable with TABLESPACE_NOW) and the hybrid logical clock.

An HLC value is one int: milliseconds since the epoch shifted left 16 bits,
plus a logical counter in the low bits. Ordering ints orders events; when the
counter would overflow it simply carries into the millisecond part, which keeps
the clock monotonic even under a frozen TABLESPACE_NOW.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone

from tablespace.core.errors import TablespaceError

SHIFT = 16
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
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_duration(text: str) -> timedelta:
    """`30m`, `24h`, `7d`: how durations are written everywhere (CLI and app)."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhd])\s*", text.lower())
    if not match:
        raise TablespaceError(f"{text!r} is not a duration like 30m, 24h or 7d")
    amount, unit = int(match.group(1)), match.group(2)
    if amount > 100_000:
        raise TablespaceError(f"{text!r} is far too long")
    return timedelta(minutes=amount) if unit == "m" else timedelta(hours=amount) if unit == "h" \
        else timedelta(days=amount)


def now() -> datetime:
    """The current instant, UTC; TABLESPACE_NOW replaces the wall clock everywhere."""
    fixed = os.environ.get("TABLESPACE_NOW")
    if fixed:
        return parse_instant(fixed)
    return datetime.now(timezone.utc)


def now_ms() -> int:
    return int(now().timestamp() * 1000)


def hlc_ms(hlc: int) -> int:
    return hlc >> SHIFT


def hlc_to_datetime(hlc: int) -> datetime:
    return datetime.fromtimestamp(hlc_ms(hlc) / 1000, tz=timezone.utc)


def iso(moment: datetime) -> str:
    """ISO-8601 UTC with a Z, to the second: the form every JSON output uses."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hlc_iso(hlc: int) -> str:
    return iso(hlc_to_datetime(hlc))


def datetime_to_hlc(moment: datetime) -> int:
    return int(moment.timestamp() * 1000) << SHIFT


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
