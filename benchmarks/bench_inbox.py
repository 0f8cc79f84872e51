"""The inbox, unread counts, digest and recap on an N-post group (default 100k).

The cached group (see _common.cached_group) is copied and shaped as two years
of a real group: its posts spread evenly over two years, every reply written
by one of 16 other members, 50k reactions by them to the founder's posts.
The founder started every thread, so every reply and reaction is theirs to
read: the widest inbox there is. Asked:

  founder-unread    inbox(founder): nothing read, 140k entries unread
  founder-read      inbox(founder) after reading every thread, one late reply
                    to the oldest thread: the walk must pass every read entry
  founder-all       inbox(founder, --all)
  counts-unread     unread_counts(founder), nothing read (capped count)
  counts-read       unread_counts(founder), every thread read but one
  follower          inbox(other, --all), a member following 200 threads
  digest-week       digest(founder) of the last 7 days (~1k posts, ~700 reactions)
  recap-week        recap of the last full week
  digest-2y, recap-2y  the same over all two years in the window (stress, no target)
  replier-unread    inbox of one of the 16 repliers, nothing read: ~6k posts
                    in ~4k threads, every thread unread, no entry of theirs
                    (a member who mostly replies, or one on a new device)
  replier-count     unread_inbox_count of that replier
  notify-idle       a `sync --notify` round's choice of what to notify
                    (actions.notify.due_notifications), nothing new since the
                    last round
  notify-day        the same, the last round a day ago (~200 entries new)
  floor             thread_queries.threads(conn, limit=50), the thread list's first
                    page: a read the app already makes on every refresh

And as whole processes (unless `--no-processes`; on a copy of the cached home, its
bytecode cached as an installed command's is): `tablespace inbox`, `digest
--since 7d`, `recap`, `follow`, `mute` and `reply --quote` as the
founder, against `tablespace --version` (the
interpreter, click and the CLI's imports: the floor every command pays).
Their wall and CPU medians, and the CPU beyond the floor's, which is what
is judged: what the command does on the big group, the interpreter's start
(the same on a tiny group) apart. CPU, because a loaded machine inflates
the wall several times over.

Each figure is the median over --runs runs (each the median of --calls calls, 20),
with the min-max beside it, and its ratio to the floor of the same run.

Target (issue 18): every command under 200 ms on a 100k-post group.

Usage: python benchmarks/bench_inbox.py [--n 100000] [--quick] [--runs 5] [--no-processes]
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    REPO,
    base_args,
    cached_group,
    cleanup_tmp,
    group_dir,
    header,
    new_tmp_dir,
    open_store,
    parse,
    table,
    verdict,
)
from bench_launch import child_env  # noqa: E402

from tablespace.actions import notify  # noqa: E402
from tablespace.actions.notify import NotifySettings  # noqa: E402
from tablespace.core import digest, inbox, recap, thread_queries  # noqa: E402
from tablespace.core.clock import datetime_to_hlc, now  # noqa: E402
from tablespace.core.group import Group  # noqa: E402
from tablespace.core.home import Home  # noqa: E402
from tablespace.core.log_queries import newest_op_row  # noqa: E402
from tablespace.core.schema import THREAD_NEWEST_FILL  # noqa: E402
from tablespace.core.store import Store  # noqa: E402

OTHER = "f" * 32
REPLIER = f"{1:032x}"  # one of the 16 members shape_two_years gives the replies to
TARGET_MS = 200.0


def timed(fn: Callable[[], object], calls: int = 20) -> float:
    """The median ms of `calls` calls; a call that times itself returns its seconds."""
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        own = fn()
        times.append((own if isinstance(own, float) else time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def shape_two_years(store: Store, seed: int) -> tuple[str, datetime]:
    """Spread the copy's posts over the two years up to now, give every reply
    to one of 16 other members, add 50k reactions by them to the founder's
    posts, and let OTHER follow 200 threads. Returns (founder, the end)."""
    conn = store.conn
    founder = conn.execute("SELECT author FROM threads LIMIT 1").fetchone()[0]
    end = now()
    start_ms = int((end - timedelta(days=2 * 365)).timestamp() * 1000)
    step_ms = 2 * 365 * 86_400_000 // max(1, conn.execute("SELECT count(*) FROM posts").fetchone()[0])
    rng = random.Random(seed)
    with store.db.atomic():
        conn.execute(
            "UPDATE posts SET created_hlc = (:start + (rowid - 1) * :step) << 16, author = CASE WHEN id = thread_id"
            " THEN author ELSE printf('%032x', rowid % 16 + 1) END",
            {"start": start_ms, "step": step_ms},
        )
        conn.execute(
            """UPDATE threads SET created_hlc = (SELECT created_hlc FROM posts WHERE id = threads.id),
               last_activity_hlc = (SELECT max(created_hlc) FROM posts WHERE thread_id = threads.id)"""
        )
        mine = [r[0] for r in conn.execute("SELECT id, created_hlc FROM posts WHERE id = thread_id ORDER BY rowid")]
        reactions = {(rng.choice(mine), f"{rng.randrange(1, 17):032x}", rng.choice("👍❤🎉👀🙏")) for _ in range(50_000)}
        conn.executemany(
            """INSERT OR IGNORE INTO reactions (post_id, author, emoji, hlc, post_author)
               SELECT :post, :author, :emoji, created_hlc + (:after << 16), :founder FROM posts WHERE id = :post""",
            [
                {"post": p, "author": a, "emoji": e, "after": rng.randrange(1, 86_400_000), "founder": founder}
                for p, a, e in sorted(reactions)
            ],
        )
        for statement in filter(str.strip, THREAD_NEWEST_FILL.split(";")):  # the times moved back
            conn.execute(statement)
        threads = [r[0] for r in conn.execute("SELECT id FROM threads")]
        conn.executemany(
            "INSERT OR IGNORE INTO follows (thread_id) VALUES (?)",
            [(t,) for t in rng.sample(threads, min(200, len(threads)))],
        )
    return founder, end


def mark_all_read_but_one(store: Store) -> Callable[[Callable[[], object]], Callable[[], object]]:
    """A wrapper for cases read with every thread read up to its newest post,
    but the oldest thread read just before its last reply (a late answer to
    a two-year-old question); the reads go away after each call."""
    conn = store.conn

    def run(case: Callable[[], object]) -> Callable[[], object]:
        def call() -> object:
            conn.execute("SAVEPOINT reads")
            conn.execute(  # up to its newest post or reaction, as opening it does (Group.mark_read)
                """INSERT OR REPLACE INTO reads SELECT t.id, max(t.last_activity_hlc, coalesce(n.hlc, 0))
                   FROM threads t LEFT JOIN thread_newest n ON n.thread_id = t.id"""
            )
            conn.execute(
                """UPDATE reads SET read_hlc = (SELECT last_activity_hlc - 1 FROM threads WHERE id = thread_id)
                   WHERE thread_id = (SELECT id FROM threads ORDER BY created_hlc LIMIT 1)"""
            )
            try:
                t0 = time.perf_counter()
                case()
                return time.perf_counter() - t0
            finally:
                conn.execute("ROLLBACK TO reads")
                conn.execute("RELEASE reads")

        return call

    return run


def notify_since(group: Group) -> Callable[[timedelta], Callable[[], object]]:
    """A notify round as `sync --notify` makes one after each sync, its last
    round `ago` back (all caught up to the log's end then): the mark is set
    before each call and only the round is timed."""
    settings = NotifySettings()
    local = notify.local_time()

    def round_after(ago: timedelta) -> Callable[[], object]:
        def call() -> float:
            mark = {"hlc": datetime_to_hlc(now() - ago), "arrived": newest_op_row(group.conn), "ids": []}
            with group.store.db.atomic():
                group.store.set_meta(notify._NOTIFIED, json.dumps(mark))
            t0 = time.perf_counter()
            notify.due_notifications(group, settings, local)
            return time.perf_counter() - t0

        return call

    return round_after


def process_figures(home: Path, runs: int, quoted: tuple[str, str]) -> list[list[str]]:
    """`tablespace` commands on `home`, spawned in turn `runs` times: wall
    and CPU medians (min-max), and the CPU beyond `--version`'s. `quoted`:
    a thread, and a reply in it to quote."""
    tablespace = str(Path(sys.executable).parent / "tablespace")
    thread, post = quoted
    commands = {
        "--version": ["--version"],
        "inbox": ["inbox"],
        "digest --since 7d": ["digest", "--since", "7d"],
        "recap": ["recap"],
        "follow": ["follow", thread],
        "mute": ["mute", thread],
        "reply --quote": ["reply", thread, "--quote", post, "--body", "Agreed, and thanks."],
    }
    env = child_env(REPO / "src")
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs + 1):  # the first round only warms the page cache and the bytecode
        for name, argv in commands.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            subprocess.run([tablespace, "--home", str(home), *argv], env=env, check=True, capture_output=True)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            walls[name].append(wall * 1000)
            cpus[name].append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)
    floor = statistics.median(cpus["--version"][1:])
    rows = []
    for name in commands:
        wall, cpu = walls[name][1:], cpus[name][1:]
        own = statistics.median(cpu) - floor
        judged = name != "--version"
        rows.append(
            [
                f"tablespace {name}",
                f"{statistics.median(wall):.0f} ({min(wall):.0f}-{max(wall):.0f}) ms",
                f"{statistics.median(cpu):.0f} ({min(cpu):.0f}-{max(cpu):.0f}) ms",
                f"{own:.0f} ms" if judged else "",
                f"< {TARGET_MS:.0f} ms" if judged else "",
                verdict(own < TARGET_MS) if judged else "",
            ]
        )
    return rows


def main() -> int:
    p = base_args(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--calls", type=int, default=20, help="calls per figure in a run (their median is the run's)")
    p.add_argument("--no-processes", action="store_true", help="skip timing the commands as whole processes")
    args = parse(p)
    header("inbox", args)
    cache = cached_group(args.n, args.seed).parent.parent.parent
    root = new_tmp_dir("inbox")
    shutil.copytree(cache / "home", root / "home")
    path = group_dir(root)
    try:
        store = open_store(path)
        conn = store.conn
        founder, end = shape_two_years(store, args.seed)
        week = end - timedelta(days=7)
        last_monday = recap.week_of(week.date())
        two_years = (end - timedelta(days=2 * 366), end)
        read_all = mark_all_read_but_one(store)
        quoted = conn.execute(
            """SELECT p.thread_id, p.id FROM posts p
               WHERE p.id != p.thread_id ORDER BY p.created_hlc DESC LIMIT 1"""
        ).fetchone()
        group = Group.open(Home(root / "home"))
        notify_round = notify_since(group)
        cases: dict[str, Callable[[], object]] = {
            "floor": lambda: thread_queries.threads(conn, limit=50),
            "founder-unread": lambda: inbox.inbox(conn, founder),
            "founder-all": lambda: inbox.inbox(conn, founder, include_read=True),
            "counts-unread": lambda: inbox.unread_counts(conn, founder),
            "founder-read": read_all(lambda: inbox.inbox(conn, founder)),
            "counts-read": read_all(lambda: inbox.unread_counts(conn, founder)),
            "follower": lambda: inbox.inbox(conn, OTHER, include_read=True),
            "replier-unread": lambda: inbox.inbox(conn, REPLIER),
            "replier-count": lambda: inbox.unread_inbox_count(conn, REPLIER),
            "notify-idle": notify_round(timedelta(0)),
            "notify-day": notify_round(timedelta(days=1)),
            "digest-week": lambda: digest.digest(conn, founder, week, end, group="bench"),
            "recap-week": lambda: recap.recap(conn, *last_monday),
            "digest-2y": lambda: digest.digest(conn, founder, *two_years, group="bench"),
            "recap-2y": lambda: recap.recap(conn, *two_years),
        }
        results: dict[str, list[float]] = {name: [] for name in cases}
        ratios: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.runs):
            run = {name: timed(fn, args.calls) for name, fn in cases.items()}
            for name, value in run.items():
                results[name].append(value)
                ratios[name].append(value / run["floor"])
        print(f"load average {os.getloadavg()}")
        rows = []
        for name in cases:
            values = results[name]
            median = statistics.median(values)
            judged = name != "floor" and not name.endswith("-2y")
            target, result = (f"< {TARGET_MS:.0f} ms", verdict(median < TARGET_MS)) if judged else ("", "")
            rows.append(
                [
                    name,
                    f"{median:.2f} ({min(values):.2f}-{max(values):.2f}) ms",
                    f"{statistics.median(ratios[name]):.1f}x",
                    target,
                    result,
                ]
            )
        print(table(["figure", "median (min-max)", "ratio to floor", "target", "result"], rows))
        store.close()
        group.close()
        if not args.no_processes:
            processes = process_figures(root / "home", args.runs, quoted)
            print(f"load average {os.getloadavg()}")
            print(table(["command", "wall", "CPU", "CPU beyond --version", "target", "result"], processes))
            rows += [[row[0], row[-1]] for row in processes]
    finally:
        cleanup_tmp(root)
    return 0 if all(row[-1] != verdict(False) for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
