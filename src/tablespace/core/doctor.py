"""Health checks for a member's home and group, each with a way to fix it."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterable, Iterator

from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group
from tablespace.core.home import DB_NAME, KEY_NAME, GroupEntry, Home
from tablespace.core.store import Store

Check = tuple[bool, str]
SyncChecks = Callable[[Group], Iterable[Check]]


def _private(mode: int) -> bool:
    return stat.S_IMODE(mode) & 0o077 == 0


def diagnose(home: Home, selector: str | None, sync_checks: SyncChecks | None = None) -> Iterator[Check]:
    """`sync_checks` looks at the group's folder or git remote and its
    quarantine; it lives in sync (core knows no transport), so the caller
    passes it in."""
    if not home.path.is_dir():
        yield False, f"home {home.path} does not exist: found a group with `tablespace init` or join one"
        return
    mode = home.path.stat().st_mode
    yield (
        _private(mode),
        f"home {home.path} is private (mode {oct(stat.S_IMODE(mode))})"
        + ("" if _private(mode) else f"; fix: chmod 700 {home.path}"),
    )
    try:
        entry = home.resolve(selector)
    except TablespaceError as exc:
        yield False, str(exc)
        return
    key = entry.path / KEY_NAME
    if key.is_file():
        key_mode = key.stat().st_mode
        yield (
            _private(key_mode),
            f"identity key {key} is readable only by you" + ("" if _private(key_mode) else f"; fix: chmod 600 {key}"),
        )
        from tablespace.core import keyfile
        from tablespace.core.identity import Identity

        if not keyfile.keys_locked(entry.path):  # a locked key is not opened here: doctor asks no passphrase
            try:
                Identity.load(key).public_key  # noqa: B018 - opening a group defers parsing the key: check it here
                yield True, "identity key parses"
            except TablespaceError as exc:
                yield False, f"{exc}; restore it from a backup, or join the group again"
        yield keyfile.describe(entry.path)
    else:
        yield False, f"identity key {key} is missing: restore it from a backup, or join the group again"
    try:
        store = Store(entry.path / DB_NAME)
    except TablespaceError as exc:  # damaged, or a pending re-fold that needs the missing key
        yield False, str(exc)
        return
    try:
        result = store.conn.execute("PRAGMA integrity_check").fetchone()[0]
        yield (
            result == "ok",
            f"database {store.path} integrity: {result}"
            + ("" if result == "ok" else "; fix: restore a backup, then `tablespace sync` refills it from the folder"),
        )
        held = store.conn.execute("SELECT count(*) FROM ops WHERE state = 'held'").fetchone()[0]
        yield True, f"{held} op(s) waiting for earlier ops from their author"
    finally:
        store.close()
    if sync_checks is not None:
        yield from _sync(home, entry, sync_checks)


def _sync(home: Home, entry: GroupEntry, checks: SyncChecks) -> Iterator[Check]:
    group = Group(home, entry)
    try:
        yield from checks(group)
    except TablespaceError as exc:  # e.g. local.json damaged: no transport to check
        yield False, str(exc)
    finally:
        group.close()
