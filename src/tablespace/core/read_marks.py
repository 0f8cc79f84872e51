"""A member's read marks as one map their devices share: thread -> read HLC.

The map grows only: a mark taken from another of our devices raises ours to
the max, never lowers it, so marks merge in any order. It is held to what
this home holds of the thread: a mark past the thread's newest post, edit or
reaction here raises ours only that far and waits (`reads_waiting`) for the
rest to arrive, so a post this home has not seen yet is never read in
advance. `reads_shared` keeps what every device of ours got already, so a
round sends only the marks changed since. How the map travels is in
sync/read_marks.py; these tables are this home's alone.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping

from tablespace.core.inbox import NEWEST_IN_THREAD

Marks = dict[str, int]


def changed_marks(conn: sqlite3.Connection) -> Marks:
    """The marks raised here since every device of ours last got them."""
    return dict(
        conn.execute(
            """SELECT r.thread_id, r.read_hlc FROM reads r LEFT JOIN reads_shared s USING (thread_id)
               WHERE s.read_hlc IS NULL OR r.read_hlc > s.read_hlc"""
        )
    )


def current_marks(conn: sqlite3.Connection) -> Marks:
    """The whole map as this home knows it: its reads, and the marks of our
    other devices still waiting for their posts."""
    return dict(
        conn.execute(
            """SELECT thread_id, max(read_hlc) FROM
               (SELECT thread_id, read_hlc FROM reads UNION ALL SELECT thread_id, read_hlc FROM reads_waiting)
               GROUP BY thread_id"""
        )
    )


def note_shared(conn: sqlite3.Connection, marks: Mapping[str, int]) -> None:
    """Every device of ours holds these marks now: not sent again."""
    conn.execute(
        """INSERT INTO reads_shared (thread_id, read_hlc) SELECT key, value FROM json_each(?) WHERE true
           ON CONFLICT (thread_id) DO UPDATE SET read_hlc = max(read_hlc, excluded.read_hlc)""",
        (json.dumps(dict(marks)),),
    )


def apply_marks(conn: sqlite3.Connection, marks: Mapping[str, int], now_hlc: int, latest: int) -> int:
    """Raise our reads to another device's marks, as far as this home holds
    each thread; the rest waits. `latest`: the latest time this home has
    seen or is at (its clock). Returns how many reads rose. In a transaction
    of the caller's."""
    # Nobody read past the present: a device whose clock runs ahead (it says
    # "read up to 2990") is taken no further than ours, else its mark would
    # wait and read everything that arrives until then.
    todo = conn.execute(
        f"""SELECT m.thread, m.hlc, (SELECT {NEWEST_IN_THREAD} FROM threads t WHERE t.id = m.thread)
            FROM (SELECT key AS thread, min(value, :latest) AS hlc FROM json_each(:marks)) m
            LEFT JOIN reads r ON r.thread_id = m.thread
            WHERE coalesce(r.read_hlc, -1) < m.hlc""",
        {"marks": json.dumps(dict(marks)), "latest": latest, "now": now_hlc},
    ).fetchall()
    note_shared(conn, marks)  # the device that sent them sent them to all of ours: no echo
    return _raise_to(conn, todo)


def release_waiting(conn: sqlite3.Connection, now_hlc: int) -> int:
    """Apply again the marks that waited for their posts (after an import)."""
    waiting = conn.execute(
        f"SELECT w.thread_id, w.read_hlc, (SELECT {NEWEST_IN_THREAD} FROM threads t WHERE t.id = w.thread_id)"
        " FROM reads_waiting w",
        {"now": now_hlc},
    ).fetchall()
    return _raise_to(conn, waiting)


def any_waiting(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM reads_waiting LIMIT 1").fetchone() is not None


def signing_key(conn: sqlite3.Connection, device: str) -> bytes | None:
    """The public signing key the log certifies for a device (or a member's first key)."""
    row = conn.execute(
        "SELECT public_key FROM devices WHERE id = :d UNION ALL SELECT public_key FROM members WHERE id = :d",
        {"d": device},
    ).fetchone()
    return bytes.fromhex(row[0]) if row else None


def _raise_to(conn: sqlite3.Connection, marks: list[tuple[str, int, int | None]]) -> int:
    """Raise our reads to (thread, mark, newest post here) as far as the
    thread goes here; a mark past that, or of a thread not here, waits. One
    statement per table, however many marks: a full map from another device
    holds every thread ever read."""
    reads = [(thread, min(hlc, newest)) for thread, hlc, newest in marks if newest is not None]
    waiting = [(thread, hlc) for thread, hlc, newest in marks if newest is None or newest < hlc]
    settled = [thread for thread, hlc, newest in marks if newest is not None and newest >= hlc]
    raised = 0
    if reads:
        raised = conn.execute(
            """INSERT INTO reads (thread_id, read_hlc)
               SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true
               ON CONFLICT (thread_id) DO UPDATE SET read_hlc = excluded.read_hlc
               WHERE excluded.read_hlc > read_hlc""",
            (json.dumps(reads),),
        ).rowcount
    if waiting:
        conn.execute(
            """INSERT INTO reads_waiting (thread_id, read_hlc)
               SELECT value ->> 0, value ->> 1 FROM json_each(?) WHERE true
               ON CONFLICT (thread_id) DO UPDATE SET read_hlc = max(read_hlc, excluded.read_hlc)""",
            (json.dumps(waiting),),
        )
    if settled:
        conn.execute(
            "DELETE FROM reads_waiting WHERE thread_id IN (SELECT value FROM json_each(?))", (json.dumps(settled),)
        )
    return raised
