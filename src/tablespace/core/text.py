"""Text from other members, made safe for a terminal.

Whatever a member wrote reaches other members' terminals. A terminal acts on
control characters (ESC starts sequences that clear the screen or write the
clipboard; 8-bit C1 codes do the same on some terminals) and bidi overrides
reorder what is shown, so none of them is ever printed as it is: `visible`
spells each one out (`\\x1b`, `\\u202e`) at the output boundary, and input
refuses them (core/limits.py) with the words of `describe`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

# C0 controls, DEL, C1 controls, the bidi embeddings, overrides and isolates
# (the "Trojan Source" set), and lone surrogates (undecodable bytes of a file
# name), which no terminal should receive raw.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_UNSAFE_IN_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
# What json.dumps(ensure_ascii=False) leaves raw of the above (it escapes C0 itself).
_RAW_IN_JSON = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Replies that add nothing a reaction would not ("no dogpiles").
_ME_TOO = frozenset({"+1", "same", "same here", "me too"})
_EMOJI_JOINERS = frozenset("\u200d\ufe0e\ufe0f\u20e3")  # zero-width joiner, variation selectors, keycap
THUMBS_UP = "\N{THUMBS UP SIGN}"
REACTION_MAX = 16  # the longest reaction (core/limits.py refuses longer ones)


def _pattern(multiline: bool) -> re.Pattern[str]:
    return _UNSAFE_IN_LINES if multiline else _UNSAFE


def _spelled(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, multiline: bool = False) -> str:
    """`text` with every terminal control character and bidi override spelled
    out as an escape (`\\x1b`, `\\x9b`, `\\u202e`). With `multiline`, newline
    and tab stay as they are (bodies, summaries, prompts)."""
    return _pattern(multiline).sub(lambda m: _spelled(m.group()), text)


def first_unsafe(text: str, *, multiline: bool = False) -> str | None:
    """The first character `visible` would spell out, or None."""
    found = _pattern(multiline).search(text)
    return found.group() if found else None


def describe(char: str) -> str:
    """What an unsafe character is, for a refusal: 'a control character (\\x1b)'."""
    kind = "a bidirectional override" if _BIDI.fullmatch(char) else "a control character"
    return f"{kind} ({_spelled(char)})"


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """JSON for a terminal or a pipe: text stays exact once decoded, but every
    character `visible` would spell out is written as a \\u escape (json.dumps
    with ensure_ascii=False leaves DEL, C1 and bidi characters raw)."""
    dumped = json.dumps(value, ensure_ascii=False, indent=indent)
    # These characters can only occur inside JSON strings, where \\uXXXX means the same.
    return _RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def only_a_reaction(body: str) -> bool:
    """A body that says no more than a reaction: "+1", "same", "same here",
    "me too" or emoji alone, whatever the case, spacing or closing punctuation."""
    said = " ".join(body.split()).casefold().rstrip("!.")
    if said in _ME_TOO:
        return True
    return bool(said) and all(c.isspace() or _emoji_part(c) for c in said)


def reaction_for(body: str) -> str:
    """The reaction to give instead of a body `only_a_reaction` spots: its
    emoji when it holds one (and nothing but it), else a thumbs up."""
    said = "".join(body.split()).rstrip("!.")
    return said if said and len(said) <= REACTION_MAX and all(_emoji_part(c) for c in said) else THUMBS_UP


def _emoji_part(char: str) -> bool:
    # Pictographs are symbols (So); skin tones are modifiers (Sk).
    return char in _EMOJI_JOINERS or unicodedata.category(char) in ("So", "Sk")
