"""Write throughput: N posts through the op path vs a plain-SQLite floor.

Figures (all on fresh groups founded by Group.found, same schema, same FTS
triggers, same connection PRAGMAs as the app):

  floor        the final rows of ops, threads, thread_tags and posts (the
               FTS indexes filled by the schema's own triggers) inserted with
               sqlite3 executemany in ONE transaction. Measured before and
               after the op-path runs; the lower of the two is the floor.
  per-action   actions.post / actions.reply, one action = one transaction, as the
               CLI and the TUI do it (signs, folds, marks the thread read).
  floor per-txn  (information) the same rows, but one BEGIN/COMMIT per post,
               for the first min(N, 20k) posts: the floor of any design that
               commits each action on its own. Compared with the per-action
               run's time for the same first posts.
  batch        sign every op (sign_op, as Group.write does), then ONE
               Store.ingest(ops) call. Reported as sign+ingest and as
               ingest alone.

Target (DESIGN.md section 7): op path <= 3x the floor.

Usage: python benchmarks/bench_write.py [--n 100000] [--quick] [--seed 1] [--action-budget 90]
       python benchmarks/bench_write.py --n 5000 --profile out/write  (cProfile, no timing table)
"""

from __future__ import annotations

import cProfile
import gc
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PostPlan,
    adopt_as_cache,
    base_args,
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
from tablespace.core.ops import Op  # noqa: E402

try:
    from tablespace.actions import post, reply  # noqa: E402
except ImportError:  # a tree from before the application layer (benchmarks/compare.py runs both)

    def post(group: Group, title: str, body: str = "", tags: list[str] | None = None) -> str:
        return group.post(title, body, tags)  # type: ignore[attr-defined, no-any-return]

    def reply(group: Group, thread_ref: str, body: str) -> str:
        return group.reply(thread_ref, body)  # type: ignore[attr-defined, no-any-return]


TARGET_RATIO = 3.0
PER_TXN_POSTS = 20_000  # the per-transaction floor runs on this many posts at most


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


def run_floor_per_txn(rows: dict[str, list[tuple]], k: int) -> float:
    """The first k posts' final rows as plain INSERTs, one BEGIN/COMMIT per
    post: the floor of anything that commits each action on its own."""
    root = new_tmp_dir("floor-txn")
    group = found_group(root)
    conn = group.conn
    threads = {t[0]: t for t in rows["threads"]}
    tags: dict[str, list[tuple]] = {}
    for t in rows["thread_tags"]:
        tags.setdefault(t[0], []).append(t)
    gc.collect()
    t0 = time.perf_counter()
    for op_row, post in zip(rows["ops"][:k], rows["posts"][:k], strict=False):
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO ops (id, author, seq, prev, hlc, kind, signature, body, state) VALUES (?,?,?,?,?,?,?,?,?)",
            op_row,
        )
        if post[0] == post[1]:
            conn.execute(
                "INSERT INTO threads (id, title, author, created_hlc, last_activity_hlc, replies) VALUES (?,?,?,?,?,0)",
                threads[post[0]][:5],
            )
            conn.executemany("INSERT INTO thread_tags (thread_id, tag) VALUES (?, ?)", tags.get(post[0], []))
        else:
            conn.execute(
                "UPDATE threads SET replies = replies + 1, last_activity_hlc = ? WHERE id = ?", (post[4], post[1])
            )
        conn.execute("INSERT INTO posts (id, thread_id, author, body, created_hlc) VALUES (?,?,?,?,?)", post)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
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


def run_per_action(
    plan: list[PostPlan], rows: dict[str, list[tuple]], budget: float, mark: int
) -> tuple[float, int, float | None]:
    """(seconds, posts done, seconds for the first `mark` posts). Stops early,
    between actions, once `budget` seconds have passed, so a pathological
    slowdown still gives a figure."""
    root = new_tmp_dir("action")
    group = found_group(root)
    ids: dict[int, str] = {}
    gc.collect()
    t0 = time.perf_counter()
    deadline = t0 + budget
    done = 0
    at_mark = None
    for i, p in enumerate(plan):
        if p.kind == "thread":
            ids[i] = post(group, p.title, p.body, list(p.tags))
        else:
            ids[i] = reply(group, ids[p.thread], p.body)
        done = i + 1
        if done == mark:
            at_mark = time.perf_counter() - t0
        if done % 256 == 0 and time.perf_counter() > deadline:
            break
    elapsed = time.perf_counter() - t0
    if done == len(plan):
        check(group, rows)
    group.close()
    cleanup_tmp(root)
    return elapsed, done, at_mark


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


def main() -> int:
    p = base_args(__doc__.split("\n")[0])
    p.add_argument(
        "--action-budget",
        type=float,
        default=90.0,
        help="stop the per-action run after this many seconds (default 90); it then FAILs",
    )
    args = parse(p)
    header("bench_write", args)
    t = time.perf_counter()
    plan = plan_posts(args.n, args.seed)
    print(
        f"workload: {sum(p.kind == 'thread' for p in plan):,} thread starts + "
        f"{sum(p.kind == 'reply' for p in plan):,} replies, "
        f"mean body {sum(len(p.body) for p in plan) / len(plan):.0f} chars "
        f"(planned in {time.perf_counter() - t:.1f}s)"
    )
    if args.profile:
        profile(plan, args.profile)
        return 0

    # Sign the batch first: the floor inserts exactly these rows (signing is
    # not part of the floor).
    batch_group, batch_root, ops, sign_s = sign_batch(plan)
    rows = floor_rows(plan, ops)

    floor1 = run_floor(rows)
    print(f"  floor (1st)        {floor1:8.2f} s", flush=True)
    ingest_s = run_batch(batch_group, batch_root, ops, rows, args.n, args.seed)
    del ops
    print(f"  batch sign+ingest  {sign_s + ingest_s:8.2f} s", flush=True)
    k = min(args.n, PER_TXN_POSTS)
    action_s, action_done, action_k_s = run_per_action(plan, rows, args.action_budget, k)
    partial = action_done < args.n
    if action_k_s is None:  # stopped before k posts: compare over what it did
        k, action_k_s = action_done, action_s
    print(
        f"  per-action         {action_s:8.2f} s"
        + (f"  (stopped at the {args.action_budget:.0f}s budget after {action_done:,} posts)" if partial else ""),
        flush=True,
    )
    floor2 = run_floor(rows)
    print(f"  floor (2nd)        {floor2:8.2f} s", flush=True)
    txn_s = run_floor_per_txn(rows, k)
    print(f"  floor per-txn      {txn_s:8.2f} s  (first {k:,} posts)", flush=True)
    floor = min(floor1, floor2)

    n = args.n
    results = []
    rows_out = [["floor: executemany, 1 txn", f"{floor:.2f}", f"{n / floor:,.0f}", "1.00x", "", ""]]
    figures = [
        ("per-action: actions.post/reply, 1 txn each", action_s, action_done),
        ("batch: sign + 1 Store.ingest", sign_s + ingest_s, n),
        ("batch: Store.ingest only", ingest_s, n),
    ]
    for name, secs, done in figures:
        # ratio of time per post; for a partial run that flatters the op path
        # (it only covers the first, smallest part of the group)
        ratio = (secs / done) / (floor / n)
        ok = ratio <= TARGET_RATIO and done == n
        results.append(ok)
        label = name if done == n else f"{name} [PARTIAL {done:,}/{n:,}]"
        rows_out.append(
            [label, f"{secs:.2f}", f"{done / secs:,.0f}", f"{ratio:.2f}x", f"<= {TARGET_RATIO:.0f}x", verdict(ok)]
        )
    rows_out.append(
        [
            f"floor per-txn: 1 txn per post, first {k:,}",
            f"{txn_s:.2f}",
            f"{k / txn_s:,.0f}",
            f"{(txn_s / k) / (floor / n):.2f}x",
            "",
            "info",
        ]
    )
    if action_k_s is not None:
        rows_out.append(
            [
                f"per-action, first {k:,} posts, vs floor per-txn",
                f"{action_k_s:.2f}",
                f"{k / action_k_s:,.0f}",
                f"{action_k_s / txn_s:.2f}x (of per-txn)",
                "",
                "info",
            ]
        )
    rows_out.append(
        ["  (signing alone, part of batch)", f"{sign_s:.2f}", f"{n / sign_s:,.0f}", f"{sign_s / floor:.2f}x", "", ""]
    )
    print()
    print(table(["figure", "seconds", "posts/s", "ratio to floor", "target", "result"], rows_out))
    print(f"(floor measured twice: {floor1:.2f}s and {floor2:.2f}s; the lower is used. Ratios compare time per post.)")
    if partial:
        print(
            f"(per-action did not finish within --action-budget {args.action_budget:.0f}s: FAIL; its ratio covers "
            f"only the first {action_done:,} posts, so it understates the slowdown at {n:,})"
        )
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
