"""The group's local SQLite file: the op log, and the one way ops get in.

`ingest` is the single write path for everything, local or remote: it files
ops into the log (holding any whose chain predecessor is missing), then folds
what became ready in one transaction. If every newly ready op sorts after the
fold's head it is applied incrementally; otherwise the views are re-folded so
the result stays a pure function of the op set.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any  # (cold start: sqlite_utils is imported on first write, see connect)

from tablespace.core import database, log_queries
from tablespace.core.circles import CircleKeys
from tablespace.core.clock import MAX_DRIFT_MS, HybridClock, hlc_iso, hlc_ms, iso, now, now_ms
from tablespace.core.database import LazyDatabase, busy_message, is_busy
from tablespace.core.errors import Busy, Refusal, TablespaceError
from tablespace.core.home import EXCHANGE_KEY_NAME, KEY_NAME
from tablespace.core.ops import Op, decode_trusted
from tablespace.core.schema import (
    FTS_TABLES,
    READ_INDEXES,
    THREAD_NEWEST_CATCH_UP,
    VIEW_TABLES,
    derived_trigger_names,
    migrate,
    needs_migration,
)
from tablespace.core.seal import LogSeal, is_sealed, unsealed_sql

if TYPE_CHECKING:
    from sqlite_utils import Database

    from tablespace.core.fold import FoldContext

OrderKey = tuple[int, str, int]
# An op to fold: (hlc, author, seq, id, rowid, signature, body); the last three
# are None for an op not in the log yet (Store._fold).
Ready = tuple[int, str, int, str, int | None, bytes | None, bytes | None]
_READY_COLUMNS = "o.hlc, o.author, o.seq, o.id, o.rowid, o.signature, o.body"
# (removals: member -> last seq; time-outs: member -> [(last seq, end as set,
# early end or None)], FoldContext.timeouts)
RoleWindows = dict[tuple[str, str], dict[int, int | None]]
# ...the circles this member is in at the end (FoldContext.joined_circles),
# and the devices their members took away (FoldContext.removed_devices)
Cuts = tuple[dict[str, int], dict[str, list[tuple[int, int, int | None]]], RoleWindows, frozenset[str], frozenset[str]]
# Folding at least this many ops at once (and at least half the log) indexes
# the text in one pass at the end instead of row by row through triggers.
BULK_FOLD_MIN = 5000
# Page cache for a large import (Store.bulk_import), in MB: 64 -> 128 took
# ~10% off a 100k import (bench_import); the cache only grows as it is used.
BULK_CACHE_MB = 128
PAGE_BYTES = 8192  # of a new database (connect)
# FTS5's in-memory term buffer ('hashsize', undocumented but in FTS5 since
# it shipped): SQLite's default, and what a full rebuild uses (32 MB took a
# 100k import's rebuild from ~2.0 s to ~1.25 s, fewer segments to merge).
FTS_HASH_BYTES = 1024 * 1024
REBUILD_HASH_BYTES = 32 * 1024 * 1024


@dataclass
class IngestResult:
    added: int = 0  # new ops filed in the log
    duplicates: int = 0  # already held: a no-op
    forks: list[str] = field(default_factory=list)  # ops that made a fork (a second op for an author's seq)
    folded: int = 0  # ops folded (accepted or rejected) by this call
    held: int = 0  # ops still waiting for a chain predecessor, after this call
    refolded: bool = False


def connect(path: Path) -> Database:
    # Autocommit at the driver level: every write is inside an explicit
    # db.atomic(), so nothing is ever left in an implicit open transaction.
    conn = sqlite3.connect(str(path), isolation_level=None)
    # A sqlite_utils Database made on first use (writes, migrations): opening
    # and reading a group stays off sqlite_utils' ~60-100 ms import (cold start).
    db: Database = LazyDatabase(conn)  # type: ignore[assignment]
    # Takes effect only on a database being created (before WAL is set); an
    # existing one keeps its page size. Rows here are ~1 KB (an op with its
    # body, a post with its text), so 8 KB pages mean half as many B-tree
    # pages and page writes: a 100k-op import ~13% faster than at the 4 KB
    # default, 16 KB no better (bench_import, interleaved runs).
    conn.execute(f"PRAGMA page_size = {PAGE_BYTES}")
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    except sqlite3.OperationalError:
        # A big import holds the file in rollback mode for now (Store.bulk_import),
        # and switching needs its lock: read as we are; it goes back to WAL after.
        pass
    conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
    conn.execute("PRAGMA secure_delete = ON")  # deleted bodies are zeroed on disk, not just unlinked
    conn.execute(f"PRAGMA busy_timeout = {database.BUSY_TIMEOUT_MS}")
    return db


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.db = connect(path)
            if needs_migration(self.db.conn):  # plain sqlite3: no sqlite_utils when up to date
                migrate(self.db)
        except sqlite3.DatabaseError as exc:
            if is_busy(exc):
                raise Busy(busy_message()) from None
            raise TablespaceError(f"cannot open the group database {path}: {exc}") from None
        self.conn = self.db.conn
        self._group_id: str | None = None
        # The member's key beside the database seals deleted text in the log.
        self.seal = LogSeal(path.parent / KEY_NAME)
        # The member's exchange key beside it opens the circles they are in.
        self.circle_keys = CircleKeys(path.parent / EXCHANGE_KEY_NAME)
        self.clock = HybridClock(int(self.get_meta("hlc", "0") or 0))
        # Ops `file` put in the log as accepted before they are folded; rows
        # of a temporary table roll back with the transaction that added them.
        # No key: it is only ever read whole, joined to ops by id.
        self.conn.execute("CREATE TEMP TABLE filed_ops (id TEXT NOT NULL)")
        # Whether filed_ops may hold rows: set by `file`, cleared by the ingest
        # that folds them (a rollback leaves it set, which costs one query).
        self._filed = False
        if self.get_meta("refold_pending"):  # a migration changed a fold rule (schema.py)
            with self.db.atomic():
                self.refold()
                self.conn.execute("DELETE FROM meta WHERE key = 'refold_pending'")

    def close(self) -> None:
        self.db.close()

    # --- local bookkeeping ---------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def group_id(self) -> str:
        """Read once: it is set when the replica is made and never changes
        (every fold asks for it)."""
        if self._group_id is None:
            self._group_id = self.get_meta("group_id")
            if self._group_id is None:
                raise TablespaceError(f"{self.path} is not a group database")
        return self._group_id

    def head(self, author: str) -> tuple[int, str | None]:
        """(seq, op id) of the author's latest op in the log, (0, None) if none."""
        row = self.conn.execute(
            "SELECT seq, id FROM ops WHERE author = ? ORDER BY seq DESC LIMIT 1", (author,)
        ).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def _catch_up_clock(self) -> int:
        """Another connection (the app's sync thread, another process) may have
        moved the persisted clock on; never issue a timestamp behind it.
        Returns the persisted value."""
        persisted = int(self.get_meta("hlc", "0") or 0)
        self.clock.last = max(self.clock.last, persisted)
        return persisted

    def _persist_clock(self, persisted: int) -> None:
        """Write the clock back, unless the log already holds that value."""
        if self.clock.last != persisted:
            self.set_meta("hlc", str(self.clock.last))

    def next_hlc(self) -> int:
        """A timestamp for a new local op; call inside the write's transaction."""
        self._catch_up_clock()
        value = self.clock.tick()
        if self.clock.is_too_far_ahead(value):
            # The history here runs past the wall clock (it was set back, or
            # was ahead when earlier changes were made): a change dated after
            # them would be held by every replica, ours too, until then.
            raise TablespaceError(
                f"this computer's clock says {iso(now())}, but this group's history here already runs to "
                f"{hlc_iso(value)}; set the date and time right (or wait until then) and try again"
            )
        self.set_meta("hlc", str(value))
        return value

    def _fold_head(self) -> OrderKey | None:
        value = self.get_meta("fold_head")
        return tuple(json.loads(value)) if value else None

    # --- the write path ------------------------------------------------------

    @contextmanager
    def bulk_import(self, *, rollback_journal: bool = False, cache_mb: int = BULK_CACHE_MB) -> Iterator[None]:
        """For a large import: a bigger page cache, and for a very large one
        (`rollback_journal`) a rollback journal in place of the WAL when this
        is the only connection; both back as they were after.

        Op ids are random, so filing ops and reading them back touches index
        pages all over the file; with the default 2 MB cache a 100k-op import
        kept re-reading pages from the OS. A backlog mostly adds pages past the
        end of the file: the WAL writes each one twice (the log, then the
        checkpoint), a rollback journal once (there is nothing old to save):
        1-2 s of a 100k import, nothing to speak of at 10k (bench_import).
        Crash safety is the same (a kill leaves a hot journal, rolled back on
        the next open), with FULL sync for power loss. If another connection
        has the database open (the app's, another command), SQLite refuses the
        switch at once and we keep the WAL. One opened during the import reads
        in rollback mode (`connect`) until the import's changes outgrow the
        page cache (~128 MB, a backlog of some 60k ops): from then until the
        commit SQLite holds the file exclusively, and an open waits out the
        busy timeout and fails with "database is locked" (WAL readers would
        not wait). Hence only for a backlog big enough to pay for it."""
        (saved_cache,) = self.conn.execute("PRAGMA cache_size").fetchone()
        self.conn.execute(f"PRAGMA cache_size = {-cache_mb * 1024}")
        switched = False
        if rollback_journal and not self.conn.in_transaction:
            # Ask without waiting: the busy handler would otherwise stall for
            # its whole timeout whenever someone else has the database open.
            (busy_ms,) = self.conn.execute("PRAGMA busy_timeout").fetchone()
            self.conn.execute("PRAGMA busy_timeout = 0")
            try:
                switched = self.conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
            except sqlite3.OperationalError:  # "database is locked": someone else has it open
                pass
            finally:
                self.conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        if switched:
            self.conn.execute("PRAGMA synchronous = FULL")
        try:
            yield
        finally:
            self.conn.execute(f"PRAGMA cache_size = {saved_cache}")
            if switched:
                try:
                    self.conn.execute("PRAGMA journal_mode = WAL")
                    self.conn.execute("PRAGMA synchronous = NORMAL")  # safe with the WAL only
                except sqlite3.OperationalError:
                    pass  # someone opened it meanwhile and is reading: every open (connect) sets WAL again

    def ingest(self, ops: Iterable[Op]) -> IngestResult:
        """File ops in the log and fold whatever became ready, atomically."""
        with self.db.atomic():
            return self._ingest(ops)

    def append_local(self, op: Op) -> None:
        """Ingest one op of our own; if the fold rejects it, undo everything and
        raise its refusal, worded for us (a user's request that is not allowed
        changes nothing)."""
        with self.db.atomic():
            self._ingest([op], local=True)
            state, *refusal = self.conn.execute(
                "SELECT state, reason_kind, reason, reason_data FROM ops WHERE id = ?", (op.id,)
            ).fetchone()
            if state == "rejected":
                raise Refusal.from_log(*refusal).error()
            if state != "accepted":  # held: its chain is not complete here
                raise TablespaceError("the change could not be applied")

    def file(self, ops: Iterable[Op]) -> IngestResult:
        """File ops in the log without folding: for an import too big to hold
        in memory at once (sync's batches). Must run inside a transaction that
        ends with `ingest`, which folds everything filed (filed_ops) in it.
        Chain-complete ops go in as accepted, so folding them rewrites only
        the rejected rows: an UPDATE of every filed row was ~15% of a 100k
        import (bench_import)."""
        if not self.conn.in_transaction:
            raise TablespaceError("Store.file must be followed by ingest in the same transaction")
        result = IngestResult()
        self._file(ops, result, self._held_authors(), persisted=self._catch_up_clock())
        return result

    def _held_authors(self) -> set[str]:
        """The authors with ops in the log waiting for a predecessor or their time."""
        return {r[0] for r in self.conn.execute("SELECT DISTINCT author FROM ops WHERE state = 'held'")}

    def _ingest(self, ops: Iterable[Op], *, local: bool = False) -> IngestResult:
        """`local`: `ops` are our own, just written (append_local)."""
        ops = list(ops)
        result = IngestResult()
        persisted = self._catch_up_clock()
        deferred: list[Op] = []  # chain-complete new ops, not inserted yet (see _fold)
        # Authors with held ops are re-examined every time: a predecessor may
        # have arrived, or a far-future op's time may have come; and so are
        # those `_file` holds now.
        held_authors = self._held_authors()
        incoming = self._file(ops, result, held_authors, deferred, persisted=persisted)
        held_authors |= {op.author for op in incoming.values()} - {op.author for op in deferred}  # all or none
        released = self._release_chains(held_authors)
        # Everything ready to fold: the deferred ops, rows filed by an earlier
        # `file` in this transaction, and rows just released ('ready' lives
        # only within the transaction that released them).
        ready: list[Ready] = (
            self.conn.execute(f"SELECT {_READY_COLUMNS} FROM ops o WHERE state = 'ready'").fetchall()
            if released
            else []
        )
        if self._filed:  # a local action files nothing: two statements fewer per write
            ready += self.conn.execute(f"SELECT {_READY_COLUMNS} FROM filed_ops f JOIN ops o USING (id)").fetchall()
            self.conn.execute("DELETE FROM filed_ops")
            self._filed = False
        ready += [(op.hlc, op.author, op.seq, op.id, None, None, None) for op in deferred]
        if result.forks:
            self._insert(deferred, "ready")
            result.folded = self.refold()  # a fork reaches back into ops already folded
            result.refolded = True
        elif ready:
            ready.sort()
            head = self._fold_head()
            if head is None or tuple(ready[0][:3]) > head:
                result.folded = self._fold(ready, incoming, deferred, head)
            else:
                self._insert(deferred, "ready")
                result.folded = self.refold()
                result.refolded = True
        # Our own op takes its time from our clock, past every read of ours:
        # it cannot arrive late (and the check scans `reads`).
        own = {op.id for op in ops} if local else None
        arrived = ready if own is None else [row for row in ready if row[3] not in own]
        if arrived:
            self._unread_late_arrivals(arrived)
        if held_authors:  # else nothing is held: no ops of theirs were, and none went in so
            (result.held,) = self.conn.execute("SELECT count(*) FROM ops WHERE state = 'held'").fetchone()
        return result

    def _unread_late_arrivals(self, ready: list[Ready]) -> None:
        """A post can arrive after we read its thread yet sort before that read
        (written offline, or at the same time as ours): the thread reads as
        unread again from it, so it and whatever it mentions are not lost to
        the inbox. `reads` is ours alone: a refold never touches it."""
        (newest_read,) = self.conn.execute("SELECT max(read_hlc) FROM reads").fetchone()
        if newest_read is None:  # nothing read yet (a first sync): nothing to read again
            return
        late = [(row[3], row[0]) for row in ready if row[0] <= newest_read]
        if not late:
            return
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS arrived (id TEXT PRIMARY KEY, hlc INTEGER NOT NULL)")
        self.conn.executemany("INSERT OR IGNORE INTO arrived (id, hlc) VALUES (?, ?)", late)
        self.conn.execute(
            """WITH earliest AS (
                 SELECT p.thread_id, min(a.hlc) AS hlc FROM arrived a JOIN posts p ON p.id = a.id
                 WHERE p.deleted = 0 GROUP BY p.thread_id)
               UPDATE reads SET read_hlc = earliest.hlc - 1 FROM earliest
               WHERE earliest.thread_id = reads.thread_id AND reads.read_hlc >= earliest.hlc"""
        )
        self.conn.execute("DELETE FROM arrived")

    def _insert(self, ops: list[Op], state: str, refusals: dict[str, Refusal] | None = None) -> None:
        if not ops:
            return
        # sqlite3 binds bytes and None only after a failed search for an
        # adapter (~0.7 µs each), bytearray and absent columns without one: a
        # 100k import binds ~300k of them (bench_import: ~0.3 s). Hence blobs
        # as bytearray (same BLOB in the table), and no refusal columns for
        # the rows that have none.
        refusals = refusals or {}
        self.conn.executemany(
            """INSERT INTO ops (id, author, seq, prev, hlc, kind, signature, body, state)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                (op.id, op.author, op.seq, op.prev, op.hlc, op.kind, bytearray(op.signature), bytearray(op.body), state)
                for op in ops
                if op.id not in refusals
            ],
        )
        if refusals:
            self._insert_refused(ops, refusals)
        from tablespace.core.fold import text_edit_rows  # on first use: see _context

        if edits := text_edit_rows(ops):
            self.conn.executemany("INSERT INTO text_edits (target, op_id) VALUES (?, ?)", edits)

    def _insert_refused(self, ops: list[Op], refusals: dict[str, Refusal]) -> None:
        self.conn.executemany(
            """INSERT INTO ops (id, author, seq, prev, hlc, kind, signature, body, state,
                                reason, reason_kind, reason_data)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'rejected', ?, ?, ?)""",
            [
                (
                    op.id,
                    op.author,
                    op.seq,
                    op.prev,
                    op.hlc,
                    op.kind,
                    op.signature,
                    op.body,
                    *_refusal_columns(refusals[op.id]),
                )
                for op in ops
                if op.id in refusals
            ],
        )

    def _file(
        self,
        ops: Iterable[Op],
        result: IngestResult,
        held_authors: set[str],
        deferred: list[Op] | None = None,
        *,
        persisted: int,
    ) -> dict[str, Op]:
        """Insert new ops into the log with executemany. Measured (bench_import):
        a per-op INSERT after two probes, then a second UPDATE of each row's
        state through its index, was most of the SQL time of an import.

        An author's new ops that link, one by one, onto the author's head (the
        usual case: a changeset continues the chain we hold) are ready to fold.
        With `deferred` (a list) they are put in it, not inserted: _fold
        inserts them after folding, with their final state, so each row is
        written once; without it (`file`) they go in as accepted and into
        filed_ops. Anything else (a gap, a fork, a far-future HLC, an author
        with held ops: `held_authors`) goes in as 'held' and
        `_release_chains` decides. Returns the new ops by id."""
        new = _first_of_each(ops, result)
        if not new:
            self._persist_clock(persisted)
            return {}
        existing = self._already_logged([op.id for op in new])
        if existing:
            result.duplicates += sum(1 for op in new if op.id in existing)
            new = [op for op in new if op.id not in existing]
        by_author: dict[str, list[Op]] = {}
        for op in new:
            by_author.setdefault(op.author, []).append(op)
        forked = {r[0] for r in self.conn.execute("SELECT DISTINCT author FROM forks")}
        limit_ms = now_ms() + MAX_DRIFT_MS  # HybridClock.is_too_far_ahead, read once per batch
        held: set[str] = set()  # authors whose new ops all go in held
        clashes: set[str] = set()
        for author, mine in by_author.items():
            head_seq, head_id = self.head(author)
            found = self._clashes(author, mine, head_seq)
            clashes |= found
            if found or author in held_authors or author in forked or not _links_on(mine, head_seq, head_id, limit_ms):
                held.add(author)
        ready = [op for op in new if op.author not in held] if held else new
        if deferred is None:
            self._insert(ready, "accepted")
            self.conn.executemany("INSERT INTO filed_ops (id) VALUES (?)", [(op.id,) for op in ready])
            self._filed = True
        else:
            deferred.extend(ready)
        if held:
            self._insert([op for op in new if op.author in held], "held")
        for op in new if clashes else ():
            if op.id in clashes:
                # Two signed ops for one (author, seq): both stay in the log as
                # evidence, and the fold sets aside that author's ops from here.
                self.conn.execute("INSERT OR IGNORE INTO forks (author, seq) VALUES (?, ?)", (op.author, op.seq))
                result.forks.append(op.id)
        result.added += len(new)
        # HybridClock.observe, once for the batch: the newest HLC that is not
        # too far ahead (hlc_ms is monotonic: if the newest is not, none is).
        newest = max((op.hlc for op in new), default=self.clock.last)
        if hlc_ms(newest) > limit_ms:
            newest = max((op.hlc for op in new if hlc_ms(op.hlc) <= limit_ms), default=self.clock.last)
        self.clock.last = max(self.clock.last, newest)
        self._persist_clock(persisted)
        return {op.id: op for op in new}

    def _clashes(self, author: str, mine: list[Op], head_seq: int) -> set[str]:
        """The ids of `author`'s new ops at a seq another op holds: in the log
        (at or below its head) or among `mine`, in arrival order (the first
        at a seq is not one)."""
        seqs = [op.seq for op in mine]
        if min(seqs) > head_seq and len(set(seqs)) == len(seqs):  # the usual case, checked in C
            return set()
        clashes: set[str] = set()
        taken: set[int] = set()
        for op in mine:  # in arrival order, as the one-by-one inserts did
            if op.seq in taken or (
                op.seq <= head_seq
                and self.conn.execute("SELECT 1 FROM ops WHERE author = ? AND seq = ?", (author, op.seq)).fetchone()
            ):
                clashes.add(op.id)
            taken.add(op.seq)
        return clashes

    def _already_logged(self, ids: list[str]) -> set[str]:
        """The `ids` the log holds already. A log smaller than the batch (a
        first sync's) is read whole: fewer rows than asking for every id.
        Its largest rowid bounds its size at the cost of one lookup."""
        last = log_queries.newest_op_row(self.conn)
        if last <= len(ids):
            return {row[0] for row in self.conn.execute("SELECT id FROM ops")} & set(ids)
        return {row[0] for row in self._select_in("SELECT id FROM ops WHERE id IN ({ids})", ids)}

    def _select_in(self, sql: str, ids: list[str]) -> list[tuple[Any, ...]]:
        """The rows of `sql` for `ids` in its `{ids}` list, asked in chunks
        well under SQLite's limit on bound variables."""
        rows: list[tuple[Any, ...]] = []
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows += self.conn.execute(sql.format(ids=", ".join("?" * len(chunk))), chunk).fetchall()
        return rows

    def _release_chains(self, authors: set[str]) -> list[OrderKey]:
        """Mark held ops whose chain back to seq 1 is now complete as ready to
        fold ('ready' lives only within this transaction). An op dated too far
        in the future stays held, and so does everything after it. A fork can
        put several ops at one seq; each links to whichever op it names."""
        ready: list[OrderKey] = []
        released: list[tuple[str]] = []
        if not authors:  # the usual write: nothing of anyone's waits
            return ready
        limit_ms = now_ms() + MAX_DRIFT_MS  # HybridClock.is_too_far_ahead, read once
        for author in authors:
            (first_held,) = self.conn.execute(
                "SELECT min(seq) FROM ops WHERE author = ? AND state = 'held'", (author,)
            ).fetchone()
            if first_held is None:
                continue
            linked: set[str | None] = (
                {None}
                if first_held == 1
                else {
                    r[0]
                    for r in self.conn.execute(
                        "SELECT id FROM ops WHERE author = ? AND seq = ? AND state != 'held'", (author, first_held - 1)
                    )
                }
            )
            rows = self.conn.execute(
                "SELECT id, seq, prev, hlc, state FROM ops WHERE author = ? AND seq >= ? ORDER BY seq",
                (author, first_held),
            ).fetchall()
            seq = first_held
            next_linked: set[str | None] = set()
            for op_id, op_seq, prev, hlc, state in rows:
                if op_seq != seq:
                    if op_seq != seq + 1 or not next_linked:
                        break  # a gap, or nothing at this seq linked up
                    linked, next_linked, seq = next_linked, set(), op_seq
                if prev not in linked or hlc_ms(hlc) > limit_ms:
                    continue
                next_linked.add(op_id)
                if state == "held":
                    released.append((op_id,))
                    ready.append((hlc, author, op_seq))
        if released:
            self.conn.executemany("UPDATE ops SET state = 'ready' WHERE id = ?", released)
        return ready

    def _cuts(self) -> Cuts:
        """The removals and time-outs the current views hold."""
        timeouts: dict[str, list[tuple[int, int, int | None]]] = {}
        for member, last_seq, until, ended in self.conn.execute(
            "SELECT member, last_seq, until_hlc, ended_hlc FROM timeouts ORDER BY member, last_seq, until_hlc"
        ):
            timeouts.setdefault(member, []).append((last_seq, until, ended))
        windows: RoleWindows = {}
        for member, role, last_seq, until_seq in self.conn.execute(
            "SELECT member, role, last_seq, until_seq FROM role_windows ORDER BY member, role, last_seq"
        ):
            windows.setdefault((member, role), {})[last_seq] = until_seq
        joined = frozenset(
            circle
            for (circle,) in self.conn.execute(
                "SELECT circle_id FROM circle_members WHERE member = (SELECT value FROM meta WHERE key = 'me')"
            )
        )
        removed = frozenset(log_queries.removed_devices(self.conn))
        return dict(self.conn.execute("SELECT member, last_seq FROM cutoffs")), timeouts, windows, joined, removed

    def _context(self, hlcs: dict[str, int], cuts: Cuts | None = None, head: OrderKey | None = None) -> FoldContext:
        """`hlcs`: op id -> hlc of every op this pass folds (FoldContext.hlcs),
        from the rows the caller holds; without it the clock rule falls back
        to one query per op.

        The fold is imported here, by the first write or import, not when the
        store opens: opening a group to read it (the app's first frame, cold
        start is measured) never folds."""
        from tablespace.core.fold import FoldContext
        from tablespace.core.fold.context import TimeOutWindow

        forks = dict(self.conn.execute("SELECT author, min(seq) FROM forks GROUP BY author"))
        cutoffs, timeouts, windows, joined, removed = cuts if cuts is not None else self._cuts()
        return FoldContext(
            self.conn,
            self.group_id,
            forks,
            dict(cutoffs),
            {m: [TimeOutWindow(*w) for w in ws] for m, ws in timeouts.items()},
            role_windows={k: dict(w) for k, w in windows.items()},
            head=head,
            hlcs=hlcs,
            circle_keys=self.circle_keys,
            joined_circles=joined,
            removed_devices=set(removed),
        )

    def _fold(self, ready: list[Ready], incoming: dict[str, Op], deferred: list[Op], head: OrderKey | None) -> int:
        """Apply every ready op, sorted and all after the fold `head`, in order;
        rowid is None for the deferred ops (in `incoming`, not in the log yet).
        Ops filed by an earlier batch come with their rows' bytes: one query,
        not one per op (bench_import, 100k). States are written once at the end,
        not per op: see FoldContext.folded for what cut_off sees meanwhile.
        The fold reads the ops table nowhere else, so the deferred rows can be
        inserted afterwards, with their final state."""
        from tablespace.core.fold import apply_op  # on first use: see _context

        ctx = self._context({row[3]: row[0] for row in ready}, head=head)
        bulk = len(ready) >= BULK_FOLD_MIN and len(ready) * 2 >= self.conn.execute(
            "SELECT count(*) FROM ops"
        ).fetchone()[0] + len(deferred)
        rejected: list[tuple[str, str, str | None, int]] = []
        deferred_refusals: dict[str, Refusal] = {}
        with self._derived_in_bulk(bulk):
            for _, _, _, op_id, rowid, signature, body in ready:
                op = incoming.get(op_id)
                if op is None:  # released from held, or filed by an earlier batch
                    op = self.read_op(op_id, signature, body)  # type: ignore[arg-type]
                refusal = apply_op(ctx, op)
                if refusal is not None:
                    if rowid is None:
                        deferred_refusals[op_id] = refusal
                    else:
                        rejected.append((*_refusal_columns(refusal), rowid))
            ctx.flush()
        # Every ready or filed row in the log was just folded: the rejected
        # ones by rowid, then the released rest in one statement (filed rows
        # are accepted already).
        if len(ready) > len(deferred):
            self.conn.executemany(
                "UPDATE ops SET state = 'rejected', reason = ?, reason_kind = ?, reason_data = ? WHERE rowid = ?",
                rejected,
            )
            self.conn.execute(
                "UPDATE ops SET state = 'accepted', reason = NULL, reason_kind = NULL, reason_data = NULL "
                "WHERE state = 'ready'"
            )
        with self._secondary_indexes_rebuilt("ops") if bulk else nullcontext():
            self._insert(deferred, "accepted", deferred_refusals)
        self.set_meta("fold_head", json.dumps(list(ready[-1][:3])))
        if ctx.needs_refold:
            return self.refold()  # a removal reached back into ops already folded
        self._forget_deleted_text(ctx.deleted_text, purge=set() if bulk else ctx.blanked_text)  # bulk: rebuilt
        if ctx.reopen and not self.reopen_circles(ctx.reopen):
            return self.refold()
        return len(ready)

    def reopen_circles(self, circles: set[str]) -> bool:
        """A key to ops already folded unopened has arrived (or our joining,
        to a circle's history): fold those circles' rooms again, their sealed
        ops only, in order (core/fold/circles.py LEAVES_CIRCLE_READS_ALONE).
        False where that would not give what a fold from nothing gives (we
        are not in the circle now, a post cap counts the group's posts, or an
        op since the first of them changed what they read): the caller then
        re-folds everything."""
        from tablespace.core.fold.circles import LEAVES_CIRCLE_READS_ALONE, clear_room, open_details, reopen_sealed

        cuts = self._cuts()
        marks = ", ".join("?" * len(circles))
        rows = self.conn.execute(
            "SELECT o.id, o.signature, o.body, o.state, o.reason, o.reason_kind, o.reason_data, o.hlc, o.author, o.seq "
            f"FROM ops o WHERE o.id IN (SELECT op_id FROM circle_activity WHERE circle_id IN ({marks}) "
            f"UNION ALL SELECT op_id FROM circle_refused WHERE circle_id IN ({marks})) "
            "ORDER BY o.hlc, o.author, o.seq",
            [*sorted(circles), *sorted(circles)],
        ).fetchall()
        safe = sorted(LEAVES_CIRCLE_READS_ALONE)
        if (
            not circles <= cuts[3]
            or self.conn.execute("SELECT 1 FROM settings WHERE key = 'post_cap' AND value != '0'").fetchone()
            or rows
            and self.conn.execute(
                "SELECT 1 FROM ops WHERE state = 'accepted' AND (hlc, author, seq) > (?, ?, ?) "
                f"AND kind NOT IN ({', '.join('?' * len(safe))}) LIMIT 1",
                (*rows[0][7:], *safe),
            ).fetchone()
        ):
            return False
        ctx = self._context({row[0]: row[7] for row in rows}, cuts)
        for circle in sorted(circles):
            clear_room(ctx, circle)
            made_by = self.conn.execute("SELECT id, signature, body FROM ops WHERE id = ?", (circle,)).fetchone()
            open_details(ctx, self.read_op(*made_by))
        changed: list[tuple[str, str | None, str | None, str | None, str]] = []
        for op_id, signature, body, state, reason, reason_kind, reason_data, *_ in rows:
            refusal = reopen_sealed(ctx, self.read_op(op_id, signature, body))
            new = ("accepted", None, None, None) if refusal is None else ("rejected", *_refusal_columns(refusal))
            if new != (state, reason, reason_kind, reason_data):
                changed.append((*new, op_id))
        ctx.flush()
        if ctx.needs_refold:
            return False
        self.conn.executemany(
            "UPDATE ops SET state = ?, reason = ?, reason_kind = ?, reason_data = ? WHERE id = ?", changed
        )
        self._forget_deleted_text(ctx.deleted_text, purge=ctx.blanked_text)
        return True

    @contextmanager
    def _derived_in_bulk(self, bulk: bool) -> Iterator[None]:
        """Row-by-row triggers keep the search indexes and thread_newest
        normally; for a bulk fold, drop them, fold, then rebuild each index
        and catch thread_newest up in one pass each (much faster), and
        restore them. The indexes only reads use (READ_INDEXES) are dropped
        and made again likewise. A failure rolls the drops back with the
        transaction."""
        if not bulk:
            yield
            return
        saved = self._dropped("trigger", list(derived_trigger_names()))
        indexes = self._dropped("index", list(READ_INDEXES))
        yield
        for table in FTS_TABLES:
            fts = f"{table}_fts"
            # FTS5 buffers terms in memory up to its 'hashsize' before writing
            # a segment, then merges segments. At the default a 100k import's
            # rebuild wrote dozens and merged them: ~40% of its time
            # (bench_import). A big buffer for the rebuild only; an ordinary
            # transaction goes back to the default.
            self.conn.execute(f"INSERT INTO {fts} ({fts}, rank) VALUES ('hashsize', ?)", (REBUILD_HASH_BYTES,))
            self.conn.execute(f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')")
            self.conn.execute(f"INSERT INTO {fts} ({fts}, rank) VALUES ('hashsize', ?)", (FTS_HASH_BYTES,))
        self.conn.execute(THREAD_NEWEST_CATCH_UP)
        for _, sql in saved + indexes:
            self.conn.execute(sql)

    def _dropped(self, kind: str, names: list[str]) -> list[tuple[str, str]]:
        """Drop the schema objects of `kind` named (those that exist) and
        return each one's (name, SQL), to make it again."""
        saved = self.conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = ? AND name IN ({', '.join('?' for _ in names)})",
            [kind, *names],
        ).fetchall()
        for name, _ in saved:
            self.conn.execute(f"DROP {kind.upper()} {name}")
        return saved

    @contextmanager
    def _secondary_indexes_rebuilt(self, table: str) -> Iterator[None]:
        """Drop `table`'s own indexes (not its key), then make them again from
        the same SQL: for writing most of its rows at once, where one sort per
        index costs less than a B-tree insert per row (the log's indexes took
        ~0.2 s of CPU off a first sync of 42k ops). Nothing reads the table
        meanwhile; a failure rolls the drop back with the transaction."""
        # A partial index (ops_held: WHERE state = 'held') stays: the rows a
        # bulk insert writes mostly fall outside it, so it costs them nothing,
        # while making it again would scan the whole table once more.
        saved = self.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL "
            "AND sql NOT LIKE '% WHERE %'",
            (table,),
        ).fetchall()
        for name, _ in saved:
            self.conn.execute(f"DROP INDEX {name}")
        yield
        for _, sql in saved:
            self.conn.execute(sql)

    def refold(self) -> int:
        """Recompute every view from the log (Fossil's `rebuild`).

        Removals and time-outs cut off ops wherever they sort, and whether
        one is accepted can depend on what was cut off; so fold from no cutoffs, then
        again with the cutoffs that pass accepted, until they stop changing.
        Always starting from none keeps the result a function of the op set.
        The circles this member ends up in are carried the same way: a
        member let into a circle reads what was written before, on the pass
        after the one that let them in (core/circles.py CircleKeys).
        """
        cuts: Cuts = ({}, {}, {}, frozenset(), frozenset())
        for _ in range(4):
            count, deleted = self._refold_once(cuts)
            found = self._cuts()
            if found == cuts:
                break
            cuts = found
        self._forget_deleted_text(deleted, purge=set())  # the index was rebuilt from the views: nothing to purge
        return count

    def _refold_once(self, cuts: Cuts) -> tuple[int, set[str]]:
        """Returns how many ops were folded, and what the views now hold deleted (FoldContext.deleted_text)."""
        from tablespace.core.fold import apply_op  # on first use: see _context

        # The log keeps each op's state from the last fold while this one runs
        # (so cut_off must not read it: check_log=False), and only the rows
        # whose state or refusal changed are written at the end: a rebuild
        # that changes nothing writes no op row.
        changed: list[tuple[str, str | None, str | None, str | None, str]] = []
        count, last = 0, None
        with self._derived_in_bulk(bulk=True):
            for table in VIEW_TABLES:
                self.conn.execute(f"DELETE FROM {table}")
            rows = self.conn.execute(
                "SELECT id, signature, body, state, reason, reason_kind, reason_data, hlc, author, seq FROM ops "
                "WHERE state != 'held' ORDER BY hlc, author, seq"
            ).fetchall()
            ctx = self._context({row[0]: row[7] for row in rows}, cuts)
            ctx.check_log = False
            for op_id, signature, body, state, reason, reason_kind, reason_data, *key in rows:
                refusal = apply_op(ctx, self.read_op(op_id, signature, body))
                new = ("accepted", None, None, None) if refusal is None else ("rejected", *_refusal_columns(refusal))
                if new != (state, reason, reason_kind, reason_data):
                    changed.append((*new, op_id))
                count, last = count + 1, key
            ctx.flush()
        self.conn.executemany(
            "UPDATE ops SET state = ?, reason = ?, reason_kind = ?, reason_data = ? WHERE id = ?", changed
        )
        if last is not None:
            self.set_meta("fold_head", json.dumps(last))
        return count, ctx.deleted_text

    def rebuild(self) -> int:
        with self.db.atomic():
            return self.refold()

    # --- inspection ----------------------------------------------------------

    def canonical_dump(self) -> str:
        """Every view table and every op's fold state, in a fixed order, as text.
        Two replicas with the same op set produce the same string."""
        lines: list[str] = []
        for table, key in VIEW_TABLES.items():
            columns = [c.name for c in self.db[table].columns]
            lines.append(f"## {table}")
            for row in self.conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {', '.join(key)}"):
                lines.append(json.dumps(row, ensure_ascii=False, default=bytes.hex))  # BLOB columns as hex
        lines.append("## forks")
        for row in self.conn.execute("SELECT author, seq FROM forks ORDER BY author, seq"):
            lines.append(json.dumps(row))
        lines.append("## ops")
        for row in self.conn.execute("SELECT id, state, reason, reason_kind, reason_data FROM ops ORDER BY id"):
            lines.append(json.dumps(row))
        return "\n".join(lines) + "\n"

    def dump_digest(self) -> str:
        return hashlib.sha256(self.canonical_dump().encode()).hexdigest()

    def refused_ops(self, author: str) -> dict[str, tuple[str, Refusal]]:
        """op id -> (op kind, refusal) of each of `author`'s ops the fold refused."""
        return {
            op_id: (kind, Refusal.from_log(reason_kind, reason, data))
            for op_id, kind, reason_kind, reason, data in self.conn.execute(
                "SELECT id, kind, reason_kind, reason, reason_data FROM ops WHERE state = 'rejected' AND author = ?",
                (author,),
            )
        }

    def all_ops(self) -> list[Op]:
        return [
            self.read_op(op_id, sig, body)
            for op_id, sig, body in self.conn.execute("SELECT id, signature, body FROM ops ORDER BY author, seq")
        ]

    # --- deleted text ----------------------------------------------------------

    def read_op(self, op_id: str, signature: bytes, body: bytes) -> Op:
        """An op from its row in the log, its text unsealed if it was deleted."""
        body = bytes(body)
        if is_sealed(body):
            body = self.seal.open(op_id, body)
        return decode_trusted(body, bytes(signature), op_id)

    def _forget_deleted_text(self, deleted: set[str], *, purge: set[str]) -> None:
        """Take the text of deleted posts, threads and resources
        (FoldContext.deleted_text) out of every readable table: seal it in the
        log (core/seal.py): the op that wrote each, every edit of it, and a
        deleted thread's replies the views never showed (refused, or held for
        a gap in their author's chain). And purge it from the search index of
        each table in `purge` (this pass blanked its text, and did not rebuild
        the index): FTS5 keeps a deleted row's terms in its older segments until
        they are merged, so merge them all ('optimize'); secure_delete (connect)
        zeroes the pages it frees."""
        if not deleted:
            return
        ids = sorted(deleted)
        # Only bodies not sealed yet: after a re-fold `deleted` names everything ever deleted.
        rows = self._select_in(f"SELECT rowid, id, body FROM ops WHERE {unsealed_sql('body')} AND id IN ({{ids}})", ids)
        rows += self._select_in(
            "SELECT o.rowid, o.id, o.body FROM text_edits t JOIN ops o ON o.id = t.op_id "
            f"WHERE {unsealed_sql('o.body')} AND t.target IN ({{ids}})",
            ids,
        )
        # Replies are not in text_edits (one row per reply on every import);
        # the few the fold did not accept are found by state, through the
        # states' own indexes (a literal state each: m014).
        for state in ("rejected", "held"):
            rows += [
                (rowid, op_id, body)
                for rowid, op_id, body in self.conn.execute(
                    f"SELECT rowid, id, body FROM ops WHERE state = '{state}' AND kind = 'post.reply' "
                    f"AND {unsealed_sql('body')}"
                )
                if json.loads(body)["d"].get("thread") in deleted
            ]
        unique = {rowid: (op_id, body) for rowid, op_id, body in rows}  # a body sealed twice would not open
        self.conn.executemany(
            "UPDATE ops SET body = ? WHERE rowid = ?",
            [(self.seal.seal(op_id, bytes(body)), rowid) for rowid, (op_id, body) in unique.items()],
        )
        for table in sorted(purge):
            self.conn.execute(f"INSERT INTO {table}_fts ({table}_fts) VALUES ('optimize')")


def _first_of_each(ops: Iterable[Op], result: IngestResult) -> list[Op]:
    """`ops` without a second copy of any op (counted in `result.duplicates`)."""
    new = list(ops)
    if len({op.id for op in new}) == len(new):  # the usual case: one set, no per-op Python
        return new
    seen: set[str] = set()
    first: list[Op] = []
    for op in new:
        if op.id in seen:
            result.duplicates += 1
            continue
        seen.add(op.id)
        first.append(op)
    return first


def _links_on(mine: list[Op], head_seq: int, head_id: str | None, limit_ms: int) -> bool:
    """Whether an author's new ops link, one by one, onto their head (seq
    after seq, each naming the one before) and none is dated too far ahead."""
    seq, prev = head_seq, head_id
    for op in sorted(mine, key=_SEQ):
        if op.seq != seq + 1 or op.prev != prev:
            return False
        seq, prev = op.seq, op.id
    return hlc_ms(max(op.hlc for op in mine)) <= limit_ms


_SEQ = attrgetter("seq")


def _refusal_columns(refusal: Refusal) -> tuple[str, str, str | None]:
    """ops' (reason, reason_kind, reason_data) of a refused op: the reason as
    anyone but its author reads it, and what words it for the author."""
    return refusal.for_others(), refusal.kind.value, refusal.stored_data()
