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
    conn.executemany(
        """INSERT INTO reads_shared (thread_id, read_hlc) VALUES (?, ?)
           ON CONFLICT (thread_id) DO UPDATE SET read_hlc = max(read_hlc, excluded.read_hlc)""",
        marks.items(),
    )


def apply_marks(conn: sqlite3.Connection, marks: Mapping[str, int], now_hlc: int, latest: int) -> int:
    """Raise our reads to another device's marks, as far as this home holds
    each thread; the rest waits. `latest`: the latest time this home has
    seen or is at (its clock). Returns how many reads rose. In a transaction
    of the caller's."""
    held = dict(conn.execute("SELECT thread_id, read_hlc FROM reads"))
    # Nobody read past the present: a device whose clock runs ahead (it says
    # "read up to 2990") is taken no further than ours, else its mark would
    # wait and read everything that arrives until then.
    todo = {thread: min(hlc, latest) for thread, hlc in marks.items() if held.get(thread, -1) < min(hlc, latest)}
    note_shared(conn, marks)  # the device that sent them sent them to all of ours: no echo
    return _raise_to(conn, todo, now_hlc)


def release_waiting(conn: sqlite3.Connection, now_hlc: int) -> int:
    """Apply again the marks that waited for their posts (after an import)."""
    waiting = dict(conn.execute("SELECT thread_id, read_hlc FROM reads_waiting"))
    return _raise_to(conn, waiting, now_hlc) if waiting else 0


def any_waiting(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM reads_waiting LIMIT 1").fetchone() is not None


def signing_key(conn: sqlite3.Connection, device: str) -> bytes | None:
    """The public signing key the log certifies for a device (or a member's first key)."""
    row = conn.execute(
        "SELECT public_key FROM devices WHERE id = :d UNION ALL SELECT public_key FROM members WHERE id = :d",
        {"d": device},
    ).fetchone()
    return bytes.fromhex(row[0]) if row else None


def _raise_to(conn: sqlite3.Connection, marks: Mapping[str, int], now_hlc: int) -> int:
    raised = 0
    for thread, hlc in marks.items():
        row = conn.execute(
            f"SELECT {NEWEST_IN_THREAD} FROM threads t WHERE id = :thread", {"thread": thread, "now": now_hlc}
        ).fetchone()
        newest = row[0] if row else None
        if newest is not None:
            raised += conn.execute(
                """INSERT INTO reads (thread_id, read_hlc) VALUES (?, ?)
                   ON CONFLICT (thread_id) DO UPDATE SET read_hlc = excluded.read_hlc
                   WHERE excluded.read_hlc > read_hlc""",
                (thread, min(hlc, newest)),
            ).rowcount
        if newest is None or newest < hlc:
            conn.execute(
                """INSERT INTO reads_waiting (thread_id, read_hlc) VALUES (?, ?)
                   ON CONFLICT (thread_id) DO UPDATE SET read_hlc = max(read_hlc, excluded.read_hlc)""",
                (thread, hlc),
            )
        else:
            conn.execute("DELETE FROM reads_waiting WHERE thread_id = ?", (thread,))
    return raised
