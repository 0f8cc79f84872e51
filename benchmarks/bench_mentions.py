"""What mention resolution adds to an import of the two-year group.

The backlog is bench_import's (a fresh reader importing N ops from 20
authors through the real SyncEngine), with one post in MENTION_EVERY naming
another member (`@"member 7"`, and now and then a name nobody has, which
stays text). The same reader home is imported again and again, alternating:

  with      the fold as it is: every post's mentions found and resolved
            against the roster at that point of the order
  without   the same import with the fold's resolve_mentions answering
            "nobody" (the floor: everything else an import does)

Each pair of imports runs back to back, so a loaded machine slows both;
their ratio is the figure, of the process's CPU time (the work the import
does: the wall clock of a 100k import on a shared machine swings by 2x
between identical runs) and, beside it, of the wall clock. Medians with
min-max over --runs pairs.

Target (issue 18): mention resolution adds under 10% to an import of the
two-year group (ratio < 1.10).

Usage: python benchmarks/bench_mentions.py [--n 100000] [--quick] [--runs 5]
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402
import bench_import  # noqa: E402
from _common import base_args, cleanup_tmp, header, new_tmp_dir, parse, table, verdict  # noqa: E402

import tablespace.core.fold.context as fold_context  # noqa: E402
from tablespace.core.group import Group  # noqa: E402
from tablespace.core.home import Home  # noqa: E402
from tablespace.sync.service import engine_for  # noqa: E402

MENTION_EVERY = 5  # one post in five names someone
MAX_RATIO = 1.10


def plan_with_mentions(n: int, seed: int, thread_share: float = 0.1) -> list[_common.PostPlan]:
    """plan_posts, with one body in MENTION_EVERY naming a member (one in ten of those a stranger)."""
    plan = PLAN_POSTS(n, seed, thread_share)
    for i in range(0, len(plan), MENTION_EVERY):
        who = "a stranger" if i % (10 * MENTION_EVERY) == 0 else f"member {i % (bench_import.AUTHORS - 1)}"
        plan[i] = replace(plan[i], body=f'@"{who}" {plan[i].body}')
    return plan


PLAN_POSTS = _common.plan_posts


def import_once(pristine: Path, reader_home: Path, resolve: bool) -> tuple[float, float, int]:
    """Wall and CPU seconds for the reader's first sync, and how many mentions it found."""
    shutil.rmtree(reader_home, ignore_errors=True)
    shutil.copytree(pristine, reader_home, symlinks=True)
    real = fold_context.resolve_mentions
    if not resolve:
        fold_context.resolve_mentions = lambda body, lookup: {}  # type: ignore[assignment]
    try:
        reader = Group.open(Home(reader_home))
        engine = engine_for(reader)
        bench_import.settle()
        t0, c0 = time.perf_counter(), time.process_time()
        engine.run()
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        (mentions,) = reader.conn.execute("SELECT count(*) FROM mentions").fetchone()
        reader.close()
        return secs, cpu, mentions
    finally:
        fold_context.resolve_mentions = real


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f}){unit}"


def main() -> int:
    p = base_args(__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="pairs of imports, with and without (default 5)")
    args = parse(p)
    header("bench_mentions", args)
    root = new_tmp_dir(f"mentions-{args.n}")
    try:
        _common.plan_posts = plan_with_mentions  # sign_backlog reads it from _common
        folder, reader_home, _ops, _key = bench_import.build(root, args.n, args.seed)
        _common.plan_posts = PLAN_POSTS
        pristine = root / "reader-pristine"
        shutil.copytree(reader_home, pristine, symlinks=True)
        figures: dict[tuple[str, bool], list[float]] = {}  # (wall or cpu, resolved) -> seconds
        found = 0
        for run in range(args.runs):
            order = (True, False) if run % 2 == 0 else (False, True)  # neither always goes first
            for resolve in order:
                secs, cpu, mentions = import_once(pristine, reader_home, resolve)
                figures.setdefault(("wall", resolve), []).append(secs)
                figures.setdefault(("cpu", resolve), []).append(cpu)
                if resolve:
                    found = mentions
                elif mentions:
                    raise SystemExit("bench_mentions: the floor resolved mentions")
        ratios = {
            clock: [w / wo for w, wo in zip(figures[(clock, True)], figures[(clock, False)], strict=True)]
            for clock in ("cpu", "wall")
        }
        ratio = statistics.median(ratios["cpu"])
        print(f"\n{found:,} mentions resolved in {args.n:,} posts; load average {os.getloadavg()}")
        rows = []
        for clock in ("cpu", "wall"):
            judged = clock == "cpu"
            rows += [
                [
                    f"{clock}: import without mention resolution (floor)",
                    spread(figures[(clock, False)], " s"),
                    "",
                    "",
                    "",
                ],
                [
                    f"{clock}: import with mention resolution",
                    spread(figures[(clock, True)], " s"),
                    spread(ratios[clock], "x", 3),
                    f"< {MAX_RATIO:.2f}x" if judged else "",
                    verdict(ratio < MAX_RATIO) if judged else "",
                ],
            ]
        print(table(["figure", "median (min-max)", "ratio (per pair)", "target", "result"], rows))
    finally:
        cleanup_tmp(root)
    return 0 if ratio < MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
