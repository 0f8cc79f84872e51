"""The inbox's unread page and count, and the section bar's thread counts,
pinned against the plain reading of the whole inbox on random groups: the
walks that stop early (threads with something unread, a count that stops at
its cap) must find exactly what reading everything finds."""

from __future__ import annotations

import random

import pytest

from tablespace.core import inbox
from tests.core.opkit import World
from tests.core.test_unread import mark_read

EMOJI = ("👍", "❤", "🎉")


def random_group(w: World, rng: random.Random) -> list[str]:
    """Threads, replies, reactions, mentions, edits and deletions by all four
    members, with reads, follows and mutes of the founder's and Bo's home
    interleaved; returns the thread ids."""
    people = [w.founder, *w.members]
    threads: list[str] = []
    posts: list[tuple[str, str, object]] = []  # (post, thread, author feed)
    for step in range(160):
        who = rng.choice(people)
        roll = rng.random()
        if not threads or roll < 0.12:
            t = w.accepted(who, "thread.start", {"title": f"t{step}", "body": "hi", "tags": []})
            threads.append(t.id)
            posts.append((t.id, t.id, who))
        elif roll < 0.6:
            thread = rng.choice(threads)
            body = rng.choice(["plain", "ask @Ada", "thanks @Bo", "@Ada and @Bo"])
            op = w.do(who, "post.reply", {"thread": thread, "body": body})
            if w.state(op)[0] == "accepted":
                posts.append((op.id, thread, who))
        elif roll < 0.85:
            post, _thread, _author = rng.choice(posts)
            w.do(who, "post.react", {"post": post, "emoji": rng.choice(EMOJI)})
        elif roll < 0.9:
            post, _thread, author = rng.choice(posts)
            w.do(author, "post.edit", {"post": post, "body": "edited, @Ada"})  # type: ignore[arg-type]
        elif roll < 0.93:
            post, _thread, author = rng.choice(posts)
            w.do(author, "post.delete", {"post": post})  # type: ignore[arg-type]
        else:
            mark_read(w, rng.choice(threads))
    return threads


def unread_threads(conn, *, rituals: bool = False) -> int:
    """The section bar's thread count, read plainly: every live thread probed."""
    (n,) = conn.execute(
        f"""SELECT count({"t.ritual_id" if rituals else "*"}) FROM threads t
            LEFT JOIN reads rd ON rd.thread_id = t.id WHERE t.deleted = 0 AND t.archived = 0
            AND (rd.read_hlc IS NULL OR rd.read_hlc < t.last_activity_hlc)"""
    ).fetchone()
    return n


@pytest.mark.parametrize("walk", ["threads", "entries"])
@pytest.mark.parametrize("seed", range(6))
def test_unread_page_and_counts_match_reading_everything(
    tmp_path, monkeypatch: pytest.MonkeyPatch, seed: int, walk: str
) -> None:
    """Both ways to the unread entries (the threads with something unread,
    or all of a member's entries when they are few) find the same."""
    monkeypatch.setattr(inbox, "FEW_ENTRIES", 0 if walk == "threads" else 10**6)
    rng = random.Random(seed)
    w = World(tmp_path / "g.db", members=3)
    threads = random_group(w, rng)
    conn = w.store.conn
    for thread in rng.sample(threads, len(threads) // 4):
        conn.execute("INSERT OR IGNORE INTO follows (thread_id) VALUES (?)", (thread,))
    conn.execute("INSERT INTO mutes (kind, target) VALUES ('member', ?)", (w.members[2].id,))
    conn.execute("INSERT INTO mutes (kind, target) VALUES ('thread', ?)", (rng.choice(threads),))
    monkeypatch.setattr(inbox, "THREAD_BATCH", rng.choice([1, 2, 4]))
    monkeypatch.setattr(inbox, "FIRST_THREAD_BATCH", 1)
    for me in (w.founder.id, w.members[0].id):
        unread = [e for e in inbox.inbox(conn, me, include_read=True, limit=None) if not e.read]
        assert unread, "a random group leaves something unread"
        assert inbox.inbox(conn, me, limit=None) == unread
        for page in (1, 3, 10):
            assert inbox.inbox(conn, me, limit=page) == unread[:page]
        for cap in (1, 5, len(unread) - 1, len(unread), len(unread) + 1, 1000):
            monkeypatch.setattr(inbox, "COUNT_CAP", max(cap, 1))
            assert inbox.unread_inbox_count(conn, me) == min(len(unread), max(cap, 1)), cap
        counts = inbox.unread_counts(conn, me)
        assert counts["threads"] == unread_threads(conn)
        assert counts["rituals"] == unread_threads(conn, rituals=True)
