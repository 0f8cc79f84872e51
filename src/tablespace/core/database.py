"""A sqlite_utils `Database` made on first use.

Importing sqlite_utils costs ~60-100 ms (it brings click, pluggy and plugin
discovery), and reading a group (the TUI's first frame, `tablespace list`)
needs only the plain sqlite3 connection. `Store.db` is this wrapper: `conn`
and `close()` work without sqlite_utils; anything else (`atomic()`,
`db[table]`, …) creates the real `Database` on the same connection and is
passed through to it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from tablespace.core.errors import Busy

if TYPE_CHECKING:
    from sqlite_utils import Database

# How long a connection waits for another one's write lock (another command,
# the app's sync) before giving up with "database is locked".
BUSY_TIMEOUT_MS = 5000
_SQLITE_BUSY, _SQLITE_LOCKED = 5, 6


def is_busy(exc: sqlite3.Error) -> bool:
    """The database was held by another connection for the whole busy timeout."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    return "database is locked" in str(exc)


@contextmanager
def busy_as_refusal() -> Iterator[None]:
    """A write that waited the whole busy timeout becomes `Busy`: one line
    saying to try again, not a database error."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise Busy(busy_message()) from None
        raise


def busy_message() -> str:
    return (
        f"busy, try again: another tablespace command (or the app) kept this group's database for over "
        f"{BUSY_TIMEOUT_MS / 1000:g} s"
    )


class LazyDatabase:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._db: Database | None = None
        self._depth = 0  # savepoints open inside the current transaction

    @property
    def real(self) -> Database:
        if self._db is None:
            from sqlite_utils import Database

            self._db = Database(self.conn)
        return self._db

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def atomic(self) -> Iterator[LazyDatabase]:
        """A transaction (a savepoint when nested) whose outermost level begins
        IMMEDIATE: it takes the write lock first, waiting out the busy timeout.
        A deferred one that has read and then writes after another connection
        committed fails at once, whatever the timeout (its snapshot is stale)."""
        if self.conn.in_transaction:
            with self._savepoint():
                yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            if self.conn.in_transaction:  # an error may already have ended it
                self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def _savepoint(self) -> Iterator[None]:
        """A nested transaction on the plain connection (as sqlite_utils'
        atomic() does it, without its import or wrapper on every write)."""
        name = f"ts_{self._depth}"
        self._depth += 1
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._depth -= 1
        self.conn.execute(f"RELEASE {name}")

    def __getattr__(self, name: str) -> Any:  # only for names not set on the wrapper
        if name.startswith("__") or name in ("_db", "_depth"):
            raise AttributeError(name)
        return getattr(self.real, name)

    def __getitem__(self, table: str) -> Any:
        return self.real[table]


def one_int(conn: sqlite3.Connection, sql: str, params: tuple[object, ...] = ()) -> int:
    """The one integer of a query that returns one row of one column: a count,
    coalesce(max(...), 0), or a column of a row known to exist."""
    value: int = conn.execute(sql, params).fetchone()[0]
    return value


def tag_list(value: str | None) -> list[str]:
    """A comma-joined column (group_concat of tags or roles) as a sorted list."""
    return sorted(value.split(",")) if value else []
