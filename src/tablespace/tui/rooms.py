"""The rooms of the Threads section: the group's own, each circle the reader
is in, and their direct messages (two-person circles, named by the other
person). The room bar lists them with their unread counts; `[` and `]` move
between them. A circle past its end date comes after those still running,
dimmed, and stays open to read and write in."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from tablespace.core import circle_queries, member_queries
from tablespace.core.circles import day_words, end_day
from tablespace.core.clock import today
from tablespace.core.text import visible
from tablespace.tui.format import days_until, local

if TYPE_CHECKING:
    from tablespace.core.calendar_queries import RitualView
    from tablespace.core.group import Group

GROUP_LABEL = "Group"


@dataclass(frozen=True)
class Room:
    circle: str | None  # None: the group's room
    label: str  # what the bar calls it
    dm: bool = False
    peer: str | None = None  # a direct conversation's other member (their id)
    purpose: str = ""
    members: tuple[str, ...] = ()
    ends: str | None = None
    ended_on: str | None = None  # its last day in words, once that has passed on the reader's clock

    def about(self) -> str:
        """The line above a circle's threads: its purpose and who is in it."""
        if self.circle is None:
            return ""
        if self.dm:
            return f"Direct messages with {self.label}: only the two of you read them."
        parts = [self.label] + ([self.purpose] if self.purpose else [])
        parts.append(", ".join(self.members))
        if self.ended_on:
            parts.append(f"ended on {self.ended_on}; you can still write here")
        elif self.ends:
            parts.append(f"until {self.ends}")
        return " · ".join(parts)


def rituals_line(rituals: Iterable[RitualView], moment: datetime) -> str:
    """A circle's rituals under its line, each with when it next opens: the
    pod's check-in threads open in its room."""
    parts = []
    for ritual in rituals:
        when = "paused" if ritual.next is None else f"{days_until(ritual.next, at=moment)} {local(ritual.next):%H:%M}"
        parts.append(f"{visible(ritual.name)} ({when})")
    return "⟳ " + " · ".join(parts) if parts else ""


def reader_rooms(conn: sqlite3.Connection, me: str) -> list[Room]:
    """The group's room, then the reader's circles by name (those that have
    ended after the others), then their DMs by the other person's name."""
    my_name = visible(member_queries.member_names(conn).get(me, me[:8]))
    circles: list[Room] = []
    day = today()
    for view in circle_queries.circles(conn, me, day):  # conversations are circle_queries.dms'
        members = tuple(visible(name) for name in view.members)
        label = visible(view.name) if view.name else f"circle {view.id[:8]}"
        last = end_day(view.ends) if view.ended else None
        ended_on = day_words(last, day) if last else None
        room = Room(view.id, label, purpose=visible(view.purpose), members=members, ends=view.ends, ended_on=ended_on)
        circles.append(room)
    dms = [
        Room(d.id, visible(d.with_name), dm=True, peer=d.with_member, members=(my_name, visible(d.with_name)))
        for d in circle_queries.dms(conn, me)
    ]
    dms.sort(key=lambda room: room.label.casefold())
    return [Room(None, GROUP_LABEL), *circles, *dms]


def room_phrase(conn: sqlite3.Connection, me: str, circle: str | None) -> str:
    """Where a thread is, for its heading: "" in the group's room."""
    if circle is None:
        return ""
    room = next((room for room in reader_rooms(conn, me) if room.circle == circle), None)
    if room is None:
        return ""
    return f"🔒 with {room.label}" if room.dm else f"🔒 in {room.label}"


class RoomBar(Static):
    """One line: every room with its unread count, the chosen one marked."""

    def show(self, rooms: list[Room], chosen: str | None, unread: dict[str | None, int]) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        heading_done = False
        for n, room in enumerate(rooms):
            if room.dm and not heading_done:
                text.append("  DMs:", "dim")
                heading_done = True
            elif n:
                text.append("·", "dim")
            count = unread.get(room.circle, 0)
            label = f" {room.label}" + (f" ({count})" if count else "")
            style = "reverse bold" if room.circle == chosen else ("bold" if count else "")
            if room.ended_on and room.circle != chosen:
                style = f"dim {style}".strip()  # still there to read, after the running ones
            text.append(label + " ", style)
        text.append("   [ ] rooms", "dim")
        self.update(text)


def roster_names(group: Group, circle: str | None = None) -> list[str]:
    """Who the composer completes `@` names from: the members in the group,
    not me; in a circle's room, its members alone (a mention reaches only
    those who can read it)."""
    room = None if circle is None else set(circle_queries.circle_member_ids(group.conn, circle))
    return [
        m.name
        for m in member_queries.members(group.conn)
        if m.status in ("active", "timed_out") and m.id != group.me and (room is None or m.id in room)
    ]
