"""Opening a thread in the app: the app's own time for a long thread.

Figures (against a floor measured in the same app):

  long     CPU time of the app's process (time.process_time) from asking
           the app to open a thread of 1 + --replies posts, each reply three
           Markdown blocks (two paragraphs and a list), to the thread painted
           and the app idle (Pilot's pause).
  floor    the same for a thread of one one-line post, opened just before.

Each run is a fresh app (headless, 100x40, live sync off, the sections not
prepared, the warm-up imports done) on one group founded for the run in a
temporary directory; a thread is opened once before the measured ones so
the Markdown code is loaded. Medians with min-max over --runs runs; no
target (it shows what a change to the thread view saves).

Usage: python benchmarks/bench_thread_open.py [--replies 60] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TABLESPACE_NOW", "2026-03-02T09:00:00Z")

from tablespace import actions  # noqa: E402
from tablespace.core.group import Group, Transport  # noqa: E402
from tablespace.core.home import Home  # noqa: E402
from tablespace.tui.app import WARM_UP, TablespaceApp  # noqa: E402

SIZE = (100, 40)
REPLY = "Reply {n}: the first paragraph.\n\nA second, **bold** one.\n\n- one item\n- and another"


def build(root: Path, replies: int) -> tuple[Home, str, str, str]:
    """A group with a long thread and two one-post ones: (home, long, short, warm-up)."""
    (root / "shared").mkdir()
    group = Group.found(Home(root / "home"), "Bench", "Ana", Transport(folder=root / "shared"))
    try:
        long = actions.post(group, "A long thread", "The opening post.\n\nIts second paragraph.", [])
        for n in range(replies):
            actions.reply(group, long, REPLY.format(n=n))
        short = actions.post(group, "A short thread", "Just one line.", [])
        warm = actions.post(group, "Warm-up", "Loads the thread view's code.", [])
    finally:
        group.close()
    return group.home, long, short, warm


async def open_ms(pilot, thread_id: str) -> float:  # noqa: ANN001 - a textual Pilot
    app = pilot.app
    t0 = time.process_time()
    await app.open_thread(thread_id)
    await pilot.pause()
    ms = (time.process_time() - t0) * 1000
    await pilot.press("escape")
    await pilot.pause()
    return ms


async def one_run(home: Home, long: str, short: str, warm: str) -> tuple[float, float]:
    group = Group.open(home)
    try:
        app = TablespaceApp(group, sync=False)
        app.PREPARE_SECTIONS = False
        async with app.run_test(size=SIZE) as pilot:
            while not app._painted or any(w.name == WARM_UP and not w.is_finished for w in app.workers):
                await pilot.pause(0.05)
            await open_ms(pilot, warm)
            floor = await open_ms(pilot, short)
            return floor, await open_ms(pilot, long)
    finally:
        group.close()


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--replies", type=int, default=60, help="replies in the long thread (default 60)")
    p.add_argument("--runs", type=int, default=7, help="fresh apps (default 7)")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="thread-open-"))
    try:
        home, long, short, warm = build(root, args.replies)
        floors, longs = [], []
        for _ in range(args.runs):
            floor, ms = asyncio.run(one_run(home, long, short, warm))
            floors.append(floor)
            longs.append(ms)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ratio = statistics.median(longs) / statistics.median(floors)
    print(f"load {os.getloadavg()[0]:.2f}; process CPU ms, median (min-max) of {args.runs} runs")
    print(f"  floor: a thread of one post      {spread(floors)}")
    print(f"  a thread of {1 + args.replies} posts            {spread(longs)}  ({ratio:.1f}x the floor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
