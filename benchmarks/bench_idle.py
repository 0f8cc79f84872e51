"""An idle sync round on a two-year group's packed folder vs a ten-file folder,
and the idle CPU of `tablespace sync --watch` and of the app.

The big group (built once, cached under bench-out/): a founder, AUTHORS - 2
more authors added with `member.add`, and a reader who joins with an invite
and is admitted (the real flow). The backlog is plan_posts(N), each post by
an author picked with a Zipf weight; each author's chain lies in the folder
as packing leaves it (bench_storage --pack): a few packs of geometrically
smaller sizes (pack-<first>-<last>-<hash>.tsc, as sync/packing.py names
them), then up to PackPolicy.min_files - 1 one-op files not yet packed.
The reader imports all of it (one real round), then posts READER_POSTS
times with a round after each, so that its own small files are in the
folder too. The small group: a founder who posts and syncs SMALL_POSTS
times, the same reader admitted the same way, who imports and posts once:
about ten files.

Figures (medians with min-max over --runs, the two groups interleaved):
  round     the reader's `sync_group` (what `tablespace sync` calls),
            in-process, with nothing new in the folder: big, small, ratio.
            No watch runs: each author's directory's signature is looked at.
  watched   the same, with the app's folder watch running in the process
            on each group (`actions.watch_folder`, as `sync --watch` and the
            app run it): the rounds `sync --watch` and the app repeat, which
            look only at directories the watch saw change (sync/watched.py).
  stats     (info) listing the big folder's changes/ and stat'ing each
            author's directory in it, bare, after each pair of rounds: the
            least a round that notices a new file anywhere must do, which
            the ten-file round does for two directories.
  process   `tablespace sync` spawned on each home: big, small, ratio.
  idle CPU  `tablespace sync --watch` and the app (in a pseudo-terminal, live
            sync on) on the big group, after their first round: user + sys
            time from /proc over --idle-seconds, as % of one core.

Targets (issue: a sync round costs what changed): the in-process round
< 100 ms and <= 1.5x the ten-file round (the watched ratio carries the
target: those are the rounds that repeat; the unwatched one is reported
beside it); idle CPU < 1% of a core each.
The floor is the ten-file round itself: the same code, the same database
schema and process, so the ratio is what the folder's size adds.

Usage: python benchmarks/bench_idle.py [--n 100000] [--runs 9] [--idle-seconds 60] [--quick] [--profile FILE]
"""

from __future__ import annotations

import cProfile
import os
import pstats
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sqlite_utils  # noqa: E402
from _common import BENCH_OUT, QUICK_N, header, sign_backlog, table, verdict  # noqa: E402
from bench_launch import COLUMNS, ROWS, child_env, command, cpu_seconds, quit_child  # noqa: E402

sqlite_utils.Database(memory=True).close()

from tablespace import actions  # noqa: E402
from tablespace.actions import admit, create_invite, found_group, join_group, sync_group  # noqa: E402
from tablespace.core.group import Group, Transport  # noqa: E402
from tablespace.core.home import Home  # noqa: E402
from tablespace.core.identity import Identity  # noqa: E402
from tablespace.core.ops import Op  # noqa: E402
from tablespace.sync.envelope import MAX_OPS_PER_FILE, changeset_name, encode_changeset, peek_header  # noqa: E402
from tablespace.sync.folder import FolderStore  # noqa: E402
from tablespace.sync.keyring import Keyring  # noqa: E402
from tablespace.sync.packing import PackPolicy, pack_name  # noqa: E402
from tablespace.sync.watched import running_watch  # noqa: E402

BUILD_VERSION = 1
AUTHORS = 150
READER_POSTS = 10
SMALL_POSTS = 8
TARGET_MS = 100.0
MAX_RATIO = 1.5
MAX_IDLE_CPU = 1.0  # % of one core
REPO = Path(__file__).resolve().parent.parent


def current_key(group: Group) -> tuple[int, bytes]:
    epochs = Keyring.load(group.path).epochs
    epoch = max(epochs)
    held = epochs[epoch]
    return epoch, held if isinstance(held, bytes) else held[0]


def reader_joins(root: Path, folder: Path, founder: Group) -> None:
    """The reader asks to join, the founder admits them (real flow)."""
    code = create_invite(founder, timedelta(days=1), 1)
    sync_group(founder)
    reader, request = join_group(Home(root / "reader"), code, "reader", Transport(folder=folder))
    reader.close()
    admit(founder, request[:8])
    sync_group(founder)


def reader_posts(root: Path, count: int) -> None:
    """The reader imports what is there, then posts `count` times, a round after each."""
    reader = actions.open_group(Home(root / "reader"))
    try:
        sync_group(reader)
        for i in range(count):
            actions.post(reader, f"reader's thread {i}", f"said by the reader, {i}", [])
            sync_group(reader)
    finally:
        reader.close()


def packed_chunks(ops: list[Op], rng: random.Random) -> list[tuple[str, list[Op]]]:
    """An author's chain as packing leaves it: packs of halving sizes, then
    the newest few ops one per file. (prefix, ops) per file."""
    tail = min(len(ops), rng.randrange(PackPolicy().min_files))
    packed, small = ops[: len(ops) - tail], ops[len(ops) - tail :]
    files: list[tuple[str, list[Op]]] = []
    while packed:
        size = min(MAX_OPS_PER_FILE, max(1, (len(packed) + 1) // 2) if len(packed) > 64 else len(packed))
        files.append(("pack", packed[:size]))
        packed = packed[size:]
    files.extend(("", [op]) for op in small)
    return files


def build_big(root: Path, n: int, seed: int) -> None:
    folder = root / "shared"
    folder.mkdir()
    founder = found_group(Home(root / "founder"), "two years", "founder", Transport(folder=folder))
    reader_joins(root, folder, founder)
    others = [Identity.generate() for _ in range(AUTHORS - 2)]
    for i, ident in enumerate(others):
        founder.write(
            "member.add", {"member": ident.author_id, "name": f"member {i}", "public_key": ident.public_key.hex()}
        )
    sync_group(founder)
    rng = random.Random(seed)
    identities = [founder.identity, *others]
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(identities))]
    chains = sign_backlog(founder, identities, n, seed, lambda: rng.choices(identities, weights)[0])
    founder.store.ingest(chains[founder.me])
    sync_group(founder)
    epoch, key = current_key(founder)
    store = FolderStore(folder, founder.id)
    for ident in others:
        for prefix, part in packed_chunks(chains[ident.author_id], rng):
            data = encode_changeset(part, group_id=founder.id, epoch=epoch, epoch_key=key, identity=ident)
            name = pack_name(peek_header(data)) if prefix else changeset_name(peek_header(data))
            store.write_once("changes/" + name, data)
    founder.close()
    reader_posts(root, READER_POSTS)


def build_small(root: Path) -> None:
    folder = root / "shared"
    folder.mkdir()
    founder = found_group(Home(root / "founder"), "ten files", "founder", Transport(folder=folder))
    reader_joins(root, folder, founder)
    for i in range(SMALL_POSTS):
        actions.post(founder, f"thread {i}", f"body {i}", [])
        sync_group(founder)
    founder.close()
    reader_posts(root, 1)


def cached(label: str, build) -> Path:
    """The built root under bench-out/, built once."""
    cache = BENCH_OUT / f"idle-{label}-v{BUILD_VERSION}"
    if (cache / "READY").exists():
        return cache
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    t0 = time.perf_counter()
    print(f"  building {label} into {cache} ...", flush=True)
    build(cache)  # in place: a home names its folder by its absolute path
    (cache / "READY").write_text(f"built in {time.perf_counter() - t0:.1f}s\n")
    print(f"  built in {time.perf_counter() - t0:.1f}s", flush=True)
    return cache


def folder_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root / "shared"))


def author_dir_stats(root: Path) -> tuple[int, float]:
    """(author directories, seconds) to list changes/ and stat each directory
    in it, bare: what any round that notices a new file in any of them must
    do at least once (an idle round does nothing else per author)."""
    (changes,) = (root / "shared").glob("*/changes")
    fd = os.open(changes, os.O_RDONLY | os.O_DIRECTORY)
    try:
        t0 = time.perf_counter()
        names = sorted(os.listdir(fd))
        for name in names:
            os.stat(name, dir_fd=fd, follow_symlinks=False)
        return len(names), time.perf_counter() - t0
    finally:
        os.close(fd)


# --- measuring ---------------------------------------------------------------------


def in_process_round(group: Group, cpu: list[float]) -> float:
    """The round's wall time; its CPU time (this thread's: the watch runs in others) goes in `cpu`."""
    c0, t0 = time.thread_time(), time.perf_counter()
    report = sync_group(group)
    took = time.perf_counter() - t0
    cpu.append(time.thread_time() - c0)
    if report.imported or report.exported:
        raise RuntimeError(f"the round was not idle: {report.to_json()}")
    return took


def process_round(root: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [command(), "--home", str(root / "reader"), "sync"],
        check=True,
        stdout=subprocess.DEVNULL,
        env=child_env(REPO / "src"),
    )
    return time.perf_counter() - t0


def start_watch(group: Group, stop: threading.Event) -> threading.Thread:
    """The app's folder watch on `group`, in a thread of this process, up."""

    def run() -> None:
        for _ in actions.watch_folder(group, stop, debounce_ms=400):
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while (seen := running_watch(group.path)) is None or not seen.up:
        if time.monotonic() > deadline:
            raise RuntimeError("the folder watch did not come up")
        time.sleep(0.05)
    return thread


def idle_cpu(argv: list[str], warmup: float, seconds: float, *, terminal: bool) -> float:
    """% of one core `argv` uses over `seconds`, after `warmup` seconds (its
    first round); in a pseudo-terminal if `terminal` (the app)."""
    import fcntl
    import pty
    import struct
    import termios

    master = None
    if terminal:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        child = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=child_env(REPO / "src"), start_new_session=True
        )
        os.close(slave)
    else:
        child = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=child_env(REPO / "src"),
            start_new_session=True,
        )

    def drain(until: float) -> None:
        while time.monotonic() < until:
            if master is None:
                time.sleep(min(0.5, max(0.0, until - time.monotonic())))
                continue
            ready, _, _ = select.select([master], [], [], max(0.0, min(0.5, until - time.monotonic())))
            if ready:
                try:
                    os.read(master, 65536)
                except OSError:
                    time.sleep(0.05)

    try:
        drain(time.monotonic() + warmup)
        if child.poll() is not None:
            raise RuntimeError(f"{argv} ended early (exit {child.returncode})")
        cpu0, t0 = cpu_seconds(child.pid), time.monotonic()
        drain(t0 + seconds)
        cpu1, t1 = cpu_seconds(child.pid), time.monotonic()
        return 100 * (cpu1 - cpu0) / (t1 - t0)
    finally:
        if master is not None and child.poll() is None:
            quit_child(child, master)
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if master is not None:
            os.close(master)


def spread(values: list[float], scale: float = 1000.0, unit: str = "ms") -> str:
    return f"{statistics.median(values) * scale:.1f} {unit} ({min(values) * scale:.1f}-{max(values) * scale:.1f})"


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100_000, help="posts in the big group (default 100,000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--idle-seconds", type=float, default=60.0)
    p.add_argument("--quick", action="store_true", help=f"--n {QUICK_N:,}, 5 runs, 5 s of idle")
    p.add_argument("--no-idle", action="store_true", help="skip the idle CPU figures")
    p.add_argument("--profile", metavar="FILE", help="cProfile the big group's rounds; writes FILE-idle.pstats")
    args = p.parse_args()
    if args.quick:
        args.n, args.runs, args.idle_seconds = QUICK_N, 5, 5.0
    header("bench_idle", args)
    big_cache = cached(f"big-n{args.n}-s{args.seed}", lambda root: build_big(root, args.n, args.seed))
    small_cache = cached("small", build_small)
    # The rounds run on the cache itself: an idle round changes only its bookkeeping.
    return measure(args, big_cache, small_cache)


def cpu_ratio(cpu: dict[Path, list[float]], big: Path, small: Path) -> str:
    """Median CPU per round of each, and their ratio."""
    b, s = statistics.median(cpu[big]), statistics.median(cpu[small])
    return f"{b * 1000:.2f} / {s * 1000:.2f} ms, {b / s:.2f}x"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(args, big: Path, small: Path) -> int:
    print(f"  folder files: big {folder_files(big):,}, small {folder_files(small):,}", flush=True)
    print(f"  load average at the start: {load()}", flush=True)
    groups = {root: actions.open_group(Home(root / "reader")) for root in (big, small)}
    rounds: dict[Path, list[float]] = {big: [], small: []}
    watched: dict[Path, list[float]] = {big: [], small: []}
    cpu: dict[Path, list[float]] = {big: [], small: []}
    watched_cpu: dict[Path, list[float]] = {big: [], small: []}
    stats: list[float] = []
    spawned: dict[Path, list[float]] = {big: [], small: []}
    prof = cProfile.Profile() if args.profile else None
    try:
        for root in (big, small):  # a first round settles what the copy changed (its paths' times)
            sync_group(groups[root])
        for _ in range(args.runs):
            for root in (big, small):
                if prof and root is big:
                    prof.enable()
                rounds[root].append(in_process_round(groups[root], cpu[root]))
                if prof and root is big:
                    prof.disable()
            authors, took = author_dir_stats(big)
            stats.append(took)
        stop = threading.Event()
        watches = [start_watch(groups[root], stop) for root in (big, small)]
        try:
            for root in (big, small):  # the first round beside a new watch looks at everything
                sync_group(groups[root])
            for _ in range(args.runs):
                for root in (big, small):
                    watched[root].append(in_process_round(groups[root], watched_cpu[root]))
        finally:
            stop.set()
            for thread in watches:
                thread.join(10)
        for _ in range(args.runs):
            for root in (big, small):
                spawned[root].append(process_round(root))
    finally:
        for group in groups.values():
            group.close()
    if prof:
        prof.dump_stats(args.profile + "-idle.pstats")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    ratio = statistics.median(rounds[big]) / statistics.median(rounds[small])
    watched_ratio = statistics.median(watched[big]) / statistics.median(watched[small])
    process_ratio = statistics.median(spawned[big]) / statistics.median(spawned[small])
    ok_time = statistics.median(rounds[big]) * 1000 < TARGET_MS
    rows = [
        ["round in-process, two-year folder", spread(rounds[big]), f"< {TARGET_MS:.0f} ms", verdict(ok_time)],
        ["round in-process, ten-file folder (floor)", spread(rounds[small]), "", ""],
        ["  ratio (no watch: `tablespace sync`)", f"{ratio:.2f}x", f"<= {MAX_RATIO}x", verdict(ratio <= MAX_RATIO)],
        ["  CPU: two-year / ten-file (info: steadier under load)", cpu_ratio(cpu, big, small), "", "info"],
        ["round beside the folder watch, two-year folder", spread(watched[big]), "", ""],
        ["round beside the folder watch, ten-file folder (floor)", spread(watched[small]), "", ""],
        [
            "  ratio (watched: `sync --watch`, the app)",
            f"{watched_ratio:.2f}x",
            f"<= {MAX_RATIO}x",
            verdict(watched_ratio <= MAX_RATIO),
        ],
        ["  CPU: two-year / ten-file (info: steadier under load)", cpu_ratio(watched_cpu, big, small), "", "info"],
        [f"  two-year folder: list changes/, stat its {authors} directories (bare)", spread(stats), "", "info"],
        ["`tablespace sync`, two-year folder", spread(spawned[big]), "", "info"],
        ["`tablespace sync`, ten-file folder", spread(spawned[small]), "", "info"],
        ["  ratio", f"{process_ratio:.2f}x", "", "info"],
    ]
    ok = ok_time and watched_ratio <= MAX_RATIO
    if not args.no_idle:
        warmup = min(10.0, args.idle_seconds)
        home = str(big / "reader")
        watch = idle_cpu([command(), "--home", home, "sync", "--watch"], warmup, args.idle_seconds, terminal=False)
        app = idle_cpu([command(), "--home", home], warmup, args.idle_seconds, terminal=True)
        rows += [
            [
                f"`sync --watch` idle, {args.idle_seconds:.0f} s",
                f"{watch:.2f}% of a core",
                f"< {MAX_IDLE_CPU}%",
                verdict(watch < MAX_IDLE_CPU),
            ],
            [
                f"the app idle (live sync on), {args.idle_seconds:.0f} s",
                f"{app:.2f}% of a core",
                f"< {MAX_IDLE_CPU}%",
                verdict(app < MAX_IDLE_CPU),
            ],
        ]
        ok = ok and watch < MAX_IDLE_CPU and app < MAX_IDLE_CPU
    print(f"\n  load average at the end: {load()}")
    print(table(["figure", "median (min-max)", "target", "result"], rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
