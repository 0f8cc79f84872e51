"""Mentions: `@name`, or `@"Two Words"` for a name with spaces, in a body.

Finding them is a property of the text alone (`find_mentions`); who they
name is decided by the fold against the roster at that point of the order
(fold/content.py), so every replica agrees and a later rename changes
nothing. Each resolved mention keeps the name key it matched, so the app
can highlight the spans that did resolve (`resolved_spans`) whatever the
member is called now.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tablespace.core.limits import NAME_MAX
from tablespace.core.names import name_key

# `@` not glued to a word or another `@` (an e-mail address mentions nobody),
# then a quoted name on one line or a run of word characters, dots, dashes
# and apostrophes. A bare name ending in punctuation ("@carol.") is also
# tried without it.
_MENTION = re.compile(rf"(?<![\w@])@(?:\"([^\"\n]{{1,{NAME_MAX}}})\"|(\w[\w.'\-]{{0,{NAME_MAX - 1}}}))")
_TRAILING = ".'-"
# More mentions than this in one body are left as text: a body that names the
# whole roster is not a way to reach everyone (there is no @here).
MAX_MENTIONS = 50


@dataclass(frozen=True)
class MentionSpan:
    start: int  # offsets in the body, `@` included
    end: int
    key: str  # the name key of what was written (core/names.py)
    # the key without trailing punctuation, tried when `key` names nobody
    fallback: str | None = None


def find_mentions(body: str) -> list[MentionSpan]:
    """Every `@name` and `@"Two Words"` in `body`, in order."""
    spans: list[MentionSpan] = []
    if "@" not in body:
        return spans
    for match in _MENTION.finditer(body):
        quoted, bare = match.group(1), match.group(2)
        if quoted is not None:
            key = name_key(quoted)
            if key:
                spans.append(MentionSpan(match.start(), match.end(), key))
            continue
        stripped = bare.rstrip(_TRAILING)
        fallback = name_key(stripped) if stripped and stripped != bare else None
        spans.append(MentionSpan(match.start(), match.end(), name_key(bare), fallback))
        if len(spans) > MAX_MENTIONS:
            return []
    return spans


def resolve_mentions(body: str, lookup: Callable[[str], str | None]) -> dict[str, str]:
    """member id -> the name key that named them, for each mention in `body`
    that `lookup` (a name key -> member id in the group, or None) resolves.
    A mention that names nobody stays text."""
    found: dict[str, str] = {}
    for span in find_mentions(body):
        for key in (span.key, span.fallback):
            if key is None:
                continue
            member = lookup(key)
            if member is not None:
                found.setdefault(member, key)
                break
    return found


def resolved_spans(body: str, keys: Iterable[str]) -> list[tuple[int, int]]:
    """(start, end) of each mention in `body` that resolved to a member when it
    was folded, given the name keys the fold recorded for the post (the
    `mentions` table): what the app highlights. A trailing punctuation mark
    that was not part of the name is left out of the span."""
    wanted = set(keys)
    spans: list[tuple[int, int]] = []
    for span in find_mentions(body):
        if span.key in wanted:
            spans.append((span.start, span.end))
        elif span.fallback is not None and span.fallback in wanted:
            body_part = body[span.start : span.end]
            spans.append((span.start, span.start + len(body_part.rstrip(_TRAILING))))
    return spans
