"""Shared fixtures: a temp home under a fixed clock, and a founded group.

Hypothesis profiles: "ci" (the default, quick) and "long" (chosen by
TABLESPACE_LONG_FUZZ=1, many more examples for a nightly or local soak).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tablespace.core.group import Group, Transport
from tablespace.core.home import Home

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
