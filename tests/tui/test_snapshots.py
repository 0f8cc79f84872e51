"""Snapshots of the Threads section at a fixed size and clock (TABLESPACE_NOW).

Update after an intended visual change with `pytest tests/tui --snapshot-update`
and review the SVGs.
"""

from __future__ import annotations

SIZE = (100, 32)


def test_threads_section(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["j"])


def test_thread_view(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["end", "enter", "_", "j"])


def test_threads_section_narrow(app, snap_compare):
    assert snap_compare(app, terminal_size=(80, 24))
