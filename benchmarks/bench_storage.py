"""Bytes in the shared folder after a simulated busy year: 150 members, 50k posts.

The year (seeded): a founder adds 149 members (member.add); 50k posts are
plan_posts(N) (10% open threads, the rest reply; bodies 50-800 characters,
mean ~375) spread evenly over 365 days, each by a member picked with a Zipf
weight (a few members write most of it, as in real groups); each post gets
reactions (geometric, mean ~1; 40% get none) from other members within hours.
Every member's ops are signed into their own chain at their own times.

A smaller --n is a proportionally shorter year (same pace per member).

Exporting as members would: each member syncs on their own rhythm (30% every
hour, as with `sync --watch`; 30% every 6 hours; 30% daily; 10% weekly), and
each sync writes the ops made since the last one, in files of at most
EXPORT_CHUNK ops, through encode_changeset (zstd level 3, sealed, signed).
One join request and one key grant per member are added as well. 5% of
posts are edited by their author within the hour or so (the whole new text).

--n 100000 is two busy years. With --pack, each member's client packs as
sync/packing.py does after each of its syncs: the same planner (plan_packs)
and PackPolicy, removal of what a pack holds once the pack is `delay` old,
and only files listed before the round. It differs from the real path in
what does not change the folder's shape: files are written directly (no
SyncEngine, no SQLite homes), under one epoch key (no removals), the
removal does not open the pack and files to compare op ids. Each sync writes every op made in
its window: for an hourly member that is one file per action at this
pace, as `sync --watch` makes; a real member running one `sync` per action
would write more small files, which the same packing folds.

Figures: total bytes of the folder (sum of file sizes; the target), bytes per
post, the files' size and ops-per-file distribution, the compression ratio,
and (info) disk usage in blocks, which small files inflate.

Target (DESIGN section 7): storage for a simulated busy year < 35 MB of changesets.
Packed (--pack --n 100000): fewer than 3,000 files, under 70 MB, disk blocks
under 1.5x bytes.

Usage: python benchmarks/bench_storage.py [--n 50000] [--members 150] [--quick] [--seed 1] [--profile FILE]
       python benchmarks/bench_storage.py --pack --n 100000 [--delay-days 2] [--growth 4] [--min-files 16]
"""

from __future__ import annotations

import cProfile
import hashlib
import os
import pstats
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import QUICK_N, cleanup_tmp, header, new_tmp_dir, plan_posts, table, verdict  # noqa: E402

from tablespace.actions import found_group  # noqa: E402
from tablespace.core.clock import datetime_to_hlc  # noqa: E402
from tablespace.core.group import Transport  # noqa: E402
from tablespace.core.home import Home  # noqa: E402
from tablespace.core.identity import Identity  # noqa: E402
from tablespace.core.ops import Op, sign_op  # noqa: E402
from tablespace.sync.engine import EXPORT_CHUNK  # noqa: E402
from tablespace.sync.envelope import encode_changeset  # noqa: E402
from tablespace.sync.keyring import Keyring  # noqa: E402
from tablespace.sync.keys import ExchangeKey  # noqa: E402
from tablespace.sync.membership import encode_grant, encode_request, grant_path, request_path  # noqa: E402
from tablespace.sync.packing import PACK_PREFIX, OurFile, PackPolicy, plan_packs  # noqa: E402

DEFAULT_POSTS = 50_000
DEFAULT_MEMBERS = 150
TARGET_BYTES = 35_000_000
TARGET_POSTS = 50_000
# Packed (--pack), two busy years (--n 100000): the folder's files, bytes, and
# disk blocks over bytes at the end.
PACKED_POSTS = 100_000
PACKED_MAX_FILES = 3_000
PACKED_MAX_BYTES = 70_000_000
PACKED_MAX_BLOCKS = 1.5
EMOJI = ["👍", "❤️", "🎉", "🔥", "🙏", "🍞", "😂", "👀"]
# Share of posts their author edits, within the hour or so.
EDITED = 0.05
# (share of members, sync period)
RHYTHMS = [(0.3, timedelta(hours=1)), (0.3, timedelta(hours=6)), (0.3, timedelta(days=1)), (0.1, timedelta(days=7))]


def current_key(path: Path) -> tuple[int, bytes]:
    epochs = Keyring.load(path).epochs
    epoch = max(epochs)
    held = epochs[epoch]
    return epoch, held if isinstance(held, bytes) else held[0]


def simulate(root: Path, n: int, members: int, seed: int, policy: PackPolicy | None = None) -> dict:
    """The folder after the simulated time; `policy`: members pack as
    sync/packing.py does, with it (None: nobody packs)."""
    rng = random.Random(seed)
    folder = root / "shared"
    folder.mkdir()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    os.environ["TABLESPACE_NOW"] = start.isoformat()  # the group is founded on the first day
    try:
        founder = found_group(Home(root / "founder"), "busy year", "founder", Transport(folder=folder))
        people = [Identity.generate() for _ in range(members - 1)]
        exchange = [ExchangeKey.generate() for _ in people]
        for i, ident in enumerate(people):
            founder.write(
                "member.add",
                {
                    "member": ident.author_id,
                    "name": f"Member {i:03d}",
                    "public_key": ident.public_key.hex(),
                    "exchange_key": exchange[i].public_key.hex(),
                },
            )
    finally:
        os.environ.pop("TABLESPACE_NOW", None)
    group_id = founder.id
    founder_ops = founder.store.all_ops()  # genesis + the member.adds, already signed
    epoch, key = current_key(founder.path)
    founder_identity = founder.identity
    founder.close()
    identities = [founder_identity, *people]
    weights = [1 / (rank + 1) ** 0.8 for rank in range(members)]
    rng.shuffle(weights)

    # Events: (time, author index, kind, payload builder).
    year = timedelta(days=365) * n / TARGET_POSTS  # a smaller --n is a shorter year at the same pace
    plan = plan_posts(n, seed)
    times = sorted(start + timedelta(hours=2) + year * rng.random() for _ in plan)
    events: list[tuple[datetime, int, str, object]] = []
    for i, (_p, at) in enumerate(zip(plan, times, strict=False)):
        who = rng.choices(range(members), weights)[0]
        events.append((at, who, "post", i))
        k = 0 if rng.random() < 0.4 else min(1 + int(rng.expovariate(1 / 1.2)), 8)
        for fan in rng.sample(range(members), k + 1)[:k]:
            if fan != who:
                events.append((at + timedelta(minutes=rng.expovariate(1 / 240)), fan, "react", i))
        if rng.random() < EDITED:
            events.append((at + timedelta(minutes=rng.expovariate(1 / 60)), who, "edit", i))
    events.sort(key=lambda e: (e[0], e[1]))

    chains: dict[int, list[tuple[datetime, Op]]] = {i: [] for i in range(members)}
    heads: dict[int, tuple[int, str | None]] = {i: (0, None) for i in range(members)}
    heads[0] = (founder_ops[-1].seq, founder_ops[-1].id)
    post_ids: dict[int, str] = {}
    t0 = time.perf_counter()
    for at, who, what, i in events:
        p = plan[i]  # type: ignore[index]
        if what == "post":
            if p.kind == "thread":
                kind, payload = "thread.start", {"title": p.title, "body": p.body, "tags": list(p.tags)}
            else:
                kind, payload = "post.reply", {"thread": post_ids[p.thread], "body": p.body}
        elif what == "edit":  # the whole new text, as actions.content.edit sends it
            kind, payload = "post.edit", {"post": post_ids[i], "body": p.body + " (edited)"}  # type: ignore[index]
        else:
            kind, payload = "post.react", {"post": post_ids[i], "emoji": rng.choice(EMOJI)}  # type: ignore[index]
        seq, prev = heads[who]
        op = sign_op(
            identities[who],
            group=group_id,
            seq=seq + 1,
            prev=prev,
            hlc=datetime_to_hlc(at) + seq + 1,
            kind=kind,
            payload=payload,
        )
        heads[who] = (op.seq, op.id)
        chains[who].append((at, op))
        if what == "post":
            post_ids[i] = op.id  # type: ignore[index]
    sign_secs = time.perf_counter() - t0

    # Export: each member's ops, one sync per rhythm window, files of <= EXPORT_CHUNK ops.
    t0 = time.perf_counter()
    sizes: list[int] = []
    per_file: list[int] = []
    plain_bytes = 0
    changes = folder / group_id

    def write(ops: list[Op], ident: Identity, prefix: str = "") -> list[Path]:
        nonlocal plain_bytes
        paths = []
        for s in range(0, len(ops), EXPORT_CHUNK if not prefix else policy.max_ops):
            part = ops[s : s + (EXPORT_CHUNK if not prefix else policy.max_ops)]
            data = encode_changeset(part, group_id=group_id, epoch=epoch, epoch_key=key, identity=ident)
            # changeset_name(peek_header(data)) without re-verifying the signature
            path = (
                changes
                / "changes"
                / ident.author_id
                / (f"{prefix}{part[0].seq:08d}-{part[-1].seq:08d}-{hashlib.sha256(data).hexdigest()[:16]}.tsc")
            )
            paths.append(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            sizes.append(len(data))
            per_file.append(len(part))
            plain_bytes += sum(4 + len(op.to_wire()) for op in part)
        return paths

    pack = policy is not None
    policy = policy or PackPolicy()

    def pack_round(who: int, at: datetime, live: dict[Path, OurFile], pending: list, listed: set[Path]) -> None:
        """What a member's client does at the end of a round (sync/packing.py):
        remove what packs old enough hold, then pack what is due."""
        for entry in list(pending):
            if at - entry[0] >= policy.delay:
                for path in entry[1]:
                    path.unlink(missing_ok=True)
                    live.pop(path, None)
                pending.remove(entry)
        held = {p for entry in pending for p in entry[1]}
        candidates = [f for p, f in live.items() if p in listed and p not in held]
        for chosen in plan_packs(candidates, policy, at):
            first, last = chosen[0].first, chosen[-1].last
            ops = [by_seq[who][q] for q in range(first, last + 1)]
            for path in write(ops, identities[who], PACK_PREFIX):
                lo, hi = [int(x) for x in path.name.removeprefix(PACK_PREFIX).split("-")[:2]]
                live[path] = OurFile(str(path), lo, hi, chosen[-1].newest)
                covers = [p for p, f in live.items() if lo <= f.first and f.last <= hi and p != path]
                pending.append((at, covers))

    by_seq = {who: {op.seq: op for _, op in chain} for who, chain in chains.items()}
    by_seq[0].update({op.seq: op for op in founder_ops})

    write([op for op in founder_ops], founder_identity)  # the founder's first sync
    for who in range(members):
        share = rng.random()
        for weight, period in RHYTHMS:  # noqa: B007 - the loop picks the rhythm used below
            share -= weight
            if share <= 0:
                break
        offset = timedelta(seconds=rng.uniform(0, period.total_seconds()))
        batch: list[Op] = []
        window = None
        live: dict[Path, OurFile] = {}
        pending: list = []

        def sync_round(ops: list[Op], at: datetime, who: int = who, live: dict = live, pending: list = pending) -> None:
            listed = set(live)
            for path in write(ops, identities[who]):
                live[path] = OurFile(str(path), ops[0].seq, ops[-1].seq, at)
            if pack:
                pack_round(who, at, live, pending, listed)

        last_at = start
        for at, op in chains[who]:
            w = (at - start + offset) // period
            if window is not None and w != window and batch:
                sync_round(batch, last_at)
                batch = []
            window = w
            batch.append(op)
            last_at = at
        if batch:
            sync_round(batch, last_at)
    export_secs = time.perf_counter() - t0

    # Membership files: one join request and one key grant per member.
    member_bytes = 0
    for i, ident in enumerate(people):
        request = encode_request(
            ident,
            exchange[i].public_key,
            f"Member {i:03d}",
            group_id=group_id,
            secret=os.urandom(16),
            created_at="2025-01-01T00:00:00Z",
        )
        grant = encode_grant(
            founder_identity,
            group_id=group_id,
            member=ident.author_id,
            member_exchange=exchange[i].public_key,
            keys=[(epoch, key)],
        )
        for rel, data in ((request_path(request), request), (grant_path(ident.author_id, grant), grant)):
            path = changes / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            member_bytes += len(data)

    total = disk = count = pack_files = small_files = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            count += 1
            if name.endswith(".tsc"):
                pack_files += name.startswith(PACK_PREFIX)
                small_files += not name.startswith(PACK_PREFIX)
            st = os.stat(os.path.join(dirpath, name))
            total += st.st_size
            disk += st.st_blocks * 512
    ops_total = sum(len(c) for c in chains.values()) + len(founder_ops)
    reactions = sum(1 for e in events if e[2] == "react")
    edits = sum(1 for e in events if e[2] == "edit")
    return dict(
        total=total,
        disk=disk,
        count=count,
        pack_files=pack_files,
        small_files=small_files,
        changesets=sum(sizes),
        files=len(sizes),
        sizes=sizes,
        per_file=per_file,
        plain=plain_bytes,
        member_bytes=member_bytes,
        ops=ops_total,
        posts=n,
        reactions=reactions,
        edits=edits,
        bodies=sum(len(p.body.encode()) + len(p.title.encode()) for p in plan),
        sign_secs=sign_secs,
        export_secs=export_secs,
    )


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=DEFAULT_POSTS, help=f"posts in the year (default {DEFAULT_POSTS:,})")
    p.add_argument("--members", type=int, default=DEFAULT_MEMBERS)
    p.add_argument("--quick", action="store_true", help=f"smoke-check size: --n {QUICK_N:,}")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--pack", action="store_true", help="members pack their history as sync/packing.py does")
    defaults = PackPolicy()
    p.add_argument("--min-files", type=int, default=defaults.min_files, help="PackPolicy.min_files (with --pack)")
    p.add_argument(
        "--pack-after-hours", type=float, default=defaults.pack_after / timedelta(hours=1), help="PackPolicy.pack_after"
    )
    p.add_argument("--delay-days", type=float, default=defaults.delay / timedelta(days=1), help="PackPolicy.delay")
    p.add_argument("--growth", type=int, default=defaults.growth, help="PackPolicy.growth")
    p.add_argument("--profile", metavar="FILE", help="cProfile the simulation; writes FILE-storage.pstats")
    args = p.parse_args()
    if args.quick:
        args.n = QUICK_N
    header("bench_storage", args)
    root = new_tmp_dir("storage")
    prof = cProfile.Profile() if args.profile else None
    try:
        if prof:
            prof.enable()
        policy = PackPolicy(
            min_files=args.min_files,
            pack_after=timedelta(hours=args.pack_after_hours),
            delay=timedelta(days=args.delay_days),
            growth=args.growth,
        )
        r = simulate(root, args.n, args.members, args.seed, policy if args.pack else None)
        if prof:
            prof.disable()
            prof.dump_stats(args.profile + "-storage.pstats")
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    finally:
        cleanup_tmp(root)
    target = TARGET_BYTES * args.n / TARGET_POSTS
    ok = r["total"] < target
    sizes, per_file = r["sizes"], r["per_file"]
    print(
        f"\n  {r['posts']:,} posts + {r['reactions']:,} reactions + {r['edits']:,} edits + membership = {r['ops']:,} ops by "
        f"{args.members} members; signed in {r['sign_secs']:.1f}s, exported in {r['export_secs']:.1f}s"
    )
    print(
        f"  ops per file: median {statistics.median(per_file):g}, mean {statistics.mean(per_file):.1f}, "
        f"max {max(per_file)}; file size: median {statistics.median(sizes):,.0f} B, "
        f"mean {statistics.mean(sizes):,.0f} B, max {max(sizes):,} B\n"
    )
    mb = lambda b: f"{b / 1e6:.1f} MB"  # noqa: E731
    print(
        table(
            ["figure", "value", "per post", "target", "result"],
            [
                [
                    "folder: total bytes (all files)",
                    mb(r["total"]),
                    f"{r['total'] / r['posts']:.0f} B",
                    f"< {mb(target)}" + ("" if args.n == TARGET_POSTS else " (scaled)"),
                    verdict(ok),
                ],
                [
                    f"  changesets ({r['files']:,} files)",
                    mb(r["changesets"]),
                    f"{r['changesets'] / r['posts']:.0f} B",
                    "",
                    "",
                ],
                [f"  join requests + key grants ({2 * (args.members - 1)} files)", mb(r["member_bytes"]), "", "", ""],
                ["ops framed, before compression", mb(r["plain"]), f"{r['plain'] / r['posts']:.0f} B", "", ""],
                ["  compression (framed / changeset bytes)", f"{r['plain'] / r['changesets']:.2f}x", "", "", ""],
                ["post titles + bodies, raw UTF-8", mb(r["bodies"]), f"{r['bodies'] / r['posts']:.0f} B", "", ""],
                ["disk usage in blocks (info)", mb(r["disk"]), f"{r['disk'] / r['posts']:.0f} B", "", "info"],
                ["files in the folder at the end (info)", f"{r['count']:,}", "", "", "info"],
                ["  packs / small changesets", f"{r['pack_files']:,} / {r['small_files']:,}", "", "", ""],
            ],
        )
    )
    if args.pack and args.n == PACKED_POSTS and args.members == DEFAULT_MEMBERS:
        packed = [
            [
                "files in the folder",
                f"{r['count']:,}",
                f"< {PACKED_MAX_FILES:,}",
                verdict(r["count"] < PACKED_MAX_FILES),
            ],
            [
                "bytes in the folder",
                mb(r["total"]),
                f"< {mb(PACKED_MAX_BYTES)}",
                verdict(r["total"] < PACKED_MAX_BYTES),
            ],
            [
                "disk blocks / bytes",
                f"{r['disk'] / r['total']:.2f}x",
                f"< {PACKED_MAX_BLOCKS}x",
                verdict(r["disk"] < PACKED_MAX_BLOCKS * r["total"]),
            ],
        ]
        print("\n  packed, two busy years:\n" + table(["figure", "value", "target", "result"], packed))
        ok = ok and all(row[-1] == verdict(True) for row in packed)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
