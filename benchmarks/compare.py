"""Run benchmarks against two source trees, interleaved, and compare their ratios.

    python benchmarks/compare.py BEFORE_TREE AFTER_TREE                 # every benchmark, 5 rounds, 5k posts
    python benchmarks/compare.py ../before . --only import --only tui --runs 7 --n 10000

Each tree is a checkout of the project (a directory holding src/tablespace);
make one of an older commit with `git worktree add --detach DIR COMMIT`. The
benchmark scripts are this tree's, run by this interpreter with PYTHONPATH set
to each tree's src/, so only the code under test differs. Each tree gets its
own bench-out/compare/<tree>/ for the cached groups (TABLESPACE_BENCH_OUT): a
group built by one core may not open unchanged in the other.

Rounds interleave the trees (in each round, each benchmark runs on both
trees, the first tree first in odd rounds and the second first in even
ones), so a change in the machine's load falls on both alike. The figures
compared are the ratios each script prints against its own same-run floor
(absolute figures where a benchmark has no floor: rebuild seconds, storage
bytes, memory). Every script's output is kept in bench-out/compare/logs/.

`version` is not a script: it spawns `python -m tablespace --version` and,
as its floor, `python -c "import click"`, alternating, --spawns times each.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "bench-out" / "compare"
BENCHMARKS = ["write", "search", "rebuild", "import", "storage", "tui", "version"]

# The figures compared: benchmark -> (row label prefix, column header, name in the summary).
FIGURES: dict[str, list[tuple[str, str, str]]] = {
    "write": [
        ("per-action:", "ratio to floor", "per-action / floor"),
        ("batch: sign +", "ratio to floor", "batch sign+ingest / floor"),
        ("batch: Store.ingest only", "ratio to floor", "batch ingest / floor"),
    ],
    "search": [
        ("search: queries.search", "p50 / floor p50", "search p50 / floor p50"),
        ("search: queries.search", "p50", "search p50 ms"),
    ],
    "rebuild": [("rebuild throughput", "value", "rebuild ops/s (no floor; higher is better)")],
    "import": [("import ", "ratio", "import / floor")],
    "storage": [("folder: total bytes", "per post", "folder bytes per post")],
    "tui": [
        ("top: app's work", "ratio", "keypress top, N / 1k"),
        ("deep: app's work", "ratio", "keypress deep, N / 1k"),
        ("tablespace, ", "ratio", "cold start / minimal app"),
        ("after jumping", "peak MB", "peak RSS MB (no floor)"),
    ],
}
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def parse_tables(text: str) -> list[dict[str, str]]:
    """Every row of every table the scripts print (see _common.table), as
    {column header: cell}. Columns are located by the dashes under the headers."""
    lines = text.splitlines()
    rows: list[dict[str, str]] = []
    for i in range(1, len(lines)):
        if not re.fullmatch(r"-+(  -+)*", lines[i]):
            continue
        spans = [m.span() for m in re.finditer(r"-+", lines[i])]
        spans[-1] = (spans[-1][0], 10_000)

        def cells(line: str, spans: list[tuple[int, int]] = spans) -> list[str]:
            return [line[a:b].strip() for a, b in spans]

        headers = cells(lines[i - 1])
        for line in lines[i + 1 :]:
            if not line.strip():
                break
            row = dict(zip(headers, cells(line), strict=True))
            row["label"] = line[: spans[0][1]].strip()
            rows.append(row)
    return rows


def figures(bench: str, text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    rows = parse_tables(text)
    for prefix, column, name in FIGURES[bench]:
        for row in rows:
            if row["label"].startswith(prefix) and (m := NUMBER.search(row.get(column, ""))):
                found[name] = float(m.group().replace(",", ""))
                break
    return found


def tree_env(tree: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TABLESPACE_NOW", "PYTHONPATH")}
    env["PYTHONPATH"] = str(tree / "src")
    env["TABLESPACE_BENCH_OUT"] = str(OUT / tree.name)
    return env


def run_script(bench: str, tree: Path, extra: list[str], log: Path) -> dict[str, float]:
    cmd = [sys.executable, str(HERE / f"bench_{bench}.py"), *extra]
    result = subprocess.run(cmd, env=tree_env(tree), capture_output=True, text=True)
    log.write_text(result.stdout + result.stderr)
    found = figures(bench, result.stdout)
    if not found:
        print(f"  {bench} on {tree}: no figures (exit {result.returncode}); see {log}", file=sys.stderr)
    return found


def spawn_seconds(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=True)
    return time.perf_counter() - t0


def run_version(tree: Path, spawns: int) -> dict[str, float]:
    env = tree_env(tree)
    ours = [sys.executable, "-m", "tablespace", "--version"]
    floor = [sys.executable, "-c", "import click"]
    spawn_seconds(ours, env)  # bytecode and page cache, for both
    spawn_seconds(floor, env)
    ours_s, floor_s = [], []
    for _ in range(spawns):
        floor_s.append(spawn_seconds(floor, env))
        ours_s.append(spawn_seconds(ours, env))
    return {
        "--version / import click": statistics.median(ours_s) / statistics.median(floor_s),
        "--version ms": statistics.median(ours_s) * 1000,
    }


def script_args(args: argparse.Namespace) -> list[str]:
    return ["--n", str(args.n), "--seed", str(args.seed)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("before", type=Path, help="the tree measured first in each round (holds src/tablespace)")
    p.add_argument("after", type=Path, help="the tree measured second")
    p.add_argument("--only", choices=BENCHMARKS, action="append", help="run only this benchmark (repeatable)")
    p.add_argument("--runs", type=int, default=5, help="rounds, each running both trees (default 5)")
    p.add_argument("--n", type=int, default=5_000, help="posts or ops given to every script (default 5,000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--spawns", type=int, default=10, help="spawns of each command per round for `version`")
    args = p.parse_args()
    trees = [args.before.resolve(), args.after.resolve()]
    if trees[0].name == trees[1].name:
        p.error("the two trees need different directory names (they name their caches)")
    for tree in trees:
        if not (tree / "src" / "tablespace").is_dir():
            p.error(f"{tree} has no src/tablespace")
    chosen = [b for b in BENCHMARKS if not args.only or b in args.only]
    logs = OUT / "logs" / time.strftime("%Y%m%d-%H%M%S")
    logs.mkdir(parents=True, exist_ok=True)

    results: dict[str, dict[int, list[dict[str, float]]]] = {b: {0: [], 1: []} for b in chosen}
    load_start = os.getloadavg()
    t_all = time.perf_counter()
    for round_no in range(1, args.runs + 1):
        for bench in chosen:
            # Odd rounds run the first tree first, even rounds the second: a
            # run pays for the disk writes the run before it left behind.
            order = [0, 1] if round_no % 2 else [1, 0]
            for side in order:
                tree = trees[side]
                t0 = time.perf_counter()
                if bench == "version":
                    found = run_version(tree, args.spawns)
                else:
                    log = logs / f"{bench}-{round_no}-{tree.name}.txt"
                    found = run_script(bench, tree, script_args(args), log)
                results[bench][side].append(found)
                print(
                    f"round {round_no}/{args.runs} {bench:8} {tree.name:>14}  {time.perf_counter() - t0:6.1f}s",
                    flush=True,
                )
    load_end = os.getloadavg()

    print(f"\nmedians over {args.runs} rounds; before = {trees[0]}, after = {trees[1]}")
    print(f"{'benchmark':9} {'figure':42} {'before':>9} {'after':>9} {'after/before':>12}  runs")
    for bench in chosen:
        names = dict.fromkeys(name for run in results[bench][0] + results[bench][1] for name in run)
        for name in names:
            values = [[run[name] for run in results[bench][side] if name in run] for side in (0, 1)]
            if not values[0] or not values[1]:
                print(f"{bench:9} {name:42} {'missing':>9}")
                continue
            before, after = (statistics.median(v) for v in values)
            change = f"{after / before:.2f}" if before else ""
            print(f"{bench:9} {name:42} {before:9.3f} {after:9.3f} {change:>12}  {len(values[0])}/{len(values[1])}")
    print(
        f"\nload average (1/5/15 min): {' '.join(f'{x:.2f}' for x in load_start)} at the start, "
        f"{' '.join(f'{x:.2f}' for x in load_end)} at the end; {time.perf_counter() - t_all:.0f}s in all; logs in {logs}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
