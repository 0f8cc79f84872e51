"""Real launch: the installed `tablespace` command, exec to a painted thread list.

Figures (each run of the app alternates with a run of the floor):

  launch   wall time from spawning the installed console script
           (`tablespace --home H`, the interpreter's own `bin/tablespace`,
           with PYTHONPATH set to this tree's src/) in a pseudo-terminal of
           100x30 until the title of the group's newest thread is among the
           characters written to the terminal: the moment a person sees the
           list. The group is an N-post group (default 100k: plan_posts, 10%
           threads) whose every op is also in the shared folder as the engine
           exports it, and live sync is on, as a person runs the app: the sync
           thread and the folder watcher start with it.
  floor    the same, for a minimal Textual app (one Static with a line of
           text) started by the same interpreter in the same terminal, until
           its text is written: what any Textual app costs to start (the
           interpreter, Textual's imports, the driver, the first frame), so the
           ratio is what tablespace adds.

Nothing inside either process marks the moment: the time is read from the
terminal, as a person would see it. Each child is then asked to quit (ctrl+q)
and killed if it has not ended within 10 s; the time to quit is not counted.
Target: the median launch at most 1.5x the median floor.

Usage: python benchmarks/bench_launch.py [--n 100000] [--quick] [--runs 7]
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_OUT, REPO, base_args, header, parse, plan_posts, sign_plan, table, verdict  # noqa: E402

from tablespace import actions  # noqa: E402
from tablespace.core import thread_queries  # noqa: E402
from tablespace.core.group import Group, Transport  # noqa: E402
from tablespace.core.home import Home  # noqa: E402

TARGET = 1.5
COLUMNS, ROWS = 100, 30
TIMEOUT = 60.0
FLOOR_TEXT = "The floor's line of text is painted"
FLOOR_APP = f"""
from textual.app import App
from textual.widgets import Static

class Floor(App):
    def compose(self):
        yield Static({FLOOR_TEXT!r})

Floor().run()
"""
ESCAPES = re.compile(rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[PX^_][^\x1b]*\x1b\\|[ -/]*[0-~])")


# --- the group -------------------------------------------------------------------------


def launch_home(n: int, seed: int) -> tuple[Path, str]:
    """A home with one n-post group whose ops are all in its shared folder, and
    the title of its newest thread (the list's first row). Cached in bench-out/."""
    root = BENCH_OUT / f"launch-n{n}-s{seed}"
    if not (root / "READY").exists():
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        print(f"building the {n:,}-post group with its folder into {root} ...", flush=True)
        (root / "shared").mkdir(parents=True)
        group = actions.found_group(Home(root / "home"), "bench", "alice", Transport(folder=root / "shared"))
        try:
            group.store.ingest(sign_plan(group, plan_posts(n, seed)))
            actions.sync_group(group)  # every op out to the folder, as the engine writes them
            group.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            group.close()
        (root / "READY").write_text(f"built in {time.perf_counter() - t0:.1f}s\n")
        print(f"  built in {time.perf_counter() - t0:.1f}s", flush=True)
    group = Group.open(Home(root / "home"))
    try:
        newest = thread_queries.threads(group.conn, limit=1)[0]
        files = sum(1 for _ in (root / "shared").rglob("*") if _.is_file())
    finally:
        group.close()
    print(f"group: {n:,} posts, {files} files in its folder; newest thread {newest.title!r}", flush=True)
    return root / "home", newest.title


# --- one launch ------------------------------------------------------------------------


def child_env(src: Path) -> dict[str, str]:
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
    env["PYTHONPATH"] = str(src)
    # Start as an installed app does: its bytecode cached, the real clock.
    for name in ("PYTHONDONTWRITEBYTECODE", "TABLESPACE_NOW", "TABLESPACE_PASSPHRASE", "TEXTUAL"):
        env.pop(name, None)
    return env


class Launch(NamedTuple):
    wall: float  # seconds from spawning to the text on the terminal
    cpu: float  # CPU seconds the process had used by then (all its threads)


def launch(argv: list[str], text: str, src: Path = REPO / "src") -> Launch:
    """Spawn argv in a fresh pseudo-terminal and wait for `text` among the
    characters it writes (escape sequences removed)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    needle = text.encode()
    seen = b""
    t0 = time.perf_counter()
    child = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=child_env(src), start_new_session=True)
    os.close(slave)
    try:
        while True:
            left = TIMEOUT - (time.perf_counter() - t0)
            if left <= 0 or child.poll() is not None:
                tail = ESCAPES.sub(b"", seen)[-1500:].decode(errors="replace")
                raise RuntimeError(f"{argv[0]} never painted {text!r} (exit {child.returncode}):\n{tail}")
            ready, _, _ = select.select([master], [], [], min(left, 0.5))
            if not ready:
                continue
            try:
                seen += os.read(master, 65536)
            except OSError:  # the child has closed the terminal: it ended
                child.wait()
                continue
            if needle in ESCAPES.sub(b"", seen):
                took = Launch(time.perf_counter() - t0, cpu_seconds(child.pid))
                break
        quit_child(child, master)
        return took
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        os.close(master)


def cpu_seconds(pid: int) -> float:
    """User and system time of a running process, from /proc (in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quit_child(child: subprocess.Popen[bytes], master: int) -> None:
    """ctrl+q, reading the terminal meanwhile (a child blocked on a full
    terminal would never end); killed after 10 s."""
    os.write(master, b"\x11")
    deadline = time.monotonic() + 10
    while child.poll() is None and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                os.read(master, 65536)
            except OSError:  # the child closed the terminal
                time.sleep(0.05)


def command() -> str:
    """The console script installed beside this interpreter."""
    script = Path(sys.executable).with_name("tablespace")
    if not script.exists():
        raise SystemExit(f"no installed `tablespace` beside {sys.executable}: pip install -e . first")
    return str(script)


def floor_script() -> Path:
    path = BENCH_OUT / "launch-floor.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != FLOOR_APP:
        path.write_text(FLOOR_APP)
    return path


def measure(home: Path, title: str, runs: int, trees: list[Path]) -> tuple[list[Launch], dict[Path, list[Launch]]]:
    """Launch times of the floor and of the app from each source tree, in turn."""
    app_argv = [command(), "--home", str(home)]
    floor_argv = [sys.executable, str(floor_script())]
    needle = title[:24]  # a title longer than its column is cut; its start is painted
    launch(floor_argv, FLOOR_TEXT)  # warm the page cache and the bytecode of each
    for src in trees:
        launch(app_argv, needle, src)
    floor: list[Launch] = []
    apps: dict[Path, list[Launch]] = {src: [] for src in trees}
    for _ in range(runs):
        floor.append(launch(floor_argv, FLOOR_TEXT))
        for src in trees:
            apps[src].append(launch(app_argv, needle, src))
    return floor, apps


def main() -> int:
    p = base_args(__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=7, help="launches of each, alternating (default 7)")
    p.add_argument(
        "--src",
        type=Path,
        action="append",
        help="the src/ directory of a tree to launch (repeat to compare trees in one run; default this tree's)",
    )
    args = parse(p)
    header("bench_launch", args)
    trees = [src.resolve() for src in args.src or [REPO / "src"]]
    home, title = launch_home(args.n, args.seed)
    load = os.getloadavg()[0]
    floor, apps = measure(home, title, args.runs, trees)
    print(
        f"\nexec to first paint in a {COLUMNS}x{ROWS} pseudo-terminal, {args.runs} runs each, alternating "
        f"(load average {load:.1f} -> {os.getloadavg()[0]:.1f}); CPU: the process's user + system time by then"
    )
    wall_floor = statistics.median(run.wall for run in floor)
    cpu_floor = statistics.median(run.cpu for run in floor)
    rows = [["minimal Textual app (floor)", *spread(floor), "1.00x", "", "", *spread(floor, cpu=True), "1.00x"]]
    passed = True
    for src, runs in apps.items():
        ratio = statistics.median(run.wall for run in runs) / wall_floor
        passed &= ratio <= TARGET
        label = f"tablespace, {args.n:,}-post group, live sync" + (f" ({src})" if len(trees) > 1 else "")
        cpu_ratio = statistics.median(run.cpu for run in runs) / cpu_floor
        rows.append(
            [
                label,
                *spread(runs),
                f"{ratio:.2f}x",
                f"<= {TARGET}x",
                verdict(ratio <= TARGET),
                *spread(runs, cpu=True),
                f"{cpu_ratio:.2f}x",
            ]
        )
    headings = ["command", "median s", "min s", "max s", "ratio", "target", "result"]
    print(table([*headings, "CPU s", "min", "max", "CPU ratio"], rows))
    return 0 if passed else 1


def spread(runs: list[Launch], *, cpu: bool = False) -> list[str]:
    """Median, min and max of the wall (or CPU) times."""
    times = [run.cpu if cpu else run.wall for run in runs]
    return [f"{statistics.median(times):.3f}", f"{min(times):.3f}", f"{max(times):.3f}"]


if __name__ == "__main__":
    sys.exit(main())
