"""Packed history: each member folds their own older changesets into packs.

A pack is an ordinary changeset (docs/changeset-format.md) holding one run
of its author's consecutive ops, named `changes/<author>/pack-<first>-<last>-
<hash16>.tsc`, so every reader, an older build too, imports it like any
other file. A reader that already holds every seq of the range, in its log
or from a file read earlier in the same round, skips it by its name without
opening it (`held_already`); a round reads each author's widest files first
(`read_order`), so a new member reads a pack once, not also the smaller
packs it holds that are still in the folder. The author is the directory's,
so a misleading name can only make a file count as absent, which anyone who
can write in the folder can do anyway. Small files are always read: one may
hold another device's op at a seq we hold (a fork), which only reading it
shows. Never our own directory's, and never while ops of that author wait
in our log: then the skip may have been wrong, and the packs skipped are
read after all (`reread_skips_in_doubt`).

A pack re-seals its ops under the key their small files were sealed with
(one pack per epoch key), so exactly those who could read the small files
can read it: nothing held back from a departed member ever goes out under
their key this way. Only ops already exported are packed, and only runs
our log holds one op per seq for (a home restored from a backup may fork
its own chain; such runs stay as they are).

The small files a pack holds are deleted only in a later round, once the
pack has been in the folder for `PackPolicy.delay`, so that a peer whose
sync software is slow receives the pack before the files go. We only ever
delete our own files, and only once the pack and the file, opened as they
are in the folder then, show every op of the file in the pack. What a pack
holds is recorded with it in one transaction; a pack of ours nothing
records (a round killed just after writing it, another device of ours) is
adopted by the next round.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tablespace.core import folder_queries, log_queries, sync_files
from tablespace.core.clock import hlc_to_datetime, now
from tablespace.core.group import Group
from tablespace.core.ops import Op
from tablespace.sync.envelope import (
    MAX_FILE_BYTES,
    MAX_OPS_PER_FILE,
    SUFFIX,
    BadChangeset,
    ChangesetTooLarge,
    Header,
    decode_changeset,
    encode_changeset,
    peek_header,
)
from tablespace.sync.folder import FolderFile, FolderStore, LinkInFolder
from tablespace.sync.keyring import Keyring
from tablespace.sync.keys import epoch_key_id

PACK_PREFIX = "pack-"
# The packs we wrote whose small files are still in the folder: meta key,
# JSON {pack path: {"at": unix seconds written, "covers": [paths]}}.
PENDING_META = "packs_pending"
HELD_ALREADY = "a pack of ops already held; skipped by its name"
_PACK_NAME = re.compile(r"^changes/([0-9a-f]{32})/pack-(\d{8,20})-(\d{8,20})-[0-9a-f]{16}" + re.escape(SUFFIX) + "$")
# Any changeset's name, a pack's or a small file's (envelope.changeset_name).
_CHANGESET_NAME = re.compile(
    r"^changes/([0-9a-f]{32})/(?:"
    + re.escape(PACK_PREFIX)
    + r")?(\d{8,20})-(\d{8,20})-[0-9a-f]{16}"
    + re.escape(SUFFIX)
    + "$"
)


@dataclass(frozen=True)
class PackPolicy:
    """When we pack and when the files a pack holds go."""

    # This many small files of ours in a row start a pack...
    min_files: int = 16
    # ...or fewer, once the oldest of them holds an op older than this.
    pack_after: timedelta = timedelta(days=1)
    # A pack's age before the files it holds are deleted: long enough for
    # the sync software to have carried the pack to the peers that are
    # online (minutes) and to one that was off over a weekend. A peer away
    # for longer loses nothing: it gets the pack. Each day of delay keeps a
    # day of small files in the folder.
    delay: timedelta = timedelta(days=2)
    # Ops per pack, at most: what every reader accepts in one file.
    max_ops: int = MAX_OPS_PER_FILE
    # An earlier pack is folded into a new one while it holds at most this
    # many times the new ops: packs grow geometrically, so each op is
    # rewritten a few times at most (log base growth + 1 of a member's ops)
    # and a member keeps a few packs (at most growth per size class).
    growth: int = 4
    # False: neither pack nor remove (a transport that cannot share a removal).
    enabled: bool = True


@dataclass(frozen=True)
class OurFile:
    """A changeset of ours in the folder, as the sync recorded it."""

    path: str
    first: int
    last: int
    newest: datetime  # when its newest op was made

    @property
    def ops(self) -> int:
        return self.last - self.first + 1

    @property
    def is_pack(self) -> bool:
        return is_pack_name(self.path)


@dataclass
class PackRound:
    packs: int = 0  # packs written this round
    removed: int = 0  # small files (or smaller packs) of ours deleted this round


def is_pack_name(path: str) -> bool:
    return path.rpartition("/")[2].startswith(PACK_PREFIX)


def pack_name(header: Header) -> str:
    """The pack's relative path under changes/. Never trusted on read."""
    return f"{header.author}/{PACK_PREFIX}{header.first_seq:08d}-{header.last_seq:08d}-{header.file_hash[:16]}{SUFFIX}"


def named_range(path: str) -> tuple[str, int, int] | None:
    """(author, first seq, last seq) a pack's name claims, if it is one."""
    return _claimed(_PACK_NAME, path)


def claimed_range(path: str) -> tuple[str, int, int] | None:
    """(author, first seq, last seq) a changeset's name claims, pack or not."""
    return _claimed(_CHANGESET_NAME, path)


def _claimed(pattern: re.Pattern[str], path: str) -> tuple[str, int, int] | None:
    found = pattern.match(path)
    if found is None:
        return None
    first, last = int(found[2]), int(found[3])
    return (found[1], first, last) if 1 <= first <= last else None


def read_order(path: str) -> tuple[str, int, int, str]:
    """Sort key for a round's reading: directory by directory, and in each the
    file claiming the widest run from the lowest seq first, so the smaller
    packs a pack holds come after it and are skipped (held_already)."""
    claimed = claimed_range(path)
    if claimed is None:
        return (path.rpartition("/")[0], 0, 0, path)
    return (path.rpartition("/")[0], claimed[1], -claimed[2], path)


class SeqRuns:
    """The seqs of each author's ops read so far in a round, as runs."""

    def __init__(self) -> None:
        self._runs: dict[str, list[tuple[int, int]]] = {}

    def add(self, author: str, first: int, last: int) -> None:
        runs = [*self._runs.get(author, []), (first, last)]
        runs.sort()
        merged: list[tuple[int, int]] = []
        for start, end in runs:
            if merged and start <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        self._runs[author] = merged

    def covers(self, author: str, first: int, last: int) -> bool:
        return any(start <= first and last <= end for start, end in self._runs.get(author, ()))


def held_already(group: Group, path: str, read: SeqRuns, waiting: Collection[str]) -> bool:
    """Does the log, or a file `read` earlier this round, hold an op for
    every seq the pack at `path` names? Then reading it would add nothing:
    it is skipped unopened. Never a pack in our own directory (one
    we wrote in a round that died before it was recorded, or another device
    of ours wrote: we must know it is ours), nor one of an author whose ops
    wait (for a predecessor: our log lacks something of theirs, so holding
    every seq proves nothing). `waiting`: those authors (authors_with_held_ops)."""
    claimed = named_range(path)
    if claimed is None:
        return False
    author, first, last = claimed
    conn = group.store.conn
    if author == group.device:
        return False
    if author in waiting:
        return False
    if read.covers(author, first, last):
        return True
    return log_queries.held_seq_count(conn, author, first, last) == last - first + 1


def reread_skips_in_doubt(group: Group) -> None:
    """Forget the packs skipped by name of every author whose ops now wait
    (for a predecessor, or for their time): the skip was a belief about our
    log, and one of those packs may hold what is missing, so this round
    reads them."""
    conn = group.store.conn
    in_doubt = log_queries.authors_with_held_ops(conn)
    if in_doubt:
        with group.store.db.atomic():
            sync_files.forget_skipped(conn, HELD_ALREADY, [f"changes/{a}/" for a in in_doubt])


# --- planning (pure) -----------------------------------------------------------


def plan_packs(files: list[OurFile], policy: PackPolicy, at: datetime) -> list[list[OurFile]]:
    """Runs of our live files (by seq) to fold, each into one pack."""
    plans = []
    for run in _runs(files):
        chosen = _plan_run(run, policy, at)
        if chosen:
            plans.append(chosen)
    return plans


def _runs(files: list[OurFile]) -> Iterator[list[OurFile]]:
    """Our files in runs of consecutive seqs."""
    run: list[OurFile] = []
    for f in sorted(files, key=lambda f: (f.first, f.last)):
        if run and f.first != run[-1].last + 1:
            yield run
            run = []
        run.append(f)
    if run:
        yield run


def _plan_run(run: list[OurFile], policy: PackPolicy, at: datetime) -> list[OurFile] | None:
    """The small files at the end of the run (as many as a pack holds), and
    the packs before them the geometric rule folds in; None if not due."""
    start = len(run)
    while start > 0 and not run[start - 1].is_pack:
        start -= 1
    end, ops = start, 0
    while end < len(run) and ops + run[end].ops <= policy.max_ops:
        ops += run[end].ops
        end += 1
    small = run[start:end]
    if not small or (len(small) < policy.min_files and at - small[0].newest < policy.pack_after):
        return None
    while start > 0 and run[start - 1].ops <= policy.growth * ops and run[start - 1].ops + ops <= policy.max_ops:
        start -= 1
        ops += run[start].ops
    chosen = run[start:end]
    return chosen if len(chosen) >= 2 else None


# --- a round -------------------------------------------------------------------


class Packer:
    """Packs our history in the folder and removes what packs superseded."""

    def __init__(self, group: Group, folder: FolderStore, keyring: Keyring, policy: PackPolicy) -> None:
        self.group = group
        self.store = group.store
        self.folder = folder
        self.keyring = keyring
        self.policy = policy
        self.mine = f"changes/{group.device}/"

    def run(self, listing: dict[str, FolderFile], listed: set[str]) -> PackRound:
        """Remove what packs old enough hold, then pack what is due.
        `listed`: the files in the folder when the round began. Only those
        are packed, never a file written this round: a member who synced
        since then holds every op of the pack and skips it unopened."""
        done = PackRound()
        if not self.policy.enabled or self.folder.blocked(self.mine.rstrip("/")):
            return done
        at = now()
        pending = self._pending()
        before = json.dumps(pending, sort_keys=True)
        try:
            ours = self._ours()
            self._adopt(pending, listing, at, ours)
            settled = set(pending)
            done.removed = self._remove_superseded(pending, listing, at, ours)
            if set(pending) != settled:  # a pack's files were removed or forgotten: read ours again
                ours = self._ours()
            live = [f for f in self._live_files(pending, listing, ours) if f.path in listed]
            for chosen in plan_packs(live, self.policy, at):
                for run in self._by_seal(chosen):
                    done.packs += self._write_pack(run, pending, listing, at)
        except LinkInFolder:
            pass  # a link appeared in our directory: the rest waits for a later round
        finally:
            if json.dumps(pending, sort_keys=True) != before:  # an idle round writes nothing
                with self.store.db.atomic():
                    self._save(pending)
        return done

    def _pending(self) -> dict[str, Any]:
        try:
            pending = json.loads(self.store.get_meta(PENDING_META, "{}") or "{}")
        except ValueError:
            return {}
        return pending if isinstance(pending, dict) else {}

    def _save(self, pending: dict[str, Any]) -> None:
        self.store.set_meta(PENDING_META, json.dumps(pending, sort_keys=True))

    def _ours(self) -> dict[str, tuple[int, int, int]]:
        return {path: (first, last, size) for path, first, last, size in folder_queries.our_changesets(self.store.conn)}

    def _adopt(
        self,
        pending: dict[str, Any],
        listing: dict[str, FolderFile],
        at: datetime,
        ours: dict[str, tuple[int, int, int]],
    ) -> None:
        """A pack of ours in the folder that no entry names (a round died
        between writing and recording it, or another device of ours wrote
        it) holds files like any other, its delay counted from now. `ours`:
        our files as the sync recorded them (_ours)."""
        for path, (first, last, _) in ours.items():
            if is_pack_name(path) and path not in pending and path in listing:
                covers = self._covered_by(path, first, last, ours)
                if covers:
                    pending[path] = {"at": at.timestamp(), "covers": covers}

    @staticmethod
    def _covered_by(pack: str, first: int, last: int, ours: dict[str, tuple[int, int, int]]) -> list[str]:
        """Our other files inside the pack's range. Of two packs with the same
        range (two devices of ours), only the one whose name sorts first
        holds the other, so they never remove each other."""
        return sorted(
            path
            for path, (lo, hi, _) in ours.items()
            if path != pack
            and first <= lo
            and hi <= last
            and not (is_pack_name(path) and (lo, hi) == (first, last) and path < pack)
        )

    def _remove_superseded(
        self,
        pending: dict[str, Any],
        listing: dict[str, FolderFile],
        at: datetime,
        ours: dict[str, tuple[int, int, int]],
    ) -> int:
        """Delete the files each pack old enough holds, once both are opened
        and every op of the file is in the pack as it is in the folder now.
        A pack that vanished gives its files back to the live ones (packed
        again later); one that does not open as ours holds nothing, and the
        import looks at it again. Every pack it settles leaves `pending`."""
        removed = 0
        for pack, entry in sorted(pending.items()):
            present = listing.get(pack)
            if pack not in ours or present is None:
                del pending[pack]
                continue
            # A clock set back after a pack was written: its delay restarts.
            written = min(float(entry["at"]), at.timestamp())
            entry["at"] = written
            if present.size != ours[pack][2] or at.timestamp() - written < self.policy.delay.total_seconds():
                continue
            del pending[pack]
            in_pack = self._op_ids(pack)
            if not in_pack:
                with self.store.db.atomic():
                    sync_files.forget_files(self.store.conn, [pack])
                continue
            gone = [path for path in entry["covers"] if self._remove_if_held(path, pack, in_pack)]
            for path in gone:
                listing.pop(path, None)
            with self.store.db.atomic():
                sync_files.forget_files(self.store.conn, gone)
            removed += len(gone)
        return removed

    def _remove_if_held(self, path: str, pack: str, in_pack: set[str]) -> bool:
        """Delete our file at `path` if every op it holds is in the pack;
        True if it is gone. A file that does not open stays as it is."""
        if not path.startswith(self.mine) or path == pack:
            return False
        held = self._op_ids(path)
        if held is None or not held <= in_pack:
            return False
        try:
            self.folder.remove(path)
        except FileNotFoundError:
            pass
        except OSError:
            return False  # could not delete it: it stays ours and live
        return True

    def _op_ids(self, path: str) -> set[str] | None:
        """The ids of the ops in our changeset at `path` as it is in the folder
        now: empty if it is gone, None if it does not open as ours."""
        try:
            data = self.folder.read(path, MAX_FILE_BYTES)
            if len(data) > MAX_FILE_BYTES:
                return None
            changeset = decode_changeset(data, group_id=self.group.id, epoch_keys=self.keyring.epochs)
        except FileNotFoundError:
            return set()
        except (OSError, BadChangeset):
            return None
        return {op.id for op in changeset.ops} if changeset.author == self.group.device else None

    def _live_files(
        self, pending: dict[str, Any], listing: dict[str, FolderFile], ours: dict[str, tuple[int, int, int]]
    ) -> list[OurFile]:
        """Our files in the folder as we wrote them, but those a pack holds."""
        held = {path for entry in pending.values() for path in entry["covers"]}
        live = []
        for path, (first, last, size) in ours.items():
            present = listing.get(path)
            if path not in held and present is not None and present.size == size:
                live.append((path, first, last))
        newest = log_queries.newest_op_hlcs(
            self.store.conn, self.group.device, [(first, last) for _, first, last in live]
        )
        return [
            OurFile(path, first, last, hlc_to_datetime(hlc))
            for (path, first, last), hlc in zip(live, newest, strict=True)
        ]

    def _by_seal(self, chosen: list[OurFile]) -> Iterator[list[OurFile]]:
        """The chosen files in runs sealed under one key, read from their
        headers; a file we cannot read ends a run (it stays as it is)."""
        run: list[OurFile] = []
        seal: tuple[int, bytes] | None = None
        for f in chosen:
            header = self._header(f.path)
            this = (header.epoch, header.key_id) if header is not None else None
            if this is None or this != seal:
                if len(run) >= 2:
                    yield run
                run = []
            seal = this
            if this is not None:
                run.append(f)
        if len(run) >= 2:
            yield run

    def _header(self, path: str) -> Header | None:
        try:
            data = self.folder.read(path, MAX_FILE_BYTES)
            header = peek_header(data[: MAX_FILE_BYTES + 1])
        except (OSError, BadChangeset):
            return None
        return header if header.author == self.group.device else None

    def _key(self, epoch: int, key_id: bytes) -> bytes | None:
        for held in self.keyring.keys:
            if held.epoch == epoch and epoch_key_id(held.key)[: len(key_id)] == key_id:
                return held.key
        return None

    def _write_pack(
        self, run: list[OurFile], pending: dict[str, Any], listing: dict[str, FolderFile], at: datetime
    ) -> int:
        header = self._header(run[0].path)
        if header is None:
            return 0
        key = self._key(header.epoch, header.key_id)
        ops = self._one_chain(run[0].first, run[-1].last)
        if key is None or ops is None:
            return 0
        written = 0
        for part, data in self._sealed(ops, header.epoch, key):
            path = "changes/" + pack_name(peek_header(data))
            info = self.folder.write_once(path, data)
            first, last = part[0].seq, part[-1].seq
            pending[path] = {"at": at.timestamp(), "covers": self._covered_by(path, first, last, self._ours())}
            # The pack and what it holds are recorded together: a round that
            # dies before this leaves a pack the next round adopts (_adopt).
            with self.store.db.atomic():
                sync_files.record_file(
                    self.store.conn,
                    path,
                    info.size,
                    info.mtime_ns,
                    hashlib.sha256(data).hexdigest(),
                    "mine",
                    None,
                    first,
                    last,
                )
                self._save(pending)
            listing[path] = info
            written += 1
        return written

    def _one_chain(self, first: int, last: int) -> list[Op] | None:
        """Our ops from `first` to `last`, if the log holds exactly one
        chain of them (no fork from a home restored from a backup)."""
        rows = log_queries.ops_between(self.store.conn, self.group.device, first, last)
        if len(rows) != last - first + 1:
            return None
        ops = [self.store.read_op(*row) for row in rows]
        for before, op in zip(ops, ops[1:], strict=False):
            if op.seq != before.seq + 1 or op.prev != before.id:
                return None
        return ops

    def _sealed(self, ops: list[Op], epoch: int, key: bytes) -> list[tuple[list[Op], bytes]]:
        """`ops` sealed in parts of at most max_ops, each under the file size limit."""
        sealed = []
        for s in range(0, len(ops), self.policy.max_ops):
            sealed.extend(self._fit(ops[s : s + self.policy.max_ops], epoch, key))
        return sealed

    def _fit(self, ops: list[Op], epoch: int, key: bytes) -> list[tuple[list[Op], bytes]]:
        try:
            data = encode_changeset(
                ops, group_id=self.group.id, epoch=epoch, epoch_key=key, identity=self.group.identity
            )
            return [(ops, data)]
        except ChangesetTooLarge:
            if len(ops) == 1:
                raise
            middle = len(ops) // 2
            return self._fit(ops[:middle], epoch, key) + self._fit(ops[middle:], epoch, key)
