"""Small, pure text helpers shared by the screens (no widgets here)."""

from __future__ import annotations

from datetime import datetime

import humanize
from rich.text import Text

from tablespace.core.clock import now

MARK_START, MARK_END = "\x02", "\x03"


def relative(moment: datetime | None, *, at: datetime | None = None) -> str:
    """'3 hours ago' / 'in 2 days', against TABLESPACE_NOW-aware `now()`."""
    if moment is None:
        return "—"
    when = at or now()
    text = humanize.naturaltime(moment, when=when)
    if text == "now":
        return "just now"
    if text.endswith(" from now"):
        return "in " + text[: -len(" from now")]
    return text


def short_relative(moment: datetime, *, at: datetime | None = None) -> str:
    """'5m ago' / '3h ago' / 'in 2d': for narrow columns."""
    seconds = int(((at or now()) - moment).total_seconds())
    span = abs(seconds)
    if span < 60:
        return "just now"
    for size, unit in ((365 * 86400, "y"), (30 * 86400, "mo"), (86400, "d"), (3600, "h"), (60, "m")):
        if span >= size:
            amount = f"{span // size}{unit}"
            break
    return f"in {amount}" if seconds < 0 else f"{amount} ago"


def tags_text(tags: list[str]) -> str:
    return " ".join(f"#{t}" for t in tags)


def marked(snippet: str, style: str = "bold reverse") -> Text:
    """A search snippet whose hits are wrapped in MARK_START/MARK_END, as Text
    (never markup: the snippet is user content and may contain brackets)."""
    text = Text()
    highlight = False
    for part in snippet.replace(MARK_END, MARK_START).split(MARK_START):
        if part:
            text.append(part.replace("\n", " "), style if highlight else "")
        highlight = not highlight
    return text


def days_until(moment: datetime, *, at: datetime | None = None) -> str:
    """'today' / 'tomorrow' / 'in 18 days' / '3 days ago', by calendar date (UTC)."""
    days = (moment.date() - (at or now()).date()).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days == -1:
        return "yesterday"
    return f"in {days} days" if days > 0 else f"{-days} days ago"
