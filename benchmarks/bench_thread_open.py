"""Opening a thread in the app: the app's own time for a long thread.

Figures (against a floor measured in the same app):

  painted  CPU time of the app's process (time.process_time) from asking
           the app to open a thread of 1 + --replies posts, each reply three
           Markdown blocks (two paragraphs and a list), to the first paint of
           the thread (the posts its first screen needs mounted and laid out).
  mounted  the same to every post of the thread mounted (after the first
           paint the rest are mounted in small batches) and the app idle.
  key      in a second opening of the long thread, the CPU time from `j`
           sent right after the first paint to the next post focused: what a
           key waits while the posts are being mounted.
  floor    the same as `mounted` for a thread of one one-line post, opened
           just before.

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

from textual import events  # noqa: E402

from tablespace import actions  # noqa: E402
from tablespace.core.group import Group, Transport  # noqa: E402
from tablespace.core.home import Home  # noqa: E402
from tablespace.tui.app import WARM_UP, TablespaceApp  # noqa: E402
from tablespace.tui.thread_screen import ThreadScreen  # noqa: E402

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


class TimedThreadScreen(ThreadScreen):
    """The thread view, noting the CPU time of its first paint and of its
    last post mounted."""

    painted_at: float | None = None
    mounted_at: float | None = None

    def _painted(self, generation: int) -> None:
        if self.painted_at is None:
            self.painted_at = time.process_time()
        super()._painted(generation)

    def _all_mounted(self) -> None:
        self.mounted_at = time.process_time()


async def key_ms(pilot, thread_id: str) -> float:  # noqa: ANN001 - a textual Pilot
    """CPU from `j` sent at the first paint to the next post focused."""
    app = pilot.app
    screen = TimedThreadScreen(thread_id)
    await app.push_screen(screen)
    while screen.painted_at is None:
        await asyncio.sleep(0.001)
    t0 = time.process_time()
    start = screen.focus_index
    app.post_message(events.Key("j", "j"))
    while not (screen.focus_index == start + 1 and screen.focused is screen.cards[start + 1]):
        await asyncio.sleep(0.001)
    ms = (time.process_time() - t0) * 1000
    while screen.mounted_at is None:
        await asyncio.sleep(0.005)
    await pilot.press("escape")
    await pilot.pause()
    return ms


async def open_ms(pilot, thread_id: str) -> tuple[float, float]:  # noqa: ANN001 - a textual Pilot
    """(first paint, every post mounted and the app idle), ms of CPU."""
    app = pilot.app
    screen = TimedThreadScreen(thread_id)
    t0 = time.process_time()
    await app.push_screen(screen)
    while screen.mounted_at is None:
        await asyncio.sleep(0.005)
    await pilot.pause()
    mounted = (time.process_time() - t0) * 1000
    assert screen.painted_at is not None
    painted = (screen.painted_at - t0) * 1000
    await pilot.press("escape")
    await pilot.pause()
    return painted, mounted


async def one_run(home: Home, long: str, short: str, warm: str) -> tuple[float, float, float, float]:
    group = Group.open(home)
    try:
        app = TablespaceApp(group, sync=False)
        app.PREPARE_SECTIONS = False
        async with app.run_test(size=SIZE) as pilot:
            while not app._painted or any(w.name == WARM_UP and not w.is_finished for w in app.workers):
                await pilot.pause(0.05)
            await open_ms(pilot, warm)
            _, floor = await open_ms(pilot, short)
            painted, mounted = await open_ms(pilot, long)
            return floor, painted, mounted, await key_ms(pilot, long)
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
        floors, painted, mounted, keys = [], [], [], []
        for _ in range(args.runs):
            floor, first, every, key = asyncio.run(one_run(home, long, short, warm))
            floors.append(floor)
            painted.append(first)
            mounted.append(every)
            keys.append(key)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    floor = statistics.median(floors)
    print(f"load {os.getloadavg()[0]:.2f}; process CPU ms, median (min-max) of {args.runs} runs")
    print(f"  floor: a thread of one post                 {spread(floors)}")
    long = f"{1 + args.replies} posts:"
    figures = (
        (f"{long} first paint", painted),
        ("every post mounted", mounted),
        ("j at the first paint, answered", keys),
    )
    for label, values in figures:
        ratio = statistics.median(values) / floor
        print(f"  {label:<43} {spread(values)}  ({ratio:.1f}x the floor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
