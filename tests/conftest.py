"""Shared fixtures: a temp home under a fixed clock, and a founded group.

Hypothesis profiles: "ci" (the default, quick) and "long" (chosen by
TABLESPACE_LONG_FUZZ=1, many more examples for a nightly or local soak).

Every test in this process also runs without flushes to disk and with new
databases copied from one migrated once (the two autouse fixtures below):
TABLESPACE_TEST_FLUSH=1 runs with real flushes and migrations everywhere.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

from tablespace.core import store
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home

if TYPE_CHECKING:
    from tablespace.core.database import Database
    from tests.desktop_bus import NotificationServer

settings.register_profile("ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("long" if os.environ.get("TABLESPACE_LONG_FUZZ") == "1" else "ci")

FIXED_NOW = "2026-03-02T09:00:00Z"


@pytest.fixture(autouse=True)
def cheap_passphrases(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """scrypt at a token cost (a real key file takes about a second to open),
    no passphrase from the environment unless a test sets one, and nothing
    unlocked carried from one test to the next."""
    from tablespace.core import keyfile

    monkeypatch.setattr(keyfile, "WORK_FACTOR", 4)
    monkeypatch.delenv(keyfile.PASSPHRASE_ENV, raising=False)
    monkeypatch.delenv("TABLESPACE_NEW_PASSPHRASE", raising=False)
    with keyfile.forgetting():
        yield
    keyfile.set_asker(None)


@pytest.fixture(autouse=True)
def clock_and_home_put_back() -> Iterator[None]:
    """TABLESPACE_NOW and TABLESPACE_HOME as each test found them: a replica
    machine's script sets them directly, and one that stops halfway (an
    expected failure) must not move the clock of the next test on its worker."""
    saved = {name: os.environ.get(name) for name in ("TABLESPACE_NOW", "TABLESPACE_HOME")}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


REAL_DISK = os.environ.get("TABLESPACE_TEST_FLUSH") == "1"


@pytest.fixture(autouse=True)
def no_flushes_to_disk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """fsync and SQLite's syncs as no-ops: a flush only matters if the machine
    loses power, which no test does (a killed process leaves its writes in the
    OS cache), and on a shared disk they are most of the suite's wall time.
    A test about sync levels asks for real ones with @pytest.mark.disk_flushes."""
    if REAL_DISK or request.node.get_closest_marker("disk_flushes"):
        return
    real_connect = store.connect

    def connect_without_syncs(path: Path) -> Database:
        db = real_connect(path)
        db.conn.execute("PRAGMA synchronous = OFF")
        return db

    monkeypatch.setattr(store, "connect", connect_without_syncs)
    monkeypatch.setattr(os, "fsync", lambda fd: None)


_migrated: dict[str, Path] = {}  # the template, once per process


def migrated_template(tmp_path_factory: pytest.TempPathFactory, real_migrate: Callable[[Database], None]) -> Path:
    """An empty group database, migrated by the real migrations the first time it is asked for."""
    if "db" not in _migrated:
        path = tmp_path_factory.mktemp("migrated") / "group.db"
        db = store.connect(path)
        real_migrate(db)
        db.close()
        _migrated["db"] = path
    return _migrated["db"]


@pytest.fixture(autouse=True)
def new_databases_copy_a_migrated_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A new database gets a page-for-page copy of one the real migrations made
    in this process (they cost a tenth of a second a database, and a run makes
    hundreds); a database with anything in it is migrated for real."""
    if REAL_DISK:
        return
    real_migrate = store.migrate

    def migrate(db: Database) -> None:
        if db.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            real_migrate(db)
        else:
            # A connection of its own each time: the app founds and joins on worker threads.
            with closing(sqlite3.connect(migrated_template(tmp_path_factory, real_migrate))) as template:
                template.backup(db.conn)

    monkeypatch.setattr(store, "migrate", migrate)


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> str:
    """Freeze the wall clock (TABLESPACE_NOW) for the test; returns the instant."""
    monkeypatch.setenv("TABLESPACE_NOW", FIXED_NOW)
    return FIXED_NOW


@pytest.fixture
def home(tmp_path, monkeypatch: pytest.MonkeyPatch, frozen_now: str) -> Home:
    """An empty member home in tmp_path (TABLESPACE_HOME points at it too)."""
    path = tmp_path / "home"
    monkeypatch.setenv("TABLESPACE_HOME", str(path))
    return Home(path)


@pytest.fixture
def shared_folder(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    return folder


@pytest.fixture
def group(home: Home, shared_folder) -> Iterator[Group]:
    """A freshly founded group; the founder ("Ada") is its only member and moderator."""
    founded = Group.found(home, "Sourdough Circle", "Ada", Transport(folder=shared_folder))
    yield founded
    founded.close()


# A quick loop stays quick: TABLESPACE_TEST_BUDGET=SECONDS fails any test not
# marked slow whose own run (not its fixtures) took longer. Off by default: a
# busy machine stretches wall time, so set it on a quiet one (a budget of 3 s
# leaves room for a machine twice as slow as the one the suite was timed on).
BUDGET_ENV = "TABLESPACE_TEST_BUDGET"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    budget = os.environ.get(BUDGET_ENV)
    quick = report.when == "call" and report.passed and item.get_closest_marker("slow") is None
    if budget and quick and call.duration > float(budget):
        report.outcome = "failed"
        report.longrepr = (
            f"took {call.duration:.1f} s, over the {budget} s a test not marked slow may take "
            f"({BUDGET_ENV}); make it cheaper, or mark it slow if it is an end-to-end test"
        )
    return report


def _local_zone(monkeypatch: pytest.MonkeyPatch, zone: str) -> Iterator[None]:
    """The process's local time zone set to `zone` for one test, then put back."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The reader's clock is UTC's (quiet hours and local times are local)."""
    yield from _local_zone(monkeypatch, "UTC")


@pytest.fixture
def in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The reader's clock is New York's (the test machine's may be UTC)."""
    yield from _local_zone(monkeypatch, "America/New_York")


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotificationServer]:
    """A desktop of the test's own (tests/desktop_bus.py): a session bus with a
    notification server on it, as the DBUS_SESSION_BUS_ADDRESS every notifier
    in the test (and every process it starts) sees. Skips without dbus-daemon."""
    from tests.desktop_bus import have_dbus, session_bus

    if not have_dbus():
        pytest.skip("dbus-daemon is not installed")
    with session_bus(tmp_path) as (server, address):
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield server
