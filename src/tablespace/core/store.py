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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from tablespace.core.clock import HybridClock
from tablespace.core.errors import PermissionDenied, TablespaceError
from tablespace.core.fold import FoldContext, apply_op, is_permission_reason
from tablespace.core.ops import Op, decode_trusted
from tablespace.core.schema import FTS_TABLES, VIEW_TABLES, fts_trigger_names, migrate

OrderKey = tuple[int, str, int]
# Folding at least this many ops at once (and at least half the log) indexes
# the text in one pass at the end instead of row by row through triggers.
BULK_FOLD_MIN = 5000


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
    db = Database(conn)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at checkpoints, never corrupt
    conn.execute("PRAGMA secure_delete = ON")  # deleted bodies are zeroed on disk, not just unlinked
    conn.execute("PRAGMA busy_timeout = 5000")
    return db


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.db = connect(path)
            migrate(self.db)
        except sqlite3.DatabaseError as exc:
            raise TablespaceError(f"cannot open the group database {path}: {exc}") from None
        self.conn = self.db.conn
        self.clock = HybridClock(int(self.get_meta("hlc", "0") or 0))

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
        value = self.get_meta("group_id")
        if value is None:
            raise TablespaceError(f"{self.path} is not a group database")
        return value

    def head(self, author: str) -> tuple[int, str | None]:
        """(seq, op id) of the author's latest op in the log, (0, None) if none."""
        row = self.conn.execute(
            "SELECT seq, id FROM ops WHERE author = ? ORDER BY seq DESC LIMIT 1", (author,)
        ).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def _catch_up_clock(self) -> None:
        """Another connection (the app's sync thread, another process) may have
        moved the persisted clock on; never issue a timestamp behind it."""
        self.clock.last = max(self.clock.last, int(self.get_meta("hlc", "0") or 0))

    def next_hlc(self) -> int:
        """A timestamp for a new local op; call inside the write's transaction."""
        self._catch_up_clock()
        value = self.clock.tick()
        self.set_meta("hlc", str(value))
        return value

    def _fold_head(self) -> OrderKey | None:
        value = self.get_meta("fold_head")
        return tuple(json.loads(value)) if value else None  # type: ignore[return-value]

    # --- the write path ------------------------------------------------------

    def ingest(self, ops: Iterable[Op]) -> IngestResult:
        """File ops in the log and fold whatever became ready, atomically."""
        with self.db.atomic():
            return self._ingest(ops)

    def append_local(self, op: Op) -> None:
        """Ingest one op of our own; if the fold rejects it, undo everything and
        report the reason (a user's request that is not allowed changes nothing)."""
        with self.db.atomic():
            self._ingest([op])
            state, reason = self.conn.execute("SELECT state, reason FROM ops WHERE id = ?", (op.id,)).fetchone()
            if state != "accepted":
                error = PermissionDenied if reason and is_permission_reason(reason) else TablespaceError
                raise error(reason or "the change could not be applied")

    def _ingest(self, ops: Iterable[Op]) -> IngestResult:
        result = IngestResult()
        self._catch_up_clock()
        touched: set[str] = set()
        incoming: dict[str, Op] = {}
        for op in ops:
            if self.conn.execute("SELECT 1 FROM ops WHERE id = ?", (op.id,)).fetchone():
                result.duplicates += 1
                continue
            clash = self.conn.execute(
                "SELECT 1 FROM ops WHERE author = ? AND seq = ?", (op.author, op.seq)
            ).fetchone()
            self.conn.execute(
                """INSERT INTO ops (id, author, seq, prev, hlc, kind, signature, body)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                (op.id, op.author, op.seq, op.prev, op.hlc, op.kind, op.signature, op.body),
            )
            if clash:
                # Two signed ops for one (author, seq): both stay in the log as
                # evidence, and the fold sets aside that author's ops from here.
                self.conn.execute("INSERT OR IGNORE INTO forks (author, seq) VALUES (?, ?)", (op.author, op.seq))
                result.forks.append(op.id)
            touched.add(op.author)
            incoming[op.id] = op
            result.added += 1
            self.clock.observe(op.hlc)
        self.set_meta("hlc", str(self.clock.last))
        # Authors with held ops are re-examined every time: a predecessor may
        # have arrived, or a far-future op's time may have come.
        touched.update(r[0] for r in self.conn.execute("SELECT DISTINCT author FROM ops WHERE state = 'held'"))
        ready = self._release_chains(touched)
        if result.forks:
            result.folded = self.refold()  # a fork reaches back into ops already folded
            result.refolded = True
        elif ready:
            head = self._fold_head()
            if head is None or min(ready) > head:
                result.folded = self._fold(ready, incoming)
            else:
                result.folded = self.refold()
                result.refolded = True
        (result.held,) = self.conn.execute("SELECT count(*) FROM ops WHERE state = 'held'").fetchone()
        return result

    def _release_chains(self, authors: set[str]) -> list[OrderKey]:
        """Mark held ops whose chain back to seq 1 is now complete as ready to
        fold ('ready' lives only within this transaction). An op dated too far
        in the future stays held, and so does everything after it. A fork can
        put several ops at one seq; each links to whichever op it names."""
        ready: list[OrderKey] = []
        for author in authors:
            (first_held,) = self.conn.execute(
                "SELECT min(seq) FROM ops WHERE author = ? AND state = 'held'", (author,)
            ).fetchone()
            if first_held is None:
                continue
            linked: set[str | None] = {None} if first_held == 1 else {
                r[0] for r in self.conn.execute(
                    "SELECT id FROM ops WHERE author = ? AND seq = ? AND state != 'held'", (author, first_held - 1))
            }
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
                if prev not in linked or self.clock.is_too_far_ahead(hlc):
                    continue
                next_linked.add(op_id)
                if state == "held":
                    self.conn.execute("UPDATE ops SET state = 'ready' WHERE id = ?", (op_id,))
                    ready.append((hlc, author, op_seq))
        return ready

    def _context(self, cutoffs: dict[str, int] | None = None) -> FoldContext:
        forks = dict(self.conn.execute("SELECT author, min(seq) FROM forks GROUP BY author"))
        if cutoffs is None:
            cutoffs = dict(self.conn.execute("SELECT member, last_seq FROM cutoffs"))
        return FoldContext(self.conn, self.group_id, forks, dict(cutoffs))

    def _fold(self, keys: list[OrderKey], incoming: dict[str, Op]) -> int:
        """Apply ready ops that all sort after the fold head, in order."""
        ctx = self._context()
        rows = self.conn.execute(
            "SELECT id, signature, body FROM ops WHERE state = 'ready' ORDER BY hlc, author, seq"
        ).fetchall()
        bulk = len(rows) >= BULK_FOLD_MIN and \
            len(rows) * 2 >= self.conn.execute("SELECT count(*) FROM ops").fetchone()[0]
        with self._text_indexing(bulk):
            for op_id, signature, body in rows:
                op = incoming.get(op_id) or decode_trusted(bytes(body), bytes(signature))
                self._apply(ctx, op_id, op)
        self.set_meta("fold_head", json.dumps(max(keys)))
        if ctx.needs_refold:
            return self.refold()  # a removal reached back into ops already folded
        return len(rows)

    def _apply(self, ctx: FoldContext, op_id: str, op: Op) -> None:
        reason = apply_op(ctx, op)
        self.conn.execute(
            "UPDATE ops SET state = ?, reason = ? WHERE id = ?",
            ("accepted" if reason is None else "rejected", reason, op_id),
        )

    @contextmanager
    def _text_indexing(self, bulk: bool) -> Iterator[None]:
        """Row-by-row FTS triggers normally; for a bulk fold, drop them, fold,
        then rebuild each index in one pass (much faster) and restore them."""
        if not bulk:
            yield
            return
        saved = self.conn.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN "
            f"({', '.join('?' for _ in fts_trigger_names())})", fts_trigger_names()
        ).fetchall()
        for name, _ in saved:
            self.conn.execute(f"DROP TRIGGER {name}")
        yield
        for table in FTS_TABLES:
            self.conn.execute(f"INSERT INTO {table}_fts ({table}_fts) VALUES ('rebuild')")
        for _, sql in saved:
            self.conn.execute(sql)

    def refold(self) -> int:
        """Recompute every view from the log (Fossil's `rebuild`).

        Removals cut off ops wherever they sort, and whether a removal is
        accepted can depend on what was cut off; so fold from no cutoffs, then
        again with the cutoffs that pass accepted, until they stop changing.
        Always starting from none keeps the result a function of the op set.
        """
        cutoffs: dict[str, int] = {}
        for _ in range(4):
            count = self._refold_once(cutoffs)
            found = dict(self.conn.execute("SELECT member, last_seq FROM cutoffs"))
            if found == cutoffs:
                break
            cutoffs = found
        return count

    def _refold_once(self, cutoffs: dict[str, int]) -> int:
        with self._text_indexing(bulk=True):
            for table in VIEW_TABLES:
                self.conn.execute(f"DELETE FROM {table}")
            self.conn.execute("UPDATE ops SET state = 'ready', reason = NULL WHERE state != 'held'")
            ctx = self._context(cutoffs)
            rows = self.conn.execute(
                "SELECT id, signature, body, hlc, author, seq FROM ops WHERE state = 'ready' ORDER BY hlc, author, seq"
            ).fetchall()
            for op_id, signature, body, *_ in rows:
                self._apply(ctx, op_id, decode_trusted(bytes(body), bytes(signature)))
        if rows:
            self.set_meta("fold_head", json.dumps(list(rows[-1][3:])))
        return len(rows)

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
                lines.append(json.dumps(row, ensure_ascii=False))
        lines.append("## forks")
        for row in self.conn.execute("SELECT author, seq FROM forks ORDER BY author, seq"):
            lines.append(json.dumps(row))
        lines.append("## ops")
        for row in self.conn.execute("SELECT id, state, reason FROM ops ORDER BY id"):
            lines.append(json.dumps(row))
        return "\n".join(lines) + "\n"

    def dump_digest(self) -> str:
        return hashlib.sha256(self.canonical_dump().encode()).hexdigest()

    def all_ops(self) -> list[Op]:
        return [decode_trusted(bytes(body), bytes(sig)) for sig, body in
                self.conn.execute("SELECT signature, body FROM ops ORDER BY author, seq")]
