"""Shared pieces of the benchmark scripts: a seeded workload, the group
builder (with an on-disk cache under bench-out/), timers and the result table.

Everything here goes through tablespace's public core API (Group, Store,
sign_op, queries); nothing is patched. Benchmarks are scripts, not tests.

Clock: every script *unsets* TABLESPACE_NOW, so the hybrid clock reads the real
wall clock, as it does for a user. (With TABLESPACE_NOW set, every clock tick
re-parses an ISO string, a cost users never pay.)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

os.environ.pop("TABLESPACE_NOW", None)  # real clock: see the module docstring

from tablespace.core.group import Group, Transport  # noqa: E402
from tablespace.core.home import DB_NAME, Home  # noqa: E402
from tablespace.core.identity import Identity  # noqa: E402
from tablespace.core.ops import Op, sign_op  # noqa: E402
from tablespace.core.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
# TABLESPACE_BENCH_OUT gives each source tree its own caches when two are compared
# (compare.py): a group built by one core may not open unchanged in another.
BENCH_OUT = Path(os.environ.get("TABLESPACE_BENCH_OUT") or REPO / "bench-out").resolve()
DEFAULT_N = 100_000
DEFAULT_SEED = 1
QUICK_N = 5_000
# Bump when the workload below or the database layout changes, so old caches
# are not reused. 2: 8 KB pages (store.PAGE_BYTES), an index per unsettled state.
BUILDER_VERSION = 2

# --- the workload ----------------------------------------------------------------

# ~200 ordinary words, ranked most frequent first; a long tail of made-up
# words (from syllables, deterministic) follows, so that the Zipf-distributed
# text has genuinely rare, medium and common terms to search for.
COMMON_WORDS = [
    "the",
    "and",
    "to",
    "of",
    "a",
    "in",
    "is",
    "it",
    "you",
    "that",
    "for",
    "on",
    "was",
    "with",
    "this",
    "have",
    "but",
    "be",
    "are",
    "not",
    "at",
    "just",
    "so",
    "what",
    "like",
    "get",
    "all",
    "about",
    "one",
    "can",
    "out",
    "if",
    "my",
    "we",
    "do",
    "there",
    "when",
    "up",
    "they",
    "time",
    "would",
    "think",
    "some",
    "good",
    "know",
    "more",
    "how",
    "really",
    "make",
    "from",
    "people",
    "way",
    "also",
    "bread",
    "dough",
    "flour",
    "water",
    "starter",
    "loaf",
    "oven",
    "crumb",
    "crust",
    "bake",
    "baking",
    "rise",
    "proof",
    "salt",
    "yeast",
    "hydration",
    "knead",
    "fold",
    "shape",
    "score",
    "steam",
    "tin",
    "sourdough",
    "rye",
    "spelt",
    "wheat",
    "recipe",
    "kitchen",
    "table",
    "garden",
    "tomato",
    "basil",
    "onion",
    "garlic",
    "pepper",
    "soup",
    "stew",
    "pasta",
    "sauce",
    "butter",
    "cheese",
    "honey",
    "apple",
    "pear",
    "plum",
    "jam",
    "jar",
    "pickle",
    "ferment",
    "kimchi",
    "week",
    "morning",
    "evening",
    "weekend",
    "today",
    "tomorrow",
    "yesterday",
    "hour",
    "minute",
    "try",
    "tried",
    "trying",
    "works",
    "worked",
    "thanks",
    "question",
    "answer",
    "help",
    "idea",
    "photo",
    "share",
    "friend",
    "group",
    "member",
    "meeting",
    "ritual",
    "thread",
    "reply",
    "post",
    "library",
    "link",
    "book",
    "warm",
    "cold",
    "hot",
    "dry",
    "wet",
    "soft",
    "hard",
    "crisp",
    "sweet",
    "sour",
    "bitter",
    "fresh",
    "old",
    "new",
    "small",
    "big",
    "little",
    "long",
    "short",
    "high",
    "low",
    "first",
    "last",
    "next",
    "early",
    "late",
]

SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "zu",
    "re",
    "tan",
    "vel",
    "or",
    "quin",
    "sha",
    "bro",
    "ix",
    "dul",
    "fen",
    "gar",
    "hop",
    "jem",
    "nox",
    "pra",
    "sil",
    "tov",
    "ur",
    "wex",
    "yal",
]


def vocabulary(size: int = 5000) -> list[str]:
    words = list(dict.fromkeys(COMMON_WORDS))
    rng = random.Random(12345)  # the vocabulary is fixed whatever the workload seed
    seen = set(words)
    while len(words) < size:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


VOCAB = vocabulary()
ZIPF_S = 1.05
_CUM = list(__import__("itertools").accumulate(1 / (r + 1) ** ZIPF_S for r in range(len(VOCAB))))

TAGS = ["bread", "sourdough", "garden", "recipe", "question", "win", "fail", "photo", "ferment", "meta"]


@dataclass(frozen=True)
class PostPlan:
    kind: str  # "thread" or "reply"
    thread: int  # index (into the plan) of the thread's opening post
    title: str
    body: str
    tags: tuple[str, ...]


def _words(rng: random.Random, n: int) -> list[str]:
    return rng.choices(VOCAB, cum_weights=_CUM, k=n)


def _text(rng: random.Random, lo: int, hi: int) -> str:
    """Sentences of Zipf words, cut to a length drawn from [lo, hi] chars."""
    target = int(rng.triangular(lo, hi, lo + (hi - lo) * 0.3))
    out: list[str] = []
    size = 0
    while size < target:
        sentence = " ".join(_words(rng, rng.randint(5, 14)))
        sentence = sentence[0].upper() + sentence[1:] + rng.choice([".", ".", ".", "?", "!"])
        out.append(sentence)
        size += len(sentence) + 1
    return " ".join(out)[:target].rstrip()


def plan_posts(n: int, seed: int, thread_share: float = 0.1) -> list[PostPlan]:
    """n posts: ~thread_share of them open threads, the rest reply to one of the
    ~200 most recent threads (conversation clusters around recent threads).
    Bodies are 50-800 characters (mode ~260); titles 3-9 words; 0-3 tags."""
    rng = random.Random(seed)
    plan: list[PostPlan] = []
    threads: list[int] = []
    for i in range(n):
        if not threads or rng.random() < thread_share:
            title = " ".join(_words(rng, rng.randint(3, 9))).capitalize()
            tags = tuple(sorted(set(rng.sample(TAGS, rng.randint(0, 3)))))
            plan.append(PostPlan("thread", i, title, _text(rng, 50, 800), tags))
            threads.append(i)
        else:
            t = threads[-1 - min(int(rng.expovariate(1 / 30)), len(threads) - 1, 199)]
            plan.append(PostPlan("reply", t, "", _text(rng, 50, 800), ()))
    return plan


# --- building groups ------------------------------------------------------------------


# The view rows a fold writes for the workload's threads and replies, as a
# floor writes them: only the keys that make them addressable; "rowid" keeps
# the FTS link. (table: (schema, columns))
FLOOR_VIEW_TABLES = {
    "threads": (
        "id TEXT PRIMARY KEY, title TEXT, author TEXT, created_hlc INTEGER, last_activity_hlc INTEGER, replies INTEGER",
        "id, title, author, created_hlc, last_activity_hlc, replies",
    ),
    "posts": (
        "id TEXT PRIMARY KEY, thread_id TEXT, author TEXT, body TEXT, created_hlc INTEGER",
        "id, thread_id, author, body, created_hlc",
    ),
    "thread_tags": ("thread_id TEXT, tag TEXT, PRIMARY KEY (thread_id, tag)", "thread_id, tag"),
}
FLOOR_FTS = {"threads": "title", "posts": "body"}


def sign_backlog(
    founder: Group, identities: list[Identity], n: int, seed: int, pick: Callable[[], Identity]
) -> dict[str, list[Op]]:
    """plan_posts(n, seed) signed as ops: each post by the author `pick`
    names, chained per author from its head in the founder's log, HLCs in
    order from the founder's clock. Returns each author's chain."""
    heads = {ident.author_id: founder.store.head(ident.author_id) for ident in identities}
    chains: dict[str, list[Op]] = {ident.author_id: [] for ident in identities}
    ids: dict[int, str] = {}
    for i, p in enumerate(plan_posts(n, seed)):
        ident = pick()
        seq, prev = heads[ident.author_id]
        if p.kind == "thread":
            kind, payload = "thread.start", {"title": p.title, "body": p.body, "tags": list(p.tags)}
        else:
            kind, payload = "post.reply", {"thread": ids[p.thread], "body": p.body}
        op = sign_op(
            ident, group=founder.id, seq=seq + 1, prev=prev, hlc=founder.store.clock.tick(), kind=kind, payload=payload
        )
        heads[ident.author_id] = (op.seq, op.id)
        chains[ident.author_id].append(op)
        ids[i] = op.id
    return chains


def new_tmp_dir(label: str) -> Path:
    (BENCH_OUT / "tmp").mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=BENCH_OUT / "tmp"))


def found_group(root: Path) -> Group:
    """A fresh group (founder only) in its own home under root."""
    folder = root / "shared"
    folder.mkdir(parents=True, exist_ok=True)
    return Group.found(Home(root / "home"), "bench", "alice", Transport(folder=folder))


def sign_plan(group: Group, plan: list[PostPlan]) -> list[Op]:
    """Sign every planned post as the group's own member, chained after its head,
    with HLCs from the group's own clock: exactly the ops actions.post/reply make."""
    store = group.store
    seq, prev = store.head(group.me)
    ops: list[Op] = []
    ids: dict[int, str] = {}
    for i, p in enumerate(plan):
        if p.kind == "thread":
            kind, payload = "thread.start", {"title": p.title, "body": p.body, "tags": list(p.tags)}
        else:
            kind, payload = "post.reply", {"thread": ids[p.thread], "body": p.body}
        seq += 1
        op = sign_op(
            group.identity, group=group.id, seq=seq, prev=prev, hlc=store.clock.tick(), kind=kind, payload=payload
        )
        ops.append(op)
        ids[i] = op.id
        prev = op.id
    return ops


def checkpoint(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def cached_group(n: int, seed: int, *, fresh: bool = False, log: Callable[[str], None] = print) -> Path:
    """The home directory of an n-post group built from plan_posts(n, seed) via
    the batch op path (sign all, one Store.ingest). Cached under bench-out/;
    returns the cached group's directory (holding group.db, identity.pem)."""
    cache = cache_path(n, seed)
    done = cache / "READY"
    if done.exists() and not fresh:
        return group_dir(cache)
    if cache.exists():
        shutil.rmtree(cache)
    log(f"building the {n:,}-post group (seed {seed}) into {cache} ...")
    t0 = time.perf_counter()
    root = new_tmp_dir("build")
    group = found_group(root)
    ops = sign_plan(group, plan_posts(n, seed))
    group.store.ingest(ops)
    adopt_as_cache(group, root, n, seed, note=f"built in {time.perf_counter() - t0:.1f}s")
    log(f"  built in {time.perf_counter() - t0:.1f}s")
    return group_dir(cache)


def cache_path(n: int, seed: int) -> Path:
    return BENCH_OUT / f"group-n{n}-s{seed}-v{BUILDER_VERSION}"


def adopt_as_cache(group: Group, root: Path, n: int, seed: int, note: str = "") -> bool:
    """Keep a group built from plan_posts(n, seed) by the batch op path (root
    as made by new_tmp_dir + found_group) as the cache, if none is there yet.
    Closes the group. Returns whether it was adopted."""
    cache = cache_path(n, seed)
    checkpoint(group.conn)
    group.close()
    if (cache / "READY").exists():
        return False
    if cache.exists():
        shutil.rmtree(cache)
    shutil.move(str(root), str(cache))
    (cache / "READY").write_text(note + "\n")
    return True


def group_dir(root: Path) -> Path:
    (path,) = (root / "home" / "groups").iterdir()
    return path


def copy_group(src: Path, label: str) -> Path:
    """A private copy of a group directory, to run a destructive benchmark on."""
    dst = new_tmp_dir(label) / src.name
    shutil.copytree(src, dst)
    return dst


def open_store(group_path: Path) -> Store:
    return Store(group_path / DB_NAME)


# --- measuring and reporting ---------------------------------------------------------


@contextmanager
def timer() -> Iterator[list[float]]:
    box: list[float] = []
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - t0)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    if not s:
        return math.nan
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values)


# Set by `run_all.py --json`: every table a script prints is also appended
# there as one JSON line, so the figures, targets and verdicts come back as
# data without a second way of reporting them in each script.
RESULTS_ENV = "TABLESPACE_BENCH_RESULTS"


def table(headers: list[str], rows: list[list[str]]) -> str:
    results = os.environ.get(RESULTS_ENV)
    if results:
        with open(results, "a", encoding="utf-8") as out:
            out.write(json.dumps({"headers": headers, "rows": rows}) + "\n")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False)))

    return "\n".join([fmt(headers), line, *(fmt(r) for r in rows)])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def base_args(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--n", type=int, default=DEFAULT_N, help=f"posts in the workload (default {DEFAULT_N:,})")
    p.add_argument("--quick", action="store_true", help=f"smoke-check size: --n {QUICK_N:,}")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="workload seed (default 1)")
    p.add_argument("--profile", metavar="FILE", help="also write a cProfile of the op-path run to FILE (.pstats)")
    return p


def parse(p: argparse.ArgumentParser) -> argparse.Namespace:
    args = p.parse_args()
    if args.quick:
        args.n = QUICK_N
    return args


def header(title: str, args: argparse.Namespace) -> None:
    import platform

    print(
        f"== {title}: n={args.n:,} seed={args.seed}  (python {platform.python_version()}, "
        f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} cpus, TABLESPACE_NOW unset)"
    )
    sys.stdout.flush()


def cleanup_tmp(path: Path) -> None:
    """Remove a directory made by new_tmp_dir (path or its parent)."""
    tmp_root = BENCH_OUT / "tmp"
    while path.parent != tmp_root and path != path.parent:
        path = path.parent
    if path.parent == tmp_root:
        shutil.rmtree(path, ignore_errors=True)


# --- per-statement SQL timing (profiling aid) ------------------------------------------


class SqlTimes:
    """Total time and count per SQL statement text, for every connection opened
    while `sql_timing()` is active (trigger work counts against the statement
    that fired it; COMMIT shows up as its own statement)."""

    def __init__(self) -> None:
        self.stats: dict[str, list[float]] = {}

    def add(self, sql: str, secs: float) -> None:
        key = " ".join(sql.split())
        if key.startswith("SAVEPOINT") or key.startswith("RELEASE SAVEPOINT"):
            key = key.split()[0] + " (sqlite_utils nested atomic)"
        s = self.stats.setdefault(key, [0.0, 0])
        s[0] += secs
        s[1] += 1

    def report(self, top: int = 15, width: int = 110) -> str:
        total = sum(s[0] for s in self.stats.values())
        rows = sorted(self.stats.items(), key=lambda kv: -kv[1][0])[:top]
        lines = [f"SQL time {total:.2f}s over {sum(s[1] for s in self.stats.values()):,} statements; top {top}:"]
        for sql, (secs, count) in rows:
            lines.append(
                f"  {secs:7.2f}s {100 * secs / total:5.1f}% {count:8,}x  {secs / count * 1e6:8.0f}us  {sql[:width]}"
            )
        return "\n".join(lines)


@contextmanager
def sql_timing() -> Iterator[SqlTimes]:
    times = SqlTimes()
    perf = time.perf_counter

    class TimedConnection(sqlite3.Connection):
        def execute(self, sql, *args):  # type: ignore[override]
            t = perf()
            try:
                return super().execute(sql, *args)
            finally:
                times.add(sql, perf() - t)

        def executemany(self, sql, *args):  # type: ignore[override]
            t = perf()
            try:
                return super().executemany(sql, *args)
            finally:
                times.add(sql, perf() - t)

    real = sqlite3.connect

    def connect(*a, **kw):  # type: ignore[no-untyped-def]
        kw.setdefault("factory", TimedConnection)
        return real(*a, **kw)

    sqlite3.connect = connect  # type: ignore[assignment]
    try:
        yield times
    finally:
        sqlite3.connect = real  # type: ignore[assignment]
