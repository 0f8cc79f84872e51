"""Small, pure text helpers shared by the screens (no widgets here)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from rich.text import Text

from tablespace.core.clock import now
from tablespace.core.events import duration_text, is_link
from tablespace.core.limits import NAME_MAX
from tablespace.core.mentions import resolved_spans
from tablespace.core.text import first_unsafe, visible

if TYPE_CHECKING:
    from tablespace.core.calendar_queries import EventView

MARK_START, MARK_END = "\x02", "\x03"


def relative(moment: datetime | None, *, at: datetime | None = None) -> str:
    """'3 hours ago' / 'in 2 days' / 'just now', against TABLESPACE_NOW-aware `now()`.

    The words are humanize's `naturaltime`; written out here because the
    thread list needs them for the first frame and importing humanize cost
    more than the rest of the list's rendering."""
    if moment is None:
        return "—"
    delta = (at or now()) - moment
    words = span(abs(delta))
    if words == "a moment":
        return "just now"
    return f"in {words}" if delta < timedelta(0) else f"{words} ago"


def _count(n: int, unit: str) -> str:
    if n == 1:
        return ("an " if unit == "hour" else "a ") + unit
    return f"{n} {unit}s"


def span(delta: timedelta) -> str:
    """How long a (non-negative) delta is: 'a moment', '5 minutes', 'a day',
    '3 months', '1 year, 2 months', '4 years' (humanize's `naturaldelta`)."""
    years, days = divmod(delta.days, 365)
    months = round(days / 30.5)
    seconds = delta.seconds
    if years == 0 and days < 1:
        if seconds < 60:
            return "a moment" if seconds == 0 else _count(seconds, "second")
        if seconds < 3600:
            minutes = round(seconds / 60)
            return "an hour" if minutes == 60 else _count(minutes, "minute")
        hours = round(seconds / 3600)
        return "a day" if hours == 24 else _count(hours, "hour")
    if years == 0:
        if days == 1 or months == 0:
            return _count(days, "day")
        return "a year" if months == 12 else _count(months, "month")
    if years == 1:
        if months == 0:
            return "a year" if days == 0 else f"1 year, {days} day{'s' if days != 1 else ''}"
        if months == 12:
            return "2 years"
        return f"1 year, {months} month{'s' if months != 1 else ''}"
    return f"{round(delta.days / 365):,} years"


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
    return visible(" ".join(f"#{t}" for t in tags))


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # [text](url) and ![alt](url): the text
_LINE_MARK = re.compile(r"(?m)^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-+*][ \t]+|\d+[.)][ \t]+)")  # heading, quote, list
_EMPHASIS = re.compile(r"\*+(?=\S)|(?<=\S)\*+|`+|~~|(?<![^\W_])_+|_+(?![^\W_])")  # not the _ inside snake_case


def plain(markdown: str) -> str:
    """What a reader sees of a piece of Markdown, as one line of plain text
    (a search snippet: `Lovely **crumb**` reads `Lovely crumb`). The marks
    of a search hit (MARK_START/MARK_END) are kept."""
    text = _LINE_MARK.sub("", markdown)
    text = _LINK.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    return " ".join(text.split())


def truncated(text: str, cells: int) -> str:
    """`text` cut to `cells` terminal cells, an ellipsis marking the cut."""
    cut = Text(text)
    cut.truncate(cells, overflow="ellipsis")
    return cut.plain


def key_hint(*keys: tuple[str, str]) -> Text:
    """A dialog's hint line, `ctrl+s post · esc cancel`: each key in bold,
    then what it does; kept short, so it stays one line at 80 columns."""
    text = Text()
    for n, (key, does) in enumerate(keys):
        if n:
            text.append(" · ")
        text.append(key, "bold")
        text.append(f" {does}")
    return text


def marked(snippet: str, style: str = "bold reverse") -> Text:
    """A search snippet whose hits are wrapped in MARK_START/MARK_END, as Text
    (never markup: the snippet is user content and may contain brackets)."""
    text = Text()
    highlight = False
    for part in snippet.replace(MARK_END, MARK_START).split(MARK_START):
        if part:
            text.append(visible(part.replace("\n", " ")), style if highlight else "")
        highlight = not highlight
    return text


def shown(content: str | Text, *, multiline: bool = True) -> Text:
    """What a widget is given when its content holds members' text: a Text
    (never markup) with control characters and bidi overrides spelled out
    (core/text.py), its styles kept."""
    if isinstance(content, str):
        return Text(visible(content, multiline=multiline))
    if first_unsafe(content.plain, multiline=multiline) is None:
        return content
    cuts = sorted(
        {n + step for n, char in enumerate(content.plain) if first_unsafe(char, multiline=multiline) for step in (0, 1)}
    )
    result = Text(style=content.style, justify=content.justify, no_wrap=content.no_wrap, end=content.end)
    for piece in content.divide(cuts):
        if first_unsafe(piece.plain, multiline=multiline) is None:
            result.append_text(piece)
            continue
        spelled = Text(visible(piece.plain, multiline=multiline))
        for span in piece.spans:
            spelled.stylize(span.style)
        result.append_text(spelled)
    return result


def local(moment: datetime) -> datetime:
    """An instant on the reader's own clock (the system's time zone)."""
    return moment.astimezone()


def days_until(moment: datetime, *, at: datetime | None = None) -> str:
    """'today' / 'tomorrow' / 'in 18 days' / '3 days ago', by calendar date on the reader's clock."""
    days = (local(moment).date() - local(at or now()).date()).days
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    if days == -1:
        return "yesterday"
    return f"in {days} days" if days > 0 else f"{-days} days ago"


def mentions_marked(body: str, keys: Iterable[str]) -> str:
    """The Markdown body with each mention that resolved to a member (by the
    name keys the fold recorded, so a later rename changes nothing) in bold;
    a mention of someone not in the group stays plain text."""
    spans = resolved_spans(body, keys)
    if not spans:
        return body
    out: list[str] = []
    at = 0
    for start, end in spans:
        out.append(body[at:start])
        out.append(f"**{body[start:end]}**")
        at = end
    out.append(body[at:])
    return "".join(out)


# An `@` being typed, not glued to a word: `@ca` or `@"Ana L` (an open quote).
_TYPING_MENTION = re.compile(r"(?<![\w@])@(\"[^\"\n]*|[\w.'\-]*)$")
MENTION_CHOICES = 6


def typed_mention(before_cursor: str) -> tuple[int, str] | None:
    """Where an `@` name being typed starts (offset of the `@`) and what is
    typed of it so far, if the text before the cursor ends in one."""
    found = _TYPING_MENTION.search(before_cursor[-(NAME_MAX + 3) :])
    if found is None:
        return None
    return len(before_cursor) - (found.end() - found.start()), found.group(1).lstrip('"')


def mention_choices(typed: str, names: Iterable[str]) -> list[str]:
    """Names starting with what is typed (then those containing it), ignoring case."""
    key = typed.casefold()
    starts = [n for n in names if n.casefold().startswith(key)]
    within = [n for n in names if key in n.casefold() and n not in starts]
    return sorted(starts, key=str.casefold)[:MENTION_CHOICES] + within[: max(0, MENTION_CHOICES - len(starts))]


def mention_of(name: str) -> str:
    """How a name is written to mention it: `@carol`, or `@"Two Words"`."""
    return f"@{name}" if re.fullmatch(r"\w[\w.'\-]*", name) and name[-1] not in ".'-" else f'@"{name}"'


def answers_text(event: EventView) -> Text:
    """`✓2 going, 1 maybe`: the answers given so far, the reader's own marked."""
    text = Text()
    given = [
        (a, names) for a, names in (("going", event.going), ("maybe", event.maybe), ("no", event.declined)) if names
    ]
    for n, (answer, names) in enumerate(given):
        if n:
            text.append(", ")
        mine = answer == event.mine
        text.append(f"{'✓' if mine else ''}{len(names)} {answer}", "bold" if mine else "")
    return text if given else Text("no answers yet", "dim")


def event_when(event: EventView) -> str:
    """`Wed 04 Mar 12:00–13:30` on the reader's clock (the end's day too if it differs)."""
    begins, ends = local(event.at), local(event.ends)
    end = f"{ends:%H:%M}" if ends.date() == begins.date() else f"{ends:%a %d %b %H:%M}"
    return f"{begins:%a %d %b %H:%M}–{end}"


def event_place(event: EventView) -> str:
    """`📍 somewhere` or `🔗 a link`, made visible (a member typed it)."""
    if not event.where:
        return ""
    return ("🔗 " if is_link(event.where) else "📍 ") + visible(event.where)


def event_summary(event: EventView) -> Text:
    """When (on the reader's clock), where, and the answers: one line for an event's thread."""
    text = Text(f"📅 {event_when(event)} ({duration_text(event.minutes)})")
    if event.where:
        text.append("  ·  " + event_place(event))
    text.append("  ·  ")
    text.append_text(answers_text(event))
    return text
