"""Switching sections and quitting: the app's own time, on a big group.

Figures (each against a floor measured in the same run):

  switch       CPU time of the app's process (time.process_time: the app's
               own work, which a loaded machine slows far less than the wall
               clock) from pressing a section's key to the new screen being
               painted and the app idle (Pilot's press, then its pause),
               for each section key in turn: its first visit and a later one
               (the section is kept), once the app has started (first frame
               painted, then what the app does after it: the warm-up imports
               and making every section's screen in idle time).
               Target: <= 100 ms.
  on the key   a first visit in an app that does not prepare the
               sections (PREPARE_SECTIONS off): what a key pressed before
               the preparation reached its section costs, the section's
               screen made on the key. Target: <= 100 ms.
  quit         the same for `q`, until the app has closed every screen and
               stopped (Pilot's run_test has returned). Target: <= 100 ms.
  preparing    (info) the CPU the app spends after its first frame until
               every section is prepared (warm-up imports included).
  floor        a switch between two empty Textual screens (modes), measured
               the same way in the same process.

Each run is a fresh app (headless, 100x40, live sync off; the garbage
collector frozen after the first frame and after the sections are prepared,
as `tui.app.run` does) on a private copy of the group: by default the
newcomer of the two-year group (benchmarks/_twoyear.py, built if not
cached; its home after its first sync, on a copy of the folder; a plain
member, so no Moderation), with --group batch (and --quick) the founder of
bench-out's batch-built N-post group. Medians with min-max over --runs runs.

Usage: python benchmarks/bench_switch.py [--n 20000] [--group twoyear|batch] [--quick] [--runs 5]
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _twoyear  # noqa: E402
from _common import base_args, cached_group, cleanup_tmp, header, new_tmp_dir, parse, table, verdict  # noqa: E402

from tablespace.core.group import Group  # noqa: E402
from tablespace.core.home import Home  # noqa: E402
from tablespace.tui.app import WARM_UP  # noqa: E402

TARGET_MS = 100.0
SIZE = (100, 40)


async def app_time(pilot, act: Callable[[], Awaitable[object]]) -> float:  # noqa: ANN001 - a textual Pilot
    """Milliseconds of the process's CPU time for `act` and the app settling after it."""
    t0 = time.process_time()
    await act()
    if pilot.app.is_running:
        await pilot.pause()  # the screen painted and the app's messages handled
    return (time.process_time() - t0) * 1000


async def until_started(pilot, prepare: bool) -> float:  # noqa: ANN001 - a textual Pilot
    """Until the first frame is painted and what the app does after it is
    done (the warm-up imports, in a thread; then, with `prepare`, making
    every section's screen): a person reads the first screen before
    switching, and that CPU time would fall into the switch. Returns the
    CPU ms from the first frame until then."""
    app = pilot.app
    while not app._painted:
        await pilot.pause(0.01)
    t0 = time.process_time()
    while (prepare and not app.sections_prepared) or any(w.name == WARM_UP and not w.is_finished for w in app.workers):
        await pilot.pause(0.05)
    return (time.process_time() - t0) * 1000


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


async def app_run(home: Path, prepare: bool) -> tuple[dict[str, float], dict[str, float], float, float]:
    """First and later visit of each section (ms, by key), quitting, and the
    CPU the app spent preparing the sections after its first frame."""
    from tablespace.tui.app import TablespaceApp, resume_gc_after_start
    from tablespace.tui.registry import sections_for

    group = Group.open(Home(home))
    try:
        app = TablespaceApp(group, sync=False)
        app.PREPARE_SECTIONS = prepare
        app.after_first_frame(resume_gc_after_start)  # as `run` does: start-up is frozen out of the GC
        app.after_sections_prepared(gc.freeze)  # and so are the prepared sections
        first: dict[str, float] = {}
        later: dict[str, float] = {}
        async with app.run_test(size=SIZE) as pilot:
            prepare_ms = await until_started(pilot, prepare)
            keys = [s.key for s in sections_for(group.is_moderator)]
            for visits in (first, later):
                for key in [*keys[1:], keys[0]]:
                    visits[key] = await app_time(pilot, lambda key=key: pilot.press(key))
            t0 = time.process_time()
            await pilot.press("q")
        quit_ms = (time.process_time() - t0) * 1000  # until the app has closed every screen and stopped
        return first, later, quit_ms, prepare_ms
    finally:
        gc.unfreeze()  # the next run starts as a fresh process would
        group.close()


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def twoyear_home(n: int, seed: int, work: Path) -> Path:
    """The newcomer's home of the two-year group after its first sync, on a
    private copy of the folder (the sync writes to it). The group is built
    if it is not cached, as bench_first_sync does (which run_all runs first)."""
    cache = _twoyear.build(n, seed)
    shutil.copytree(cache / "shared", work / "shared")
    home = _twoyear.newcomer_copy(cache, work / "home")
    for local in home.glob("groups/*/local.json"):
        settings = json.loads(local.read_text())
        settings["transport"] = {"folder": str(work / "shared")}
        local.write_text(json.dumps(settings, indent=2))
    from tablespace.sync.service import engine_for

    group = _twoyear.open_newcomer(home)
    try:
        report = engine_for(group).run()
        group.mark_welcomed()  # they walked the welcome on their first day: it does not open again
    finally:
        group.close()
    print(f"  the newcomer's first sync took in {report.imported:,} ops ({report.pending} waiting)")
    return home


def rows_for(
    label: str, measured: dict[str, list[float]], floor: float, names: dict[str, str], *, target: bool
) -> tuple[list[list[str]], bool]:
    rows, ok = [], True
    for key, values in measured.items():
        med = statistics.median(values)
        passed = med <= TARGET_MS
        ok &= passed
        rows.append(
            [
                f"{key} {names.get(key, key)}: {label}",
                spread(values),
                f"{med / floor:.1f}x",
                f"<= {TARGET_MS:.0f} ms" if target else "",
                verdict(passed) if target else "info",
            ]
        )
    return rows, ok


def main() -> int:
    p = base_args(__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=5, help="fresh apps, each visiting every section twice (default 5)")
    p.add_argument(
        "--group",
        choices=("twoyear", "batch"),
        default="twoyear",
        help="twoyear: the newcomer of the cached two-year group of --n posts, after its first sync (default); "
        "batch: the founder of the batch-built group (--quick's)",
    )
    args = parse(p)
    if args.quick:
        args.group = "batch"
    header(f"bench_switch ({args.group})", args)
    work = new_tmp_dir("switch")
    if args.group == "twoyear":
        home = twoyear_home(args.n, args.seed, work)
    else:
        home = work / "home"
        shutil.copytree(cached_group(args.n, args.seed).parent.parent, home)  # the app writes: never into the cache
    floors: list[float] = []
    firsts: dict[str, list[float]] = {}
    laters: dict[str, list[float]] = {}
    on_key: dict[str, list[float]] = {}
    quits: list[float] = []
    preparing: list[float] = []
    for _ in range(args.runs):
        floors.append(asyncio.run(floor_run()))
        first, later, quit_ms, prepare_ms = asyncio.run(app_run(home, prepare=True))
        for key, ms in first.items():
            firsts.setdefault(key, []).append(ms)
        for key, ms in later.items():
            laters.setdefault(key, []).append(ms)
        quits.append(quit_ms)
        preparing.append(prepare_ms)
        unprepared, _, _, _ = asyncio.run(app_run(home, prepare=False))
        for key, ms in unprepared.items():
            on_key.setdefault(key, []).append(ms)
    cleanup_tmp(work)
    floor = statistics.median(floors)
    print(f"\napp's own time (process CPU ms), median (min-max) of {args.runs} runs; load {os.getloadavg()[0]:.2f}")
    from tablespace.tui.registry import sections_for

    names = {s.key: s.title for s in sections_for(True)}
    rows = [["floor: empty screen to empty screen", spread(floors), "1.0x", "", "info"]]
    ok = True
    for label, measured, target in (
        ("first visit", firsts, True),
        ("later visit", laters, True),
        ("first visit, key pressed before it was prepared", on_key, True),
    ):
        more, passed = rows_for(label, measured, floor, names, target=target)
        rows += more
        ok &= passed or not target
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
    rows.append(["preparing every section, after the first frame", spread(preparing), "", "", "info"])
    print(table(["switch", "ms", "vs floor", "target", "result"], rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
