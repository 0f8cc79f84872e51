"""The Textual app on big groups: keypress cost, cold start, memory.

Figures (each judged as a ratio to a floor measured in the same run):

  keypress     median time of one `down` keypress in the thread list (Pilot,
               headless, 100x40), processed and the screen refreshed, at
               100k threads vs the same keypress at 1k threads. Measured at
               the top of the list and deep in it (cursor in the middle), two
               alternating rounds, the lower median of each kept.
               Target: 100k <= 1.2x the 1k figure.
  cold start   wall time from spawning `python` to the app's first frame
               (Textual's Ready event: DOM ready, first frame displayed) for
               tablespace on an N-post group (default 100k: bench-out's
               cached group, 100k posts in 10k threads), vs a minimal Textual
               app (Header, a Static, Footer) spawned the same way. Both run
               headless in subprocesses, alternating, median of --starts runs.
               Target: tablespace <= 1.5x the minimal app.
  memory       RSS (VmRSS, and the peak VmHWM) of that tablespace process
               after its first frame and after jumping to the end of the list.
               Target: < 150 MB.

The thread-list groups (1k and 100k threads) are built cheaply by inserting
view rows straight into `threads` of a freshly founded group (the list reads
only views) and cached in bench-out/tui-threads-n{N}/. Live sync is off in
every measured app: a sync round runs in its own thread and is not part of a
keypress or of the first frame.

Usage: python benchmarks/bench_tui.py [--n 100000] [--quick] [--presses 150] [--starts 5]
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_OUT, base_args, cached_group, found_group, header, new_tmp_dir, parse, table, verdict  # noqa: E402

from tablespace.core.clock import datetime_to_hlc, now  # noqa: E402
from tablespace.core.group import Group  # noqa: E402
from tablespace.core.home import Home  # noqa: E402

KEYPRESS_TARGET = 1.2
START_TARGET = 1.5
RSS_TARGET_MB = 150.0
SIZE = (100, 40)
SMALL_THREADS = 1_000


# --- groups -------------------------------------------------------------------------


def thread_list_group(threads: int) -> Path:
    """A home whose one group has `threads` threads (view rows only), cached."""
    cache = BENCH_OUT / f"tui-threads-n{threads}"
    if (cache / "READY").exists():
        return cache / "home"
    shutil.rmtree(cache, ignore_errors=True)
    root = new_tmp_dir("tui-threads")
    group = found_group(root)
    rng = random.Random(threads)
    words = [
        "bread",
        "dough",
        "starter",
        "crumb",
        "rye",
        "spelt",
        "oven",
        "proof",
        "fold",
        "shape",
        "score",
        "loaf",
        "flour",
        "salt",
        "water",
    ]
    start = now()
    rows = []
    for i in range(threads):
        title = " ".join(rng.choices(words, k=rng.randint(3, 8))).capitalize()
        hlc = datetime_to_hlc(start - timedelta(minutes=threads - i))
        rows.append((f"{i:032x}", title, group.me, hlc, hlc + rng.randint(0, 1000), rng.randint(0, 40)))
    with group.store.db.atomic():
        group.conn.executemany(
            "INSERT INTO threads (id, title, author, created_hlc, last_activity_hlc, replies) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        group.conn.executemany(
            "INSERT INTO thread_tags (thread_id, tag) VALUES (?, ?)", [(r[0], rng.choice(words)) for r in rows[::3]]
        )
    group.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    group.close()
    shutil.move(str(root), str(cache))
    (cache / "READY").write_text("")
    return cache / "home"


# --- keypress --------------------------------------------------------------------------


async def keypress_times(home: Path, presses: int, deep: bool) -> tuple[list[float], list[float]]:
    """Per keypress: (the app's own work, end to end through Pilot).

    The app's work is what a `down` costs tablespace: the binding's action
    (cursor move, page fetch when it crosses into a page not in the cache,
    scroll), then rendering every visible line of the list as a repaint
    would (unchanged lines come from the strip cache). End to end adds
    Textual's key dispatch and Pilot's wait for the screen to settle, a
    fixed cost that does not depend on the group.
    """
    from tablespace.tui.app import TablespaceApp
    from tablespace.tui.thread_list import ThreadList

    group = Group.open(Home(home))
    try:
        app = TablespaceApp(group, sync=False)
        async with app.run_test(size=SIZE) as pilot:
            while not app.sections_prepared:  # the app makes the other sections after start: not scrolling
                await pilot.pause(0.05)
            thread_list = app.screen.query_one(ThreadList)
            if deep:
                thread_list.cursor = thread_list.count // 2
            await pilot.pause()
            height = thread_list.scrollable_content_region.height
            work: list[float] = []
            for _ in range(presses + 10):
                t0 = time.perf_counter()
                thread_list.action_cursor_down()
                for y in range(height):
                    thread_list.render_line(y)
                work.append(time.perf_counter() - t0)
            end_to_end: list[float] = []
            for _ in range(presses // 3 + 5):
                t0 = time.perf_counter()
                await pilot.press("down")
                end_to_end.append(time.perf_counter() - t0)
            return work[10:], end_to_end[5:]  # the first few warm the caches
    finally:
        group.close()


def keypress(small: Path, big: Path, presses: int) -> dict[str, dict[str, float]]:
    """Mean ms per keypress (means include the page fetches a median would hide)."""
    best: dict[str, dict[str, float]] = {}
    for _round in range(2):
        for deep in (False, True):
            for label, home in (("1k", small), ("big", big)):
                work, end_to_end = asyncio.run(keypress_times(home, presses, deep))
                key = "deep" if deep else "top"
                for name, value in (
                    (label, statistics.mean(work) * 1000),
                    (label + " e2e", statistics.median(end_to_end) * 1000),
                ):
                    best.setdefault(key, {})
                    best[key][name] = min(best[key].get(name, float("inf")), value)
    return best


# --- cold start and memory (subprocesses) --------------------------------------------------

CHILD_MINIMAL = """
import sys, time
from textual.app import App
from textual.widgets import Footer, Header, Static

class Minimal(App):
    def compose(self):
        yield Header()
        yield Static("hello")
        yield Footer()
    def on_ready(self):
        print(f"READY {time.time()}", flush=True)
        self.exit()

Minimal().run(headless=True, size=(100, 40))
"""

CHILD_TABLESPACE = """
import json, sys, time
from pathlib import Path
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp

def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}

class Measured(TablespaceApp):
    def on_ready(self):
        print(f"READY {time.time()}", flush=True)
        self.first = rss()
        self.screen.query_one("#thread-list").action_last()
        self.call_after_refresh(self.done)
    def done(self):
        print("RSS " + json.dumps({"first": self.first, "end": rss()}), flush=True)
        self.exit()

group = Group.open(Home(Path(sys.argv[1])))
Measured(group, sync=False).run(headless=True, size=(100, 40))
group.close()
"""


def start_once(code: str, *args: str) -> tuple[float, dict]:
    env = {**os.environ}
    env.pop("TABLESPACE_NOW", None)
    # Measure starts as an installed app sees them: with its own bytecode
    # cached, like Textual's (some sandboxes set PYTHONDONTWRITEBYTECODE).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.time()
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120)
    ready = None
    extra: dict = {}
    for line in result.stdout.splitlines():
        if line.startswith("READY "):
            ready = float(line.split()[1])
        elif line.startswith("RSS "):
            extra = json.loads(line[4:])
    if ready is None:
        raise RuntimeError(f"child never painted:\n{result.stdout}\n{result.stderr[-3000:]}")
    return ready - t0, extra


def cold_start(home: Path, starts: int) -> tuple[list[float], list[float], dict]:
    start_once(CHILD_MINIMAL)  # warm the OS page cache for both
    start_once(CHILD_TABLESPACE, str(home))
    minimal, ours, memory = [], [], {}
    for _ in range(starts):
        minimal.append(start_once(CHILD_MINIMAL)[0])
        took, memory = start_once(CHILD_TABLESPACE, str(home))
        ours.append(took)
    return minimal, ours, memory


def main() -> int:
    p = base_args(__doc__.split("\n")[0])
    p.add_argument("--presses", type=int, default=150, help="keypresses per measured run (default 150)")
    p.add_argument("--starts", type=int, default=5, help="cold starts of each app (default 5)")
    args = parse(p)
    header("bench_tui", args)
    ok = True

    small = thread_list_group(SMALL_THREADS)
    big = thread_list_group(args.n)
    print(f"\nkeypress (down) in the thread list: ms per press, {args.presses} presses, best of 2 rounds")
    best = keypress(small, big, args.presses)
    rows = []
    for key in ("top", "deep"):
        ratio = best[key]["big"] / best[key]["1k"]
        passed = ratio <= KEYPRESS_TARGET
        ok &= passed
        rows.append(
            [
                f"{key}: app's work (mean)",
                f"{best[key]['1k']:.3f}",
                f"{best[key]['big']:.3f}",
                f"{ratio:.2f}x",
                f"<= {KEYPRESS_TARGET}x",
                verdict(passed),
            ]
        )
        e2e = best[key]["big e2e"] / best[key]["1k e2e"]
        rows.append(
            [
                f"{key}: end to end, Pilot (median)",
                f"{best[key]['1k e2e']:.2f}",
                f"{best[key]['big e2e']:.2f}",
                f"{e2e:.2f}x",
                "",
                "info",
            ]
        )
    print(table(["where", "1k threads", f"{args.n // 1000}k threads", "ratio", "target", "result"], rows))

    posts_home = cached_group(args.n, args.seed).parent.parent
    print(f"\ncold start to first frame (subprocess, headless), {args.starts} runs each, alternating")
    minimal, ours, memory = cold_start(posts_home, args.starts)
    m_med, o_med = statistics.median(minimal), statistics.median(ours)
    ratio = o_med / m_med
    passed = ratio <= START_TARGET
    ok &= passed
    print(
        table(
            ["app", "median s", "min s", "max s", "ratio", "target", "result"],
            [
                [
                    "minimal Textual app (floor)",
                    f"{m_med:.3f}",
                    f"{min(minimal):.3f}",
                    f"{max(minimal):.3f}",
                    "1.00x",
                    "",
                    "",
                ],
                [
                    f"tablespace, {args.n:,}-post group",
                    f"{o_med:.3f}",
                    f"{min(ours):.3f}",
                    f"{max(ours):.3f}",
                    f"{ratio:.2f}x",
                    f"<= {START_TARGET}x",
                    verdict(passed),
                ],
            ],
        )
    )

    rss_end = memory["end"]["VmRSS"]
    peak = memory["end"]["VmHWM"]
    passed = peak < RSS_TARGET_MB
    ok &= passed
    print(f"\nmemory of that process ({args.n:,}-post group)")
    print(
        table(
            ["when", "RSS MB", "peak MB", "target", "result"],
            [
                ["first frame", f"{memory['first']['VmRSS']:.1f}", f"{memory['first']['VmHWM']:.1f}", "", ""],
                [
                    "after jumping to the list's end",
                    f"{rss_end:.1f}",
                    f"{peak:.1f}",
                    f"< {RSS_TARGET_MB:.0f} MB",
                    verdict(passed),
                ],
            ],
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
