"""Payload field checks with the documented size caps.

The fold runs these on every op, local or remote, so one set of rules decides
what is valid; a failing check becomes the op's rejection reason, which is also
the message a user sees when their own action is refused.
"""

from __future__ import annotations

import re
from typing import Any

from tablespace.core.errors import Rejected
from tablespace.core.text import REACTION_MAX, describe, first_unsafe

TITLE_MAX = 200  # characters
BODY_MAX_BYTES = 32 * 1024  # UTF-8 bytes, per post
NAME_MAX = 40
TAG_MAX = 32
TAGS_MAX = 8
SUMMARY_MAX = 2000
URL_MAX = 2048
EMOJI_MAX = REACTION_MAX
PROMPT_MAX = 2000
RRULE_MAX = 300
RULES_MAX = 8000

TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*\Z")
ID_RE = re.compile(r"^[0-9a-f]{32}\Z")


def refuse_unsafe(value: str, *, label: str, multiline: bool) -> None:
    """Refuse the characters that would reach a reader's terminal as commands
    (core/text.py): in every field but newline and tab in multi-line text."""
    if (char := first_unsafe(value, multiline=multiline)) is not None:
        raise Rejected.invalid(f"{label} contains {describe(char)}, which could drive a reader's terminal: remove it")


def text(payload: dict[str, Any], key: str, *, label: str, max_chars: int, required: bool = True) -> str:
    value = payload.get(key, "" if not required else None)
    if not isinstance(value, str):
        raise Rejected.invalid(f"{label} is missing")
    value_stripped = value.strip()
    if required and not value_stripped:
        raise Rejected.invalid(f"{label} is empty")
    if len(value) > max_chars:
        raise Rejected.invalid(f"{label} is {len(value)} characters; the limit is {max_chars}")
    refuse_unsafe(value, label=label, multiline=True)
    return value


def one_line(payload: dict[str, Any], key: str, *, label: str, max_chars: int) -> str:
    value = text(payload, key, label=label, max_chars=max_chars).strip()
    if "\n" in value:
        raise Rejected.invalid(f"{label} must be a single line of text")
    refuse_unsafe(value, label=label, multiline=False)
    return value


def body(payload: dict[str, Any], key: str = "body", *, required: bool = False) -> str:
    value = payload.get(key, "")
    if not isinstance(value, str):
        raise Rejected.invalid("body is not text")
    size = len(value.encode())
    if size > BODY_MAX_BYTES:
        raise Rejected.invalid(f"body is {size} bytes; the limit is {BODY_MAX_BYTES}")
    if required and not value.strip():
        raise Rejected.invalid("body is empty")
    refuse_unsafe(value, label="body", multiline=True)
    return value


def tag_list(payload: dict[str, Any], key: str = "tags") -> list[str]:
    value = payload.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise Rejected.invalid("tags must be a list of words")
    if len(value) > TAGS_MAX:
        raise Rejected.invalid(f"{len(value)} tags; the limit is {TAGS_MAX}")
    for tag in value:
        if len(tag) > TAG_MAX or not TAG_RE.match(tag):
            raise Rejected.invalid(
                f"tag {tag!r} is not valid: use lowercase letters, digits, - or _, at most {TAG_MAX} characters"
            )
    return sorted(set(value))


def normalize_tag(tag: str) -> str:
    """What a user typed (`#Win`, ` sourdough `) to the stored form."""
    return tag.strip().lstrip("#").lower()


def split_tags(text: str) -> list[str]:
    """Tags typed in one line (`#starter, Rye flour`), each in the stored form."""
    return [tag for tag in (normalize_tag(t) for t in text.replace(" ", ",").split(",")) if tag]


def ref(payload: dict[str, Any], key: str, *, label: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str) or not ID_RE.match(value):
        raise Rejected.invalid(f"{label} is not a valid id")
    return value


def flag(payload: dict[str, Any], key: str, *, label: str) -> bool:
    value = payload.get(key)
    if not isinstance(value, bool):
        raise Rejected.invalid(f"{label} must be true or false")
    return value


def url(payload: dict[str, Any], key: str = "url") -> str:
    value = one_line(payload, key, label="url", max_chars=URL_MAX)
    if not re.match(r"^(https?|gemini|ftp)://\S+$", value) and not value.startswith("mailto:"):
        raise Rejected.invalid(
            f"url {value!r} is not a link: it should start with https://, http://, gemini://, ftp:// or mailto:"
        )
    return value


def emoji(payload: dict[str, Any], key: str = "emoji") -> str:
    value = payload.get(key)
    if type(value) is str and value in _GOOD_EMOJI:  # a group reacts with a handful: each checked once
        return value
    if not isinstance(value, str) or not value or len(value) > EMOJI_MAX or any(c.isspace() for c in value):
        raise Rejected.invalid(f"reaction must be one emoji or short word (no spaces, at most {EMOJI_MAX} characters)")
    refuse_unsafe(value, label="reaction", multiline=False)
    if len(_GOOD_EMOJI) < GOOD_EMOJI_KEPT:
        _GOOD_EMOJI.add(value)
    return value


# Reactions that passed `emoji`: the check is a function of the text alone.
# Bounded, so a stream of distinct ones is checked each time, not kept.
_GOOD_EMOJI: set[str] = set()
GOOD_EMOJI_KEPT = 256


# The group's size cap ("cap at ~150 until moderation scales"): the default
# when moderators set none, and the most they may set.
MEMBER_CAP_DEFAULT = 150
MEMBER_CAP_MAX = 10_000
