"""Sync-aware entry points for the CLI and the TUI: founding a group with its
first epoch key, and running a sync round over the group's transport."""

from __future__ import annotations

from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.sync.engine import SyncEngine, SyncReport
from tablespace.sync.folder import FolderStore, SyncUnavailable
from tablespace.sync.keyring import Keyring


def found_group(home: Home, name: str, display_name: str, transport: Transport, *, purpose: str = "") -> Group:
    group = Group.found(home, name, display_name, transport, purpose=purpose)
    Keyring.create(group.path, first_epoch_key=True)
    return group


def engine_for(group: Group) -> SyncEngine:
    transport = group.transport
    if transport.folder is None:
        raise SyncUnavailable("sync over a git remote is not available yet; use --folder")
    return SyncEngine(group, FolderStore(transport.folder, group.id), Keyring.load(group.path))


def sync_group(group: Group) -> SyncReport:
    group.open_due_rituals()
    return engine_for(group).run()
