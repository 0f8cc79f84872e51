"""The group-life reads stay a screen's worth on a big group: each walks an
index (never a scan of every post or reaction), and the inbox's count stops
at its cap. The plans are SQLite's own (EXPLAIN QUERY PLAN) on a real log."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Any

import pytest

from tablespace.core import calendar_queries, digest, inbox, recap
from tablespace.core.clock import hlc_to_datetime
from tests.core.opkit import World

# Tables a read may only reach through an index: a full scan of either is
# proportional to the whole history.
BIG = ("posts", "reactions")


def plans(conn: sqlite3.Connection, run: Any) -> list[str]:
    """Every query plan line of the statements `run` executes on `conn`."""
    seen: list[str] = []
    statements: list[tuple[str, Any]] = []
    real = conn

    class Recording:
        def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
            statements.append((sql, params))
            return real.execute(sql, params)

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    run(Recording())
    for sql, params in statements:
        seen += [row[3] for row in real.execute("EXPLAIN QUERY PLAN " + sql, params)]
    return seen


def scans_of_big_tables(lines: list[str]) -> list[str]:
    return [line for line in lines if any(line.startswith(f"SCAN {t}") or f"SCAN {t} " in line for t in BIG)]


def walks_every_thread(lines: list[str]) -> list[str]:
    """Lines that read threads by an index of all live threads (or all of
    them): a read of a window, an event or my threads needs neither."""
    return [
        line for line in lines if "threads_activity" in line or "threads_pinned_activity" in line or line == "SCAN t"
    ]


@pytest.fixture
def busy(tmp_path) -> tuple[World, str, str]:
    """A founder's thread with replies and reactions from another member, a mention."""
    w = World(tmp_path / "g.db", members=1)
    (bo,) = w.members
    me = w.founder.id
    t = w.accepted(w.founder, "thread.start", {"title": "mine", "body": "hello", "tags": []})
    w.accepted(bo, "post.react", {"post": t.id, "emoji": "👍"})
    w.accepted(bo, "post.reply", {"thread": t.id, "body": "hello @Ada"})
    for i in range(4):
        r = w.accepted(bo, "post.reply", {"thread": t.id, "body": f"reply {i}"})
        w.accepted(w.founder, "post.react", {"post": r.id, "emoji": "👍"})
    return w, me, t.id


def test_inbox_arms_walk_indexes_not_every_post(busy, monkeypatch) -> None:
    w, me, _ = busy
    conn = w.store.conn
    lines = plans(conn, lambda c: inbox._rows(c, me, include_read=True, limit=200))
    assert not scans_of_big_tables(lines), lines
    assert not walks_every_thread(lines), lines
    assert any("posts_replies_to" in line for line in lines)
    assert any("reactions_to" in line for line in lines)
    assert any("mentions_member" in line for line in lines)
    # Unread only, for a member with many entries: the threads with
    # something unread, then each one's own posts.
    monkeypatch.setattr(inbox, "FEW_ENTRIES", 0)
    lines = plans(conn, lambda c: inbox._rows(c, me, include_read=False, limit=200))
    assert not scans_of_big_tables(lines), lines
    assert not walks_every_thread(lines), lines
    assert any("thread_newest_hlc" in line for line in lines)
    assert any("posts_thread" in line for line in lines)


def test_thread_arms_read_each_thread_through_its_own_posts(busy) -> None:
    """Replies from the thread's read mark on; reactions post by post, never
    every reaction to my posts once per post."""
    w, me, thread = busy
    params = {"me": me, "limit": -1, "now": w.hlc, "threads": json.dumps([thread])}
    reply, reaction = (
        [row[3] for row in w.store.conn.execute("EXPLAIN QUERY PLAN " + arm.query(False), params)]
        for arm in inbox._THREAD_ARMS
    )
    assert any("posts_thread (thread_id=? AND created_hlc>?)" in line for line in reply), reply
    assert not any("reactions_to" in line for line in reaction), reaction


def read(w: World, thread: str) -> None:
    """As opening the thread does (Group.mark_read)."""
    w.store.conn.execute(
        f"""INSERT OR REPLACE INTO reads (thread_id, read_hlc)
            SELECT id, {inbox.NEWEST_IN_THREAD} FROM threads t WHERE id = :thread""",
        {"thread": thread, "now": w.hlc},
    )


def thread_arm_calls(conn: sqlite3.Connection, run: Any) -> int:
    """How many statements `run` sends that ask a batch of threads."""
    calls = 0
    real = conn

    class Counting:
        def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
            nonlocal calls
            calls += "json_each(:threads)" in sql
            return real.execute(sql, params)

    run(Counting())
    return calls


def test_unread_entries_come_from_the_threads_with_something_unread(tmp_path, monkeypatch) -> None:
    """Ten threads of mine, each with a reply and a reaction by Bo; a
    mention added by an edit; reading a thread reads its entries. The
    unread list is the whole list's unread entries, found by asking only
    the threads newer than their read mark, and a page stops early."""
    monkeypatch.setattr(inbox, "FEW_ENTRIES", 0)  # however few they are
    w = World(tmp_path / "g.db", members=1)
    (bo,) = w.members
    me = w.founder.id
    conn = w.store.conn
    threads = []
    for n in range(10):
        t = w.accepted(w.founder, "thread.start", {"title": f"t{n}", "body": "hi", "tags": []})
        w.accepted(bo, "post.reply", {"thread": t.id, "body": f"reply {n}"})
        threads.append(t.id)
    for t in threads:
        read(w, t)
    assert inbox.inbox(conn, me) == []
    monkeypatch.setattr(inbox, "THREAD_BATCH", 1)
    assert thread_arm_calls(conn, lambda c: inbox._rows(c, me, include_read=False, limit=200)) == 0

    # After reading: a reaction to one thread's opening post, a mention edited into another's reply.
    w.accepted(bo, "post.react", {"post": threads[2], "emoji": "👍"})
    reply = w.accepted(bo, "post.reply", {"thread": threads[5], "body": "plain"})
    read(w, threads[5])
    w.accepted(bo, "post.edit", {"post": reply.id, "body": "plain, @Ada"})
    unread = inbox.inbox(conn, me)
    assert [(e.kind, e.thread) for e in unread] == [("mention", threads[5]), ("reaction", threads[2])]
    assert unread == [e for e in inbox.inbox(conn, me, include_read=True) if not e.read]
    assert thread_arm_calls(conn, lambda c: inbox._rows(c, me, include_read=False, limit=200)) == 2 * len(
        inbox._THREAD_ARMS
    )

    # Nothing read: a page of two asks the newest threads, not all ten.
    conn.execute("DELETE FROM reads")
    page = inbox.inbox(conn, me, limit=2)
    assert page == inbox.inbox(conn, me, include_read=True)[:2]
    assert thread_arm_calls(conn, lambda c: inbox._rows(c, me, include_read=False, limit=2)) < 4 * len(
        inbox._THREAD_ARMS
    )
    assert inbox.unread_inbox_count(conn, me) == len(inbox.inbox(conn, me, include_read=True))


def test_a_member_with_few_entries_asks_no_thread_however_many_are_unread(tmp_path, monkeypatch) -> None:
    """A newcomer, or a member who mostly replies, has many unread threads
    and few entries: those are walked whole, and no thread is asked."""
    monkeypatch.setattr(inbox, "FEW_ENTRIES", 3)
    w = World(tmp_path / "g.db", members=1)
    (bo,) = w.members
    me = w.founder.id
    conn = w.store.conn
    mine = w.accepted(w.founder, "thread.start", {"title": "mine", "body": "hi", "tags": []})
    for n in range(12):
        t = w.accepted(bo, "thread.start", {"title": f"bo {n}", "body": "hi", "tags": []})
        w.accepted(w.founder, "post.reply", {"thread": t.id, "body": "me too"})
    w.accepted(bo, "post.reply", {"thread": mine.id, "body": "welcome"})
    w.accepted(bo, "post.react", {"post": mine.id, "emoji": "👍"})
    entries = inbox.inbox(conn, me)
    assert [e.kind for e in entries] == ["reaction", "reply"]
    assert thread_arm_calls(conn, lambda c: inbox._rows(c, me, include_read=False, limit=200)) == 0
    assert inbox.unread_inbox_count(conn, me) == 2
    for n in range(2):  # three entries now: as many as FEW_ENTRIES, so the threads are walked
        w.accepted(bo, "post.reply", {"thread": mine.id, "body": f"again {n}"})
    assert thread_arm_calls(conn, lambda c: inbox._rows(c, me, include_read=False, limit=200)) > 0
    assert inbox.inbox(conn, me) == [e for e in inbox.inbox(conn, me, include_read=True) if not e.read]


def test_the_fold_keeps_whose_thread_and_whose_post(busy) -> None:
    w, me, thread = busy
    (bo,) = w.members
    conn = w.store.conn
    assert {r[0] for r in conn.execute("SELECT thread_author FROM posts")} == {me}
    assert set(conn.execute("SELECT author, post_author FROM reactions")) == {(bo.id, me), (me, bo.id)}
    entries = inbox.inbox(conn, me, include_read=True)
    assert sorted(e.kind for e in entries) == ["mention", "reaction", "reply", "reply", "reply", "reply"]
    assert [e.kind for e in entries].count("reaction") == 1  # only others' reactions to my posts


def test_the_inbox_count_stops_at_its_cap(busy, monkeypatch: pytest.MonkeyPatch) -> None:
    w, me, _ = busy
    conn = w.store.conn
    assert inbox.unread_inbox_count(conn, me) == 6  # a mention, four replies and a reaction
    monkeypatch.setattr(inbox, "COUNT_CAP", 4)
    assert inbox.unread_inbox_count(conn, me) == 4


def test_digest_recap_and_events_read_their_window_by_index(busy) -> None:
    w, me, _ = busy
    conn = w.store.conn
    moment = hlc_to_datetime(w.hlc)
    lines = plans(conn, lambda c: digest.digest(c, me, moment - timedelta(days=7), moment, group="g"))
    recap_lines = plans(conn, lambda c: recap.recap(c, *recap.week_of(moment.date())))
    lines += recap_lines
    assert not scans_of_big_tables(lines), lines
    # The digest and the recap read their window's posts and threads, not every thread of the group.
    assert not walks_every_thread(lines), lines
    assert any("threads_created" in line for line in recap_lines), recap_lines
    event_lines = plans(conn, lambda c: calendar_queries.events(c, moment))
    assert any("events_at" in line for line in event_lines), event_lines
