"""Store.rebuild() of an N-op group (default 100k posts), and its file size.

Runs on a private copy of the cached group (bench-out/group-n{N}-s{seed}-v*/,
built by the batch op path; bench_write leaves the same cache behind), so the
cache itself is never modified.

Figures:
  rebuild      seconds for Store.rebuild() (one transaction: clear every view,
               reset the FTS indexes, re-fold every op in order), and ops/s.
  check        the canonical dump's digest before and after must be equal
               (DESIGN section 1: rebuild from the log gives the same result).
  size         group.db on disk (after a WAL checkpoint), before and after
               the rebuild, and the biggest tables/indexes (via dbstat).

Reference target (DESIGN section 7, for importing, the nearest stated
figure): 100k ops < 10 s.

Usage: python benchmarks/bench_rebuild.py [--n 100000] [--quick] [--fresh] [--profile FILE]
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    base_args,
    cached_group,
    checkpoint,
    cleanup_tmp,
    copy_group,
    header,
    open_store,
    parse,
    table,
    verdict,
)

from tablespace.core.home import DB_NAME  # noqa: E402

REFERENCE_S_PER_100K = 10.0


def db_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))  # db + -wal + -shm


def biggest(conn: sqlite3.Connection, top: int = 8) -> list[tuple[str, int]]:
    try:
        return conn.execute(
            "SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC LIMIT ?", (top,)
        ).fetchall()
    except sqlite3.OperationalError:  # SQLite built without dbstat
        return []


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def main() -> int:
    p = base_args(__doc__.split("\n")[0])
    p.add_argument("--fresh", action="store_true", help="rebuild the cached group")
    p.add_argument("--no-check", action="store_true", help="skip the before/after digest comparison")
    args = parse(p)
    header("bench_rebuild", args)
    src = cached_group(args.n, args.seed, fresh=args.fresh)
    path = copy_group(src, "rebuild")
    db_path = path / DB_NAME
    store = open_store(path)
    conn = store.conn
    n_ops = conn.execute("SELECT count(*) FROM ops").fetchone()[0]
    checkpoint(conn)
    size_before = db_size(db_path)
    parts = biggest(conn)
    digest_before = None if args.no_check else store.dump_digest()

    gc.collect()
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    t0 = time.perf_counter()
    folded = store.rebuild()
    secs = time.perf_counter() - t0
    if prof:
        prof.disable()
        prof.dump_stats(args.profile + "-rebuild.pstats")
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    assert folded == n_ops, (folded, n_ops)

    same = None if args.no_check else store.dump_digest() == digest_before
    checkpoint(conn)
    size_after = db_size(db_path)
    store.close()
    cleanup_tmp(path)

    ref = REFERENCE_S_PER_100K * n_ops / 100_000
    ok = secs < ref
    print()
    print(
        table(
            ["figure", "value", "per op", "reference", "result"],
            [
                [
                    "rebuild: Store.rebuild()",
                    f"{secs:.2f} s",
                    f"{secs / n_ops * 1e6:.0f} us",
                    f"< {ref:.1f} s (import target, scaled)",
                    verdict(ok) + ("" if not prof else " (profiled)"),
                ],
                ["rebuild throughput", f"{n_ops / secs:,.0f} ops/s", "", "", ""],
                ["views identical after rebuild", {None: "not checked", True: "yes", False: "NO"}[same], "", "", ""],
                ["group.db size (checkpointed)", mb(size_before), f"{size_before / n_ops:.0f} B", "", ""],
                ["group.db size after rebuild", mb(size_after), f"{size_after / n_ops:.0f} B", "", ""],
            ],
        )
    )
    if parts:
        print("\nlargest objects in group.db (before rebuild):")
        for name, size in parts:
            print(f"  {name:32} {mb(size):>9}")
    return 0 if ok and same is not False else 1


if __name__ == "__main__":
    sys.exit(main())
