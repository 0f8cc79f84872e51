"""What concerns me, and what I have not read yet: the inbox, follows and
mutes, and unread posts (reads of the view tables and of this member's own
local tables: `reads`, `follows`, `mutes`, `my_reports`).

An inbox entry is read once its thread was read past the entry's time
(Group.mark_read reads up to the newest post, edit, reaction or report
outcome there). Each kind is one query that walks an index newest first
and stops at the limit, so a big group answers as fast as a small one; what
is unread is read from the threads with something unread only, so a reader
who keeps up does not walk past everything already read.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tablespace.core.clock import datetime_to_hlc, hlc_to_datetime, iso
from tablespace.core.clock import now as current_time

KINDS = ("mention", "reply", "reaction", "event", "report")
DEFAULT_LIMIT = 200
COUNT_CAP = 1000  # unread entries counted one by one; more show as "1,000+"
EXCERPT_CHARS = 120

# The newest inbox-worthy thing in thread `t`: Group.mark_read reads up to it.
# An event reaches its members' inboxes this long before it starts.
REMIND_MS = 24 * 3600 * 1000
_REMIND_HLC = REMIND_MS << 16

NEWEST_IN_THREAD = f"""max(t.last_activity_hlc,
    coalesce((SELECT max(r.hlc) FROM event_rsvps r WHERE r.event_id = t.id), 0),
    coalesce((SELECT e.at_hlc - {_REMIND_HLC} FROM events e WHERE e.id = t.id AND e.at_hlc - {_REMIND_HLC} <= :now), 0),
    coalesce((SELECT max(edited_hlc) FROM posts WHERE thread_id = t.id), 0),
    coalesce((SELECT max(x.hlc) FROM posts y JOIN reactions x ON x.post_id = y.id WHERE y.thread_id = t.id), 0),
    coalesce((SELECT max(h.hlc) FROM my_reports mr JOIN handled_reports h ON h.report = mr.id
              WHERE mr.thread_id = t.id), 0),
    coalesce((SELECT max(m.hlc) FROM my_reports mr JOIN mod_records m ON m.record_id = mr.id
              WHERE mr.thread_id = t.id), 0))"""

ENTRY_WORDS = {
    "mention": "{who} mentioned you",
    "reply": "{who} replied",
    "reaction": "{who} reacted {emoji}",
    "event": "{who} answered your event",
    "report": "a moderator handled your report",
}
RECEIVED_WORDS = "the moderators received your report"
ANSWERED_WORDS = "a moderator handled your report and wrote to you"

# Nothing from a thread or member I muted.
_NOT_MUTED = """p.thread_id NOT IN (SELECT target FROM mutes WHERE kind = 'thread')
    AND {who} NOT IN (SELECT target FROM mutes WHERE kind = 'member')"""
_LIVE = "p.deleted = 0 AND t.deleted = 0"


@dataclass(frozen=True)
class _Arm:
    """One kind's query: it selects (kind, thread, post, from, time, emoji,
    report), newest first; `at` is its time column, for the unread and
    window filters."""

    at: str
    sql: str

    def query(self, include_read: bool, window: bool = False) -> str:
        unread = "" if include_read else f"AND {self.at} > coalesce(rd.read_hlc, -1)"
        if window:
            unread += f" AND {self.at} >= :from AND {self.at} < :hi AND ({self.at} >= :lo OR {self.at} IN {_LATE_OPS})"
        return self.sql.format(unread=unread, at=self.at)


# The times of ops written before a window that reached this home after its
# arrival mark (core/digest.py, actions/notify.py): an entry is timed by the
# op that made it (the post, mention, reaction, answer or outcome), so
# entries timed at one of them join the window's.
_LATE_OPS = "(SELECT hlc FROM ops WHERE rowid > :late_from AND hlc < :lo)"

# Each arm walks one index newest first and stops at the limit: my mentions
# (mentions_member), replies by others in my threads (posts_replies_to),
# reactions by others to my posts (reactions_to); followed threads and my
# reports are few. CROSS JOIN keeps SQLite on that index.
_ARMS: tuple[_Arm, ...] = (
    _Arm(
        "mn.hlc",
        f"""SELECT 'mention', p.thread_id, p.id, p.author, mn.hlc, NULL, NULL
        FROM mentions mn CROSS JOIN posts p ON p.id = mn.post_id CROSS JOIN threads t ON t.id = p.thread_id
        LEFT JOIN reads rd ON rd.thread_id = p.thread_id
        WHERE mn.member = :me AND p.author != :me AND {_LIVE} AND {_NOT_MUTED.format(who="p.author")}
        {{unread}} ORDER BY {{at}} DESC LIMIT :limit""",
    ),
    _Arm(
        "p.created_hlc",
        f"""SELECT 'reply', p.thread_id, p.id, p.author, p.created_hlc, NULL, NULL
        FROM posts p INDEXED BY posts_replies_to CROSS JOIN threads t ON t.id = p.thread_id
        LEFT JOIN reads rd ON rd.thread_id = p.thread_id
        WHERE p.thread_author = :me AND p.author != p.thread_author AND {_LIVE}
        AND {_NOT_MUTED.format(who="p.author")}
        {{unread}} ORDER BY {{at}} DESC LIMIT :limit""",
    ),
    _Arm(
        "p.created_hlc",
        f"""SELECT 'reply', p.thread_id, p.id, p.author, p.created_hlc, NULL, NULL
        FROM follows f CROSS JOIN threads t ON t.id = f.thread_id LEFT JOIN reads rd ON rd.thread_id = t.id
        CROSS JOIN posts p ON p.thread_id = t.id
        WHERE t.author != :me AND p.id != p.thread_id AND p.author != :me AND {_LIVE}
        AND {_NOT_MUTED.format(who="p.author")}
        {{unread}} ORDER BY {{at}} DESC LIMIT :limit""",
    ),
    _Arm(
        "x.hlc",
        f"""SELECT 'reaction', p.thread_id, p.id, x.author, x.hlc, x.emoji, NULL
        FROM reactions x INDEXED BY reactions_to CROSS JOIN posts p ON p.id = x.post_id
        CROSS JOIN threads t ON t.id = p.thread_id LEFT JOIN reads rd ON rd.thread_id = p.thread_id
        WHERE x.post_author = :me AND x.author != x.post_author AND {_LIVE} AND {_NOT_MUTED.format(who="x.author")}
        {{unread}} ORDER BY {{at}} DESC LIMIT :limit""",
    ),
    # My reports' outcomes: handled, nothing more (not by whom, not how, not
    # who else reported); the post may be gone, hidden by that very decision.
    _Arm(
        "h.hlc",
        """SELECT 'report', mr.thread_id, mr.post_id, NULL, h.hlc, NULL, mr.id
        FROM my_reports mr JOIN handled_reports h ON h.report = mr.id
        LEFT JOIN reads rd ON rd.thread_id = mr.thread_id
        WHERE :me IS NOT NULL {unread} ORDER BY {at} DESC LIMIT :limit""",
    ),
    # ...and that it reached them: a moderator's home put it in the log (a
    # mod.record whose record id is my report's, sync/delivery.py). Its
    # emoji slot says which of the two a 'report' row is.
    _Arm(
        "m.hlc",
        """SELECT 'report', mr.thread_id, mr.post_id, NULL, m.hlc, 'received', mr.id
        FROM my_reports mr JOIN mod_records m ON m.record_id = mr.id
        LEFT JOIN reads rd ON rd.thread_id = mr.thread_id
        WHERE :me IS NOT NULL {unread} ORDER BY {at} DESC LIMIT :limit""",
    ),
)
# Events: answers to an event I set up, and a reminder (from no one) of an
# event I have not declined, a day before it starts, and of a ritual's
# thread opened in the last day. Both stay `event` entries. Each walks the
# events or the day's threads by time, never every thread (the planner
# would take `t.deleted = 0` to an index of all threads).
_ARMS += (
    _Arm(
        "r.hlc",
        """SELECT 'event', r.event_id, r.event_id, r.member, r.hlc, NULL, NULL
        FROM events e CROSS JOIN event_rsvps r ON r.event_id = e.id CROSS JOIN threads t ON t.id = e.id
        LEFT JOIN reads rd ON rd.thread_id = e.id
        WHERE e.author = :me AND r.member != :me AND t.deleted = 0
        AND r.member NOT IN (SELECT target FROM mutes WHERE kind = 'member')
        {unread} ORDER BY {at} DESC LIMIT :limit""",
    ),
    _Arm(
        f"(e.at_hlc - {_REMIND_HLC})",
        f"""SELECT 'event', e.id, e.id, NULL, e.at_hlc - {_REMIND_HLC}, NULL, NULL
        FROM events e INDEXED BY events_at CROSS JOIN threads t ON t.id = e.id
        LEFT JOIN reads rd ON rd.thread_id = e.id
        WHERE e.at_hlc <= :now + {_REMIND_HLC} AND e.at_hlc > :now - {_REMIND_HLC} AND t.deleted = 0
        AND e.id NOT IN (SELECT target FROM mutes WHERE kind = 'thread')
        AND NOT EXISTS (SELECT 1 FROM event_rsvps r WHERE r.event_id = e.id AND r.member = :me AND r.answer = 'no')
        {{unread}} ORDER BY {{at}} DESC LIMIT :limit""",
    ),
    _Arm(
        "t.created_hlc",
        f"""SELECT 'event', t.id, t.id, NULL, t.created_hlc, NULL, NULL
        FROM threads t INDEXED BY threads_created LEFT JOIN reads rd ON rd.thread_id = t.id
        WHERE t.ritual_id IS NOT NULL AND t.created_hlc > :now - {_REMIND_HLC} AND t.deleted = 0 AND :me IS NOT NULL
        AND t.id NOT IN (SELECT target FROM mutes WHERE kind = 'thread')
        {{unread}} ORDER BY {{at}} DESC LIMIT :limit""",
    ),
)
# The arms above that may walk a long way past read entries (replies in my
# threads, reactions to my posts: a founder's two years hold 140k), asked
# instead of a batch of threads (:threads, a JSON list) through each
# thread's own posts; the other arms (mentions of me, followed threads,
# events, reports) are few enough to walk whole. Replies walk a thread's
# posts from its read mark on; reactions only my posts there
# (posts_thread_author), each one's own reactions (`+x.post_author`: not
# every reaction to my posts, once per post).
_BATCH_THREADS = """json_each(:threads) u CROSS JOIN threads t ON t.id = u.value
        LEFT JOIN reads rd ON rd.thread_id = t.id"""
_THREAD_ARMS: tuple[_Arm, ...] = (
    _Arm(
        "p.created_hlc",
        f"""SELECT 'reply', p.thread_id, p.id, p.author, p.created_hlc, NULL, NULL
        FROM {_BATCH_THREADS} CROSS JOIN posts p INDEXED BY posts_thread ON p.thread_id = t.id
        WHERE t.author = :me AND p.author != t.author AND {_LIVE} AND {_NOT_MUTED.format(who="p.author")}
        {{unread}} ORDER BY {{at}} DESC LIMIT :limit""",
    ),
    _Arm(
        "x.hlc",
        f"""SELECT 'reaction', p.thread_id, p.id, x.author, x.hlc, x.emoji, NULL
        FROM {_BATCH_THREADS} CROSS JOIN posts p INDEXED BY posts_thread_author ON p.thread_id = t.id AND p.author = :me
        CROSS JOIN reactions x ON x.post_id = p.id
        WHERE +x.post_author = :me AND x.author != x.post_author AND {_LIVE} AND {_NOT_MUTED.format(who="x.author")}
        {{unread}} ORDER BY {{at}} DESC LIMIT :limit""",
    ),
)
_WALKED_WHOLE = tuple(arm for n, arm in enumerate(_ARMS) if n not in (1, 3))  # all but replies to me, reactions

# Threads with something I have not read, newest first: thread_newest (see
# schema.THREAD_NEWEST_FILL) is at or after every entry a thread holds.
_UNREAD_THREADS = """SELECT n.thread_id, n.hlc FROM thread_newest n INDEXED BY thread_newest_hlc
    LEFT JOIN reads rd ON rd.thread_id = n.thread_id
    WHERE n.hlc > coalesce(rd.read_hlc, -1) ORDER BY n.hlc DESC"""
# How many replies in my threads and reactions to my posts there are, read
# or not, up to FEW_ENTRIES each: under it the arms above walk them all
# sooner than the threads with something unread are walked (a newcomer,
# or a member who mostly replies, may have thousands of those and no entry).
FEW_ENTRIES = 4000
_MY_ENTRIES_UP_TO_FEW = f"""SELECT
    (SELECT count(*) FROM (SELECT 1 FROM posts INDEXED BY posts_replies_to
        WHERE thread_author = :me AND author != thread_author LIMIT {FEW_ENTRIES})),
    (SELECT count(*) FROM (SELECT 1 FROM reactions INDEXED BY reactions_to
        WHERE post_author = :me AND author != post_author LIMIT {FEW_ENTRIES}))"""
THREAD_BATCH = 64  # threads asked at once, at most
FIRST_THREAD_BATCH = 8  # ...and at first: a page is often found in the newest few

# The same post can be a mention and a reply: it is listed once, as the first.
_PRECEDENCE = {"mention": 0, "reply": 1}


@dataclass(frozen=True)
class InboxEntry:
    id: str
    kind: str  # one of KINDS
    thread: str
    post: str
    from_id: str | None  # who did it; None for a report's outcome
    from_name: str | None
    at: datetime
    read: bool
    title: str  # the thread's title ("" once deleted)
    excerpt: str  # the start of the post ("" once deleted or hidden)
    emoji: str | None = None  # a reaction's
    stage: str | None = None  # a report's: "received" by the moderators, or "handled"
    note: str | None = None  # a handled report's: the word the moderators chose to tell me

    @property
    def text(self) -> str:
        """What to show under the headline: the moderators' word, or the excerpt."""
        return self.note or self.excerpt

    @property
    def headline(self) -> str:
        """What happened, in a few words (without the thread's title)."""
        if self.kind == "event" and self.from_id is None:
            return "coming up"
        if self.stage == "received":
            return RECEIVED_WORDS
        if self.note:
            return ANSWERED_WORDS
        return ENTRY_WORDS[self.kind].format(who=self.from_name or "someone", emoji=self.emoji or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "thread": self.thread,
            "post": self.post,
            "from": self.from_name,
            "from_id": self.from_id,
            "at": iso(self.at),
            "read": self.read,
            "title": self.title,
            "excerpt": self.excerpt,
            "emoji": self.emoji,
            "stage": self.stage,
            "note": self.note,
        }


def _entry_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()[:16].hex()


@dataclass(frozen=True)
class Window:
    """Entries timed in [lo, hi), and those timed earlier whose op reached
    this home after the arrival mark `late_from` (the ops table's rowid)."""

    lo: int
    hi: int
    late_from: int

    def params(self, conn: sqlite3.Connection) -> dict[str, int]:
        # The earliest late op bounds the range each arm walks.
        (earliest,) = conn.execute(
            "SELECT min(hlc) FROM ops WHERE rowid > ? AND hlc < ?", (self.late_from, self.lo)
        ).fetchone()
        return {"lo": self.lo, "hi": self.hi, "late_from": self.late_from, "from": min(earliest or self.lo, self.lo)}


def inbox(
    conn: sqlite3.Connection,
    me: str,
    *,
    include_read: bool = False,
    limit: int | None = DEFAULT_LIMIT,
    window: Window | None = None,
) -> list[InboxEntry]:
    """What concerns me, newest first: mentions of me, replies in threads I
    started or follow, reactions to my posts, my reports' outcomes; unread
    only unless `include_read`, in `window` if given. Never my own doing,
    nothing from a muted thread or member."""
    return _entries(conn, _rows(conn, me, include_read=include_read, limit=limit, window=window))


def inbox_page(
    conn: sqlite3.Connection, me: str, *, limit: int, window: Window | None = None
) -> tuple[list[InboxEntry], int]:
    """The newest `limit` unread entries, and how many there are in all:
    only the page is dressed with names, titles and excerpts."""
    rows = _rows(conn, me, include_read=False, limit=None, window=window)
    return _entries(conn, rows[:limit]), len(rows)


def _rows(
    conn: sqlite3.Connection, me: str, *, include_read: bool, limit: int | None, window: Window | None = None
) -> list[tuple[Any, ...]]:
    """Every arm's rows merged newest first, one per post for mentions and replies."""
    params = _params(conn, me, limit, window)
    if include_read or window is not None:
        rows: list[tuple[Any, ...]] = []
        for arm in _ARMS:
            rows.extend(conn.execute(arm.query(include_read, window is not None), params))
        return _merged(rows, limit)
    return _unread_rows(conn, params, limit)


def _params(conn: sqlite3.Connection, me: str, limit: int | None, window: Window | None = None) -> dict[str, Any]:
    """What every arm's query is asked with."""
    params: dict[str, Any] = {"me": me, "limit": -1 if limit is None else limit, "now": datetime_to_hlc(current_time())}
    if window is not None:
        params.update(window.params(conn))
    return params


def _unread_rows(
    conn: sqlite3.Connection, params: dict[str, Any], limit: int | None, *, any_order: bool = False
) -> list[tuple[Any, ...]]:
    """The unread rows, from the threads with something unread only, newest
    first, in batches that grow from a few threads: once the page is full
    and the next thread's newest activity is older than the page's last
    entry, no later thread can hold one that belongs on the page. With
    every thread read, that is no walk at all. `any_order` (a count) stops
    as soon as `limit` entries are found, whichever they are. A member with
    few entries, read or not, has them all walked instead."""
    rows: list[tuple[Any, ...]] = []
    if max(conn.execute(_MY_ENTRIES_UP_TO_FEW, params).fetchone()) < FEW_ENTRIES:
        for arm in _ARMS:
            rows.extend(conn.execute(arm.query(False), params))
        return _merged(rows, limit)
    for arm in _WALKED_WHOLE:
        rows.extend(conn.execute(arm.query(False), params))
    threads = conn.execute(_UNREAD_THREADS)
    size = min(FIRST_THREAD_BATCH, THREAD_BATCH)
    walked, found = 0, 0  # threads asked, and the rows they held
    while batch := threads.fetchmany(size):
        if limit is not None and len(rows) >= limit:  # else the page cannot be full yet
            picked = _merged(rows, limit)
            if len(picked) >= limit and (any_order or batch[0][1] < picked[-1][4]):
                return picked
        ids = json.dumps([thread for thread, _newest in batch])
        for arm in _THREAD_ARMS:
            before = len(rows)
            rows.extend(conn.execute(arm.query(False), {**params, "threads": ids}))
            found += len(rows) - before
        walked += len(batch)
        size = min(2 * size, THREAD_BATCH)
        if any_order and limit is not None and found:  # no more threads than the count needs at the rate so far
            size = min(size, max(1, -(-(limit - len(rows)) * walked // found)))
    return _merged(rows, limit)


def _merged(rows: list[tuple[Any, ...]], limit: int | None) -> list[tuple[Any, ...]]:
    """`rows` newest first, a post that is both a mention and a reply once."""
    rows.sort(key=lambda r: (-r[4], _PRECEDENCE.get(r[0], 2), r[2], r[3] or "", r[5] or ""))
    seen: set[str] = set()
    picked: list[tuple[Any, ...]] = []
    for row in rows:
        if row[0] in _PRECEDENCE:
            if row[2] in seen:
                continue
            seen.add(row[2])
        picked.append(row)
        if limit is not None and len(picked) >= limit:
            break
    return picked


# Each row's who, thread and post (:keys, a JSON list of triples, in order)
# dressed in one statement: a page of 200 is one call, not 200.
_DETAILS = """SELECT coalesce((SELECT name FROM members WHERE id = k.who), substr(k.who, 1, 8)),
        coalesce((SELECT title FROM threads WHERE id = k.thread), ''),
        coalesce((SELECT body FROM posts WHERE id = k.post), ''),
        coalesce((SELECT read_hlc FROM reads WHERE thread_id = k.thread), -1)
    FROM (SELECT key, json_extract(value, '$[0]') AS who, json_extract(value, '$[1]') AS thread,
                 json_extract(value, '$[2]') AS post FROM json_each(:keys)) k
    ORDER BY k.key"""


def _entries(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> list[InboxEntry]:
    """The rows dressed: names, titles, excerpts and read state, for one page."""
    out: list[InboxEntry] = []
    keys = json.dumps([[who, thread, post] for _kind, thread, post, who, *_rest in rows])
    details = conn.execute(_DETAILS, {"keys": keys}).fetchall()
    for (kind, thread, post, who, hlc, emoji, report), (name, title, body, read_hlc) in zip(rows, details, strict=True):
        stage = None
        if kind == "report":
            stage, emoji = emoji or "handled", None
        note = None
        if stage == "handled":  # the moderators' word to me, where they chose to send one
            (note,) = conn.execute("SELECT reply FROM my_reports WHERE id = ?", (report,)).fetchone() or (None,)
        if report is None:
            parts: tuple[str, ...] = (kind, post, who or "", emoji or "")
        else:  # a report's handled entry keeps the id it always had
            parts = (kind, report) if stage == "handled" else (kind, report, str(stage))
        out.append(
            InboxEntry(
                id=_entry_id(*parts),
                kind=kind,
                thread=thread,
                post=post,
                from_id=who,
                from_name=name if who else None,
                at=hlc_to_datetime(hlc),
                read=hlc <= read_hlc,
                title=title,
                excerpt=" ".join(body.split())[:EXCERPT_CHARS],
                emoji=emoji,
                stage=stage,
                note=note,
            )
        )
    return out


def unread_inbox_count(conn: sqlite3.Connection, me: str) -> int:
    """How many entries the inbox holds unread (the Inbox section's count),
    counted up to COUNT_CAP: past it the section bar says "1,000+", and
    counting stays as quick as reading one page."""
    return len(_unread_rows(conn, _params(conn, me, COUNT_CAP), COUNT_CAP, any_order=True))


# --- follows and mutes ----------------------------------------------------------------


def is_following(conn: sqlite3.Connection, thread_id: str) -> bool:
    return conn.execute("SELECT 1 FROM follows WHERE thread_id = ?", (thread_id,)).fetchone() is not None


def is_muted(conn: sqlite3.Connection, kind: str, target: str) -> bool:
    return conn.execute("SELECT 1 FROM mutes WHERE kind = ? AND target = ?", (kind, target)).fetchone() is not None


def followed_threads(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT thread_id FROM follows ORDER BY thread_id")]


def muted(conn: sqlite3.Connection, kind: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT target FROM mutes WHERE kind = ? ORDER BY target", (kind,))]


def mention_keys(conn: sqlite3.Connection, thread_id: str) -> dict[str, list[str]]:
    """post id -> the name keys its mentions resolved by, for the posts of a
    thread (what core.mentions.resolved_spans needs to highlight them)."""
    keys: dict[str, list[str]] = {}
    for post, key in conn.execute(
        """SELECT mn.post_id, mn.name_key FROM posts p JOIN mentions mn ON mn.post_id = p.id
           WHERE p.thread_id = ? ORDER BY mn.post_id, mn.name_key""",
        (thread_id,),
    ):
        keys.setdefault(post, []).append(key)
    return keys


# --- unread posts -----------------------------------------------------------------------

# A thread's posts in the order `show` lists them: the opening post first.
_POST_ORDER = "p.id != p.thread_id, p.created_hlc, p.author, p.id"


@dataclass(frozen=True)
class UnreadPost:
    thread: str
    post: str


def first_unread_post(conn: sqlite3.Connection, me: str, thread_id: str) -> str | None:
    """The first post of the thread (in `show` order) I have not read and did
    not write: where the thread opens. None when all is read."""
    row = conn.execute(
        f"""SELECT p.id FROM posts p LEFT JOIN reads rd ON rd.thread_id = p.thread_id
            WHERE p.thread_id = ? AND p.deleted = 0 AND p.author != ?
            AND p.created_hlc > coalesce(rd.read_hlc, -1)
            ORDER BY {_POST_ORDER} LIMIT 1""",
        (thread_id, me),
    ).fetchone()
    return row[0] if row else None


def unread_posts(conn: sqlite3.Connection, me: str, thread_id: str) -> list[str]:
    """Every unread post of the thread, in `show` order (for `n` inside it)."""
    return [
        r[0]
        for r in conn.execute(
            f"""SELECT p.id FROM posts p LEFT JOIN reads rd ON rd.thread_id = p.thread_id
                WHERE p.thread_id = ? AND p.deleted = 0 AND p.author != ?
                AND p.created_hlc > coalesce(rd.read_hlc, -1)
                ORDER BY {_POST_ORDER}""",
            (thread_id, me),
        )
    ]


def next_unread_post(
    conn: sqlite3.Connection, me: str, *, thread_id: str | None = None, post_id: str | None = None
) -> UnreadPost | None:
    """Where `n` goes: the next unread post after `post_id` in `thread_id`,
    else the first unread post of the first other thread with unread posts,
    in the thread list's order (pinned first, then most recent activity).
    Archived and deleted threads are skipped."""
    if thread_id is not None:
        posts = unread_posts(conn, me, thread_id)
        if post_id in posts:
            later = posts[posts.index(post_id) + 1 :]
            if later:
                return UnreadPost(thread_id, later[0])
        elif posts and post_id is None:
            return UnreadPost(thread_id, posts[0])
    for (candidate,) in conn.execute(
        """SELECT t.id FROM threads t LEFT JOIN reads rd ON rd.thread_id = t.id
           WHERE t.deleted = 0 AND t.archived = 0 AND t.id IS NOT ?
           AND (rd.read_hlc IS NULL OR rd.read_hlc < t.last_activity_hlc)
           ORDER BY t.pinned DESC, t.last_activity_hlc DESC, t.id DESC""",
        (thread_id,),
    ):
        first = first_unread_post(conn, me, candidate)
        if first is not None:
            return UnreadPost(candidate, first)
    return None


def unread_counts(conn: sqlite3.Connection, me: str) -> dict[str, int]:
    """Unread counts for the section bar: threads (the thread list), rituals
    (ritual occurrences among them) and the inbox. The threads are the live
    ones less those read up to their last activity: a count of an index and
    a walk of what I have read, not a probe of every thread."""
    (live,) = conn.execute(
        "SELECT count(*) FROM threads INDEXED BY threads_activity WHERE deleted = 0 AND archived = 0"
    ).fetchone()
    (read,) = conn.execute(
        """SELECT count(*) FROM reads rd CROSS JOIN threads t ON t.id = rd.thread_id
           WHERE t.deleted = 0 AND t.archived = 0 AND rd.read_hlc >= t.last_activity_hlc"""
    ).fetchone()
    (rituals,) = conn.execute(
        """SELECT count(*) FROM threads t INDEXED BY threads_ritual LEFT JOIN reads rd ON rd.thread_id = t.id
           WHERE t.ritual_id IS NOT NULL AND t.deleted = 0 AND t.archived = 0
           AND (rd.read_hlc IS NULL OR rd.read_hlc < t.last_activity_hlc)"""
    ).fetchone()
    return {"threads": live - read, "rituals": rituals, "inbox": unread_inbox_count(conn, me)}
