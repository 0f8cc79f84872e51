"""A group of two real homes synced through a real folder, as the TUI tests
that need a second member build it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tablespace import actions
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home


def ana_and_ben(tmp_path: Path, name: str = "Ben") -> tuple[Group, Group]:
    """Ana founds a group in tmp_path/"shared" and admits a second member
    under `name`: both homes (tmp_path/"ana" and "ben") come back open,
    neither synced since the admission, for the caller to write in, sync
    and close."""
    shared = tmp_path / "shared"
    shared.mkdir()
    transport = Transport(folder=shared)
    ana = actions.found_group(Home(tmp_path / "ana"), "Sourdough circle", "Ana", transport)
    actions.sync_group(ana)
    code = actions.create_invite(ana, timedelta(days=1), 1)
    ben, request = actions.join_group(Home(tmp_path / "ben"), code, name, transport)
    actions.admit(ana, request[:8])
    return ana, ben
