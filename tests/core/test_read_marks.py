"""Read marks from another of our devices applied to this home's reads
(core/read_marks.py): raised as far as each thread goes here, the rest
waiting for its posts, in statements that do not grow with the marks."""

from __future__ import annotations

import sqlite3

from tablespace import actions
from tablespace.core import read_marks
from tablespace.core.group import Group
from tablespace.core.inbox import NEWEST_IN_THREAD


def newest(group: Group, thread: str) -> int:
    return group.conn.execute(
        f"SELECT {NEWEST_IN_THREAD} FROM threads t WHERE id = :thread", {"thread": thread, "now": group.now_hlc()}
    ).fetchone()[0]


def unread_all(group: Group) -> None:
    """Our own posts are read as we write them: these tests start from none read."""
    group.conn.execute("DELETE FROM reads")


def table(group: Group, name: str) -> dict[str, int]:
    return dict(group.conn.execute(f"SELECT thread_id, read_hlc FROM {name}"))  # noqa: S608


def test_marks_rise_as_far_as_each_thread_goes_here_and_the_rest_waits(group: Group) -> None:
    past, behind, read = (actions.post(group, f"Thread {n}", "Crumb.") for n in range(3))
    top = {t: newest(group, t) for t in (past, behind, read)}
    unread_all(group)
    group.conn.execute("INSERT INTO reads (thread_id, read_hlc) VALUES (?, ?)", (read, top[read]))
    group.conn.execute("INSERT INTO reads_waiting (thread_id, read_hlc) VALUES (?, ?)", (behind, top[behind] - 5))
    unseen = "f" * 32  # no such thread here yet
    latest = top[past] + 5
    marks = {past: top[past] + 3, behind: top[behind] - 1, read: top[read] - 1, unseen: latest + 100}

    raised = read_marks.apply_marks(group.conn, marks, group.now_hlc(), latest)

    assert raised == 2
    assert table(group, "reads") == {past: top[past], behind: top[behind] - 1, read: top[read]}
    # Past the thread's newest here, it waits; a clock ahead of ours is taken only as far as ours.
    assert table(group, "reads_waiting") == {past: top[past] + 3, unseen: latest}
    assert table(group, "reads_shared") == marks


def test_a_waiting_mark_is_applied_when_its_posts_arrive(group: Group) -> None:
    thread = actions.post(group, "Rye", "Fed the starter.")
    mark = newest(group, thread) + 1
    read_marks.apply_marks(group.conn, {thread: mark}, group.now_hlc(), mark)
    assert table(group, "reads_waiting") == {thread: mark}

    actions.reply(group, thread[:8], "And again.")
    unread_all(group)
    assert read_marks.release_waiting(group.conn, group.now_hlc()) == 1
    assert table(group, "reads") == {thread: mark}
    assert table(group, "reads_waiting") == {}


def statements(conn: sqlite3.Connection, work: object) -> int:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        work()  # type: ignore[operator]
    finally:
        conn.set_trace_callback(None)
    return len(seen)


def test_applying_marks_takes_as_many_statements_for_many_threads_as_for_few(group: Group) -> None:
    threads = [actions.post(group, f"Thread {n}", "Crumb.") for n in range(60)]
    ahead = group.now_hlc() + 10**9
    counts = []
    for few_or_many in (threads[:3], threads[3:]):
        marks = {t: ahead for t in few_or_many}
        counts.append(statements(group.conn, lambda m=marks: read_marks.apply_marks(group.conn, m, ahead, ahead)))
        counts.append(statements(group.conn, lambda: read_marks.release_waiting(group.conn, group.now_hlc())))
    assert counts[:2] == counts[2:]
    assert table(group, "reads") == {t: newest(group, t) for t in threads}
