"""A member's home: one directory per group (identity key + SQLite file), and
a small config. The home is created 0700, key files 0600; the shared folder
never holds any of it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from tablespace.core.errors import TablespaceError
from tablespace.core.files import write_atomically

DB_NAME = "group.db"
KEY_NAME = "identity.pem"
EXCHANGE_KEY_NAME = "exchange.pem"  # the X25519 key wrapped keys are sealed to (sync/keyring.py)
LOCAL_NAME = "local.json"  # this member's settings for the group: transport, etc.


def default_home() -> Path:
    env = os.environ.get("TABLESPACE_HOME")
    return Path(env).expanduser() if env else platformdirs.user_data_path("tablespace")


@dataclass(frozen=True)
class GroupEntry:
    id: str
    name: str
    path: Path


class Home:
    def __init__(self, path: Path | None = None) -> None:
        self.path = (path or default_home()).expanduser().absolute()

    @property
    def groups_dir(self) -> Path:
        return self.path / "groups"

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    def ensure(self) -> None:
        """Create the home (0700) on first use; fail clearly if we cannot write it."""
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.groups_dir.mkdir(exist_ok=True, mode=0o700)
        except OSError as exc:
            raise TablespaceError(f"cannot create the home {self.path}: {exc.strerror}") from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise TablespaceError(f"the home {self.path} is not writable; pick another with --home")

    # --- config --------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        try:
            value = json.loads(self.config_path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def update_config(self, **changes: Any) -> None:
        config = self.config() | changes
        write_atomically(self.config_path, json.dumps(config, indent=2, sort_keys=True).encode(), mode=0o666)

    # --- groups --------------------------------------------------------------

    def groups(self) -> list[GroupEntry]:
        if not self.groups_dir.is_dir():
            return []
        entries = []
        for path in sorted(self.groups_dir.iterdir()):
            db_path = path / DB_NAME
            if not db_path.is_file():
                continue
            entries.append(GroupEntry(path.name, read_group_name(db_path) or path.name, path))
        return entries

    def resolve(self, selector: str | None) -> GroupEntry:
        """Which group a command means: --group NAME (name or id prefix), else
        the only group, else the last one used."""
        groups = self.groups()
        if not groups:
            raise TablespaceError(
                f"no group in {self.path} yet: found one with `tablespace init` or join with `tablespace join`"
            )
        if selector:
            wanted = selector.strip().lower()
            matches = [g for g in groups if g.name.lower() == wanted] or [
                g for g in groups if len(wanted) >= 4 and g.id.startswith(wanted)
            ]
            if len(matches) == 1:
                return matches[0]
            if not matches:
                raise TablespaceError(f"no group called {selector!r} in this home; `tablespace groups` lists them")
            raise TablespaceError(f"{selector!r} matches {len(matches)} groups; use more of the id")
        if len(groups) == 1:
            return groups[0]
        last = self.config().get("last_group")
        for group in groups:
            if group.id == last:
                return group
        names = ", ".join(g.name for g in groups)
        raise TablespaceError(f"this home holds several groups ({names}); choose one with --group NAME")


def read_group_name(db_path: Path) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM settings WHERE key = 'name'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None
