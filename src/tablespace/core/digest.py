"""The digest: what happened in a window, for a member who does not open the
app daily (`tablespace digest`, meant to be mailed by cron).

Sections: my unread inbox, new threads, wins, rituals (occurrences opened and
the next ones), the library's additions and newcomers. Each section lists at
most `PER_SECTION` items, newest first, and counts the rest, so a busy week
still reads in a screen a section. Events join when the group has them.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tablespace.core import calendar_queries, member_queries
from tablespace.core.clock import SHIFT, datetime_to_hlc, hlc_to_datetime, iso
from tablespace.core.inbox import Window, inbox_page
from tablespace.core.log_queries import newest_op_row
from tablespace.core.metrics import WIN_TAG

PER_SECTION = 10
EVENTS_AHEAD = timedelta(days=14)  # the digest's upcoming events: the next two weeks
EXCERPT_CHARS = 160
SECTIONS = ("inbox", "threads", "wins", "events", "rituals", "library", "newcomers")
TITLES = {
    "inbox": "Your inbox",
    "threads": "New threads",
    "wins": "Wins",
    "events": "Upcoming events",
    "rituals": "Rituals",
    "library": "New in the library",
    "newcomers": "Newcomers",
}


@dataclass(frozen=True)
class Item:
    """One line of a section: a headline and, where there is one, some text."""

    headline: str
    text: str = ""
    at: datetime | None = None
    ref: str | None = None  # the thread, resource or member it is about

    def to_json(self) -> dict[str, Any]:
        return {"headline": self.headline, "text": self.text, "at": iso(self.at) if self.at else None, "ref": self.ref}


@dataclass(frozen=True)
class Section:
    name: str
    items: list[Item]
    total: int  # how many there were; `items` holds at most PER_SECTION

    @property
    def more(self) -> int:
        return self.total - len(self.items)

    def to_json(self) -> dict[str, Any]:
        return {"items": [i.to_json() for i in self.items], "total": self.total, "more": self.more}


@dataclass(frozen=True)
class Digest:
    group: str
    since: datetime
    until: datetime
    sections: list[Section] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "since": iso(self.since),
            "until": iso(self.until),
            "sections": {s.name: s.to_json() for s in self.sections},
        }

    def markdown(self) -> str:
        out = [f"# {self.group}: since {self.since:%Y-%m-%d %H:%M} UTC", ""]
        if all(s.total == 0 for s in self.sections):
            return "\n".join([*out, "Nothing happened.", ""])
        for s in self.sections:
            if s.total == 0 and s.name != "inbox":
                continue
            out += [f"## {TITLES[s.name]} ({s.total})", ""]
            if s.total == 0:
                out += ["Nothing new for you.", ""]
                continue
            for item in s.items:
                out.append(f"- **{item.headline}**" + (f": {item.text}" if item.text else ""))
            if s.more:
                out.append(f"- … and {s.more} more")
            out.append("")
        return "\n".join(out)


# Ops written before the window that reached this home after the last
# digest's arrival mark; `_in_window(column)` takes them with the window's.
_LATE = "rowid > :late_from AND hlc < :lo"


def _in_window(hlc: str, op_id: str) -> str:
    """In the window, or late; `:from`, the earliest late op's time, bounds
    the range so an index on `hlc` serves it."""
    return f"({hlc} >= :from AND {hlc} < :hi AND ({hlc} >= :lo OR {op_id} IN (SELECT id FROM ops WHERE {_LATE})))"


def _excerpt(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


# Each section walks its window by time (threads_created, posts_created):
# left to itself the planner takes `t.deleted = 0` to an index of every
# thread. The wins come from the window's posts, or, when the window holds
# many more posts than there are win threads, each win thread's posts in it.
_WINS_FROM_POSTS = "posts p INDEXED BY posts_created CROSS JOIN threads t ON t.id = p.thread_id"
_WINS_FROM_THREADS = """thread_tags w INDEXED BY thread_tags_tag CROSS JOIN threads t ON t.id = w.thread_id
    CROSS JOIN posts p INDEXED BY posts_thread ON p.thread_id = t.id AND w.tag = :win"""
WIN_THREAD_COST = 3  # index seeks a win thread costs, in window posts


def _wins_walk(conn: sqlite3.Connection, window: dict[str, Any]) -> str:
    """The cheaper way to the window's wins, by counting (up to a bound) the
    window's posts against the win threads."""
    (threads,) = conn.execute(
        "SELECT count(*) FROM thread_tags INDEXED BY thread_tags_tag WHERE tag = :win", window
    ).fetchone()
    bound = WIN_THREAD_COST * threads
    (posts,) = conn.execute(
        """SELECT count(*) FROM (SELECT 1 FROM posts INDEXED BY posts_created
           WHERE created_hlc >= :from AND created_hlc < :hi LIMIT :bound)""",
        {**window, "bound": bound + 1},
    ).fetchone()
    return _WINS_FROM_THREADS if posts > bound else _WINS_FROM_POSTS


def _section(name: str, conn: sqlite3.Connection, sql: str, params: dict[str, Any], dress: Any) -> Section:
    """A section from one query whose first column counts all the rows (a
    window function), so the page and the total come in one pass."""
    rows = conn.execute(f"SELECT count(*) OVER (), * FROM ({sql}) LIMIT {PER_SECTION}", params).fetchall()
    return Section(name, [dress(r[1:]) for r in rows], rows[0][0] if rows else 0)


def digest(
    conn: sqlite3.Connection,
    me: str,
    since: datetime,
    until: datetime,
    *,
    group: str,
    arrived_after: int | None = None,
) -> Digest:
    """What happened after `since` up to `until` (inclusive), and, with
    `arrived_after` (a `newest_op_row`), what reached this home after that
    mark though written earlier: a post written offline on Sunday and synced
    after Monday's digest is in Tuesday's."""
    # In whole milliseconds, as the clock stamps them: after `since`'s, up to and with `until`'s.
    lo, hi = (((datetime_to_hlc(moment) >> SHIFT) + 1) << SHIFT for moment in (since, until))
    late_from = newest_op_row(conn) if arrived_after is None else arrived_after
    late = Window(lo, hi, late_from)
    window = {**late.params(conn), "me": me, "win": WIN_TAG}
    names = member_queries.member_names(conn)

    def who(member: str | None) -> str:
        return names.get(member or "", (member or "someone")[:8])

    entries, total = inbox_page(conn, me, limit=PER_SECTION, window=late)
    inbox_section = Section(
        "inbox",
        [Item(e.headline + (f" in “{e.title}”" if e.title else ""), _excerpt(e.text), e.at, e.thread) for e in entries],
        total,
    )
    threads = _section(
        "threads",
        conn,
        f"""SELECT t.id, t.title, t.author, t.created_hlc, t.replies, p.body
           FROM threads t INDEXED BY threads_created CROSS JOIN posts p ON p.id = t.id
           WHERE {_in_window("t.created_hlc", "t.id")} AND t.deleted = 0 AND t.ritual_id IS NULL
             AND p.hidden = 0
           ORDER BY t.created_hlc DESC, t.id""",
        window,
        lambda r: Item(
            f"“{r[1]}” by {who(r[2])} ({r[4]} repl{'y' if r[4] == 1 else 'ies'})",
            _excerpt(r[5]),
            hlc_to_datetime(r[3]),
            r[0],
        ),
    )
    wins = _section(
        "wins",
        conn,
        f"""SELECT p.thread_id, t.title, p.author, p.created_hlc, p.body FROM {_wins_walk(conn, window)}
           WHERE {_in_window("p.created_hlc", "p.id")} AND t.deleted = 0 AND p.deleted = 0 AND p.hidden = 0
             AND EXISTS (SELECT 1 FROM thread_tags tt WHERE tt.thread_id = t.id AND tt.tag = :win)
             AND NOT (p.id = t.id AND t.ritual_id IS NOT NULL)
           ORDER BY p.created_hlc DESC, p.id""",
        window,
        lambda r: Item(f"{who(r[2])} in “{r[1]}”", _excerpt(r[4]), hlc_to_datetime(r[3]), r[0]),
    )
    rituals = _section(
        "rituals",
        conn,
        """SELECT t.id, t.title, t.replies, t.created_hlc FROM threads t INDEXED BY threads_created
           WHERE t.ritual_id IS NOT NULL AND t.deleted = 0 AND t.created_hlc >= :lo AND t.created_hlc < :hi
           ORDER BY t.created_hlc DESC, t.id""",
        window,
        lambda r: Item(f"“{r[1]}”", f"{r[2]} answer{'' if r[2] == 1 else 's'}", hlc_to_datetime(r[3]), r[0]),
    )
    coming = calendar_queries.events(conn, until, until=until + EVENTS_AHEAD)
    events = Section("events", [_event_item(e) for e in coming[:PER_SECTION]], len(coming))
    upcoming = [r for r in calendar_queries.rituals(conn, until) if r.next is not None][:PER_SECTION]
    rituals = Section(
        "rituals",
        rituals.items + [Item(f"Next: {r.name}", f"{r.next:%a %Y-%m-%d %H:%M} UTC", r.next, r.id) for r in upcoming],
        rituals.total + len(upcoming),
    )
    library = _section(
        "library",
        conn,
        f"""SELECT id, title, url, summary, added_by, created_hlc FROM resources
           WHERE deleted = 0 AND {_in_window("created_hlc", "id")} ORDER BY created_hlc DESC, id""",
        window,
        lambda r: Item(f"{r[1]} <{r[2]}> (added by {who(r[4])})", _excerpt(r[3]), hlc_to_datetime(r[5]), r[0]),
    )
    newcomers = _section(
        "newcomers",
        conn,
        """SELECT m.id, m.name, m.joined_hlc,
                  (SELECT t.title FROM threads t WHERE t.author = m.id AND t.deleted = 0 AND t.ritual_id IS NULL
                   ORDER BY t.created_hlc, t.id LIMIT 1)
           FROM members m WHERE m.status IN ('active', 'timed_out') AND m.joined_hlc >= :lo AND m.joined_hlc < :hi
             AND m.joined_hlc > (SELECT min(joined_hlc) FROM members)  -- the founder is no newcomer
           ORDER BY m.joined_hlc DESC, m.id""",
        window,
        lambda r: Item(r[1], f"first post: “{r[3]}”" if r[3] else "no post yet", hlc_to_datetime(r[2]), r[0]),
    )
    return Digest(group, since, until, [inbox_section, threads, wins, events, rituals, library, newcomers])


def _event_item(event: calendar_queries.EventView) -> Item:
    """An event at its time in UTC (a digest is read anywhere), with its place and who is going."""
    going = f"{len(event.going)} going" + (f" ({', '.join(event.going[:5])})" if event.going else "")
    where = f" · {event.where}" if event.where else ""
    return Item(f"{event.title}, {event.at:%a %Y-%m-%d %H:%M} UTC", going + where, event.at, event.id)
