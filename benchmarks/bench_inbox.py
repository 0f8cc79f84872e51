"""The inbox and unread counts on an N-post group (default 100k).

The cached group (see _common.cached_group) has one author; a copy of it is
opened (migrated and re-folded, which finds the mentions) and asked:

  inbox-author     inbox(conn, author): every post is theirs, so the reply
                   and reaction arms walk all their threads and posts and
                   find nothing of anyone else: the widest scan there is
  inbox-follower   inbox(conn, other) for a member following 200 threads
  counts           unread_counts(conn, other): the section bar
  digest           digest(conn, other) of the last 7 days, which hold every post
  recap            recap(conn) of this week, likewise
  floor            queries.threads(conn, limit=50), the thread list's first
                   page: a read the app already makes on every refresh

Each figure is the median over --runs runs (each the median of 20 calls),
with the min-max beside it, and its ratio to the floor of the same run.

Target (issue 18): every command under 200 ms on a 100k-post group.

Usage: python benchmarks/bench_inbox.py [--n 100000] [--quick] [--runs 5]
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    base_args,
    cached_group,
    cleanup_tmp,
    copy_group,
    header,
    open_store,
    parse,
    table,
    verdict,
)

from tablespace.core import digest, inbox, queries, recap  # noqa: E402
from tablespace.core.clock import now  # noqa: E402

OTHER = "f" * 32
TARGET_MS = 200.0


def timed(fn: Callable[[], object], calls: int = 20) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    p = base_args(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    args = parse(p)
    header("inbox", args)
    path = copy_group(cached_group(args.n, args.seed), "inbox")
    try:
        store = open_store(path)
        conn = store.conn
        author = conn.execute("SELECT author FROM threads LIMIT 1").fetchone()[0]
        threads = [r[0] for r in conn.execute("SELECT id FROM threads")]
        with store.db.atomic():
            conn.executemany(
                "INSERT OR IGNORE INTO follows (thread_id) VALUES (?)",
                [(t,) for t in random.Random(args.seed).sample(threads, min(200, len(threads)))],
            )
        moment = now()
        cases: dict[str, Callable[[], object]] = {
            "floor": lambda: queries.threads(conn, limit=50),
            "inbox-author": lambda: inbox.inbox(conn, author, include_read=True),
            "inbox-follower": lambda: inbox.inbox(conn, OTHER, include_read=True),
            "counts": lambda: inbox.unread_counts(conn, OTHER),
            # every post of the cached group is this week's: the widest digest and recap there are
            "digest": lambda: digest.digest(conn, OTHER, moment - timedelta(days=7), moment, group="bench"),
            "recap": lambda: recap.recap(conn, *recap.week_of(moment.date())),
        }
        results: dict[str, list[float]] = {name: [] for name in cases}
        ratios: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            run = {name: timed(fn) for name, fn in cases.items()}
            for name, value in run.items():
                results[name].append(value)
                ratios[name].append(value / run["floor"])
        print(f"load average {os.getloadavg()}")
        rows = []
        for name in cases:
            values = results[name]
            median = statistics.median(values)
            target, result = ("", "") if name == "floor" else (f"< {TARGET_MS:.0f} ms", verdict(median < TARGET_MS))
            rows.append(
                [
                    name,
                    f"{median:.2f} ({min(values):.2f}-{max(values):.2f}) ms",
                    f"{statistics.median(ratios[name]):.1f}x",
                    target,
                    result,
                ]
            )
        print(table(["figure", "median (min-max)", "ratio to floor", "target", "result"], rows))
        store.close()
    finally:
        cleanup_tmp(path)
    return 0 if all(row[-1] != verdict(False) for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
