"""Reads the TUI needs that core/queries does not offer yet.

Kept tiny and read-only; each one is listed in the issue-4 report as a
candidate for core/queries.
"""

from __future__ import annotations

import sqlite3


def my_reactions(conn: sqlite3.Connection, post_id: str, me: str) -> set[str]:
    """The emoji `me` has put on a post (so the picker can offer to take one back)."""
    rows = conn.execute("SELECT emoji FROM reactions WHERE post_id = ? AND author = ?", (post_id, me))
    return {row[0] for row in rows}


def outbox_count(conn: sqlite3.Connection, me: str) -> int:
    """Our own ops not yet written to the folder (the sync engine's exported_seq)."""
    row = conn.execute("SELECT max(seq) FROM ops WHERE author = ?", (me,)).fetchone()
    head = row[0] or 0
    meta = conn.execute("SELECT value FROM meta WHERE key = 'exported_seq'").fetchone()
    exported = int(meta[0]) if meta and meta[0] else 0
    return max(0, head - exported)


def last_sync_hlc(conn: sqlite3.Connection) -> int | None:
    meta = conn.execute("SELECT value FROM meta WHERE key = 'last_sync'").fetchone()
    return int(meta[0]) if meta and meta[0] else None


def quarantined_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM sync_files WHERE status = 'quarantined'").fetchone()[0]


def absorb_clock(store) -> None:  # noqa: ANN001 - core.store.Store
    """Two connections (the app's and the sync worker's) each keep a clock;
    pick up whatever the other persisted so our next op sorts after it."""
    row = store.conn.execute("SELECT value FROM meta WHERE key = 'hlc'").fetchone()
    if row and row[0]:
        store.clock.observe(int(row[0]))


def thread_position(conn: sqlite3.Connection, thread_id: str) -> int | None:
    """Where a thread sits in the list (pinned first, then most recent activity),
    counted with the same ordering index the list pages over."""
    row = conn.execute("SELECT pinned, last_activity_hlc FROM threads WHERE id = ? AND deleted = 0",
                       (thread_id,)).fetchone()
    if row is None:
        return None
    pinned, hlc = row
    before = conn.execute(
        """SELECT (SELECT count(*) FROM threads WHERE deleted = 0 AND pinned > ?)
                + (SELECT count(*) FROM threads WHERE deleted = 0 AND pinned = ?
                     AND (last_activity_hlc > ? OR (last_activity_hlc = ? AND id > ?)))""",
        (pinned, pinned, hlc, hlc, thread_id),
    ).fetchone()[0]
    return before


def thread_exists(conn: sqlite3.Connection, thread_id: str) -> bool:
    return conn.execute("SELECT 1 FROM threads WHERE id = ? AND deleted = 0", (thread_id,)).fetchone() is not None


def reply_count(conn: sqlite3.Connection, thread_id: str) -> int:
    return conn.execute("SELECT count(*) FROM posts WHERE thread_id = ? AND deleted = 0 AND id != ?",
                        (thread_id, thread_id)).fetchone()[0]


_PAGE_ORDER = "t.pinned DESC, t.last_activity_hlc DESC, t.id DESC"


def threads_next_to(conn: sqlite3.Connection, anchor_id: str, *, after: bool, limit: int) -> list | None:
    """A page of the thread list (pinned first, then most recent activity)
    that starts right after (or ends right before) a known thread: keyset
    paging, an index probe however deep the page is, where OFFSET would walk
    every row before it. None if the anchor is gone (then page by offset).

    Candidate for core/queries (`threads(after=...)`); it reuses the column
    list and row mapping of `queries.threads` so both give identical rows."""
    from tablespace.core.queries import THREAD_COLUMNS, _thread_summary

    row = conn.execute("SELECT pinned, last_activity_hlc FROM threads WHERE id = ? AND deleted = 0",
                       (anchor_id,)).fetchone()
    if row is None:
        return None
    compare, order = ("<", _PAGE_ORDER) if after else (">", _PAGE_ORDER.replace("DESC", "ASC"))
    sql = f"""WITH page AS (
                SELECT t.id FROM threads t
                WHERE t.deleted = 0 AND (t.pinned, t.last_activity_hlc, t.id) {compare} (?, ?, ?)
                ORDER BY {order} LIMIT ?)
              SELECT {THREAD_COLUMNS} FROM page JOIN threads t ON t.id = page.id
              LEFT JOIN members m ON m.id = t.author LEFT JOIN reads r ON r.thread_id = t.id
              ORDER BY {_PAGE_ORDER}"""
    return [_thread_summary(r) for r in conn.execute(sql, (row[0], row[1], anchor_id, limit))]
