"""Full-text search over threads, posts and the library."""

from __future__ import annotations

import functools
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tablespace.core.clock import hlc_to_datetime
from tablespace.core.database import one_int
from tablespace.core.errors import TablespaceError


@dataclass(frozen=True)
class SearchHit:
    kind: str  # thread | post | resource
    id: str
    thread: str | None
    title: str
    snippet: str
    author: str = ""  # who wrote it (their name, else the start of their id)
    created_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "thread": self.thread, "title": self.title, "snippet": self.snippet}


# As you type, the last word is a prefix once it has this many characters:
# a shorter one ("t*") expands to most of the index's words, and costs
# seconds on a big group for results nobody reads.
MIN_PREFIX = 3


def fts_query(text: str, *, prefix_last: bool = False) -> str:
    """A user's words as a safe FTS5 query: each word quoted, all required."""
    words = re.findall(r"\w+", text)
    if not words:
        raise TablespaceError("search for at least one word")
    parts = [f'"{w}"' for w in words]
    if prefix_last and len(words[-1]) >= MIN_PREFIX:
        parts[-1] += "*"
    return " ".join(parts)


# Ranking scores every hit it looks at (bm25 reads each hit's positions and
# length), so a word that is in nearly every post ("the") would cost a score
# per post. Each kind ranks only its newest RANK_WINDOW hits instead: a query
# with fewer hits than that gets exactly the best matches of all, one with
# more gets the best matches among the newest.
RANK_WINDOW = 2_000


@dataclass(frozen=True)
class _SearchKind:
    """One kind of hit: its FTS table, the content table behind it, what a hit
    shows, the joins that find it, when it is live, and the snippet's column."""

    kind: str
    table: str
    select: str
    joins: str
    live: str
    column: int

    @property
    def fts(self) -> str:
        return f"{self.table}_fts"


_SEARCH_KINDS = (
    _SearchKind(
        "thread",
        "threads",
        "t.id, t.id AS thread, t.title, t.author, t.created_hlc AS at",
        "CROSS JOIN threads t ON t.rowid = {fts}.rowid",
        "t.deleted = 0",
        0,
    ),
    _SearchKind(
        "post",
        "posts",
        "p.id, p.thread_id, t.title, p.author, p.created_hlc AS at",
        "CROSS JOIN posts p ON p.rowid = {fts}.rowid CROSS JOIN threads t ON t.id = p.thread_id",
        "p.deleted = 0 AND t.deleted = 0",
        0,
    ),
    _SearchKind(
        "resource",
        "resources",
        "r.id, NULL, r.title, r.added_by AS author, r.created_hlc AS at",
        "CROSS JOIN resources r ON r.rowid = {fts}.rowid",
        "r.deleted = 0",
        -1,
    ),
)


@dataclass(frozen=True)
class _Window:
    """Where a kind's rank window starts (its oldest hit's rowid, 0 when the
    query has no more hits than the window holds), and whether the query is
    everywhere: its newest RANK_WINDOW hits lie among the kind's newest
    2 x RANK_WINDOW rows. Such a query holds a word in most rows, which bm25
    gives (next to) no weight while counting every row that holds it: its
    hits are listed newest first, unranked."""

    start: int
    everywhere: bool


def _window(conn: sqlite3.Connection, kind: _SearchKind, query: str) -> _Window:
    # Walking the doclist backwards to the window's oldest hit is cheap (no ranking).
    edge = conn.execute(
        f"SELECT rowid FROM {kind.fts} WHERE {kind.fts} MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
        (query, RANK_WINDOW - 1),
    ).fetchone()
    if edge is None:
        return _Window(0, everywhere=False)
    newest = one_int(conn, f"SELECT max(rowid) FROM {kind.table}")
    return _Window(edge[0], everywhere=newest - edge[0] < 2 * RANK_WINDOW)


def _arm(kind: _SearchKind, everywhere: bool) -> str:
    """One kind's best `limit` hits within its rank window (or, for a query that
    is everywhere, its newest `limit` hits), with snippets.
    CROSS JOIN pins the join order (left to itself the planner walked every
    row of the content table and ran MATCH per row). ORDER BY rank (or rowid)
    lets FTS5 order the hits before the join, so snippet() runs for the
    `limit` rows taken and no others. Ranked hits carry their bm25 rank
    (negative, best lowest); newest-first ones rank 0, after them."""
    fts = kind.fts
    if everywhere:
        rank, newest, order = "0.0", f"{fts}.rowid", f"{fts}.rowid DESC"
    else:
        rank, newest, order = f"{fts}.rank", "0", f"{fts}.rank"
    return f"""SELECT * FROM (
          SELECT '{kind.kind}' AS kind, {kind.select},
                 snippet({fts}, {kind.column}, :a, :b, '…', 12) AS snippet, {rank} AS rank, {newest} AS newest
          FROM {fts} {kind.joins.format(fts=fts)}
          WHERE {fts} MATCH :q AND {kind.live} AND {fts}.rowid >= :start_{kind.kind}
          ORDER BY {order} LIMIT :limit)"""


@functools.cache
def _search_sql(everywhere: tuple[bool, ...]) -> str:
    arms = "\n      UNION ALL\n      ".join(_arm(k, e) for k, e in zip(_SEARCH_KINDS, everywhere, strict=True))
    return f"""SELECT hit.kind, hit.id, hit.thread, hit.title, hit.snippet, coalesce(m.name, substr(hit.author, 1, 8)), hit.at
    FROM (
      {arms}
    ) AS hit LEFT JOIN members m ON m.id = hit.author
    ORDER BY hit.rank, hit.kind, hit.newest DESC, hit.id LIMIT :limit"""


def search(
    conn: sqlite3.Connection,
    text: str,
    *,
    limit: int = 50,
    prefix_last: bool = False,
    mark: tuple[str, str] = ("**", "**"),
) -> list[SearchHit]:
    """Threads, posts and resources matching every word, best match first
    (a query whose words are in most rows: newest first)."""
    query = fts_query(text, prefix_last=prefix_last)
    a, b = mark
    windows = {k.kind: _window(conn, k, query) for k in _SEARCH_KINDS}
    params: dict[str, object] = {"q": query, "a": a, "b": b, "limit": limit}
    params.update({f"start_{kind}": w.start for kind, w in windows.items()})
    rows = conn.execute(_search_sql(tuple(w.everywhere for w in windows.values())), params)
    return [
        SearchHit(
            kind=r[0], id=r[1], thread=r[2], title=r[3], snippet=r[4], author=r[5], created_at=hlc_to_datetime(r[6])
        )
        for r in rows
    ]
