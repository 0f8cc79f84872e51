"""One thread's posts and the facts of a post, as the thread screen and the actions read them."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.database import one_int
from tablespace.core.errors import TablespaceError
from tablespace.core.polls import PollView, SurveyView
from tablespace.core.polls import poll as thread_poll
from tablespace.core.polls import survey as thread_survey


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


def reply_count(conn: sqlite3.Connection, thread_id: str) -> int:
    return one_int(
        conn, "SELECT count(*) FROM posts WHERE thread_id = ? AND deleted = 0 AND id != ?", (thread_id, thread_id)
    )


def my_reactions(conn: sqlite3.Connection, post_id: str, me: str) -> set[str]:
    """The emoji `me` has put on a post (a picker offers to take them back)."""
    return {
        row[0] for row in conn.execute("SELECT emoji FROM reactions WHERE post_id = ? AND author = ?", (post_id, me))
    }


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
