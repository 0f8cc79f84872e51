"""Write cost: one action at a time against a plain insert, and the batch path.

Figures (all on groups founded by Group.found: same schema, FTS triggers and
connection PRAGMAs as the app, WAL, synchronous NORMAL, secure_delete ON):

  per-action   actions.post / actions.reply, one action = one transaction, as
               the CLI and the app do it (signs, folds, indexes the text,
               marks the thread read), K actions per run, on a small group
               (founded for the run) and on the large N-post group (a copy of
               the cached batch-built group).
  floor        per action, one plain INSERT of a short row into a small table
               and its COMMIT, on the same database file through the same
               connection, in the same run, just before the actions: the least
               any design that commits each action on its own pays. Each run's
               ratio is (per-action time) / (floor time); median and min-max
               over --runs runs.
  CLI          `tablespace post` as a whole process (spawned: interpreter,
               imports, open, write, exit) on the large group and on a tiny
               one, alternated, median of --cli-runs each; the ratio is large
               / tiny.
  batch        (with --batch) sign every op, then ONE Store.ingest(ops) call,
               against the same final rows inserted with executemany in one
               transaction. This also leaves the N-post group in the
               bench-out/ cache for the other scripts.

Targets: per-action <= 3x its floor on both groups; CLI large / tiny <= 1.2x;
batch <= 3x its floor.

Usage: python benchmarks/bench_write.py [--n 100000] [--quick] [--runs 5] [--actions 500] [--cli-runs 7] [--batch]
       python benchmarks/bench_write.py --n 5000 --profile out/write  (cProfile, no timing table)
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PostPlan,
    adopt_as_cache,
    base_args,
    cache_path,
    cached_group,
    cleanup_tmp,
    found_group,
    header,
    new_tmp_dir,
    parse,
    plan_posts,
    sign_plan,
    table,
    verdict,
)

from tablespace.core.group import Group  # noqa: E402
from tablespace.core.home import Home  # noqa: E402
from tablespace.core.ops import Op  # noqa: E402

try:
    from tablespace.actions import post, reply  # noqa: E402
except ImportError:  # a tree from before the application layer (benchmarks/compare.py runs both)

    def post(group: Group, title: str, body: str = "", tags: list[str] | None = None) -> str:
        return group.post(title, body, tags)  # type: ignore[attr-defined, no-any-return]

    def reply(group: Group, thread_ref: str, body: str) -> str:
        return group.reply(thread_ref, body)  # type: ignore[attr-defined, no-any-return]


TARGET_RATIO = 3.0
CLI_TARGET = 1.2  # `tablespace post` on the large group / on a tiny one
ACTIONS_PER_RUN = 500


def floor_rows(plan: list[PostPlan], ops: list[Op]) -> dict[str, list[tuple]]:
    """The rows the fold ends up with for these ops, computed in Python."""
    op_rows, threads, tags, posts = [], {}, [], []
    for p, op in zip(plan, ops, strict=False):
        op_rows.append((op.id, op.author, op.seq, op.prev, op.hlc, op.kind, op.signature, op.body, "accepted"))
        if p.kind == "thread":
            threads[op.id] = [op.id, op.payload["title"], op.author, op.hlc, op.hlc, 0]
            tags += [(op.id, t) for t in op.payload["tags"]]
            posts.append((op.id, op.id, op.author, op.payload["body"], op.hlc))
        else:
            t = threads[op.payload["thread"]]
            t[4] = max(t[4], op.hlc)
            t[5] += 1
            posts.append((op.id, op.payload["thread"], op.author, op.payload["body"], op.hlc))
    return {"ops": op_rows, "threads": [tuple(t) for t in threads.values()], "thread_tags": tags, "posts": posts}


def run_floor(rows: dict[str, list[tuple]]) -> float:
    root = new_tmp_dir("floor")
    group = found_group(root)  # same schema, triggers and PRAGMAs as the app
    conn = group.conn
    gc.collect()
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO ops (id, author, seq, prev, hlc, kind, signature, body, state) VALUES (?,?,?,?,?,?,?,?,?)",
        rows["ops"],
    )
    conn.executemany(
        "INSERT INTO threads (id, title, author, created_hlc, last_activity_hlc, replies) VALUES (?,?,?,?,?,?)",
        rows["threads"],
    )
    conn.executemany("INSERT INTO thread_tags (thread_id, tag) VALUES (?, ?)", rows["thread_tags"])
    conn.executemany("INSERT INTO posts (id, thread_id, author, body, created_hlc) VALUES (?,?,?,?,?)", rows["posts"])
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    check(group, rows)
    group.close()
    cleanup_tmp(root)
    return elapsed


def check(group: Group, rows: dict[str, list[tuple]]) -> None:
    """Cheap sanity check that a run produced the expected views."""
    n_posts = group.conn.execute("SELECT count(*) FROM posts").fetchone()[0]
    n_threads, replies = group.conn.execute("SELECT count(*), sum(replies) FROM threads").fetchone()
    n_fts = group.conn.execute("SELECT count(*) FROM posts_fts").fetchone()[0]
    want_threads = len(rows["threads"])
    assert n_posts == len(rows["posts"]) and n_threads == want_threads and n_fts == n_posts, (
        n_posts,
        n_threads,
        n_fts,
        len(rows["posts"]),
        want_threads,
    )
    assert replies == len(rows["posts"]) - want_threads, replies


def sign_batch(plan: list[PostPlan]) -> tuple[Group, Path, list[Op], float]:
    root = new_tmp_dir("batch")
    group = found_group(root)
    gc.collect()
    t0 = time.perf_counter()
    ops = sign_plan(group, plan)
    return group, root, ops, time.perf_counter() - t0


def run_batch(group: Group, root: Path, ops: list[Op], rows: dict[str, list[tuple]], n: int, seed: int) -> float:
    gc.collect()
    t0 = time.perf_counter()
    group.store.ingest(ops)
    elapsed = time.perf_counter() - t0
    check(group, rows)
    # This is exactly the group bench_search / bench_rebuild want: keep it.
    if not adopt_as_cache(group, root, n, seed, note="built by bench_write (batch path)"):
        cleanup_tmp(root)
    return elapsed


def profile(plan: list[PostPlan], out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    for label in ("per-action", "batch"):
        root = new_tmp_dir(f"prof-{label}")
        group = found_group(root)
        prof = cProfile.Profile()
        ids: dict[int, str] = {}
        prof.enable()
        if label == "per-action":
            for i, p in enumerate(plan):
                ids[i] = (
                    post(group, p.title, p.body, list(p.tags))
                    if p.kind == "thread"
                    else reply(group, ids[p.thread], p.body)
                )
        else:
            group.store.ingest(sign_plan(group, plan))
        prof.disable()
        group.close()
        cleanup_tmp(root)
        path = f"{out}-{label}.pstats"
        prof.dump_stats(path)
        print(f"\n--- cProfile, {label}, n={len(plan):,} (written to {path}) ---")
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)


def plain_insert_floor(group: Group, k: int) -> tuple[float, float]:
    """Seconds for k transactions of one plain INSERT of a short row into a
    small table, each with its COMMIT, on the group's own file and connection
    (wall, CPU)."""
    conn = group.conn
    conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id INTEGER PRIMARY KEY, note TEXT NOT NULL)")
    conn.execute("DELETE FROM bench_floor")  # small: only this run's rows
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(k):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bench_floor (note) VALUES (?)", (f"action {i}",))
        conn.execute("COMMIT")
    return time.perf_counter() - t0, time.process_time() - c0


def actions_run(group: Group, plan: list[PostPlan]) -> tuple[float, float]:
    """Seconds (wall, CPU) for the plan as actions.post / actions.reply, one transaction each."""
    ids: dict[int, str] = {}
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    for i, p in enumerate(plan):
        if p.kind == "thread":
            ids[i] = post(group, p.title, p.body, list(p.tags))
        else:
            ids[i] = reply(group, ids[p.thread], p.body)
    return time.perf_counter() - t0, time.process_time() - c0


def copy_home(src_root: Path, label: str) -> Path:
    """A private copy of a cached group's root (its home and shared folder)."""
    dst = new_tmp_dir(label) / "root"
    shutil.copytree(src_root, dst)
    return dst


def per_action_vs_floor(group: Group, plans: list[list[PostPlan]]) -> list[tuple[float, float, float, float]]:
    """(wall per action, wall per floor transaction, the same two in CPU time)
    for each run: the floor first, then as many actions, on the same connection.
    On a loaded machine the CPU ratio is the steadier figure."""
    out = []
    for plan in plans:
        floor, floor_cpu = plain_insert_floor(group, len(plan))
        action, action_cpu = actions_run(group, plan)
        k = len(plan)
        out.append((action / k, floor / k, action_cpu / k, floor_cpu / k))
    return out


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """median (min-max)"""
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def cli_command() -> list[str]:
    """The installed `tablespace` beside this interpreter if there is one,
    else `python -m tablespace` (PYTHONPATH picks the tree)."""
    script = Path(sys.executable).with_name("tablespace")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tablespace"]


def cli_post_seconds(home: Path, i: int) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p.endswith("src"))}
    cmd = [*cli_command(), "--home", str(home), "post", f"Bench thread {i}", "--body", f"written by run {i}"]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"`tablespace post` failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def cli_runs(large_home: Path, tiny_home: Path, runs: int) -> tuple[list[float], list[float]]:
    """`tablespace post` spawned on each home in turn, alternating which goes
    first, after one untimed warm-up each (the OS file cache)."""
    large, tiny = [], []
    cli_post_seconds(large_home, -1)
    cli_post_seconds(tiny_home, -1)
    for i in range(runs):
        order = [(large_home, large), (tiny_home, tiny)]
        for home, box in order if i % 2 == 0 else reversed(order):
            box.append(cli_post_seconds(home, i))
    return large, tiny


def batch_figures(args: argparse.Namespace, plan: list[PostPlan]) -> tuple[list[list[str]], bool]:
    """The batch path against executemany in one transaction; leaves the
    N-post group in the cache."""
    batch_group, batch_root, ops, sign_s = sign_batch(plan)
    rows = floor_rows(plan, ops)
    floor1 = run_floor(rows)
    print(f"  floor (1st)        {floor1:8.2f} s", flush=True)
    ingest_s = run_batch(batch_group, batch_root, ops, rows, args.n, args.seed)
    del ops
    print(f"  batch sign+ingest  {sign_s + ingest_s:8.2f} s", flush=True)
    floor2 = run_floor(rows)
    print(f"  floor (2nd)        {floor2:8.2f} s", flush=True)
    floor = min(floor1, floor2)
    n = args.n
    out = [["floor: executemany, 1 txn (lower of 2)", f"{floor:.2f}", f"{n / floor:,.0f}", "1.00x", "", ""]]
    ok = True
    for name, secs in (("batch: sign + 1 Store.ingest", sign_s + ingest_s), ("batch: Store.ingest only", ingest_s)):
        ratio = secs / floor
        ok = ok and ratio <= TARGET_RATIO
        out.append(
            [
                name,
                f"{secs:.2f}",
                f"{n / secs:,.0f}",
                f"{ratio:.2f}x",
                f"<= {TARGET_RATIO:.0f}x",
                verdict(ratio <= TARGET_RATIO),
            ]
        )
    out.append(
        ["  (signing alone, part of batch)", f"{sign_s:.2f}", f"{n / sign_s:,.0f}", f"{sign_s / floor:.2f}x", "", ""]
    )
    return out, ok


def main() -> int:
    p = base_args(__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="per-action runs per group (default 5)")
    p.add_argument("--actions", type=int, default=ACTIONS_PER_RUN, help=f"actions per run (default {ACTIONS_PER_RUN})")
    p.add_argument("--cli-runs", type=int, default=7, help="`tablespace post` spawns per group (default 7)")
    p.add_argument("--batch", action="store_true", help="also the batch path against executemany (builds the cache)")
    args = parse(p)
    header("bench_write", args)
    if args.profile:
        profile(plan_posts(args.n, args.seed), args.profile)
        return 0
    results: list[bool] = []
    if args.batch or not (cache_path(args.n, args.seed) / "READY").exists():
        t = time.perf_counter()
        plan = plan_posts(args.n, args.seed)
        print(
            f"batch workload: {sum(p.kind == 'thread' for p in plan):,} thread starts + "
            f"{sum(p.kind == 'reply' for p in plan):,} replies, "
            f"mean body {sum(len(p.body) for p in plan) / len(plan):.0f} chars "
            f"(planned in {time.perf_counter() - t:.1f}s)",
            flush=True,
        )
        batch_rows, batch_ok = batch_figures(args, plan)
        del plan
        results.append(batch_ok)
        print()
        print(table(["figure", "seconds", "posts/s", "ratio to floor", "target", "result"], batch_rows))
        print()
    large_dir = cached_group(args.n, args.seed)  # .../home/groups/<id>
    large_root = large_dir.parent.parent.parent

    # Each run writes a fresh plan (its own threads, then replies among them), the same on both groups.
    plans = [plan_posts(args.actions, 1000 + r) for r in range(args.runs)]
    print(f"per-action: {args.runs} runs x {args.actions} actions per group, each run after its floor", flush=True)
    small_root = new_tmp_dir("small")
    small = found_group(small_root)
    small_runs = per_action_vs_floor(small, plans)
    small.close()
    big_root = copy_home(large_root, "large")
    big = Group.open(Home(big_root / "home"))
    (ops_before,) = big.conn.execute("SELECT count(*) FROM ops").fetchone()
    large_runs = per_action_vs_floor(big, plans)
    big.close()
    print(f"  large group: {ops_before:,} ops before the runs (the cached {args.n:,}-post group, a copy)", flush=True)

    rows_out = []
    for name, runs in (
        (f"small group (founded, +{args.runs * args.actions:,} actions)", small_runs),
        (f"large group ({ops_before:,} ops)", large_runs),
    ):
        ratios = [r[0] / r[1] for r in runs]
        cpu_ratios = [r[2] / r[3] for r in runs]
        ok = statistics.median(ratios) <= TARGET_RATIO
        results.append(ok)
        rows_out.append(
            [
                f"per-action: {name}",
                spread([r[0] * 1e6 for r in runs], "{:.0f}"),
                spread([r[1] * 1e6 for r in runs], "{:.0f}"),
                spread(ratios) + "x",
                f"<= {TARGET_RATIO:.0f}x",
                verdict(ok),
            ]
        )
        rows_out.append(
            [
                "  the same in CPU time",
                spread([r[2] * 1e6 for r in runs], "{:.0f}"),
                spread([r[3] * 1e6 for r in runs], "{:.0f}"),
                spread(cpu_ratios) + "x",
                "",
                "info",
            ]
        )
    print()
    print(table(["figure", "us per action", "floor us per txn", "ratio to floor", "target", "result"], rows_out))
    print("(median (min-max) over the runs; each run's ratio is its own per-action time over its own floor)")

    # The CLI: a whole `tablespace post` process, large group vs a tiny one (the small group above).
    large_times, tiny_times = cli_runs(big_root / "home", small_root / "home", args.cli_runs)
    ratio = statistics.median(large_times) / statistics.median(tiny_times)
    ok = ratio <= CLI_TARGET
    results.append(ok)
    print()
    print(
        table(
            ["figure", "ms", "ratio", "target", "result"],
            [
                ["CLI post: tiny group", spread([t * 1e3 for t in tiny_times], "{:.0f}"), "1.00x", "", ""],
                [
                    f"CLI post: large group ({ops_before:,} ops)",
                    spread([t * 1e3 for t in large_times], "{:.0f}"),
                    f"{ratio:.2f}x",
                    f"<= {CLI_TARGET}x",
                    verdict(ok),
                ],
            ],
        )
    )
    print(f"(`{' '.join(cli_command()[-1:])} post` spawned {args.cli_runs}x per group, alternated; median (min-max))")
    cleanup_tmp(small_root)
    cleanup_tmp(big_root)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
