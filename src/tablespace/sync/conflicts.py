"""Conflict copies made by sync software, told apart by their names.

When two versions of one file meet (often a file still arriving and the
whole one), Syncthing keeps the loser as
`<stem>.sync-conflict-<YYYYMMDD>-<HHMMSS>-<device>.<ext>` and Dropbox as
`<stem> (<who>'s conflicted copy <date>).<ext>`. Our files are write-once,
so such a copy is either the same bytes (a duplicate, imported as nothing)
or a broken version: quarantined like any bad file, with a reason that says
what it is and that it can be left or deleted. Names are never trusted for
anything else; the header decides what a file is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SYNCTHING = re.compile(r"^(?P<stem>.+)\.sync-conflict-\d{8}-\d{6}-[A-Z0-9]{7}(?P<ext>\.[^.]*)?$")
_DROPBOX = re.compile(r"^(?P<stem>.+?) \((?P<what>.*conflicted copy.*)\)(?P<ext>\.[^.()]*)?$")


@dataclass(frozen=True)
class ConflictCopy:
    software: str  # "Syncthing" or "Dropbox"
    original: str  # the name of the file it is a copy of

    @property
    def what(self) -> str:
        kind = "conflict copy" if self.software == "Syncthing" else "conflicted copy"
        return f"a {self.software} {kind} of {self.original}"


def conflict_copy(path: str) -> ConflictCopy | None:
    """What made the file at `path` (forward slashes), if its name is a conflict copy's."""
    name = path.rpartition("/")[2]
    for software, pattern in (("Syncthing", _SYNCTHING), ("Dropbox", _DROPBOX)):
        if match := pattern.match(name):
            return ConflictCopy(software, match["stem"] + (match["ext"] or ""))
    return None


def explained(path: str, reason: str) -> str:
    """`reason` for quarantining the file at `path`, saying so if it is a conflict copy."""
    copy = conflict_copy(path)
    if copy is None:
        return reason
    return (
        f"{reason}; it is {copy.what}, made by {copy.software} when two versions of that file met: "
        "nothing to do (the rest syncs), or delete it"
    )
