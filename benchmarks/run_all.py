"""Run every benchmark in turn: write, search, rebuild, import, storage, first sync, inbox, tui, launch, live, idle and switch.

    python benchmarks/run_all.py            # full size (100k posts); the two-year folder takes hours the first time
    python benchmarks/run_all.py --quick    # small sizes: a smoke check, a few minutes
    python benchmarks/run_all.py --n 20000 --seed 2
    python benchmarks/run_all.py --quick --json > results.json

--json prints one JSON document on stdout (the scripts' own output goes to
stderr and the logs): for each benchmark its exit status, seconds, and every
row of every table it printed, with the row's target and verdict
("pass": true, false, or null for a row without a target), then "pass" for
the whole run.

bench_write runs first: its batch run leaves the N-post group in the
bench-out/ cache, so search and rebuild do not build it again. bench_import
and bench_storage build their own data (without --n: the DESIGN sizes,
10k + 100k ops and a 50k-post year; --n N is passed to them as well). Each script's output
is also saved to bench-out/logs/. The exit status is 0 only if every target
passed (so a smoke check that just wants "did it run" should look at the
output, not the status: targets are expected to fail until core is fixed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import RESULTS_ENV  # noqa: E402

LOGS = HERE.parent / "bench-out" / "logs"
SCRIPTS = [
    "bench_write.py",
    "bench_search.py",
    "bench_rebuild.py",
    "bench_import.py",
    "bench_storage.py",
    "bench_first_sync.py",
    "bench_inbox.py",
    "bench_tui.py",
    "bench_launch.py",
    "bench_live.py",
    "bench_idle.py",
    "bench_switch.py",
]
# Scripts with sizes of their own, which take none of the common options.
OWN_SIZES = {"bench_live.py"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="5k posts: a smoke check")
    p.add_argument("--n", type=int, help="posts (default 100,000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--only",
        choices=[s[len("bench_") : -3] for s in SCRIPTS],
        action="append",
        help="run only this benchmark (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print every figure, target and verdict as JSON on stdout")
    args = p.parse_args()
    say = sys.stderr if args.json else sys.stdout
    extra = ["--quick"] if args.quick else []
    if args.n:
        extra += ["--n", str(args.n)]
    extra += ["--seed", str(args.seed)]
    LOGS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    status: dict[str, tuple[int, float]] = {}
    figures: dict[str, list[dict[str, object]]] = {}
    t_all = time.perf_counter()
    for script in SCRIPTS:
        name = script[len("bench_") : -3]
        if args.only and name not in args.only:
            continue
        cmd = [sys.executable, str(HERE / script), *([] if script in OWN_SIZES else extra)]
        print(f"\n$ {' '.join(cmd[1:])}", file=say, flush=True)
        t0 = time.perf_counter()
        log = LOGS / f"{stamp}-{name}{'-quick' if args.quick else ''}.txt"
        results = LOGS / f"{stamp}-{name}{'-quick' if args.quick else ''}.jsonl"
        env = {**os.environ, RESULTS_ENV: str(results)}
        with (
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc,
            log.open("w") as out,
        ):
            assert proc.stdout is not None
            for line in proc.stdout:
                say.write(line)
                say.flush()
                out.write(line)
        status[name] = (proc.returncode, time.perf_counter() - t0)
        figures[name] = rows_of(results)
    print("\n== summary", file=say)
    for name, (code, secs) in status.items():
        state = {0: "all targets PASS", 1: "a target FAILED"}.get(code, f"ERROR (exit {code})")
        print(f"  {name:10} {state:18} {secs:6.1f}s", file=say)
    print(f"  total {time.perf_counter() - t_all:.1f}s; logs in {LOGS}", file=say)
    worst = max((code for code, _ in status.values()), default=0)
    if args.json:
        document = {
            "quick": args.quick,
            "n": args.n,
            "seed": args.seed,
            "load_average": list(os.getloadavg()),
            "benchmarks": {
                name: {"exit": code, "seconds": round(secs, 1), "figures": figures[name]}
                for name, (code, secs) in status.items()
            },
            "pass": worst == 0,
        }
        print(json.dumps(document, indent=2))
    return worst


def rows_of(results: Path) -> list[dict[str, object]]:
    """The rows of every table a script printed, each as {header: cell} plus
    "pass": true or false where the row has a verdict, else null."""
    if not results.exists():
        return []
    rows: list[dict[str, object]] = []
    for line in results.read_text(encoding="utf-8").splitlines():
        printed = json.loads(line)
        for row in printed["rows"]:
            cells: dict[str, object] = dict(zip(printed["headers"], row, strict=False))
            verdicts = [cell for cell in row if cell in ("PASS", "FAIL")]
            cells["pass"] = ("FAIL" not in verdicts) if verdicts else None
            rows.append(cells)
    return rows


if __name__ == "__main__":
    sys.exit(main())
