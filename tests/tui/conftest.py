"""A real group, founded in tmp_path under a fixed clock, for the TUI tests."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tablespace import actions
from tablespace.core.clock import iso
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.core.identity import Identity
from tablespace.tui.app import TablespaceApp

NOW = "2026-03-02T09:00:00Z"
BASE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
SIZE = (100, 32)


HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here starts the app under Pilot, seconds each on a shared
    machine: all are slow, so `-m "not slow"` is the quick loop of the layers below."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.slow)


@dataclass
class Kitchen:
    home: Home
    ids: dict[str, str]  # short name -> thread id


@pytest.fixture
def kitchen(tmp_path, monkeypatch) -> Kitchen:
    shared = tmp_path / "shared"
    shared.mkdir()
    home = Home(tmp_path / "home")
    # Fixed keys, so member ids (shown on the Members screen) are the same every run.
    seeds = iter(range(1000))
    monkeypatch.setattr(
        Identity,
        "generate",
        classmethod(
            lambda cls: cls(
                Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"kitchen {next(seeds)}".encode()).digest())
            )
        ),
    )

    def at(minutes: int) -> None:
        monkeypatch.setenv("TABLESPACE_NOW", iso(BASE + timedelta(minutes=minutes)))

    at(0)
    group = Group.found(home, "Sourdough circle", "Ana", Transport(folder=shared))
    ids: dict[str, str] = {}
    at(10)
    ids["welcome"] = actions.post(group, "Welcome to the circle", "Say hi and tell us what you bake.", ["welcome"])
    actions.pin(group, ids["welcome"])
    at(60)
    ids["nail"] = actions.post(group, "My starter smells like nail polish", "Is it **dead**?", ["starter", "help"])
    at(70)
    actions.reply(group, ids["nail"], "It's hungry. Feed it twice a day.")
    at(80)
    actions.reply(group, ids["nail"], "Try a warmer spot, around 26 °C.")
    at(120)
    ids["hydration"] = actions.post(group, "Hydration for a first loaf?", "70% or 75%?", ["hydration"])
    at(300)
    ids["wins"] = actions.post(group, "Friday wins: first open crumb!", "Photos soon.", ["wins"])
    at(310)
    actions.reply(group, ids["wins"], "Congratulations!")
    at(600)
    ids["rye"] = actions.post(group, "Rye starter feeding schedule", "1:5:5 at night works for me.", ["starter", "rye"])
    at(700)
    actions.library_add(
        group,
        "The Perfect Loaf",
        "https://www.theperfectloaf.com",
        "Beginner guides worth following.",
        ["guides", "starter"],
    )
    actions.library_add(group, "Flour water salt yeast", "https://example.org/fwsy", "The classic book.", ["books"])
    actions.ritual_add(
        group, "Friday wins", "Share one win from your week.", "FREQ=WEEKLY;BYDAY=FR", start="2026-01-02"
    )
    # Everything was written by Ana, so it is all read; pretend two threads got
    # news from other members since she last looked.
    with group.store.db.atomic():
        group.conn.execute("DELETE FROM reads WHERE thread_id IN (?, ?)", (ids["hydration"], ids["nail"]))
    group.close()
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    return Kitchen(home, ids)


@pytest.fixture
def group(kitchen: Kitchen) -> Iterator[Group]:
    g = Group.open(kitchen.home)
    yield g
    g.close()


@pytest.fixture(autouse=True)
def reader_in_utc(utc) -> None:  # noqa: ANN001 - the root conftest's fixture
    """The app shows local times: every screen here is read on a UTC clock,
    so snapshots do not follow the machine's zone (in_new_york overrides)."""


@pytest.fixture(autouse=True)
def sections_made_on_their_keys(monkeypatch) -> None:
    """The app prepares every section in idle time after its first frame
    (TablespaceApp.PREPARE_SECTIONS): a second or more of CPU per app, racing
    each test's keys. The tests of that (test_switch.py) turn it on."""
    monkeypatch.setattr(TablespaceApp, "PREPARE_SECTIONS", False)


@pytest.fixture
def app(group: Group) -> TablespaceApp:
    return TablespaceApp(group, sync=False)  # live sync has its own tests (test_live.py)
