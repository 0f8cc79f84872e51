"""Unread precision: the first unread post of a thread, `n` across threads,
and the section bar's counts, against a hand-made log."""

from __future__ import annotations

from tablespace.core import inbox
from tablespace.core.inbox import UnreadPost
from tests.core.opkit import World


def mark_read(w: World, thread: str) -> None:
    """What Group.mark_read writes."""
    w.store.conn.execute(
        f"""INSERT INTO reads (thread_id, read_hlc) SELECT id, {inbox.NEWEST_IN_THREAD} FROM threads t WHERE id = :thread
            ON CONFLICT (thread_id) DO UPDATE SET read_hlc = excluded.read_hlc""",
        {"thread": thread, "now": w.hlc},
    )


def test_first_unread_next_unread_and_counts(tmp_path) -> None:
    w = World(tmp_path / "g.db", members=1)
    (bo,) = w.members
    me = w.founder.id
    a = w.accepted(bo, "thread.start", {"title": "a", "body": "", "tags": []})
    b = w.accepted(bo, "thread.start", {"title": "b", "body": "", "tags": []})
    conn = w.store.conn
    assert inbox.first_unread_post(conn, me, a.id) == a.id  # never opened: from the top
    assert inbox.unread_counts(conn, me) == {"threads": 2, "rituals": 0, "inbox": 0}
    mark_read(w, a.id)
    assert inbox.first_unread_post(conn, me, a.id) is None
    r1 = w.accepted(bo, "post.reply", {"thread": a.id, "body": "one"})
    r2 = w.accepted(bo, "post.reply", {"thread": a.id, "body": "two"})
    mine = w.accepted(w.founder, "post.reply", {"thread": a.id, "body": "mine"})
    assert inbox.first_unread_post(conn, me, a.id) == r1.id
    assert inbox.unread_posts(conn, me, a.id) == [r1.id, r2.id]  # never my own
    assert inbox.next_unread_post(conn, me, thread_id=a.id, post_id=r1.id) == UnreadPost(a.id, r2.id)
    # After the last unread post of this thread: the next thread with unread posts.
    assert inbox.next_unread_post(conn, me, thread_id=a.id, post_id=r2.id) == UnreadPost(b.id, b.id)
    assert inbox.next_unread_post(conn, me) == UnreadPost(a.id, r1.id)  # most recent activity first
    mark_read(w, b.id)
    mark_read(w, a.id)
    assert inbox.next_unread_post(conn, me) is None
    assert inbox.unread_counts(conn, me)["threads"] == 0
    del mine
