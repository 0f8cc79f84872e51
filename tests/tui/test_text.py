"""The app never hands the terminal a member's control characters or bidi
overrides: what it actually renders shows them spelled out, in every section."""

from __future__ import annotations

from pathlib import Path

import pytest

from tablespace import actions
from tablespace.actions import found_group
from tablespace.core import limits
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.waits import wait_for

SIZE = (120, 40)
NASTY = "\x1b]52;c;YQ==\x07\x1b[2J\x9b31m\r\u202eevil\u2069"
UNSAFE = {chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    """A group whose text was folded before the input rules (as an older
    replica holds it): every kind of member text carries NASTY."""
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:00:00Z")
    (tmp_path / "shared").mkdir()
    home = Home(tmp_path / "home")
    with monkeypatch.context() as old_rules:
        old_rules.setattr(limits, "refuse_unsafe", lambda *args, **kwargs: None)
        group = found_group(home, f"Circle{NASTY}", f"Ana{NASTY}", Transport(folder=tmp_path / "shared"))
        thread = actions.post(group, f"Loaf{NASTY}", f"crumb{NASTY}\n\nsecond paragraph", ["bread"])
        actions.reply(group, thread, f"reply{NASTY}")
        actions.react(group, thread, "\x1b]52;c;YQ==\x07")
        actions.library_add(group, f"Book{NASTY}", "https://e.org/\x9b2J", f"summary{NASTY}", [])
        actions.ritual_add(group, f"Wins{NASTY}", f"prompt{NASTY}", "FREQ=WEEKLY;BYDAY=MO", start="2026-03-02")
        actions.change_settings(group, rules=f"rules{NASTY}", conduct=f"conduct{NASTY}")
    group.close()
    return home


def screen_text(app: TablespaceApp) -> str:
    """Every character the app would write to the terminal now, without our own styling."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def assert_spelled_out(app: TablespaceApp, *expected: str) -> str:
    text = screen_text(app)
    assert {c for c in text if c in UNSAFE} - {"\n"} == set(), text
    for word in expected:
        assert word in text, (word, text)
    return text


async def test_every_section_shows_member_text_spelled_out(home: Home) -> None:
    group = Group.open(home)
    app = TablespaceApp(group, sync=False)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.pause()
            assert_spelled_out(
                app, "Loaf\\x1b]52;c;YQ==\\x07\\x1b[2J\\x9b31m\\x0d\\u202eevil\\u2069", "Circle\\x1b]52"
            )  # thread list and the header
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ThreadScreen)
            assert_spelled_out(
                app, "Loaf\\x1b]52", "crumb\\x1b]52", "reply\\x1b]52", "Ana\\x1b]52", "\\x1b]52;c;YQ==\\x07 you"
            )  # heading, bodies (Markdown), author, reaction (the reader's own)
            await pilot.press("escape", "slash")
            await pilot.pause()
            await pilot.press(*"crumb")
            await wait_for(pilot, lambda: "\\x1b]52;c;YQ" in screen_text(app))  # the search's snippet
            assert_spelled_out(app, "Loaf\\x1b]52", "\\x1b]52;c;YQ")  # search: title and snippet
            await pilot.press("escape", "2")
            await pilot.pause()
            assert_spelled_out(app, "Wins\\x1b]52", "prompt\\x1b]52")
            await pilot.press("3")
            await pilot.pause()
            assert_spelled_out(app, "Book\\x1b]52", "summary\\x1b]52", "https://e.org/\\x9b2J")
            await pilot.press("4")
            await pilot.pause()
            assert_spelled_out(app, "Ana\\x1b]52", "conduct\\x1b]52")
            await pilot.press("6")
            await pilot.pause()
            assert_spelled_out(app)
            app.notify(f"a toast{NASTY}", title=f"title{NASTY}")
            await wait_for(pilot, lambda: "toast\\x1b]52" in screen_text(app))
            assert_spelled_out(app, "toast\\x1b]52", "title\\x1b]52")
    finally:
        group.close()
