"""Writes to sync_files: the sync's record of each file it has looked at in
the shared folder, so that an unchanged file is not read again. The table
is local bookkeeping, never folded; its reads are in core/folder_queries.py."""

from __future__ import annotations

import sqlite3

# Meta key: the folder's directories the last round found holding only
# settled files, with their signatures (sync/engine.py). Forgetting a file's
# record drops it, so the next round lists every directory again.
TRUSTED_DIRS_META = "sync_trusted_dirs"


def distrust_dirs(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM meta WHERE key = ?", (TRUSTED_DIRS_META,))


def record_file(
    conn: sqlite3.Connection,
    path: str,
    size: int,
    mtime_ns: int,
    digest: str,
    status: str,
    reason: str | None,
    first_seq: int | None = None,
    last_seq: int | None = None,
) -> None:
    """What became of the folder file at `path` in this version: imported,
    mine, waiting (for a key) or quarantined (with its reason)."""
    record_files(conn, [(path, size, mtime_ns, digest, status, reason, first_seq, last_seq)])


def record_files(
    conn: sqlite3.Connection, rows: list[tuple[str, int, int, str, str, str | None, int | None, int | None]]
) -> None:
    """record_file for many files: (path, size, mtime_ns, digest, status,
    reason, first seq, last seq) each."""
    conn.executemany(
        """INSERT OR REPLACE INTO sync_files (path, size, mtime_ns, digest, status, reason, first_seq, last_seq)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        rows,
    )


def forget_files(conn: sqlite3.Connection, paths: list[str]) -> None:
    """Look at these files again as if never seen (ours that vanished or changed)."""
    if paths:
        drop_records(conn, paths)
        distrust_dirs(conn)


def drop_records(conn: sqlite3.Connection, paths: list[str]) -> None:
    """Drop the records of files gone from the folder that no listing of the
    log's directories holds (read marks superseded): nothing to look at again."""
    conn.executemany("DELETE FROM sync_files WHERE path = ?", [(p,) for p in paths])


def restat_file(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int) -> None:
    """The file at `path` holds the same bytes under a new time (touched, or
    copied over itself): remember its new time, so it is not read again."""
    conn.execute("UPDATE sync_files SET size = ?, mtime_ns = ? WHERE path = ?", (size, mtime_ns, path))


def forget_skipped(conn: sqlite3.Connection, reason: str, prefixes: list[str]) -> None:
    """Look again at the files recorded with `reason` under these directories."""
    before = conn.total_changes
    conn.executemany(
        "DELETE FROM sync_files WHERE reason = ? AND substr(path, 1, length(?)) = ?",
        [(reason, prefix, prefix) for prefix in prefixes],
    )
    if conn.total_changes != before:
        distrust_dirs(conn)
