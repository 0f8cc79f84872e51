"""The shared folder's files as this home has seen, imported and written them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from tablespace.core.database import one_int


def files_seen_at(conn: sqlite3.Connection, paths: Iterable[str]) -> dict[str, tuple[int, int, str]]:
    """path -> (size, mtime_ns, status) of those of `paths` looked at."""
    rows = conn.execute(
        "SELECT path, size, mtime_ns, status FROM sync_files WHERE path IN (SELECT value FROM json_each(?))",
        (json.dumps(list(paths)),),
    )
    return {row[0]: row[1:] for row in rows}


def file_records(
    conn: sqlite3.Connection, paths: list[str]
) -> dict[str, tuple[str, str, str | None, int | None, int | None]]:
    """path -> (digest, status, reason, first seq, last seq) of those of
    `paths` looked at: file_record for all the files a round reads, at once."""
    if not paths:
        return {}
    rows = conn.execute(
        "SELECT path, digest, status, reason, first_seq, last_seq FROM sync_files "
        "WHERE path IN (SELECT value FROM json_each(?))",
        (json.dumps(paths),),
    )
    return {row[0]: row[1:] for row in rows}


def waiting_file_paths(conn: sqlite3.Connection) -> list[str]:
    """Folder files under a key we do not hold yet."""
    return [row[0] for row in conn.execute("SELECT path FROM sync_files WHERE status = 'waiting'")]


def files_looked_at(conn: sqlite3.Connection, prefix: str) -> dict[str, tuple[int, int, str, str | None]]:
    """path -> (size, mtime_ns, status, reason) of the files looked at under
    `prefix` (a range of the path key: LIKE would read every record)."""
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT path, size, mtime_ns, status, reason FROM sync_files WHERE path >= ? AND path < ?", (prefix, end)
        )
    }


# A changeset of ours in the folder, as sync_files recorded it: (path, first
# seq, last seq, size, mtime_ns, digest of its bytes)
OurFile = tuple[str, int, int, int, int, str]


def files_we_wrote(conn: sqlite3.Connection) -> list[OurFile]:
    """Each changeset of ours in the folder, as last seen there."""
    return conn.execute(
        "SELECT path, first_seq, last_seq, size, mtime_ns, digest FROM sync_files WHERE status = 'mine'"
    ).fetchall()


def file_record(conn: sqlite3.Connection, path: str) -> tuple[str, str, str | None, int | None, int | None] | None:
    """(digest, status, reason, first seq, last seq) of the folder file at `path`, if looked at."""
    row: tuple[str, str, str | None, int | None, int | None] | None = conn.execute(
        "SELECT digest, status, reason, first_seq, last_seq FROM sync_files WHERE path = ?", (path,)
    ).fetchone()
    return row


def our_changesets(conn: sqlite3.Connection) -> list[tuple[str, int, int, int]]:
    """(path, first seq, last seq, size) of each changeset of ours in the folder, by seq."""
    return conn.execute(
        """SELECT path, first_seq, last_seq, size FROM sync_files
           WHERE status = 'mine' AND first_seq IS NOT NULL AND last_seq IS NOT NULL
           ORDER BY first_seq, last_seq, path"""
    ).fetchall()


def file_already_imported(conn: sqlite3.Connection, digest: str) -> bool:
    """Whether a file with these contents was imported (or written by us) already."""
    return (
        conn.execute(
            "SELECT 1 FROM sync_files WHERE digest = ? AND status IN ('imported', 'mine')", (digest,)
        ).fetchone()
        is not None
    )


def quarantined_files(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(path, reason) of every folder file quarantined, by path (a quarantine always records its reason)."""
    return conn.execute(
        "SELECT path, coalesce(reason, '') FROM sync_files WHERE status = 'quarantined' ORDER BY path"
    ).fetchall()


def waiting_file_count(conn: sqlite3.Connection) -> int:
    """Folder files under a key we do not hold yet."""
    return one_int(conn, "SELECT count(*) FROM sync_files WHERE status = 'waiting'")
