"""Snapshots of every section at a fixed size and clock (TABLESPACE_NOW).

Update after an intended visual change with `pytest tests/tui --snapshot-update`
and review the SVGs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tablespace.core.home import Home

SIZE = (100, 32)


@pytest.fixture(autouse=True)
def home_shown_at_a_fixed_path(app, monkeypatch):
    """The help screen says where config.json is: the same path every run."""
    monkeypatch.setattr(Home, "config_path", property(lambda self: Path("/home/ana/.tablespace/config.json")))


def test_threads_section(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["j"])


def test_thread_view(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["end", "enter", "_", "j"])


def test_threads_section_narrow(app, snap_compare):
    assert snap_compare(app, terminal_size=(80, 24))


def test_rituals_section(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["2"])


def test_library_section(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["3"])


def test_members_section(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["4"])


def test_help_screen(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["question_mark"])


def test_help_screen_narrow(app, snap_compare):
    assert snap_compare(app, terminal_size=(80, 24), press=["question_mark"])
