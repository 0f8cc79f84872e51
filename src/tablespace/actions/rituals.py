"""Rituals: recurring prompts, and opening the thread of each occurrence
that came due."""

from __future__ import annotations

from datetime import timedelta

from tablespace.core import queries
from tablespace.core.clock import iso, now
from tablespace.core.errors import TablespaceError
from tablespace.core.fold import derived_id
from tablespace.core.group import Group
from tablespace.core.keyfile import LockedKeyError
from tablespace.core.rituals import occurrences_between

# Rituals whose occurrence passed more than this long ago are not opened late.
RITUAL_CATCH_UP = timedelta(days=3)


def ritual_add(group: Group, name: str, prompt: str, rrule: str, start: str | None = None) -> str:
    """Moderators: add a recurring prompt; returns its id. `start` is a day
    (YYYY-MM-DD, 09:00 UTC) or an instant; today by default."""
    start = (start or now().date().isoformat()).strip()
    return group.write(
        "ritual.add", {"name": name.strip(), "prompt": prompt, "rrule": rrule.strip(), "start": start}
    ).id


def ritual_pause(group: Group, ritual_ref: str, paused: bool = True) -> None:
    group.write("ritual.pause", {"ritual": group.ritual_id(ritual_ref), "paused": paused})


def open_due_rituals(group: Group) -> list[str]:
    """Open the threads of ritual occurrences that have come due (recent
    ones only); returns their ids. Every replica derives the same thread id,
    so two members doing this at once merge into one thread."""
    opened: list[str] = []
    moment = now()
    for ritual in queries.rituals(group.conn, moment):
        if ritual.paused:
            continue
        for at in occurrences_between(ritual.rrule, ritual.start, moment - RITUAL_CATCH_UP, moment):
            thread = derived_id("ritual.occur", ritual.id, iso(at))
            if queries.thread_ever_existed(group.conn, thread):
                continue
            try:
                group.write("ritual.occur", {"ritual": ritual.id, "at": iso(at)})
            except LockedKeyError:
                raise  # not a refusal: asking again for each ritual would not help
            except TablespaceError:
                return opened  # we may not write now (timed out, not admitted): others will open it
            opened.append(thread)
    return opened
