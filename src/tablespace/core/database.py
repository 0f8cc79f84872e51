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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database


class LazyDatabase:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._db: Database | None = None

    @property
    def real(self) -> Database:
        if self._db is None:
            from sqlite_utils import Database

            self._db = Database(self.conn)
        return self._db

    def close(self) -> None:
        self.conn.close()

    def __getattr__(self, name: str) -> Any:  # only for names not set on the wrapper
        if name.startswith("__") or name == "_db":
            raise AttributeError(name)
        return getattr(self.real, name)

    def __getitem__(self, table: str) -> Any:
        return self.real[table]
