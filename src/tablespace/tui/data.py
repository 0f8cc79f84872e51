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
