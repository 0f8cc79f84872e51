"""First sync of a new member into the two-year group, its floor, and Yrs beside it.

The folder is the one _twoyear.py builds through the real action and sync
path (150 members, one action and one sync at a time, packed as members'
clients pack; see its docstring for exactly what is real). The newcomer was
admitted at the end of the two years and holds the group key.

Figures, each over --runs runs (median, min-max):
  first sync  a fresh copy of the newcomer's home, then `SyncEngine.run()`
              (the real `tablespace sync`: grants, listing, read, verify,
              decrypt, decompress, parse, Store.ingest with the fold and FTS,
              bookkeeping) in a subprocess: wall and CPU time of the round,
              and the subprocess's peak RSS (ru_maxrss, interpreter included).
              CPU time is the steadier figure on a machine shared with other
              work: the ratio is given for both.
  floor       what any import of these files must do: ChaCha20-Poly1305
              decryption of the same bytes (every changeset in the folder,
              already in memory), plus inserting the same rows the first sync
              wrote (ops, threads, posts, tags, reactions, and the same text
              into FTS5 with the same tokenizer) in one transaction with the
              same page size and journal. No signature checks, no parsing, no
              fold logic: a floor, not a rival design.
  Yrs         the same actions (every post, reaction and edit, from the same
              authors: one pycrdt Doc per author) encoded beforehand as one
              update per action; timed: a fresh Doc applying them all in order.
              Threads are a Map of titles and an Array of posts per thread;
              reactions a Map per post. No signing, encryption, SQL or search.

Targets (issue: scale): first sync < 15 s and < 400 MB peak RSS, <= 2.5x the
floor, <= 3x Yrs. Timed at full size (--n 100000) only; smaller n prints the
same ratios for comparison.

--src DIR (repeatable) runs the first sync of each tree's src/ in turn within
every run, against the same floor: before and after a change, in one run.

Usage: python benchmarks/bench_first_sync.py [--n 100000] [--quick] [--seed 1] [--runs 5] [--rebuild] [--src DIR]...
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _twoyear  # noqa: E402
from _common import FLOOR_FTS, FLOOR_VIEW_TABLES, cleanup_tmp, header, new_tmp_dir, table, verdict  # noqa: E402

from tablespace.core.store import PAGE_BYTES  # noqa: E402
from tablespace.sync.engine import ROLLBACK_JOURNAL_BYTES  # noqa: E402
from tablespace.sync.envelope import decrypt_body  # noqa: E402
from tablespace.sync.keyring import Keyring  # noqa: E402

MAX_SECS = 15.0
MAX_RSS_MB = 400.0
MAX_FLOOR_RATIO = 2.5
MAX_YRS_RATIO = 3.0
FULL_N = _twoyear.FULL_N

# The rows the first sync writes, with only the keys that make them addressable.
TABLES = {
    "ops": (
        "id TEXT PRIMARY KEY, author TEXT NOT NULL, seq INTEGER NOT NULL, prev TEXT, hlc INTEGER NOT NULL, "
        "kind TEXT NOT NULL, signature BLOB NOT NULL, body BLOB NOT NULL, UNIQUE (author, seq)",
        "id, author, seq, prev, hlc, kind, signature, body",
    ),
    **FLOOR_VIEW_TABLES,
    "reactions": (
        "post_id TEXT, author TEXT, emoji TEXT, hlc INTEGER, PRIMARY KEY (post_id, author, emoji)",
        "post_id, author, emoji, hlc",
    ),
}
FTS = FLOOR_FTS


def child(home: str) -> int:
    """In the subprocess: the newcomer's first sync; prints its figures as JSON."""
    os.environ.pop("TABLESPACE_NOW", None)
    from tablespace.core.group import Group
    from tablespace.core.home import Home
    from tablespace.sync.service import engine_for

    group = Group.open(Home(Path(home)))
    engine = engine_for(group)
    t0, c0 = time.perf_counter(), time.process_time()
    report = engine.run()
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    group.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    figures = {"secs": secs, "cpu": cpu, "rss_mb": rss, "imported": report.imported, "pending": report.pending}
    print(json.dumps(figures))
    return 0


def first_sync(cache: Path, work: Path, src: Path | None) -> dict[str, float]:
    home = _twoyear.newcomer_copy(cache, work / f"newcomer-{time.perf_counter_ns()}")
    settle()
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(home)], capture_output=True, text=True, check=True, env=env
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["home"] = str(home)
    return result


def settle() -> None:
    os.sync()


def read_rows(db: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"SELECT {cols} FROM {t}").fetchall() for t, (_, cols) in TABLES.items()}
    finally:
        conn.close()


def floor(
    work: Path, rows: dict[str, list[tuple]], files: list[bytes], key: bytes, journal: bool
) -> tuple[float, float]:
    """Wall and CPU seconds to decrypt `files` and insert `rows` (+ FTS) in one transaction."""
    db = work / f"floor-{time.perf_counter_ns()}.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA page_size = {PAGE_BYTES}")
    conn.execute(f"PRAGMA journal_mode = {'DELETE' if journal else 'WAL'}")
    conn.execute(f"PRAGMA synchronous = {'FULL' if journal else 'NORMAL'}")
    for name, (schema, _) in TABLES.items():
        conn.execute(f"CREATE TABLE {name} ({schema})")
    for name, column in FTS.items():
        conn.execute(
            f"CREATE VIRTUAL TABLE {name}_fts USING fts5({column}, content='{name}', "
            "content_rowid='rowid', tokenize='porter unicode61')"
        )
    settle()
    t0, c0 = time.perf_counter(), time.process_time()
    for data in files:
        decrypt_body(data, key)  # one epoch: nobody left the group
    conn.execute("BEGIN")
    for name, (_, columns) in TABLES.items():
        marks = ", ".join("?" for _ in columns.split(","))
        conn.executemany(f"INSERT INTO {name} ({columns}) VALUES ({marks})", rows[name])
    for name, column in FTS.items():
        conn.execute(f"INSERT INTO {name}_fts (rowid, {column}) SELECT rowid, {column} FROM {name}")
    conn.execute("COMMIT")
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    conn.close()
    for p in work.glob(db.name + "*"):
        p.unlink()
    return secs, cpu


def yrs_updates(actions_file: Path) -> tuple[list[bytes], int] | None:
    """Every action as one pycrdt update from its author's Doc; None without pycrdt."""
    try:
        from pycrdt import Array, Doc, Map
    except ImportError:
        return None
    docs: dict[int, Doc] = {}
    updates: list[bytes] = []
    posts = 0
    with actions_file.open() as f:
        for line in f:
            a = json.loads(line)
            doc = docs.get(a["by"])
            if doc is None:
                doc = docs[a["by"]] = Doc(client_id=a["by"] + 1)
            before = doc.get_state()
            with doc.transaction():
                if a["what"] == "post":
                    posts += 1
                    thread = a["id"] if a["kind"] == "thread" else a["thread"]
                    if a["kind"] == "thread":
                        doc.get("titles", type=Map)[thread] = a["title"]
                    doc.get(f"thread:{thread}", type=Array).append(
                        Map({"id": a["id"], "author": a["by"], "body": a["body"]})
                    )
                elif a["what"] == "react":
                    doc.get(f"reactions:{a['post']}", type=Map)[f"{a['by']}:{a['emoji']}"] = True
                else:
                    doc.get("edits", type=Map)[a["post"]] = a["body"]
            updates.append(doc.get_update(before))
    return updates, posts


def yrs_apply(updates: list[bytes]) -> float:
    from pycrdt import Doc

    doc = Doc()
    settle()
    t0 = time.perf_counter()
    for u in updates:
        doc.apply_update(u)
    return time.perf_counter() - t0


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def tree_rows(
    results: list[dict[str, float]],
    floors: list[tuple[float, float]],
    yrs: list[float],
    actions: int,
    scaled: str,
    tree: str,
) -> list[list[str]]:
    """One tree's figures, each run against the floor (and Yrs) of the same run."""
    secs = [r["secs"] for r in results]
    cpu = [r["cpu"] for r in results]
    rss = [r["rss_mb"] for r in results]
    ratio = [s / f[0] for s, f in zip(secs, floors, strict=True)]
    cpu_ratio = [c / f[1] for c, f in zip(cpu, floors, strict=True)]
    rows = [
        [
            f"first sync, {actions:,} actions{tree}",
            spread(secs) + " s",
            f"< {MAX_SECS:g} s{scaled}",
            verdict(statistics.median(secs) < MAX_SECS),
        ],
        ["  CPU", spread(cpu) + " s", "", ""],
        [
            "  peak RSS (subprocess)",
            spread(rss, "{:.0f}") + " MB",
            f"< {MAX_RSS_MB:g} MB",
            verdict(max(rss) < MAX_RSS_MB),
        ],
        [
            "  first sync / floor (per run)",
            spread(ratio) + "x",
            f"<= {MAX_FLOOR_RATIO:g}x",
            verdict(statistics.median(ratio) <= MAX_FLOOR_RATIO),
        ],
        ["  CPU / floor CPU (per run)", spread(cpu_ratio) + "x", "", ""],
    ]
    if yrs:
        yrs_ratio = [s / y for s, y in zip(secs, yrs, strict=True)]
        rows.append(
            [
                "  first sync / Yrs (per run)",
                spread(yrs_ratio) + "x",
                f"<= {MAX_YRS_RATIO:g}x",
                verdict(statistics.median(yrs_ratio) <= MAX_YRS_RATIO),
            ]
        )
    return rows


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=FULL_N, help=f"posts over the two years (default {FULL_N:,})")
    p.add_argument("--quick", action="store_true", help="smoke-check size: --n 1000")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--rebuild", action="store_true", help="build the folder again even if cached")
    p.add_argument(
        "--src",
        type=Path,
        action="append",
        help="the src/ directory of a tree to sync with (repeat to compare trees in one run; default this tree's)",
    )
    p.add_argument("--child", metavar="HOME", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.child)
    if args.quick:
        args.n = 1000
    header("bench_first_sync", args)
    cache = _twoyear.build(args.n, args.seed, fresh=args.rebuild)
    meta = json.loads((cache / "meta.json").read_text())
    folder = cache / "shared"
    stats = _twoyear.folder_stats(folder)
    print(
        f"  folder: {stats['files']:,} files ({stats['packs']:,} packs, {stats['small']:,} small changesets), "
        f"{stats['bytes'] / 1e6:.1f} MB, {stats['disk'] / 1e6:.1f} MB of disk blocks; "
        f"{meta['actions']:,} actions by {meta['members']} members (built in {meta['build_secs']:.0f}s)"
    )
    work = new_tmp_dir("first-sync")
    try:
        files = [path.read_bytes() for path in sorted(folder.rglob("*.tsc"))]
        size = sum(len(f) for f in files)
        journal = size > ROLLBACK_JOURNAL_BYTES
        trees: list[Path | None] = [src.resolve() for src in args.src] if args.src else [None]
        syncs: dict[Path | None, list[dict[str, float]]] = {tree: [] for tree in trees}
        floors: list[tuple[float, float]] = []
        yrs: list[float] = []
        prepared = yrs_updates(cache / "actions.jsonl")
        rows = None
        key = b""
        for run in range(args.runs):
            for tree in trees:
                result = first_sync(cache, work, tree)
                syncs[tree].append(result)
                home = Path(result["home"])
                if rows is None:
                    group_db = next(home.glob("groups/*/" + _twoyear.DB_NAME))
                    rows = read_rows(group_db)
                    key = max(Keyring.load(group_db.parent).keys, key=lambda k: k.epoch).key
                    conn = sqlite3.connect(group_db)
                    converged = _twoyear.posts_digest(conn) == meta["reader_posts"]
                    held = _twoyear.ops_digest(conn)
                    conn.close()
                shutil.rmtree(home)
            floors.append(floor(work, rows, files, key, journal))
            if prepared is not None:
                yrs.append(yrs_apply(prepared[0]))
            print(
                f"  run {run + 1}: first sync "
                + ", ".join(f"{syncs[t][-1]['secs']:.2f}s ({syncs[t][-1]['cpu']:.2f}s CPU)" for t in trees)
                + f", {syncs[trees[-1]][-1]['rss_mb']:.0f} MB; floor {floors[-1][0]:.2f}s ({floors[-1][1]:.2f}s CPU)"
                + (f"; Yrs {yrs[-1]:.2f}s" if yrs else ""),
                flush=True,
            )
    finally:
        cleanup_tmp(work)
    full = args.n == FULL_N
    scaled = "" if full else " (info: not full size)"
    floor_secs = [f[0] for f in floors]
    floor_cpu = [f[1] for f in floors]
    complete = all(r["pending"] == 0 for runs in syncs.values() for r in runs) and (
        held["count"] >= meta["writers_ops"]["count"]
    )
    rows_out = [
        [
            f"floor: decrypt {len(files):,} files ({size / 1e6:.1f} MB) + insert {sum(len(v) for v in rows.values()):,} rows + FTS",
            spread(floor_secs) + " s",
            "",
            "",
        ],
        ["  floor, CPU", spread(floor_cpu) + " s", "", ""],
    ]
    for tree, results in syncs.items():
        rows_out += tree_rows(results, floors, yrs, meta["actions"], scaled, f" ({tree})" if tree else "")
    rows_out.append(
        [
            "converged with the writers (a reader's posts, every op)",
            "yes" if converged and complete else "NO",
            "",
            verdict(converged and complete),
        ]
    )
    if yrs:
        rows_out.append(
            [f"Yrs (pycrdt): apply {len(prepared[0]):,} updates, one per action", spread(yrs) + " s", "", ""]
        )
    else:
        print("  Yrs: skipped, pycrdt is not installed (pip install -e '.[bench]')")
    print(f"\n  load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {args.runs} runs, median (min-max)\n")
    print(table(["figure", "value", "target", "result"], rows_out))
    ok = all(r[-1] != verdict(False) for r in rows_out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
