"""Full-text search latency on an N-post group (default 100k).

The group is built once by the batch op path and cached under
bench-out/group-n{N}-s{seed}-v*/ (bench_write leaves the same cache behind).

The query set is drawn from the group's own text: words are ranked by how many
posts hold them (the most common first: "the", "and", ... "bread", "starter"),
and every query is checked to find something (its hit count is printed; an
empty query would pad the median with a near-free lookup, so the run stops).

  common      one of the 40 most common words (10k-99k posts each)
  common-2w   two common words
  medium      a word in 500-5,000 posts, alone or with a common word
  rare        a word in 20-500 posts
  prefix      what the app sends as a reader types a word (from its third
              letter on): every word but the last in full, the last as a prefix

Each run times every query once, in a shuffled order (no best-of: a slow query
counts as slow); p50, p95 and max are taken per run, and the figures printed
are the median over --runs runs with the min-max beside it.

Figures (milliseconds per query, warm page cache; wall time unless said, and
the verdict is on wall time; search's CPU time is printed too, since on a shared
machine wall time also holds the time other processes held the CPU):

  search  search_queries.search(conn, text) as the CLI calls it (limit 50), or as the
          app calls it for prefix queries (limit 30, prefix_last).
  floor   a bare FTS5 MATCH: the newest 50 post hits, no ranking, no joins,
          no snippets:
          SELECT rowid FROM posts_fts WHERE posts_fts MATCH ? ORDER BY rowid DESC LIMIT 50
          search finds the same hits and more (threads and the library too,
          ranking, the joins, snippets), so it cannot be faster: a floor.
  ranked window  the posts-only FTS5 ranking of the window search ranks
          (rowid >= the window's oldest rowid, ORDER BY rank LIMIT 50): what
          search pays for posts when a query is not everywhere; a reference.
  unwindowed  the same ranking over every hit, no window (what search did
          before the rank window): a reference, not a floor.

Target (issue 17): search p95 < 50 ms on 100k posts.

Usage: python benchmarks/bench_search.py [--n 100000] [--quick] [--runs 5] [--fresh]
"""

from __future__ import annotations

import cProfile
import pstats
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    VOCAB,
    base_args,
    cached_group,
    header,
    open_store,
    parse,
    percentile,
    table,
    verdict,
)

from tablespace.core import search_queries  # noqa: E402

TARGET_P95_MS = 50.0
FLOOR_SQL = "SELECT rowid FROM posts_fts WHERE posts_fts MATCH :q ORDER BY rowid DESC LIMIT 50"
WINDOW_SQL = f"""SELECT rowid, rank FROM posts_fts WHERE posts_fts MATCH :q
  AND rowid >= coalesce((SELECT rowid FROM posts_fts WHERE posts_fts MATCH :q
                         ORDER BY rowid DESC LIMIT 1 OFFSET {search_queries.RANK_WINDOW} - 1), 0)
  ORDER BY rank LIMIT 50"""
UNWINDOWED_SQL = "SELECT rowid, rank FROM posts_fts WHERE posts_fts MATCH :q ORDER BY rank LIMIT 50"
COUNT_SQL = {
    table: f"SELECT count(*) FROM {table}_fts WHERE {table}_fts MATCH ?" for table in ("threads", "posts", "resources")
}


@dataclass(frozen=True)
class Query:
    cls: str
    text: str
    prefix: bool  # as the app sends it (limit 30, last word a prefix); else as the CLI does

    def run(self, conn: sqlite3.Connection) -> list[search_queries.SearchHit]:
        if self.prefix:
            return search_queries.search(conn, self.text, limit=30, prefix_last=True)
        return search_queries.search(conn, self.text)

    def fts(self) -> str:
        return search_queries.fts_query(self.text, prefix_last=self.prefix)


def post_counts(conn: sqlite3.Connection, words: list[str]) -> dict[str, int]:
    """How many posts hold each word (as search matches it: stemmed)."""
    return {w: conn.execute(COUNT_SQL["posts"], (search_queries.fts_query(w),)).fetchone()[0] for w in words}


def hit_count(conn: sqlite3.Connection, q: Query) -> int:
    return sum(conn.execute(sql, (q.fts(),)).fetchone()[0] for sql in COUNT_SQL.values())


def query_set(conn: sqlite3.Connection, count: int, seed: int = 7) -> list[Query]:
    """Queries drawn from the group's own words by how many posts hold them."""
    rng = random.Random(seed)
    counts = post_counts(conn, VOCAB[:800] + rng.sample(VOCAB[800:], 400))
    ranked = sorted(counts, key=lambda w: -counts[w])
    common = ranked[:40]
    for word in ("bread", "starter"):  # the group's own subject, common but not top-40
        if word not in common:
            common.append(word)
    medium = [w for w in ranked if 500 <= counts[w] <= 5_000]
    rare = [w for w in ranked if 20 <= counts[w] < 500]
    makers: list[Callable[[], Query]] = [
        lambda: Query("common", rng.choice(common), False),
        lambda: Query("common-2w", " ".join(rng.sample(common, 2)), False),
        lambda: Query("medium", rng.choice(medium), False),
        lambda: Query("medium", f"{rng.choice(common)} {rng.choice(medium)}", False),
        lambda: Query("rare", rng.choice(rare), False),
        lambda: typed(rng, rng.choice(common + medium), rng.choice(common)),
    ]
    out = [Query("common", w, False) for w in ("the", "and", "bread", "starter", "the bread", "bread starter")]
    while len(out) < count:
        out.append(makers[len(out) % len(makers)]())
    return out


def typed(rng: random.Random, word: str, before: str) -> Query:
    """The app's query a few letters into `word` (sometimes after a whole word)."""
    cut = rng.randint(min(3, len(word)), len(word))
    text = word[:cut] if rng.random() < 0.6 else f"{before} {word[:cut]}"
    return Query("prefix", text, True)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one call."""
    w0, c0 = time.perf_counter(), time.thread_time()
    fn()
    return (time.perf_counter() - w0) * 1000, (time.thread_time() - c0) * 1000


@dataclass
class Run:
    search: list[float]
    search_cpu: list[float]
    floor: list[float]
    window: list[float]
    unwindowed: list[float]
    by_class: dict[str, list[float]]


def one_run(conn: sqlite3.Connection, qs: list[Query], rng: random.Random) -> Run:
    run = Run([], [], [], [], [], {})
    for q in rng.sample(qs, len(qs)):
        wall, cpu = timed(lambda q=q: q.run(conn))
        run.search.append(wall)
        run.search_cpu.append(cpu)
        run.by_class.setdefault(q.cls, []).append(wall)
        run.floor.append(timed(lambda q=q: conn.execute(FLOOR_SQL, {"q": q.fts()}).fetchall())[0])
        run.window.append(timed(lambda q=q: conn.execute(WINDOW_SQL, {"q": q.fts()}).fetchall())[0])
        run.unwindowed.append(timed(lambda q=q: conn.execute(UNWINDOWED_SQL, {"q": q.fts()}).fetchall())[0])
    return run


def spread(values: list[float]) -> str:
    """Median over runs, with the min-max beside it."""
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> int:
    p = base_args(__doc__.split("\n")[0])
    p.add_argument("--queries", type=int, default=200, help="number of queries (default 200)")
    p.add_argument("--runs", type=int, default=5, help="timed runs over the whole set (default 5)")
    p.add_argument("--fresh", action="store_true", help="rebuild the cached group")
    args = parse(p)
    header("bench_search", args)
    path = cached_group(args.n, args.seed, fresh=args.fresh)
    store = open_store(path)
    conn = store.conn
    n_posts = conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    print(f"group: {path}  ({n_posts:,} posts)")

    qs = query_set(conn, args.queries)
    hits = {q: hit_count(conn, q) for q in qs}
    shown = {q: len(q.run(conn)) for q in qs}  # also warms the page cache
    empty = [q.text for q in qs if shown[q] == 0]
    print(f"\n{len(qs)} queries (class, text, app prefix?, hits in threads+posts+library, hits shown):")
    for q in qs:
        print(f"  {q.cls:<9} {q.text!r:<28} {'prefix' if q.prefix else '':<6} {hits[q]:>7,} {shown[q]:>3}")
    if empty:
        print(f"queries that find nothing would pad the median: {empty}", file=sys.stderr)
        return 2

    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for q in qs:
            q.run(conn)
        prof.disable()
        prof.dump_stats(args.profile + "-search.pstats")
        pstats.Stats(prof).sort_stats("tottime").print_stats(12)

    rng = random.Random(args.seed)
    runs = [one_run(conn, qs, rng) for _ in range(args.runs)]

    def figure(pick: Callable[[Run], list[float]], q: float) -> list[float]:
        return [percentile(pick(r), q) for r in runs]

    def row(label: str, pick: Callable[[Run], list[float]], extra: list[str]) -> list[str]:
        return [label, *(spread(figure(pick, q)) for q in (0.5, 0.95, 1.0)), *extra]

    p95 = figure(lambda r: r.search, 0.95)
    p50_ratio = [percentile(r.search, 0.5) / percentile(r.floor, 0.5) for r in runs]
    p95_ratio = [percentile(r.search, 0.95) / percentile(r.floor, 0.95) for r in runs]
    ok = statistics.median(p95) < TARGET_P95_MS
    print()
    print(
        table(
            ["figure (ms per query)", "p50", "p95", "max", "p50 / floor p50", "p95 / floor p95", "target", "result"],
            [
                row(
                    "search: queries.search",
                    lambda r: r.search,
                    [spread(p50_ratio), spread(p95_ratio), f"p95 < {TARGET_P95_MS:.0f}", verdict(ok)],
                ),
                row("search CPU (thread time)", lambda r: r.search_cpu, ["", "", "", ""]),
                row("floor: bare posts_fts MATCH, newest 50", lambda r: r.floor, ["1.00x", "1.00x", "", ""]),
                row("ranked window: posts_fts, window, rank, LIMIT 50", lambda r: r.window, ["", "", "", ""]),
                row("unwindowed: posts_fts MATCH, rank, LIMIT 50", lambda r: r.unwindowed, ["", "", "", ""]),
            ],
        )
    )
    print()
    classes = sorted({q.cls for q in qs})
    print(
        table(
            ["by class", "queries", "median hits", "search p50", "search p95", "search max"],
            [
                [
                    cls,
                    str(sum(q.cls == cls for q in qs)),
                    f"{percentile([hits[q] for q in qs if q.cls == cls], 0.5):,.0f}",
                    *(spread([percentile(r.by_class[cls], f) for r in runs]) for f in (0.5, 0.95, 1.0)),
                ]
                for cls in classes
            ],
        )
    )
    print(
        f"({len(qs)} queries, none empty; {args.runs} runs, each query once per run in a shuffled order; "
        f"median over runs (min-max); warm cache; rank window {search_queries.RANK_WINDOW:,} hits per kind)"
    )
    store.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
