"""Switching sections and quitting: the app's own time, on a big group.

Figures (each against a floor measured in the same run):

  switch       CPU time of the app's process (time.process_time: the app's
               own work, which a loaded machine slows far less than the wall
               clock) from pressing a section's key to the new screen being
               painted and the app idle (Pilot's press, then its pause),
               for each section key in turn: its first visit (the section is
               built) and a later one (it is kept), once the app has started
               (first frame painted, the warm-up imports after it done).
               Target: <= 100 ms.
  quit         the same for `q`, until the app has exited. Target: <= 100 ms.
  floor        a switch between two empty Textual screens (modes), measured
               the same way in the same process.

Each run is a fresh app (headless, 100x40, live sync off; the garbage
collector frozen after the first frame, as `tui.app.run` does) on a private copy of
bench-out's cached N-post group; medians with min-max over --runs runs.

Usage: python benchmarks/bench_switch.py [--n 100000] [--quick] [--runs 5]
"""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import base_args, cached_group, cleanup_tmp, header, new_tmp_dir, parse, table, verdict  # noqa: E402

from tablespace.core.group import Group  # noqa: E402
from tablespace.core.home import Home  # noqa: E402

TARGET_MS = 100.0
SIZE = (100, 40)


async def app_time(pilot, act: Callable[[], Awaitable[object]]) -> float:  # noqa: ANN001 - a textual Pilot
    """Milliseconds of the process's CPU time for `act` and the app settling after it."""
    t0 = time.process_time()
    await act()
    if pilot.app.is_running:
        await pilot.pause()  # the screen painted and the app's messages handled
    return (time.process_time() - t0) * 1000


async def until_started(pilot) -> None:  # noqa: ANN001 - a textual Pilot
    """Until the first frame is painted and what the app loads after it (the
    warm-up imports, in a thread) is loaded: a person reads the first screen
    before switching, and the thread's CPU time would fall into the switch."""
    app = pilot.app
    await pilot.pause()
    while not app._painted or any(w.name == "warm up imports" and not w.is_finished for w in app.workers):
        await pilot.pause(0.05)


async def floor_run() -> float:
    """One switch between two empty screens, as the app's modes switch."""
    from textual.app import App
    from textual.binding import Binding
    from textual.screen import Screen

    class Empty(Screen):
        pass

    class TwoScreens(App):
        MODES = {"a": Empty, "b": Empty}
        BINDINGS = [Binding("1", "switch_mode('a')"), Binding("2", "switch_mode('b')")]

        def on_mount(self) -> None:
            self.switch_mode("a")

    async with TwoScreens().run_test(size=SIZE) as pilot:
        await pilot.press("2", "1")  # both built
        return statistics.median([await app_time(pilot, lambda k=k: pilot.press(k)) for k in "212121"])


async def app_run(home: Path) -> tuple[dict[str, float], dict[str, float], float]:
    """First and later visit of each section (ms, by key), then quitting."""
    from tablespace.tui.app import TablespaceApp, resume_gc_after_start
    from tablespace.tui.registry import sections_for

    group = Group.open(Home(home))
    try:
        app = TablespaceApp(group, sync=False)
        app.after_first_frame(resume_gc_after_start)  # as `run` does: start-up is frozen out of the GC
        first: dict[str, float] = {}
        later: dict[str, float] = {}
        async with app.run_test(size=SIZE) as pilot:
            await until_started(pilot)
            keys = [s.key for s in sections_for(group.is_moderator)]
            for visits in (first, later):
                for key in [*keys[1:], keys[0]]:
                    visits[key] = await app_time(pilot, lambda key=key: pilot.press(key))
            quit_ms = await app_time(pilot, lambda: pilot.press("q"))
        return first, later, quit_ms
    finally:
        gc.unfreeze()  # the next run starts as a fresh process would
        group.close()


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> int:
    p = base_args(__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="fresh apps, each visiting every section twice (default 5)")
    args = parse(p)
    header("bench_switch", args)
    source_home = cached_group(args.n, args.seed).parent.parent
    home = new_tmp_dir("switch") / "home"
    shutil.copytree(source_home, home)  # the app writes (what was read): never into the cache
    floors: list[float] = []
    firsts: dict[str, list[float]] = {}
    laters: dict[str, list[float]] = {}
    quits: list[float] = []
    for _ in range(args.runs):
        floors.append(asyncio.run(floor_run()))
        first, later, quit_ms = asyncio.run(app_run(home))
        for key, ms in first.items():
            firsts.setdefault(key, []).append(ms)
        for key, ms in later.items():
            laters.setdefault(key, []).append(ms)
        quits.append(quit_ms)
    cleanup_tmp(home.parent)
    floor = statistics.median(floors)
    print(f"\napp's own time (process CPU ms), median (min-max) of {args.runs} runs; load {os.getloadavg()[0]:.2f}")
    from tablespace.tui.registry import sections_for

    names = {s.key: s.title for s in sections_for(True)}
    rows = [["floor: empty screen to empty screen", spread(floors), "1.0x", "", "info"]]
    ok = True
    for label, measured in (("first visit", firsts), ("later visit", laters)):
        for key, values in measured.items():
            med = statistics.median(values)
            passed = med <= TARGET_MS
            ok &= passed
            rows.append(
                [
                    f"{key} {names.get(key, key)}: {label}",
                    spread(values),
                    f"{med / floor:.1f}x",
                    f"<= {TARGET_MS:.0f} ms",
                    verdict(passed),
                ]
            )
    passed = statistics.median(quits) <= TARGET_MS
    ok &= passed
    rows.append(
        [
            "q: quit",
            spread(quits),
            f"{statistics.median(quits) / floor:.1f}x",
            f"<= {TARGET_MS:.0f} ms",
            verdict(passed),
        ]
    )
    print(table(["switch", "ms", "vs floor", "target", "result"], rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
