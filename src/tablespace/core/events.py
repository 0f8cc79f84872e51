"""Events: one-off gatherings (an AMA, a meetup) with a time, a length, a
place or link, and each member's answer. The rules the fold and the actions
share live here."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from tablespace.core.errors import Rejected

ANSWERS = ("going", "maybe", "no")
DEFAULT_MINUTES = 60
LONGEST_MINUTES = 7 * 24 * 60  # a week: longer is a season, not an event
PLACE_MAX = 2048  # characters: a link may be long
# An event may be set this far ahead of the op that adds it, and at most this
# long before it (typed a little late, or a time zone mixed up).
EVENT_AHEAD = timedelta(days=5 * 366)
EVENT_BEHIND = timedelta(days=1)

_LINK = re.compile(r"^(https?|gemini|ftp)://\S+$")
_DURATION = re.compile(r"(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?")


def parse_event_duration(text: str) -> int:
    """`90m`, `2h`, `1h30m` as minutes; one clear refusal otherwise."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise Rejected.invalid(f"{text.strip()!r} is not a length like 45m, 2h or 1h30m")
    minutes = int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
    check_minutes(minutes)
    return minutes


def duration_text(minutes: int) -> str:
    """Minutes as the lengths `parse_event_duration` reads: 45m, 2h, 1h30m."""
    hours, rest = divmod(minutes, 60)
    return (f"{hours}h" if hours else "") + (f"{rest}m" if rest or not hours else "")


def check_minutes(minutes: object) -> int:
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= LONGEST_MINUTES:
        raise Rejected.invalid("an event lasts from a minute to a week")
    return minutes


def check_when(at: datetime, written: datetime) -> None:
    """An event's time against the time of the op that sets it."""
    if at < written - EVENT_BEHIND:
        raise Rejected.invalid("the event's time has passed")
    if at > written + EVENT_AHEAD:
        raise Rejected.invalid("an event is at most 5 years ahead")


def check_answer(answer: object) -> str:
    if answer not in ANSWERS:
        raise Rejected.invalid("answer going, maybe or no")
    return str(answer)


def is_link(place: str) -> bool:
    """Whether an event's place is a link (a call) rather than somewhere to go."""
    return bool(_LINK.match(place))
