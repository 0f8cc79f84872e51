"""Opening a group for a member, on this thread or a worker's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tablespace.core.group import Group
from tablespace.core.home import GroupEntry, Home

T = TypeVar("T")


def open_group(home: Home, selector: str | None = None) -> Group:
    """The group `selector` names (a name or id prefix; the only or last one
    used without), remembered as the last one used."""
    return Group.open(home, selector)


def in_own_group(group: Group, action: Callable[[Group], T]) -> Callable[[], T]:
    """`action` on a connection of its own to the same group, for a worker
    thread: an SQLite connection belongs to the thread that opened it."""
    home, entry = group.home, GroupEntry(group.id, "", group.path)

    def run() -> T:
        own = Group(home, entry)
        try:
            return action(own)
        finally:
            own.close()

    return run
