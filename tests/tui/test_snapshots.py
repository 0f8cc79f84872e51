"""Snapshots of every section at a fixed size and clock (TABLESPACE_NOW).

Update after an intended visual change with `pytest tests/tui --snapshot-update`
and review the SVGs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tablespace.core.home import Home
from tablespace.tui.modals import HelpScreen
from tests.tui.waits import screen_text

SIZE = (100, 32)


@pytest.fixture(autouse=True)
def home_shown_at_a_fixed_path(app, monkeypatch):
    """The help screen says where config.json is: the same path every run."""
    monkeypatch.setattr(Home, "config_path", property(lambda self: Path("/home/ana/.tablespace/config.json")))


def test_threads_section(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["j"])


def test_thread_view(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["end", "enter", "_", "j"])


def test_rituals_section(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["2"])


def test_library_section(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["3"])


def test_members_section(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["4"])


def test_help_screen(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, press=["question_mark"])


# Every section, the thread view and the help screen at the smallest size
# the app promises to fit (80x24) and a roomy one, so what matters is seen
# in full at both: the header's count, the footer's palette hint, the columns.
# Health, Moderation and Inbox are taken at both sizes in their own test
# files, with the members and reports that fill them.
EVERY_SCREEN = {
    "threads": [],
    "thread_view": ["end", "enter"],
    "rituals": ["2"],
    "library": ["3"],
    "members": ["4"],
    "help": ["question_mark"],
}


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("screen", EVERY_SCREEN)
def test_every_screen_at_both_sizes(app, snap_compare, screen, size):
    assert snap_compare(app, terminal_size=size, press=EVERY_SCREEN[screen])


async def test_moderation_says_why_reports_cannot_be_read(app):
    """This home holds no exchange key (founded without one): the section
    says so instead of failing."""
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("6")
        await pilot.pause()
        assert type(app.screen).__name__ == "ModerationScreen"
        assert "Reports cannot be read: no exchange key" in screen_text(app)


@pytest.mark.parametrize("screen", ["threads", "thread_view", "rituals", "library", "members"])
async def test_every_key_of_help_is_on_screen_at_80x24(app, screen):
    """`?` lists every key of the screen below it, each beside what it does,
    none below the fold or cut short at the smallest size the app fits."""
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*EVERY_SCREEN[screen])
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause()
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen) and len(help_screen.rows) > 20
        text = screen_text(app)
        for row in help_screen.rows:
            assert re.search(re.escape(row.key) + r" +" + re.escape(row.description) + r"(  |$|│)", text, re.M), row
        assert "config.json" in text and "esc close" in text
