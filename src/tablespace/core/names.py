"""When two display names are the same name.

Display names are unique in a group by `name_key`: what remains of a name
once the differences a reader cannot see or would not trust are taken out.
The fold compares keys (fold.py: the founder, admissions, renames), and so
does every lookup of a member by name (refs.py), so both agree.
"""

from __future__ import annotations

import re
import unicodedata

# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt):
# characters that render as nothing, so "ali\u200bce" reads as "alice".
# Format characters (category Cf) of later Unicode versions are caught too.
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)
# Case folding turns "İ" into "i" plus a combining dot above, which an "i"
# already shows: the dot on a soft-dotted letter is taken out.
_DOT_ON_I = re.compile("([ij])\u0307")
NO_VISIBLE_CHARACTERS = "display name has no visible characters"


def name_key(name: str) -> str:
    """The comparison key of a display name: Unicode NFKC with case folding
    (so "ａｌｉｃｅ", "ALICE" and "Alice" are one name), without invisible
    characters, with runs of spaces as one. The name itself is stored as typed."""
    visible = "".join(c for c in _IGNORABLE.sub("", name) if unicodedata.category(c) != "Cf")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())
    return " ".join(_DOT_ON_I.sub(r"\1", folded).split())
