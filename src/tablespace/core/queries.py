"""Read-only questions the CLI and the TUI ask of the view tables."""

from __future__ import annotations

import functools
import json
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from tablespace.core import limits
from tablespace.core.circles import has_ended
from tablespace.core.clock import datetime_to_hlc, hlc_to_datetime, iso, parse_instant
from tablespace.core.clock import now as current_time
from tablespace.core.clock import today as clock_today
from tablespace.core.errors import TablespaceError
from tablespace.core.events import LONGEST_MINUTES
from tablespace.core.polls import PollView, SurveyView
from tablespace.core.polls import poll as thread_poll
from tablespace.core.polls import survey as thread_survey
from tablespace.core.rituals import Closed, closed_because, first_open, occurrences_after


@dataclass(frozen=True)
class ThreadSummary:
    id: str
    title: str
    author: str
    author_id: str
    created_at: datetime
    last_activity: datetime
    replies: int
    tags: list[str]
    pinned: bool
    unread: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "author": self.author,
            "author_id": self.author_id,
            "created_at": iso(self.created_at),
            "last_activity": iso(self.last_activity),
            "replies": self.replies,
            "tags": self.tags,
            "pinned": self.pinned,
            "unread": self.unread,
        }


@dataclass(frozen=True)
class Quote:
    """The post a reply quotes, as it is now (read time, not when quoted)."""

    post: str
    author: str
    excerpt: str  # "" once deleted or hidden
    deleted: bool

    def to_json(self) -> dict[str, Any]:
        return {"post": self.post, "author": self.author, "excerpt": self.excerpt, "deleted": self.deleted}


QUOTE_EXCERPT_CHARS = 200


@dataclass(frozen=True)
class PostView:
    id: str
    author: str
    author_id: str
    body: str
    created_at: datetime
    edited_at: datetime | None
    reactions: dict[str, int]
    quote: Quote | None = None
    my_reactions: frozenset[str] = frozenset()  # the emoji of `reactions` the reader gave (see `thread`)

    def to_json(self) -> dict[str, Any]:
        return {
            "quote": self.quote.post if self.quote else None,
            "quoted": self.quote.to_json() if self.quote else None,
            "id": self.id,
            "author": self.author,
            "author_id": self.author_id,
            "body": self.body,
            "created_at": iso(self.created_at),
            "edited": self.edited_at is not None,
            "edited_at": iso(self.edited_at) if self.edited_at else None,
            "reactions": self.reactions,
        }


@dataclass(frozen=True)
class ThreadDetail:
    id: str
    title: str
    tags: list[str]
    pinned: bool
    ritual_id: str | None
    posts: list[PostView] = field(default_factory=list)
    archived: bool = False  # read-only, out of the thread list
    poll: PollView | None = None  # the poll the thread carries, if any
    # The survey it asks, if any; not in to_json, whose body already lists the questions.
    survey: SurveyView | None = None

    def to_json(self) -> dict[str, Any]:
        shown = {
            "id": self.id,
            "title": self.title,
            "tags": self.tags,
            "pinned": self.pinned,
            "ritual": self.ritual_id,
            "archived": self.archived,
            "posts": [p.to_json() for p in self.posts],
        }
        if self.poll is not None:
            shown["poll"] = self.poll.to_json()
        return shown


@dataclass(frozen=True)
class SearchHit:
    kind: str  # thread | post | resource
    id: str
    thread: str | None
    title: str
    snippet: str
    author: str = ""  # who wrote it (their name, else the start of their id)
    created_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "thread": self.thread, "title": self.title, "snippet": self.snippet}


@dataclass(frozen=True)
class ResourceView:
    id: str
    title: str
    url: str
    summary: str
    tags: list[str]
    added_by: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "url": self.url,
            "summary": self.summary,
            "tags": self.tags,
            "added_by": self.added_by,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True)
class QuietSpell:
    """A stretch [starts, ends) in which no ritual opens."""

    id: str
    starts: datetime
    ends: datetime
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "from": iso(self.starts), "until": iso(self.ends), "reason": self.reason}


@dataclass(frozen=True)
class RitualView:
    id: str
    name: str
    prompt: str
    rrule: str
    start: str
    paused: bool
    next: datetime | None
    tz: str = "UTC"
    paused_until: datetime | None = None
    skipped: frozenset[datetime] = frozenset()
    quiet: tuple[tuple[datetime, datetime], ...] = ()
    circle: str | None = None  # the circle it belongs to; None: the group's

    def closed_because(self, at: datetime) -> Closed | None:
        """Why the occurrence at `at` does not open, or None (the fold's own rule)."""
        return closed_because(
            at, paused=self.paused, paused_until=self.paused_until, skipped=self.skipped, quiet=self.quiet
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "prompt": self.prompt,
            "rrule": self.rrule,
            "start": self.start,
            "tz": self.tz,
            "paused": self.paused,
            "paused_until": iso(self.paused_until) if self.paused_until else None,
            "next": iso(self.next) if self.next else None,
            "circle": self.circle,
        }


@dataclass(frozen=True)
class EventView:
    """An event: its thread, its time (a UTC instant and the zone it was set
    in), its length, its place or link, and who answered what (names, in order)."""

    id: str
    title: str
    at: datetime
    tz: str
    minutes: int
    where: str
    author: str
    going: tuple[str, ...] = ()
    maybe: tuple[str, ...] = ()
    declined: tuple[str, ...] = ()
    mine: str | None = None  # the reader's own answer

    @property
    def ends(self) -> datetime:
        return self.at + timedelta(minutes=self.minutes)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "at": iso(self.at),
            "where": self.where,
            "going": list(self.going),
            "maybe": list(self.maybe),
            "declined": list(self.declined),
        }


@dataclass(frozen=True)
class MemberView:
    id: str
    name: str
    roles: list[str]
    status: str
    timeout_until: datetime | None = None  # set while timed out
    devices: int = 1  # the member's devices not removed: one person, whatever the count

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "roles": self.roles,
            "status": self.status,
            "timeout_until": iso(self.timeout_until) if self.timeout_until else None,
            "devices": self.devices,
        }


@dataclass(frozen=True)
class DeviceView:
    id: str
    name: str
    added_at: datetime
    this: bool  # the device this home is

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "added_at": iso(self.added_at), "this": self.this}


@dataclass(frozen=True)
class GroupSettings:
    """The settings a member sees (`tablespace settings`); unset ones are empty."""

    name: str
    purpose: str
    conduct: str
    rules: str
    post_cap: int  # threads and replies per member per 7 days; 0: no cap
    tz: str = "UTC"  # the zone rituals take when added without one
    member_cap: int = limits.MEMBER_CAP_DEFAULT  # admissions stop here (fold/membership.py)
    welcome: str = ""  # the onboarding walk's first message (core/onboarding.py)
    intro_template: str = ""  # prefilled in a newcomer's intro
    first_win: str | None = None  # the library resource a newcomer opens first

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "purpose": self.purpose,
            "conduct": self.conduct,
            "rules": self.rules,
            "post_cap": self.post_cap,
            "tz": self.tz,
            "member_cap": self.member_cap,
            "welcome": self.welcome,
            "intro_template": self.intro_template,
            "first_win": self.first_win,
        }


def _tags(value: str | None) -> list[str]:
    return sorted(value.split(",")) if value else []


THREAD_COLUMNS = """
    t.id, t.title, coalesce(m.name, substr(t.author, 1, 8)), t.author, t.created_hlc,
    t.last_activity_hlc, t.replies, t.pinned,
    (SELECT group_concat(tag) FROM thread_tags WHERE thread_id = t.id),
    r.read_hlc IS NULL OR r.read_hlc < t.last_activity_hlc
"""


def _one_int(conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()) -> int:
    """The one integer of a query that returns one row of one column: a count,
    coalesce(max(...), 0), or a column of a row known to exist."""
    value: int = conn.execute(sql, params).fetchone()[0]
    return value


def _thread_summary(row: tuple[Any, ...]) -> ThreadSummary:
    return ThreadSummary(
        id=row[0],
        title=row[1],
        author=row[2],
        author_id=row[3],
        created_at=hlc_to_datetime(row[4]),
        last_activity=hlc_to_datetime(row[5]),
        replies=row[6],
        pinned=bool(row[7]),
        tags=_tags(row[8]),
        unread=bool(row[9]),
    )


def threads(
    conn: sqlite3.Connection,
    *,
    tag: str | None = None,
    unread: bool = False,
    limit: int | None = None,
    offset: int = 0,
    pinned_first: bool = False,
    archived: bool = False,
    circle: str | None = None,
) -> list[ThreadSummary]:
    """Threads of the group's room, or of `circle`, most recent activity
    first (pinned ones on top if asked); archived threads only, if asked."""
    where = ["t.deleted = 0", "t.archived = ?", "t.circle_id IS ?"]
    args: list[Any] = [int(archived), circle]
    if tag:
        where.append("t.id IN (SELECT thread_id FROM thread_tags WHERE tag = ?)")
        args.append(tag)
    if unread:
        where.append("(r.read_hlc IS NULL OR r.read_hlc < t.last_activity_hlc)")
    order = ("t.pinned DESC, " if pinned_first else "") + "t.last_activity_hlc DESC, t.id DESC"
    # Page over ids alone (an index walk), then join and format just that page:
    # a deep OFFSET must not build every skipped row.
    sql = f"""WITH page AS (
                SELECT t.id FROM threads t LEFT JOIN reads r ON r.thread_id = t.id
                WHERE {" AND ".join(where)} ORDER BY {order} LIMIT ? OFFSET ?)
              SELECT {THREAD_COLUMNS} FROM page JOIN threads t ON t.id = page.id
              LEFT JOIN members m ON m.id = t.author LEFT JOIN reads r ON r.thread_id = t.id
              ORDER BY {order}"""
    args += [-1 if limit is None else limit, offset]
    return [_thread_summary(row) for row in conn.execute(sql, args)]


def count_threads(conn: sqlite3.Connection, circle: str | None = None) -> int:
    """Listed threads of the group's room, or of `circle`."""
    return _one_int(
        conn, "SELECT count(*) FROM threads WHERE deleted = 0 AND archived = 0 AND circle_id IS ?", (circle,)
    )


def unread_by_room(conn: sqlite3.Connection) -> dict[str | None, int]:
    """Unread listed threads per room: None is the group's, else a circle's id."""
    rows = conn.execute(
        """SELECT t.circle_id, count(*) FROM threads t LEFT JOIN reads r ON r.thread_id = t.id
           WHERE t.deleted = 0 AND t.archived = 0
           AND (r.read_hlc IS NULL OR r.read_hlc < t.last_activity_hlc) GROUP BY t.circle_id"""
    )
    return {circle: count for circle, count in rows}


@dataclass(frozen=True)
class CircleView:
    id: str
    name: str | None  # None: its details did not open here
    purpose: str
    ends: str | None
    members: list[str]  # display names
    ended: bool = False  # past its end date on the reader's clock

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "members": self.members, "ends": self.ends, "ended": self.ended}


def circles(conn: sqlite3.Connection, me: str, today: date | None = None) -> list[CircleView]:
    """The circles `me` is in, by name, those past their end date (on
    `today`, the reader's by default) after the others; direct conversations
    are `dms`'."""
    day = today or clock_today()
    rows = conn.execute(
        """SELECT c.id, d.name, coalesce(d.purpose, ''), d.ends FROM circles c
           JOIN circle_members cm ON cm.circle_id = c.id AND cm.member = ?
           LEFT JOIN circle_details d ON d.circle_id = c.id
           WHERE coalesce(d.dm, 0) = 0
           ORDER BY coalesce(d.name, ''), c.id""",
        (me,),
    ).fetchall()
    views = [
        CircleView(cid, name, purpose, ends, circle_member_names(conn, cid), has_ended(ends, day))
        for cid, name, purpose, ends in rows
    ]
    return sorted(views, key=lambda view: view.ended)  # a stable sort: by name within each


@dataclass(frozen=True)
class CircleOverview:
    """A circle as the fold shows it to every member of the group: that it
    exists, who made it and when, its members and how much is written in it.
    Its name and end date are sealed: known only where we are in it."""

    id: str
    name: str | None  # None: we are not in it, so its details are sealed to us
    ends: str | None
    members: list[str]  # display names
    maker: str  # display name
    created_at: datetime
    ops: int  # ops written in it (opaque to outsiders, counted by everyone)
    last_activity: datetime | None
    in_circle: bool
    ended: bool | None = None  # past its end date on our clock; None where its details are sealed to us

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "members": self.members,
            "ends": self.ends,
            "size": len(self.members),
            "maker": self.maker,
            "created_at": iso(self.created_at),
            "ops": self.ops,
            "last_activity": iso(self.last_activity) if self.last_activity else None,
            "in_circle": self.in_circle,
            "ended": self.ended,
        }


def count_circles(conn: sqlite3.Connection) -> int:
    """How many circles `all_circles` lists, without reading them."""
    (count,) = conn.execute(
        "SELECT count(*) FROM circles c WHERE EXISTS (SELECT 1 FROM circle_members cm WHERE cm.circle_id = c.id)"
    ).fetchone()
    return int(count)


def all_circles(conn: sqlite3.Connection, me: str, today: date | None = None) -> list[CircleOverview]:
    """Every circle someone is still in, newest first, as a moderator sees
    them: direct conversations too, since outside one nobody can tell it
    from a circle of two. Whether one has ended is said (on `today`, the
    reader's by default) only of those we are in: its end date is sealed."""
    day = today or clock_today()
    rows = conn.execute(
        """SELECT c.id, d.name, d.ends, coalesce(m.name, substr(c.maker, 1, 8)), c.created_hlc,
                  (SELECT count(*) FROM circle_activity a WHERE a.circle_id = c.id),
                  (SELECT max(a.hlc) FROM circle_activity a WHERE a.circle_id = c.id),
                  EXISTS (SELECT 1 FROM circle_members cm WHERE cm.circle_id = c.id AND cm.member = ?1)
           FROM circles c LEFT JOIN circle_details d ON d.circle_id = c.id LEFT JOIN members m ON m.id = c.maker
           WHERE EXISTS (SELECT 1 FROM circle_members cm WHERE cm.circle_id = c.id)
           ORDER BY c.created_hlc DESC, c.id""",
        (me,),
    ).fetchall()
    return [
        CircleOverview(
            cid,
            name if mine else None,
            ends if mine else None,
            circle_member_names(conn, cid),
            maker,
            hlc_to_datetime(created),
            ops,
            hlc_to_datetime(last) if last is not None else None,
            bool(mine),
            has_ended(ends, day) if mine else None,
        )
        for cid, name, ends, maker, created, ops, last, mine in rows
    ]


@dataclass(frozen=True)
class DirectView:
    """A direct conversation: a two-person circle and its one thread."""

    id: str  # the circle
    with_member: str  # the other member's id
    with_name: str
    thread: str | None  # None until its first message, or if it was deleted
    last_activity: str | None  # ISO time of its newest message
    unread: int  # messages we have not read

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "with": self.with_name,
            "thread": self.thread,
            "last_activity": self.last_activity,
            "unread": self.unread,
        }


def direct_thread(conn: sqlite3.Connection, circle: str) -> str | None:
    """A direct conversation's thread: its oldest live one."""
    row = conn.execute(
        "SELECT id FROM threads WHERE circle_id = ? AND deleted = 0 ORDER BY created_hlc, id LIMIT 1", (circle,)
    ).fetchone()
    return row[0] if row else None


def dms(conn: sqlite3.Connection, me: str) -> list[DirectView]:
    """`me`'s direct conversations with members still in them, newest first."""
    rows = conn.execute(
        """SELECT c.id, other.member, coalesce(m.name, substr(other.member, 1, 8)), t.id, t.last_activity_hlc,
                  (SELECT count(*) FROM posts p WHERE p.thread_id = t.id AND p.deleted = 0 AND p.author != :me
                     AND p.created_hlc > coalesce((SELECT read_hlc FROM reads WHERE thread_id = t.id), -1))
           FROM circles c
           JOIN circle_details d ON d.circle_id = c.id AND d.dm = 1
           JOIN circle_members mine ON mine.circle_id = c.id AND mine.member = :me
           JOIN circle_members other ON other.circle_id = c.id AND other.member != :me
           LEFT JOIN members m ON m.id = other.member
           LEFT JOIN threads t ON t.id = (SELECT id FROM threads WHERE circle_id = c.id AND deleted = 0
                                          ORDER BY created_hlc, id LIMIT 1)""",
        {"me": me},
    ).fetchall()
    found = [
        DirectView(circle, other, name, thread, iso(hlc_to_datetime(last)) if thread else None, unread if thread else 0)
        for circle, other, name, thread, last, unread in rows
    ]
    return sorted(found, key=lambda d: (d.last_activity or "", d.id), reverse=True)


def circle_member_names(conn: sqlite3.Connection, circle: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            """SELECT coalesce(m.name, substr(cm.member, 1, 8)) FROM circle_members cm
               LEFT JOIN members m ON m.id = cm.member WHERE cm.circle_id = ? ORDER BY 1""",
            (circle,),
        )
    ]


def circle_current_key(conn: sqlite3.Connection, circle: str) -> tuple[str, int]:
    """(the op that made it, its epoch) of the key a circle is written under next."""
    row = conn.execute("SELECT key_op, epoch FROM circles WHERE id = ?", (circle,)).fetchone()
    return (str(row[0]), int(row[1])) if row else ("", 0)


def circle_member_ids(conn: sqlite3.Connection, circle: str) -> list[str]:
    return [m for (m,) in conn.execute("SELECT member FROM circle_members WHERE circle_id = ? ORDER BY 1", (circle,))]


def circle_needs_new_key(conn: sqlite3.Connection, circle: str) -> bool:
    """Whether the circle's current key reached a device that is no longer
    one of its members' (someone went, or a device was removed), or misses
    one that is (a device added since): nothing more may be written under
    that key (core/fold/circles.py)."""
    row = conn.execute(
        """SELECT e.wrapped FROM circles c
           JOIN circle_epochs e ON e.circle_id = c.id AND e.key_op = c.key_op WHERE c.id = ?""",
        (circle,),
    ).fetchone()
    if row is None:
        return False
    return set(json.loads(row[0])) != set(circle_holders(conn, circle_member_ids(conn, circle)))


def circle_holders(conn: sqlite3.Connection, members: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Signing key -> (member, exchange key) of every device of `members`
    not removed that has published an exchange key: whom a circle key is
    wrapped for."""
    sql = _HOLDERS.format(
        members="m.id = :member", first="m.exchange_key IS NOT NULL", added="d.exchange_key IS NOT NULL", removed="1"
    )
    return {key: (member, exchange) for member in members for key, exchange in conn.execute(sql, {"member": member})}


def circles_of(conn: sqlite3.Connection, member: str) -> list[str]:
    """The circles `member` is in."""
    return [c for (c,) in conn.execute("SELECT circle_id FROM circle_members WHERE member = ? ORDER BY 1", (member,))]


def thread_circle(conn: sqlite3.Connection, thread_id: str) -> str | None:
    """The circle a thread is in; None for the group's room."""
    row = conn.execute("SELECT circle_id FROM threads WHERE id = ?", (thread_id,)).fetchone()
    return row[0] if row else None


def ritual_circle(conn: sqlite3.Connection, ritual_id: str) -> str | None:
    """The circle a ritual is in; None for the group's."""
    row = conn.execute("SELECT circle_id FROM rituals WHERE id = ?", (ritual_id,)).fetchone()
    return row[0] if row else None


def post_circle(conn: sqlite3.Connection, post_id: str) -> str | None:
    row = conn.execute(
        "SELECT t.circle_id FROM posts p JOIN threads t ON t.id = p.thread_id WHERE p.id = ?", (post_id,)
    ).fetchone()
    return row[0] if row else None


def circle_op(conn: sqlite3.Connection, op_id: str) -> tuple[str, str, int] | None:
    """(circle, author, hlc) of an op written in a circle, as every replica
    folds it (sealed or opened); None if `op_id` was not written in one."""
    row: tuple[str, str, int] | None = conn.execute(
        "SELECT circle_id, author, hlc FROM circle_activity WHERE op_id = ?", (op_id,)
    ).fetchone()
    return row


def exchange_keys(conn: sqlite3.Connection, members: Iterable[str]) -> dict[str, str | None]:
    """member -> their published exchange key (hex), None if they have none yet."""
    found: dict[str, str | None] = {}
    for member in members:
        row = conn.execute("SELECT exchange_key FROM members WHERE id = ?", (member,)).fetchone()
        found[member] = row[0] if row else None
    return found


def thread(conn: sqlite3.Connection, thread_id: str, *, me: str | None = None) -> ThreadDetail:
    """A thread and its posts; given `me`, each post also says which of its
    reactions are the reader's."""
    row = conn.execute(
        "SELECT id, title, pinned, ritual_id, archived FROM threads WHERE id = ? AND deleted = 0", (thread_id,)
    ).fetchone()
    if row is None:
        raise TablespaceError(f"no thread with id {thread_id!r}")
    tags = [r[0] for r in conn.execute("SELECT tag FROM thread_tags WHERE thread_id = ? ORDER BY tag", (thread_id,))]
    reactions: dict[str, dict[str, int]] = {}
    mine: dict[str, set[str]] = {}
    for post_id, emoji, count, given in conn.execute(
        """SELECT r.post_id, r.emoji, count(*), coalesce(sum(r.author = ?), 0)
           FROM reactions r JOIN posts p ON p.id = r.post_id
           WHERE p.thread_id = ? GROUP BY r.post_id, r.emoji ORDER BY r.emoji""",
        (me, thread_id),
    ):
        reactions.setdefault(post_id, {})[emoji] = count
        if given:
            mine.setdefault(post_id, set()).add(emoji)
    posts = [
        PostView(
            id=p[0],
            author=p[1],
            author_id=p[2],
            body=p[3],
            created_at=hlc_to_datetime(p[4]),
            edited_at=hlc_to_datetime(p[5]) if p[5] else None,
            reactions=reactions.get(p[0], {}),
            quote=Quote(p[6], p[7], "" if p[9] else p[8][:QUOTE_EXCERPT_CHARS], bool(p[9])) if p[6] else None,
            my_reactions=frozenset(mine.get(p[0], ())),
        )
        for p in conn.execute(
            """SELECT p.id, coalesce(m.name, substr(p.author, 1, 8)), p.author, p.body, p.created_hlc, p.edited_hlc,
                      p.quote, coalesce(qm.name, substr(q.author, 1, 8)), q.body, q.deleted
               FROM posts p LEFT JOIN members m ON m.id = p.author
               LEFT JOIN posts q ON q.id = p.quote LEFT JOIN members qm ON qm.id = q.author
               WHERE p.thread_id = ? AND p.deleted = 0
               ORDER BY p.id != p.thread_id, p.created_hlc, p.author, p.id""",
            (thread_id,),
        )
    ]
    return ThreadDetail(
        id=row[0],
        title=row[1],
        tags=tags,
        pinned=bool(row[2]),
        ritual_id=row[3],
        posts=posts,
        archived=bool(row[4]),
        poll=thread_poll(conn, thread_id, me),
        survey=thread_survey(conn, thread_id, me),
    )


# As you type, the last word is a prefix once it has this many characters:
# a shorter one ("t*") expands to most of the index's words, and costs
# seconds on a big group for results nobody reads.
MIN_PREFIX = 3


def fts_query(text: str, *, prefix_last: bool = False) -> str:
    """A user's words as a safe FTS5 query: each word quoted, all required."""
    words = re.findall(r"\w+", text)
    if not words:
        raise TablespaceError("search for at least one word")
    parts = [f'"{w}"' for w in words]
    if prefix_last and len(words[-1]) >= MIN_PREFIX:
        parts[-1] += "*"
    return " ".join(parts)


# Ranking scores every hit it looks at (bm25 reads each hit's positions and
# length), so a word that is in nearly every post ("the") would cost a score
# per post. Each kind ranks only its newest RANK_WINDOW hits instead: a query
# with fewer hits than that gets exactly the best matches of all, one with
# more gets the best matches among the newest.
RANK_WINDOW = 2_000


@dataclass(frozen=True)
class _SearchKind:
    """One kind of hit: its FTS table, the content table behind it, what a hit
    shows, the joins that find it, when it is live, and the snippet's column."""

    kind: str
    table: str
    select: str
    joins: str
    live: str
    column: int

    @property
    def fts(self) -> str:
        return f"{self.table}_fts"


_SEARCH_KINDS = (
    _SearchKind(
        "thread",
        "threads",
        "t.id, t.id AS thread, t.title, t.author, t.created_hlc AS at",
        "CROSS JOIN threads t ON t.rowid = {fts}.rowid",
        "t.deleted = 0",
        0,
    ),
    _SearchKind(
        "post",
        "posts",
        "p.id, p.thread_id, t.title, p.author, p.created_hlc AS at",
        "CROSS JOIN posts p ON p.rowid = {fts}.rowid CROSS JOIN threads t ON t.id = p.thread_id",
        "p.deleted = 0 AND t.deleted = 0",
        0,
    ),
    _SearchKind(
        "resource",
        "resources",
        "r.id, NULL, r.title, r.added_by AS author, r.created_hlc AS at",
        "CROSS JOIN resources r ON r.rowid = {fts}.rowid",
        "r.deleted = 0",
        -1,
    ),
)


@dataclass(frozen=True)
class _Window:
    """Where a kind's rank window starts (its oldest hit's rowid, 0 when the
    query has no more hits than the window holds), and whether the query is
    everywhere: its newest RANK_WINDOW hits lie among the kind's newest
    2 x RANK_WINDOW rows. Such a query holds a word in most rows, which bm25
    gives (next to) no weight while counting every row that holds it: its
    hits are listed newest first, unranked."""

    start: int
    everywhere: bool


def _window(conn: sqlite3.Connection, kind: _SearchKind, query: str) -> _Window:
    # Walking the doclist backwards to the window's oldest hit is cheap (no ranking).
    edge = conn.execute(
        f"SELECT rowid FROM {kind.fts} WHERE {kind.fts} MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
        (query, RANK_WINDOW - 1),
    ).fetchone()
    if edge is None:
        return _Window(0, everywhere=False)
    newest = _one_int(conn, f"SELECT max(rowid) FROM {kind.table}")
    return _Window(edge[0], everywhere=newest - edge[0] < 2 * RANK_WINDOW)


def _arm(kind: _SearchKind, everywhere: bool) -> str:
    """One kind's best `limit` hits within its rank window (or, for a query that
    is everywhere, its newest `limit` hits), with snippets.
    CROSS JOIN pins the join order (left to itself the planner walked every
    row of the content table and ran MATCH per row). ORDER BY rank (or rowid)
    lets FTS5 order the hits before the join, so snippet() runs for the
    `limit` rows taken and no others. Ranked hits carry their bm25 rank
    (negative, best lowest); newest-first ones rank 0, after them."""
    fts = kind.fts
    if everywhere:
        rank, newest, order = "0.0", f"{fts}.rowid", f"{fts}.rowid DESC"
    else:
        rank, newest, order = f"{fts}.rank", "0", f"{fts}.rank"
    return f"""SELECT * FROM (
          SELECT '{kind.kind}' AS kind, {kind.select},
                 snippet({fts}, {kind.column}, :a, :b, '…', 12) AS snippet, {rank} AS rank, {newest} AS newest
          FROM {fts} {kind.joins.format(fts=fts)}
          WHERE {fts} MATCH :q AND {kind.live} AND {fts}.rowid >= :start_{kind.kind}
          ORDER BY {order} LIMIT :limit)"""


@functools.cache
def _search_sql(everywhere: tuple[bool, ...]) -> str:
    arms = "\n      UNION ALL\n      ".join(_arm(k, e) for k, e in zip(_SEARCH_KINDS, everywhere, strict=True))
    return f"""SELECT hit.kind, hit.id, hit.thread, hit.title, hit.snippet, coalesce(m.name, substr(hit.author, 1, 8)), hit.at
    FROM (
      {arms}
    ) AS hit LEFT JOIN members m ON m.id = hit.author
    ORDER BY hit.rank, hit.kind, hit.newest DESC, hit.id LIMIT :limit"""


def search(
    conn: sqlite3.Connection,
    text: str,
    *,
    limit: int = 50,
    prefix_last: bool = False,
    mark: tuple[str, str] = ("**", "**"),
) -> list[SearchHit]:
    """Threads, posts and resources matching every word, best match first
    (a query whose words are in most rows: newest first)."""
    query = fts_query(text, prefix_last=prefix_last)
    a, b = mark
    windows = {k.kind: _window(conn, k, query) for k in _SEARCH_KINDS}
    params: dict[str, object] = {"q": query, "a": a, "b": b, "limit": limit}
    params.update({f"start_{kind}": w.start for kind, w in windows.items()})
    rows = conn.execute(_search_sql(tuple(w.everywhere for w in windows.values())), params)
    return [
        SearchHit(
            kind=r[0], id=r[1], thread=r[2], title=r[3], snippet=r[4], author=r[5], created_at=hlc_to_datetime(r[6])
        )
        for r in rows
    ]


def resources(conn: sqlite3.Connection, *, tag: str | None = None, text: str | None = None) -> list[ResourceView]:
    where = ["r.deleted = 0"]
    args: list[Any] = []
    if tag:
        where.append("r.id IN (SELECT resource_id FROM resource_tags WHERE tag = ?)")
        args.append(tag)
    if text:
        where.append("r.rowid IN (SELECT rowid FROM resources_fts WHERE resources_fts MATCH ?)")
        args.append(fts_query(text, prefix_last=True))
    sql = f"""SELECT r.id, r.title, r.url, r.summary,
                     (SELECT group_concat(tag) FROM resource_tags WHERE resource_id = r.id),
                     coalesce(m.name, substr(r.added_by, 1, 8)), r.created_hlc
              FROM resources r LEFT JOIN members m ON m.id = r.added_by
              WHERE {" AND ".join(where)} ORDER BY r.created_hlc DESC, r.id"""
    return [
        ResourceView(
            id=r[0],
            title=r[1],
            url=r[2],
            summary=r[3],
            tags=_tags(r[4]),
            added_by=r[5],
            created_at=hlc_to_datetime(r[6]),
        )
        for r in conn.execute(sql, args)
    ]


def quiet_spells(conn: sqlite3.Connection, since: datetime | None = None) -> list[QuietSpell]:
    """Quiet spells in order of start; with `since`, only those not over by then."""
    sql = "SELECT id, starts, ends, reason FROM quiet_spells"
    args: tuple[str, ...] = ()
    if since is not None:
        sql, args = sql + " WHERE ends > ?", (iso(since),)
    return [
        QuietSpell(id=r[0], starts=parse_instant(r[1]), ends=parse_instant(r[2]), reason=r[3])
        for r in conn.execute(sql + " ORDER BY starts, id", args)
    ]


def quiet_now(conn: sqlite3.Connection, now: datetime) -> QuietSpell | None:
    """The quiet spell under way at `now` (the latest ending, if several are)."""
    spells = [s for s in quiet_spells(conn, now) if s.starts <= now]
    return max(spells, key=lambda s: s.ends, default=None)


# The circles this home's member is in: a circle's rituals are theirs while
# they are in it (the rows stay after they go, like the threads they read).
_MY_CIRCLES = "SELECT circle_id FROM circle_members WHERE member = (SELECT value FROM meta WHERE key = 'me')"


def rituals(conn: sqlite3.Connection, now: datetime) -> list[RitualView]:
    """The group's rituals and those of the circles I am in, each with its
    next occurrence that opens (not paused, skipped or inside a quiet
    spell). `paused` is whether it is paused at `now`."""
    quiet = tuple((s.starts, s.ends) for s in quiet_spells(conn, now))
    skips: dict[str, set[datetime]] = {}
    for ritual_id, at in conn.execute("SELECT ritual_id, at FROM ritual_skips"):
        skips.setdefault(ritual_id, set()).add(parse_instant(at))
    views = []
    for r in conn.execute(
        f"""SELECT id, name, prompt, rrule, start, paused, tz, paused_until, circle_id FROM rituals
            WHERE circle_id IS NULL OR circle_id IN ({_MY_CIRCLES}) ORDER BY name, id"""
    ):
        until = parse_instant(r[7]) if r[7] else None
        paused = bool(r[5]) and (until is None or now < until)
        skipped = frozenset(skips.get(r[0], ()))
        upcoming = first_open(
            occurrences_after(r[3], r[4], now, r[6]),
            paused=paused,
            paused_until=until if paused else None,
            skipped=skipped,
            quiet=quiet,
        )
        views.append(
            RitualView(
                id=r[0],
                name=r[1],
                prompt=r[2],
                rrule=r[3],
                start=r[4],
                paused=paused,
                next=upcoming,
                tz=r[6],
                paused_until=until if paused else None,
                skipped=skipped,
                quiet=quiet,
                circle=r[8],
            )
        )
    views.sort(key=lambda v: (v.next is None, v.next or now, v.name))
    return views


def events(
    conn: sqlite3.Connection, now: datetime, *, past: bool = False, me: str | None = None, until: datetime | None = None
) -> list[EventView]:
    """Events in time order: those not over by `now` (with `past`, all), up
    to `until` if given. `me` fills each one's `mine`."""
    return _events(conn, now, past=past, me=me, until=until)


def event(conn: sqlite3.Connection, thread_id: str, *, me: str | None = None) -> EventView | None:
    """The event whose thread is `thread_id` (over or not), or None if that thread is no event."""
    found = _events(conn, None, past=True, me=me, only=thread_id)
    return found[0] if found else None


def _event_range(now: datetime | None, until: datetime | None) -> tuple[str, dict[str, Any]]:
    """The condition on events.at_hlc for events not over by `now` (None:
    any) and begun by `until` (None: any time)."""
    lo = -1 if now is None else datetime_to_hlc(now - timedelta(minutes=LONGEST_MINUTES))
    hi = datetime_to_hlc(until) if until is not None else 1 << 62
    # hi's own millisecond is in: `until` is inclusive.
    return "e.at_hlc > :lo AND e.at_hlc <= :hi", {"lo": lo, "hi": hi | 0xFFFF}


def _events(
    conn: sqlite3.Connection,
    now: datetime | None,
    *,
    past: bool,
    me: str | None,
    until: datetime | None = None,
    only: str | None = None,
) -> list[EventView]:
    # CROSS JOIN: from the events in range to their threads, not from every thread.
    sql = """SELECT e.id, t.title, e.at, e.tz, e.minutes, e.place, coalesce(m.name, e.author)
             FROM events e CROSS JOIN threads t ON t.id = e.id AND t.deleted = 0
             LEFT JOIN members m ON m.id = e.author WHERE """
    if only is not None:
        which, params = "e.id = :only", {"only": only}
    else:
        # The events_at range: begun no longer ago than the longest event, up to `until`.
        which, params = _event_range(now if not past else None, until)
    rows = conn.execute(sql + which + " ORDER BY e.at_hlc, e.id", params).fetchall()
    if not past and now is not None:
        rows = [r for r in rows if parse_instant(r[2]) + timedelta(minutes=r[4]) > now]
    answers: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for event_id, member, name, answer in conn.execute(
        """SELECT r.event_id, r.member, coalesce(m.name, r.member), r.answer
           FROM event_rsvps r LEFT JOIN members m ON m.id = r.member
           WHERE r.event_id IN (SELECT value FROM json_each(?)) ORDER BY r.hlc, r.member""",
        (json.dumps([r[0] for r in rows]),),
    ):
        answers.setdefault(event_id, {}).setdefault(answer, []).append((member, name))
    found = []
    for event_id, title, at, tz, minutes, place, author in rows:
        begins = parse_instant(at)
        given = answers.get(event_id, {})
        mine = next((a for a, people in given.items() for member, _ in people if member == me), None)
        found.append(
            EventView(
                id=event_id,
                title=title,
                at=begins,
                tz=tz,
                minutes=minutes,
                where=place,
                author=author,
                going=tuple(name for _, name in given.get("going", ())),
                maybe=tuple(name for _, name in given.get("maybe", ())),
                declined=tuple(name for _, name in given.get("no", ())),
                mine=mine,
            )
        )
    return found


def member_names(conn: sqlite3.Connection) -> dict[str, str]:
    """Every member's display name by id (present and past members)."""
    return dict(conn.execute("SELECT id, name FROM members"))


def members(conn: sqlite3.Connection, now: datetime | None = None) -> list[MemberView]:
    """The roster. A time-out is a fact with an end, so whether someone is
    `timed_out` is read against `now` (the wall clock, or TABLESPACE_NOW)."""
    moment = datetime_to_hlc(now or current_time())
    rows = conn.execute(
        """SELECT m.id, m.name,
                  CASE WHEN m.status = 'active' AND m.timeout_until_hlc > ? THEN 'timed_out' ELSE m.status END,
                  (SELECT group_concat(role) FROM roles WHERE member_id = m.id), m.timeout_until_hlc,
                  (SELECT count(*) FROM devices d WHERE d.member = m.id AND d.status = 'active')
           FROM members m ORDER BY lower(m.name), m.id""",
        (moment,),
    )
    return [
        MemberView(
            id=r[0],
            name=r[1],
            status=r[2],
            roles=_tags(r[3]),
            timeout_until=hlc_to_datetime(r[4]) if r[2] == "timed_out" else None,
            devices=r[5] or 1,  # a member who never added one has their first key alone
        )
        for r in rows
    ]


def devices(conn: sqlite3.Connection, member: str, this: str) -> list[DeviceView]:
    """A member's devices not removed, oldest first; `this`: the signing key
    of the home asking. A member who never added one has one: their first."""
    rows = conn.execute(
        "SELECT id, name, added_hlc FROM devices WHERE member = ? AND status = 'active' ORDER BY added_hlc, id",
        (member,),
    ).fetchall()
    if not rows:
        joined = conn.execute("SELECT joined_hlc FROM members WHERE id = ?", (member,)).fetchone()
        rows = [(member, "first device", joined[0])] if joined else []
    return [DeviceView(d, name, hlc_to_datetime(hlc), d == this) for d, name, hlc in rows]


def chain_seqs(conn: sqlite3.Connection, member: str) -> dict[str, int]:
    """The newest seq we hold of each device `member` added (signing key ->
    seq): what a removal, time-out or role change names for each."""
    return {
        device: last_seq(conn, device)
        for (device,) in conn.execute("SELECT id FROM devices WHERE member = ? AND id != member", (member,))
    }


def settings(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM settings"))


def group_settings(conn: sqlite3.Connection) -> GroupSettings:
    current = settings(conn)
    return GroupSettings(
        name=current.get("name", ""),
        purpose=current.get("purpose", ""),
        conduct=current.get("conduct", ""),
        rules=current.get("rules", ""),
        post_cap=int(current.get("post_cap", "0") or 0),
        tz=current.get("tz", "UTC"),
        member_cap=int(current.get("member_cap", limits.MEMBER_CAP_DEFAULT)),
        welcome=current.get("welcome", ""),
        intro_template=current.get("intro_template", ""),
        first_win=current.get("first_win") or None,
    )


# --- for the app: positions in the thread list, reactions, sync state -------------

# The thread list's order (pinned first, then most recent activity), as
# `threads(pinned_first=True)` pages it; the keyset reads below follow it.
_LIST_ORDER = "t.pinned DESC, t.last_activity_hlc DESC, t.id DESC"
_LISTED = "t.deleted = 0 AND t.archived = 0 AND t.circle_id IS ?"  # the room is its parameter


def thread_position(conn: sqlite3.Connection, thread_id: str, circle: str | None = None) -> int | None:
    """Where a thread sits in the thread list of its room (the group's, or
    `circle`), or None if it is not listed there."""
    row = conn.execute(
        f"SELECT pinned, last_activity_hlc FROM threads t WHERE id = ? AND {_LISTED}", (thread_id, circle)
    ).fetchone()
    if row is None:
        return None
    pinned, hlc = row
    return _one_int(
        conn,
        f"""SELECT (SELECT count(*) FROM threads t WHERE {_LISTED} AND pinned > ?)
                 + (SELECT count(*) FROM threads t WHERE {_LISTED} AND pinned = ?
                      AND (last_activity_hlc > ? OR (last_activity_hlc = ? AND id > ?)))""",
        (circle, pinned, circle, pinned, hlc, hlc, thread_id),
    )


def threads_next_to(
    conn: sqlite3.Connection, anchor_id: str, *, after: bool, limit: int, circle: str | None = None
) -> list[ThreadSummary] | None:
    """A page of the thread list of a room (the group's, or `circle`) that
    starts right after (or ends right before) a listed thread: keyset paging,
    an index probe however deep the page is, where OFFSET walks every row
    before it. None if the anchor is not listed there."""
    row = conn.execute(
        f"SELECT pinned, last_activity_hlc FROM threads t WHERE id = ? AND {_LISTED}", (anchor_id, circle)
    ).fetchone()
    if row is None:
        return None
    compare, order = ("<", _LIST_ORDER) if after else (">", _LIST_ORDER.replace("DESC", "ASC"))
    sql = f"""WITH page AS (
                SELECT t.id FROM threads t
                WHERE {_LISTED} AND (t.pinned, t.last_activity_hlc, t.id) {compare} (?, ?, ?)
                ORDER BY {order} LIMIT ?)
              SELECT {THREAD_COLUMNS} FROM page JOIN threads t ON t.id = page.id
              LEFT JOIN members m ON m.id = t.author LEFT JOIN reads r ON r.thread_id = t.id
              ORDER BY {_LIST_ORDER}"""
    return [_thread_summary(r) for r in conn.execute(sql, (circle, row[0], row[1], anchor_id, limit))]


def thread_exists(conn: sqlite3.Connection, thread_id: str) -> bool:
    return conn.execute("SELECT 1 FROM threads WHERE id = ? AND deleted = 0", (thread_id,)).fetchone() is not None


def reply_count(conn: sqlite3.Connection, thread_id: str) -> int:
    return _one_int(
        conn, "SELECT count(*) FROM posts WHERE thread_id = ? AND deleted = 0 AND id != ?", (thread_id, thread_id)
    )


def my_reactions(conn: sqlite3.Connection, post_id: str, me: str) -> set[str]:
    """The emoji `me` has put on a post (a picker offers to take them back)."""
    return {
        row[0] for row in conn.execute("SELECT emoji FROM reactions WHERE post_id = ? AND author = ?", (post_id, me))
    }


def outbox_count(conn: sqlite3.Connection, me: str) -> int:
    """Our own ops not yet written to the folder (past the sync engine's exported_seq)."""
    head = conn.execute("SELECT max(seq) FROM ops WHERE author = ?", (me,)).fetchone()[0] or 0
    meta = conn.execute("SELECT value FROM meta WHERE key = 'exported_seq'").fetchone()
    return max(0, head - (int(meta[0]) if meta and meta[0] else 0))


def last_sync_hlc(conn: sqlite3.Connection) -> int | None:
    meta = conn.execute("SELECT value FROM meta WHERE key = 'last_sync'").fetchone()
    return int(meta[0]) if meta and meta[0] else None


def quarantined_count(conn: sqlite3.Connection) -> int:
    return _one_int(conn, "SELECT count(*) FROM sync_files WHERE status = 'quarantined'")


def data_version(conn: sqlite3.Connection) -> tuple[int, int]:
    """Changes whenever this connection or any other commits to the database:
    a reader compares it to skip re-reading what cannot have changed."""
    return conn.total_changes, conn.execute("PRAGMA data_version").fetchone()[0]


# --- for sync: the log, keys, members and join requests --------------------------------
# Named questions sync/ asks of core's tables, so that every SQL statement on
# them lives in core. Rows come back as the tuples sync unpacks.


def last_seq(conn: sqlite3.Connection, author: str) -> int:
    """The newest seq of `author`'s we hold (0 if none)."""
    return _one_int(conn, "SELECT coalesce(max(seq), 0) FROM ops WHERE author = ?", (author,))


def has_ops_by(conn: sqlite3.Connection, author: str) -> bool:
    return conn.execute("SELECT 1 FROM ops WHERE author = ?", (author,)).fetchone() is not None


def has_ops_after(conn: sqlite3.Connection, author: str, seq: int) -> bool:
    return conn.execute("SELECT 1 FROM ops WHERE author = ? AND seq > ? LIMIT 1", (author, seq)).fetchone() is not None


# (id, signature, body) of an op in the log, as Store.read_op takes them
OpRow = tuple[str, bytes, bytes]


def ops_after(conn: sqlite3.Connection, author: str, seq: int) -> list[OpRow]:
    """(id, signature, body) of `author`'s ops after `seq`, in seq order."""
    return conn.execute(
        "SELECT id, signature, body FROM ops WHERE author = ? AND seq > ? ORDER BY seq", (author, seq)
    ).fetchall()


def accepted_op_at(conn: sqlite3.Connection, author: str, hlc: int, kind: str) -> OpRow | None:
    """(id, signature, body) of `author`'s accepted op of `kind` at `hlc`, if any."""
    row: OpRow | None = conn.execute(
        "SELECT id, signature, body FROM ops WHERE author = ? AND hlc = ? AND state = 'accepted' AND kind = ?",
        (author, hlc, kind),
    ).fetchone()
    return row


def accepted_leave_seq(conn: sqlite3.Connection, author: str) -> int | None:
    """The seq of `author`'s accepted leave, if they left."""
    row = conn.execute(
        "SELECT seq FROM ops WHERE author = ? AND kind = 'member.leave' AND state = 'accepted'", (author,)
    ).fetchone()
    return None if row is None else int(row[0])


def refused_ops_of_kind(conn: sqlite3.Connection, kind: str) -> list[OpRow]:
    """(id, signature, body) of every op of `kind` the fold refused."""
    return conn.execute("SELECT id, signature, body FROM ops WHERE kind = ? AND state = 'rejected'", (kind,)).fetchall()


def authors_with_held_ops(conn: sqlite3.Connection) -> list[str]:
    """Authors some of whose ops are held (waiting for a predecessor or their time)."""
    return [row[0] for row in conn.execute("SELECT DISTINCT author FROM ops WHERE state = 'held' ORDER BY author")]


def held_op_count(conn: sqlite3.Connection) -> int:
    """Ops held back until their time comes (dated ahead of our clock)."""
    return _one_int(conn, "SELECT count(*) FROM ops WHERE state = 'held'")


def first_forks(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """(author, first forked seq) of each author who signed two ops for one seq."""
    return conn.execute("SELECT author, min(seq) FROM forks GROUP BY author ORDER BY author").fetchall()


def member_ids(conn: sqlite3.Connection) -> set[str]:
    """Everyone who was ever admitted, whatever their status now."""
    return {row[0] for row in conn.execute("SELECT id FROM members")}


def member_status(conn: sqlite3.Connection, member: str) -> str | None:
    row = conn.execute("SELECT status FROM members WHERE id = ?", (member,)).fetchone()
    return row[0] if row else None


def member_statuses(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT id, status FROM members"))


def member_name_keys(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(id, the key its display name is compared by) of every member."""
    return conn.execute("SELECT id, name_key FROM members").fetchall()


def departed_members(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """(id, joined HLC, left HLC) of every member removed or gone, and (id,
    added HLC, removed HLC) of every device a member removed: each key that
    may hold the group's key and must not read what follows."""
    return conn.execute(
        """SELECT id, joined_hlc, left_hlc FROM members WHERE status IN ('removed', 'left')
           UNION ALL
           SELECT id, added_hlc, removed_hlc FROM devices WHERE status = 'removed'"""
    ).fetchall()


# The signing keys that hold the group's keys: every member's first key (the
# member id) unless they removed it as a device, and every device they added
# and kept; `{members}` is the condition on the member's row `m`.
_HOLDERS = """
    SELECT m.id, m.exchange_key FROM members m WHERE ({members}) AND ({first})
      AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = m.id AND d.status = 'removed' AND {removed})
    UNION ALL
    SELECT d.id, d.exchange_key FROM devices d JOIN members m ON m.id = d.member
     WHERE d.id != d.member AND ({members}) AND ({added}) AND (d.status = 'active' OR NOT {removed})"""


def members_after_departure(conn: sqlite3.Connection, departed: int, me: str) -> list[tuple[str, str | None]]:
    """(signing key id, exchange key) of who still counts as a member after
    the departure at HLC `departed`: the keys of the active, and of those who
    went later, but no device removed by then; each with an exchange key to
    be granted a key by, or `me` (our own signing key)."""
    sql = _HOLDERS.format(
        members="m.status = 'active' OR (m.status IN ('removed', 'left') AND m.left_hlc > :departed)",
        first="m.exchange_key IS NOT NULL OR m.id = :me",
        added="d.exchange_key IS NOT NULL OR d.id = :me",
        removed="d.removed_hlc <= :departed",
    )
    return conn.execute(sql, {"departed": departed, "me": me}).fetchall()


def members_to_grant(conn: sqlite3.Connection, me: str) -> list[tuple[str, str]]:
    """(signing key id, exchange key) of every other key of an active member
    (their first and their devices, not one removed) that has one published."""
    sql = _HOLDERS.format(
        members="m.status = 'active'",
        first="m.exchange_key IS NOT NULL AND m.id != :me",
        added="d.exchange_key IS NOT NULL AND d.id != :me",
        removed="1",
    )
    return conn.execute(sql, {"me": me}).fetchall()


def newest_op_row(conn: sqlite3.Connection) -> int:
    """The rowid of the op that entered the log last: it moves whenever the log does."""
    row = conn.execute("SELECT coalesce(max(rowid), 0) FROM ops").fetchone()
    return int(row[0])


def holders_at(conn: sqlite3.Connection, hlc: int, me: str) -> list[tuple[str, str]]:
    """(signing key id, exchange key) of every other key that held the
    group's keys at `hlc`, as the log reads now: a member's first key from
    when they joined and a device from when it was added, until they went
    or it was removed (later than `hlc`, or not at all). Who a key made at
    `hlc` was for."""
    sql = _HOLDERS.format(
        members="(m.status = 'active' OR (m.status IN ('removed', 'left') AND m.left_hlc > :at))"
        " AND m.joined_hlc <= :at",
        first="m.exchange_key IS NOT NULL AND m.id != :me",
        added="d.exchange_key IS NOT NULL AND d.id != :me AND d.added_hlc <= :at",
        removed="d.removed_hlc <= :at",
    )
    return conn.execute(sql, {"at": hlc, "me": me}).fetchall()


def signing_ids(conn: sqlite3.Connection, members: set[str]) -> set[str]:
    """The signing keys of `members`: each one's first key (their id) and
    every device they added, removed or not (what they signed still counts)."""
    devices = {d for d, m in conn.execute("SELECT id, member FROM devices") if m in members}
    return members | devices


def member_of_signer(conn: sqlite3.Connection) -> dict[str, str]:
    """Signing key -> member, for every added device (a first key is its member's id)."""
    return dict(conn.execute("SELECT id, member FROM devices"))


def moderator_ids(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT member_id FROM roles WHERE role = 'moderator'")}


def moderator_count(conn: sqlite3.Connection) -> int:
    return _one_int(conn, "SELECT count(*) FROM roles WHERE role = 'moderator'")


def moderators_with_keys(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(signing key id, exchange key) of every device of the current
    moderators that has published one: a moderator's first device is their
    member id."""
    # One statement for the fold and for sync; imported here so the read-only
    # questions above stay independent of the fold.
    from tablespace.core.fold import MODERATORS_WITH_KEYS

    return conn.execute(MODERATORS_WITH_KEYS).fetchall()


def announced_epoch_keys(conn: sqlite3.Connection) -> set[tuple[int, str]]:
    """(epoch, key id) of every group key announced in the log."""
    return {(row[0], row[1]) for row in conn.execute("SELECT epoch, key_id FROM epochs")}


def epoch_recipients(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    """(epoch, key id, comma-separated member ids it was wrapped for)."""
    return conn.execute("SELECT epoch, key_id, recipients FROM epochs").fetchall()


def epoch_creators(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    """(epoch, key id, the member who made it)."""
    return conn.execute("SELECT epoch, key_id, created_by FROM epochs").fetchall()


def epochs_made_by(conn: sqlite3.Connection, signer: str) -> list[tuple[int, str, int, str]]:
    """(epoch, key id, created HLC, comma-separated recipients) of every key
    the signing key `signer` announced."""
    return conn.execute(
        "SELECT epoch, key_id, created_hlc, recipients FROM epochs WHERE created_by = ?", (signer,)
    ).fetchall()


def epochs_with_makers(conn: sqlite3.Connection) -> list[tuple[int, str, int, str, str]]:
    """(epoch, key id, created HLC, the signing key that made it,
    comma-separated recipients) of every key announced."""
    return conn.execute("SELECT epoch, key_id, created_hlc, created_by, recipients FROM epochs").fetchall()


def current_signers(conn: sqlite3.Connection) -> set[str]:
    """The signing keys of every active member: their first key and each
    device they added, but none removed."""
    sql = _HOLDERS.format(members="m.status = 'active'", first="1", added="1", removed="1")
    return {row[0] for row in conn.execute(sql)}


def epochs_created(conn: sqlite3.Connection) -> dict[tuple[int, str], int]:
    """(epoch, key id) of every group key announced -> when it was made."""
    return {(e, k): hlc for e, k, hlc in conn.execute("SELECT epoch, key_id, created_hlc FROM epochs")}


# Another device of a member's: (id, exchange key, added HLC).
Sibling = tuple[str, str, int]


def sibling_devices(conn: sqlite3.Connection, member: str, me: str) -> list[Sibling]:
    """(id, exchange key, added HLC) of each device of `member` not removed,
    but the signing key `me`."""
    return conn.execute(
        """SELECT id, exchange_key, added_hlc FROM devices
           WHERE member = ? AND id != ? AND status = 'active' AND exchange_key IS NOT NULL""",
        (member, me),
    ).fetchall()


def removed_devices(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT id FROM devices WHERE status = 'removed'")}


def epoch_created_hlc(conn: sqlite3.Connection, epoch: int, key_id: str) -> int:
    return _one_int(conn, "SELECT created_hlc FROM epochs WHERE epoch = ? AND key_id = ?", (epoch, key_id))


def newest_epoch(conn: sqlite3.Connection) -> int:
    """The newest epoch announced, -1 before the first."""
    return _one_int(conn, "SELECT coalesce(max(epoch), -1) FROM epochs")


def newest_mod_key(conn: sqlite3.Connection) -> tuple[int, str, str, str] | None:
    """(epoch, key id, public key, recipients) of the moderators' key new
    records are sealed to: the newest epoch's lowest key id."""
    row: tuple[int, str, str, str] | None = conn.execute(
        "SELECT epoch, key_id, public, recipients FROM mod_keys ORDER BY epoch DESC, key_id LIMIT 1"
    ).fetchone()
    return row


def mod_keys(conn: sqlite3.Connection) -> list[tuple[str, str, str | None, str | None, str]]:
    """(key id, wrapped stanzas JSON, previous key id, previous key boxed, public) of
    every moderators' key, newest first."""
    return conn.execute(
        "SELECT key_id, wrapped, previous_key_id, previous, public FROM mod_keys ORDER BY epoch DESC, key_id"
    ).fetchall()


def mod_records(conn: sqlite3.Connection) -> list[tuple[str, str, int, str, str]]:
    """(op id, author, HLC, sealed base64, record id) of every moderators' record, in log order."""
    return conn.execute(
        "SELECT op_id, author, hlc, sealed, record_id FROM mod_records ORDER BY hlc, author, seq"
    ).fetchall()


def mod_record_filed(conn: sqlite3.Connection, record_id: str) -> bool:
    return conn.execute("SELECT 1 FROM mod_records WHERE record_id = ?", (record_id,)).fetchone() is not None


def thread_ever_existed(conn: sqlite3.Connection, thread_id: str) -> bool:
    """Whether a thread was started, deleted since or not."""
    return conn.execute("SELECT 1 FROM threads WHERE id = ?", (thread_id,)).fetchone() is not None


def body(conn: sqlite3.Connection, post_id: str) -> str:
    """The current text of a post known to exist."""
    return str(conn.execute("SELECT body FROM posts WHERE id = ?", (post_id,)).fetchone()[0])


def has_reacted(conn: sqlite3.Connection, post_id: str, member: str, emoji: str) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM reactions WHERE post_id = ? AND author = ? AND emoji = ?", (post_id, member, emoji)
        ).fetchone()
        is not None
    )


def stale_threads(conn: sqlite3.Connection, quiet_since_hlc: int) -> list[str]:
    """Threads with no activity since `quiet_since_hlc`, oldest first: not
    pinned, not archived, not a ritual's (rituals have their own rhythm)."""
    return [
        r[0]
        for r in conn.execute(
            """SELECT id FROM threads WHERE deleted = 0 AND archived = 0 AND pinned = 0 AND ritual_id IS NULL
               AND last_activity_hlc < ? ORDER BY last_activity_hlc""",
            (quiet_since_hlc,),
        )
    ]


def post_as_written(conn: sqlite3.Connection, post_id: str) -> tuple[str, str, str]:
    """(thread id, author, body) of a post known to exist."""
    row: tuple[str, str, str] = conn.execute(
        "SELECT thread_id, author, body FROM posts WHERE id = ?", (post_id,)
    ).fetchone()
    return row


def post_as_held(conn: sqlite3.Connection, post_id: str) -> tuple[str, str, str, int, int] | None:
    """(thread id, author, body, deleted or hidden, created HLC) of a post, if it has arrived."""
    row: tuple[str, str, str, int, int] | None = conn.execute(
        "SELECT thread_id, author, body, deleted OR hidden, created_hlc FROM posts WHERE id = ?", (post_id,)
    ).fetchone()
    return row


def post_in_thread(conn: sqlite3.Connection, post_id: str, thread_id: str) -> bool:
    """Whether a live post belongs to the thread."""
    return (
        conn.execute(
            "SELECT 1 FROM posts WHERE id = ? AND thread_id = ? AND deleted = 0", (post_id, thread_id)
        ).fetchone()
        is not None
    )


def post_exists(conn: sqlite3.Connection, post_id: str) -> bool:
    """Whether a post has arrived and is not deleted (a hidden one exists)."""
    return conn.execute("SELECT 1 FROM posts WHERE id = ? AND deleted = 0", (post_id,)).fetchone() is not None


def invite_secrets_in_the_open(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(invite id, secret hex) of invites made before secrets were sealed to the moderators."""
    return conn.execute("SELECT id, secret FROM invites WHERE secret != ''").fetchall()


def invite_uses(conn: sqlite3.Connection) -> dict[str, tuple[int, int, int]]:
    """invite id -> (expiry HLC, uses allowed, uses made)."""
    return {row[0]: row[1:] for row in conn.execute("SELECT id, expires_hlc, uses, used FROM invites")}


def decided_requests(conn: sqlite3.Connection, *, decision: str | None = None) -> set[str]:
    """Join requests a moderator decided (only those with `decision`, if given)."""
    if decision is None:
        return {row[0] for row in conn.execute("SELECT request FROM join_decisions")}
    return {row[0] for row in conn.execute("SELECT request FROM join_decisions WHERE decision = ?", (decision,))}


# --- for sync: sync_files, what the sync has looked at in the folder --------------------
# The table is part of the group's database (core/schema.py) and the front
# ends ask about it too (quarantined_count); sync writes it through
# core/sync_files.py.


def files_seen_at(conn: sqlite3.Connection, paths: Iterable[str]) -> dict[str, tuple[int, int, str]]:
    """path -> (size, mtime_ns, status) of those of `paths` looked at."""
    rows = conn.execute(
        "SELECT path, size, mtime_ns, status FROM sync_files WHERE path IN (SELECT value FROM json_each(?))",
        (json.dumps(list(paths)),),
    )
    return {row[0]: row[1:] for row in rows}


def file_records(
    conn: sqlite3.Connection, paths: list[str]
) -> dict[str, tuple[str, str, str | None, int | None, int | None]]:
    """path -> (digest, status, reason, first seq, last seq) of those of
    `paths` looked at: file_record for all the files a round reads, at once."""
    if not paths:
        return {}
    rows = conn.execute(
        "SELECT path, digest, status, reason, first_seq, last_seq FROM sync_files "
        "WHERE path IN (SELECT value FROM json_each(?))",
        (json.dumps(paths),),
    )
    return {row[0]: row[1:] for row in rows}


def waiting_file_paths(conn: sqlite3.Connection) -> list[str]:
    """Folder files under a key we do not hold yet."""
    return [row[0] for row in conn.execute("SELECT path FROM sync_files WHERE status = 'waiting'")]


def files_looked_at(conn: sqlite3.Connection, prefix: str) -> dict[str, tuple[int, int, str, str | None]]:
    """path -> (size, mtime_ns, status, reason) of the files looked at under
    `prefix` (a range of the path key: LIKE would read every record)."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT path, size, mtime_ns, status, reason FROM sync_files WHERE path >= ? AND path < ?", (prefix, end)
        )
    }


# A changeset of ours in the folder, as sync_files recorded it: (path, first
# seq, last seq, size, mtime_ns, digest of its bytes)
OurFile = tuple[str, int, int, int, int, str]


def files_we_wrote(conn: sqlite3.Connection) -> list[OurFile]:
    """Each changeset of ours in the folder, as last seen there."""
    return conn.execute(
        "SELECT path, first_seq, last_seq, size, mtime_ns, digest FROM sync_files WHERE status = 'mine'"
    ).fetchall()


def file_record(conn: sqlite3.Connection, path: str) -> tuple[str, str, str | None, int | None, int | None] | None:
    """(digest, status, reason, first seq, last seq) of the folder file at `path`, if looked at."""
    row: tuple[str, str, str | None, int | None, int | None] | None = conn.execute(
        "SELECT digest, status, reason, first_seq, last_seq FROM sync_files WHERE path = ?", (path,)
    ).fetchone()
    return row


def our_changesets(conn: sqlite3.Connection) -> list[tuple[str, int, int, int]]:
    """(path, first seq, last seq, size) of each changeset of ours in the folder, by seq."""
    return conn.execute(
        """SELECT path, first_seq, last_seq, size FROM sync_files
           WHERE status = 'mine' AND first_seq IS NOT NULL AND last_seq IS NOT NULL
           ORDER BY first_seq, last_seq, path"""
    ).fetchall()


def op_count_between(conn: sqlite3.Connection, author: str, first: int, last: int) -> int:
    """How many ops of `author` the log holds from seq `first` to `last`
    (more than the seqs when their chain forked)."""
    return _one_int(conn, "SELECT count(*) FROM ops WHERE author = ? AND seq BETWEEN ? AND ?", (author, first, last))


def held_seq_count(conn: sqlite3.Connection, author: str, first: int, last: int) -> int:
    """How many of `author`'s seqs from `first` to `last` the log holds an op for."""
    return _one_int(
        conn, "SELECT count(DISTINCT seq) FROM ops WHERE author = ? AND seq BETWEEN ? AND ?", (author, first, last)
    )


def newest_op_hlcs(conn: sqlite3.Connection, author: str, ranges: Sequence[tuple[int, int]]) -> list[int]:
    """The largest HLC among `author`'s ops in each (first seq, last seq)
    range, 0 for a range with none: one statement for many ranges (a sync
    round asks for every file of ours)."""
    found: list[int] = []
    for i in range(0, len(ranges), 200):
        chunk = ranges[i : i + 200]
        found += [
            row[0]
            for row in conn.execute(
                f"""WITH r (i, first, last) AS (VALUES {", ".join("(?, ?, ?)" for _ in chunk)})
                    SELECT (SELECT coalesce(max(hlc), 0) FROM ops WHERE author = ? AND seq BETWEEN r.first AND r.last)
                    FROM r ORDER BY r.i""",
                [*(v for n, (first, last) in enumerate(chunk) for v in (n, first, last)), author],
            )
        ]
    return found


def ops_between(conn: sqlite3.Connection, author: str, first: int, last: int) -> list[OpRow]:
    """(id, signature, body) of `author`'s ops from seq `first` to `last`, in seq order."""
    return conn.execute(
        "SELECT id, signature, body FROM ops WHERE author = ? AND seq BETWEEN ? AND ? ORDER BY seq, id",
        (author, first, last),
    ).fetchall()


def file_already_imported(conn: sqlite3.Connection, digest: str) -> bool:
    """Whether a file with these contents was imported (or written by us) already."""
    return (
        conn.execute(
            "SELECT 1 FROM sync_files WHERE digest = ? AND status IN ('imported', 'mine')", (digest,)
        ).fetchone()
        is not None
    )


def quarantined_files(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(path, reason) of every folder file quarantined, by path (a quarantine always records its reason)."""
    return conn.execute(
        "SELECT path, coalesce(reason, '') FROM sync_files WHERE status = 'quarantined' ORDER BY path"
    ).fetchall()


def waiting_file_count(conn: sqlite3.Connection) -> int:
    """Folder files under a key we do not hold yet."""
    return _one_int(conn, "SELECT count(*) FROM sync_files WHERE status = 'waiting'")


def device_of(conn: sqlite3.Connection, signer: str) -> tuple[str, str | None] | None:
    """The member a signing key belongs to and its exchange key: a device a
    member added, or a member's first key (whose id is the member's)."""
    row = conn.execute(
        """SELECT member, exchange_key FROM devices WHERE id = :signer
        UNION ALL SELECT id, exchange_key FROM members WHERE id = :signer LIMIT 1""",
        {"signer": signer},
    ).fetchone()
    return (row[0], row[1]) if row else None


def report_replies_waiting(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(report, sealed word) for reports filed from this home whose
    resolution carries a word to the reporter not opened here yet."""
    return conn.execute(
        """SELECT mr.id, h.reply FROM my_reports mr JOIN handled_reports h ON h.report = mr.id
        WHERE h.reply IS NOT NULL AND mr.reply IS NULL"""
    ).fetchall()
