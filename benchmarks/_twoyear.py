"""The realistic two-year folder, built through the real action and sync path.

A group of 150 members, each with a real home (its own SQLite file, identity
and keyring): the founder founds it with `actions.found_group`, creates one
invite, and admits everyone else's join request (`actions.join_group`,
`actions.admit`); each member's first `SyncEngine.run()` takes in the key.
Then two simulated years (TABLESPACE_NOW moves forward event by event):
plan_posts(n) threads and replies, each post by a member drawn with a Zipf
weight, reactions from other members within hours, 5% of posts edited by
their author within the hour. Every event is one call of `tablespace.actions`
(`post`, `reply`, `react`, `edit`) in the acting member's home, followed by
that member's sync round: `SyncEngine.export` (encode, seal, sign,
write_once, record) and `Packer.run` (plan, write packs, remove what packs
older than the delay hold), the same two steps `SyncEngine.run` takes. So
every file in the folder was written, and every small file removed, by the
real export and packing code, one action and one sync at a time.

What is not as in life, to keep the build tractable (it builds in
/dev/shm, and os.fsync is a no-op meanwhile: the files and bytes are the same) (150 full replicas
importing each other would be 15M op imports and 150 copies of the group):

- A writer's round lists only the member's own directory (the listing the
  export and the packer are given holds the member's own files, kept current
  by them), not the whole folder; the import step is skipped except below.
- READERS (3) of the most active members import for real: their round is the
  whole `SyncEngine.run()` (listing, import, export, packing) once a
  simulated day. The other members import only at joining.
- So a member replies to and reacts on what its home holds: a reader, what
  it imported; anyone else, their own threads and posts. A planned reply to
  a thread the member does not hold goes to their newest own thread (a new
  thread if they have none); a reaction to their newest own post (none if
  they have none). Op counts, op sizes, who writes when, and so the files,
  their sizes and the packs are as planned; only which thread a reply or
  reaction points at changes. Every such change is counted in meta.json.

At the end the founder admits one more member, the *newcomer*, whose home is
kept as it is before its first sync: bench_first_sync imports the folder
into copies of it. The cache (bench-out/twoyear-n<n>-s<seed>-v<V>/) holds
`shared/` (the folder), `newcomer/` (the home), `actions.jsonl` (every action
as performed: for the Yrs peer) and `meta.json` (counts and the convergence
digests: the op ids all writers wrote, and a reader's folded posts after a
last full sync).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import BENCH_OUT, new_tmp_dir, plan_posts

from tablespace import actions
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group, Transport
from tablespace.core.home import DB_NAME, Home
from tablespace.sync.engine import SyncEngine
from tablespace.sync.folder import FolderFile, FolderStore
from tablespace.sync.keyring import Keyring
from tablespace.sync.packing import Packer

VERSION = 1
MEMBERS = 150
READERS = 3
READER_PERIOD = timedelta(days=1)
YEARS = 2
FULL_N = 100_000  # posts in two busy years; a smaller n is a shorter time at the same pace
EDITED = 0.05
EMOJI = ["👍", "❤️", "🎉", "🔥", "🙏", "🍞", "😂", "👀"]
START = datetime(2025, 1, 1, tzinfo=UTC)


def cache_dir(n: int, seed: int, members: int = MEMBERS) -> Path:
    more = "" if members == MEMBERS else f"-m{members}"
    return BENCH_OUT / f"twoyear-n{n}-s{seed}{more}-v{VERSION}"


def set_now(at: datetime) -> None:
    os.environ["TABLESPACE_NOW"] = at.isoformat()


@dataclass
class Member:
    index: int
    group: Group
    engine: SyncEngine
    listing: dict[str, FolderFile] = field(default_factory=dict)  # our own files, as the export and packer keep it
    threads: list[str] = field(default_factory=list)  # our own threads, newest last
    posts: list[str] = field(default_factory=list)  # our own posts, newest last
    last_full: datetime | None = None

    @property
    def me(self) -> str:
        return self.group.me

    def own_round(self) -> None:
        """The export and packing steps of SyncEngine.run, on our own files."""
        listed = set(self.listing)
        self.engine.export(self.listing)
        Packer(self.group, self.engine.folder, self.engine.keyring, self.engine.packing).run(self.listing, listed)

    def full_round(self, at: datetime) -> None:
        """The whole real round: list the folder, import, export, pack."""
        self.engine.run()
        mine = f"changes/{self.me}/"
        self.listing = {f.path: f for f in self.engine.folder.list() if f.path.startswith(mine)}
        self.last_full = at


def _engine(group: Group, folder: Path) -> SyncEngine:
    return SyncEngine(group, FolderStore(folder, group.id), Keyring.load(group.path))


def _events(
    n: int, seed: int, weights: list[float], members: int
) -> tuple[list[tuple[datetime, int, str, int]], list[Any]]:
    """(time, member, what, plan index), by time, and the plan."""
    rng = random.Random(seed)
    plan = plan_posts(n, seed)
    span = timedelta(days=365 * YEARS) * n / FULL_N
    times = sorted(START + timedelta(hours=2) + span * rng.random() for _ in plan)
    events: list[tuple[datetime, int, str, int]] = []
    for i, at in enumerate(times):
        who = rng.choices(range(members), weights)[0]
        events.append((at, who, "post", i))
        k = 0 if rng.random() < 0.4 else min(1 + int(rng.expovariate(1 / 1.2)), 8)
        for fan in rng.sample(range(members), min(k + 1, members))[:k]:
            if fan != who:
                events.append((at + timedelta(minutes=rng.expovariate(1 / 240)), fan, "react", i))
        if rng.random() < EDITED:
            events.append((at + timedelta(minutes=rng.expovariate(1 / 60)), who, "edit", i))
    events.sort(key=lambda e: (e[0], e[1], e[2], e[3]))
    return events, plan


def build(
    n: int, seed: int, *, members: int = MEMBERS, log: Callable[[str], None] = print, fresh: bool = False
) -> Path:
    """The cached two-year folder for (n, seed, members); built if missing."""
    cache = cache_dir(n, seed, members)
    if (cache / "meta.json").exists() and not fresh:
        return cache
    if cache.exists():
        shutil.rmtree(cache)
    root = _build_root()
    t0 = time.perf_counter()
    synced = os.fsync
    os.fsync = _no_fsync  # the same files and bytes; the build only skips waiting for the disk
    try:
        meta = _build(root, n, seed, members, log)
        meta["build_secs"] = round(time.perf_counter() - t0, 1)
        keep = root / "keep"
        keep.mkdir()
        for name in ("shared", "newcomer", "actions.jsonl"):
            shutil.move(str(root / name), str(keep / name))
        (keep / "meta.json").write_text(json.dumps(meta, indent=1))
        shutil.move(str(keep), str(cache))
    finally:
        os.fsync = synced
        shutil.rmtree(root, ignore_errors=True)
        os.environ.pop("TABLESPACE_NOW", None)
    log(f"  built the two-year folder in {time.perf_counter() - t0:.0f}s: {cache}")
    return cache


def _build_root() -> Path:
    """Under /dev/shm where there is one (memory: the same files, without the
    disk's latency on every small write and unlink), else under bench-out/."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="tablespace-twoyear-", dir=shm))
    return new_tmp_dir("twoyear")


def _no_fsync(fd: int) -> None:
    pass


def _build(root: Path, n: int, seed: int, count: int, log: Callable[[str], None]) -> dict[str, Any]:
    folder = root / "shared"
    folder.mkdir()
    homes = root / "homes"
    rng = random.Random(seed + 1)
    set_now(START)
    t_join = time.perf_counter()
    founder = actions.found_group(Home(homes / "m000"), "two busy years", "founder", Transport(folder=folder))
    # Room for the newcomer admitted at the end, past the default cap of 150.
    actions.change_settings(founder, member_cap=count + 1)
    code = actions.create_invite(founder, timedelta(days=7), count)
    actions.sync_group(founder)
    groups = [founder]
    for i in range(1, count):
        joined = actions.join_group(Home(homes / f"m{i:03d}"), code, f"member {i:03d}", Transport(folder=folder))
        actions.admit(founder, joined.request_id)
        groups.append(joined.group)
    members = [Member(i, g, _engine(g, folder)) for i, g in enumerate(groups)]
    for m in members:
        m.full_round(START)  # the founder sends the admissions; each member takes in its key
    log(f"  {count} members joined and admitted in {time.perf_counter() - t_join:.0f}s")

    weights = [1 / (rank + 1) ** 0.8 for rank in range(count)]
    rng.shuffle(weights)
    readers = set(sorted(range(count), key=lambda i: -weights[i])[:READERS])
    events, plan = _events(n, seed, weights, count)
    post_ids: dict[int, str] = {}  # plan index -> post id
    written_at: dict[str, datetime] = {}  # post id -> when it was written
    author_of: dict[str, int] = {}
    counts = {"posts": 0, "threads": 0, "replies": 0, "reactions": 0, "edits": 0}
    changed = {"reply_to_own_thread": 0, "reply_as_thread": 0, "react_on_own_post": 0, "react_skipped": 0}
    refused = 0
    out = (root / "actions.jsonl").open("w")
    t0 = time.perf_counter()

    def holds(m: Member, post: str) -> bool:
        if author_of[post] == m.index:
            return True
        return m.index in readers and m.last_full is not None and written_at[post] < m.last_full

    for done, (at, who, what, i) in enumerate(events):
        set_now(at)
        m = members[who]
        if who in readers and (m.last_full is None or at - m.last_full >= READER_PERIOD):
            m.full_round(at)
        p = plan[i]
        record: dict[str, Any] = {"by": who, "what": what}
        try:
            if what == "post":
                thread = post_ids.get(p.thread) if p.kind == "reply" else None
                if p.kind == "reply" and thread is not None and not holds(m, thread):
                    thread = m.threads[-1] if m.threads else None
                    changed["reply_to_own_thread" if thread else "reply_as_thread"] += 1
                if thread is None:
                    title = p.title or " ".join(p.body.split()[:6])
                    pid = actions.post(m.group, title, p.body, p.tags)
                    m.threads.append(pid)
                    counts["threads"] += 1
                    record.update(kind="thread", id=pid, title=title, body=p.body)
                else:
                    pid = actions.reply(m.group, thread, p.body)
                    counts["replies"] += 1
                    record.update(kind="reply", id=pid, thread=thread, body=p.body)
                post_ids[i], written_at[pid], author_of[pid] = pid, at, who
                m.posts.append(pid)
                counts["posts"] += 1
            elif what == "react":
                target = post_ids[i]
                if not holds(m, target):
                    if not m.posts:
                        changed["react_skipped"] += 1
                        continue
                    target = m.posts[-1]
                    changed["react_on_own_post"] += 1
                emoji = rng.choice(EMOJI)
                actions.react(m.group, target, emoji)
                counts["reactions"] += 1
                record.update(post=target, emoji=emoji)
            else:
                target = post_ids[i]
                actions.edit(m.group, target, p.body + " (edited)")
                counts["edits"] += 1
                record.update(post=target, body=p.body + " (edited)")
        except TablespaceError as exc:
            refused += 1
            log(f"  refused: {what} by member {who}: {exc}")
            continue
        m.own_round()
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        if done % 10_000 == 0 and done:
            rate = done / (time.perf_counter() - t0)
            log(f"  {done:,}/{len(events):,} actions, {rate:.0f}/s, at {at:%Y-%m-%d}")
    out.close()

    end = events[-1][0] + timedelta(days=3)  # past the packing delay of the last packs
    set_now(end)
    for m in members:  # everyone's last round, at the end of the two years
        m.own_round()
    reader = members[min(readers)]
    reader.full_round(end)
    newcomer = _admit_newcomer(root, founder, members[0], end)
    meta: dict[str, Any] = {
        "n": n,
        "seed": seed,
        "members": count,
        "readers": READERS,
        "actions": sum(counts[k] for k in ("posts", "reactions", "edits")),
        "refused": refused,
        "retargeted": changed,
        "newcomer": newcomer,
        "end": end.isoformat(),
        "writers_ops": _writers_digest(members),
        "reader_posts": posts_digest(reader.group.conn),
        **counts,
    }
    for m in members:
        m.group.close()
    return meta


def _admit_newcomer(root: Path, founder: Group, founder_m: Member, at: datetime) -> str:
    """One more member joins and is admitted; its home waits for its first sync."""
    set_now(at)
    code = actions.create_invite(founder, timedelta(days=1), 1)
    joined = actions.join_group(Home(root / "newcomer"), code, "newcomer", Transport(folder=root / "shared"))
    actions.admit(founder, joined.request_id)
    founder_m.own_round()
    joined.group.close()
    return joined.group.me


def _writers_digest(members: list[Member]) -> dict[str, Any]:
    """The ids of every op each member wrote itself, as one digest."""
    ids: list[str] = []
    for m in members:
        ids += [r[0] for r in m.group.conn.execute("SELECT id FROM ops WHERE author = ?", (m.me,))]
    return {"count": len(ids), "sha256": hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()}


def ops_digest(conn: sqlite3.Connection) -> dict[str, Any]:
    ids = [r[0] for r in conn.execute("SELECT id FROM ops WHERE state = 'accepted'")]
    return {"count": len(ids), "sha256": hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()}


def posts_digest(conn: sqlite3.Connection) -> dict[str, Any]:
    """Threads, posts and reactions as folded, as one digest."""
    h = hashlib.sha256()
    count = 0
    for query in (
        "SELECT id, title, replies, last_activity_hlc FROM threads ORDER BY id",
        "SELECT id, thread_id, author, body FROM posts ORDER BY id",
        "SELECT post_id, author, emoji FROM reactions ORDER BY post_id, author, emoji",
    ):
        for row in conn.execute(query):
            h.update(repr(row).encode())
            count += 1
    return {"rows": count, "sha256": h.hexdigest()}


def newcomer_copy(cache: Path, dest: Path) -> Path:
    """A private copy of the newcomer's home (before its first sync), its
    transport pointed at the cached folder (it was built elsewhere)."""
    shutil.copytree(cache / "newcomer", dest, symlinks=True)
    for local in dest.glob("groups/*/local.json"):
        settings = json.loads(local.read_text())
        settings["transport"] = {"folder": str(cache / "shared")}
        local.write_text(json.dumps(settings, indent=2))
    return dest


def open_newcomer(home: Path) -> Group:
    return Group.open(Home(home))


def folder_stats(folder: Path) -> dict[str, Any]:
    total = disk = count = packs = small = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            count += 1
            if name.endswith(".tsc"):
                packs += name.startswith("pack-")
                small += not name.startswith("pack-")
            st = os.stat(os.path.join(dirpath, name))
            total += st.st_size
            disk += st.st_blocks * 512
    return {"files": count, "bytes": total, "disk": disk, "packs": packs, "small": small}


__all__ = ["DB_NAME", "build", "cache_dir", "folder_stats", "newcomer_copy", "open_newcomer", "ops_digest"]
