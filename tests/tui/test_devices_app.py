"""Pairing a second device from the app: the code made on the Devices screen
(under Members), the new home linked from its first-run form, approved by
the first device's next sync, and the device taken away again with a
confirm."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static

from tablespace import actions
from tablespace.actions import found_group, sync_group
from tablespace.core import thread_queries
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.devices import DevicesScreen
from tablespace.tui.modals import ConfirmModal
from tablespace.tui.screens import ThreadsScreen
from tablespace.tui.setup import SetupScreen
from tests.tui.keys import jobs_done
from tests.tui.waits import screen_text, wait_for

SIZE = (80, 24)


def names(screen: DevicesScreen) -> list[str]:
    return [str(row[0]) for row in (screen.query_one(DataTable).get_row_at(n) for n in range(len(screen.devices)))]


async def make_code(home: Home) -> str:
    """Members, then Devices, then a pairing code, as Ben does on his desktop."""
    app = TablespaceApp(Group.open(home), sync=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("D")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DevicesScreen)
        assert names(screen) == ["first device  (this one)"]
        await pilot.press("a")
        await jobs_done(pilot)
        code = screen.pairing_code
        assert code is not None and code.startswith("tsd1-")
        assert app.clipboard == code
        assert code[:20] in screen_text(app)  # shown, as the invite code is
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DevicesScreen)
    app.group.close()
    return code


async def link_from_first_run(home: Home, code: str, shared: Path) -> None:
    """The laptop's empty home: the first-run form's third tab."""
    app = TablespaceApp(None, home, sync=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await pilot.press("ctrl+t", "ctrl+t")  # found → join → link
        assert screen.query_one("#link-code", Input).has_focus
        screen.query_one("#link-code", Input).value = "tsd1-nonsense"
        screen.query_one("#link-name", Input).value = "laptop"
        screen.query_one("#link-folder", Input).value = str(shared)
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert "pairing code" in str(screen.query_one("#setup-error", Static).render())
        assert not home.groups()
        screen.query_one("#link-code", Input).value = code
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, ThreadsScreen)
        assert any("other device" in (n.message or "") for n in app._notifications)
        # What it waits for is the member's own device, not a moderator.
        assert app.title == "Waiting for your other device"
        assert app.screen.thread_list.empty_hint.startswith("Waiting for your other device")
    app.group.close()


async def laptop_takes_up_ben(home: Home) -> None:
    """The laptop's app, open while the approval comes in: its own sync round
    makes it Ben, and every screen reads as Ben from then on."""
    app = TablespaceApp(Group.open(home), watch=False, sync_every=600)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1)
        await wait_for(pilot, lambda: app.group.device != app.group.me)  # Ben, on a key of its own
        assert [t.title for t in thread_queries.threads(app.group.conn)] == ["Before the laptop"]
        assert app.is_moderator()  # Ben founded the group
        await pilot.press("4", "D")
        await pilot.pause()
        assert names(app.screen) == ["first device", "laptop  (this one)"]
    app.group.close()


async def test_pairing_a_laptop_from_the_app_and_taking_it_away(tmp_path, monkeypatch):
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:00:00Z")
    shared = tmp_path / "shared"
    shared.mkdir()
    desk_home, laptop_home = Home(tmp_path / "desk"), Home(tmp_path / "laptop")
    ben = found_group(desk_home, "Bread club", "Ben", Transport(folder=shared))
    actions.post(ben, "Before the laptop", "history the laptop must read")
    sync_group(ben)
    ben.close()

    code = await make_code(desk_home)
    await link_from_first_run(laptop_home, code, shared)
    desk = Group.open(desk_home)
    sync_group(desk)  # the desktop approves: the certificate and the keys for the laptop
    desk.close()
    await laptop_takes_up_ben(laptop_home)

    app = TablespaceApp(Group.open(desk_home), sync=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "D")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DevicesScreen)
        assert names(screen) == ["first device  (this one)", "laptop"]
        await pilot.press("x")  # on this device: refused before any confirm
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmModal)
        await pilot.press("down", "x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("escape")  # changed my mind
        await pilot.pause()
        assert names(screen) == ["first device  (this one)", "laptop"]
        await pilot.press("x")
        await pilot.pause()
        await pilot.click("#yes")
        await jobs_done(pilot)
        assert names(screen) == ["first device  (this one)"]
    app.group.close()


@pytest.fixture
def fixed_code(monkeypatch):
    monkeypatch.setattr("tablespace.actions.devices.token_bytes", lambda n: bytes(range(n)))


def test_devices_screen_at_80x24(app, snap_compare, fixed_code):
    async def make_a_code(pilot) -> None:
        await pilot.press("4", "D", "a")
        await jobs_done(pilot)

    assert snap_compare(app, terminal_size=SIZE, run_before=make_a_code)


async def test_a_waiting_laptop_links_again_with_a_fresh_code_from_the_app(tmp_path, monkeypatch):
    """The first code expired before the desktop synced: the laptop's app,
    still waiting, takes a fresh one on its Devices screen, and the desktop's
    next sync lets it in."""
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T09:00:00Z")
    shared = tmp_path / "shared"
    shared.mkdir()
    desk_home, laptop_home = Home(tmp_path / "desk"), Home(tmp_path / "laptop")
    ben = found_group(desk_home, "Bread club", "Ben", Transport(folder=shared))
    sync_group(ben)
    stale = actions.add_device(ben)
    actions.link_device(laptop_home, stale, "laptop", Transport(folder=shared)).close()
    monkeypatch.setenv("TABLESPACE_NOW", "2026-03-02T11:00:00Z")  # the code has expired
    sync_group(ben)
    fresh = actions.add_device(ben)
    ben.close()

    app = TablespaceApp(Group.open(laptop_home), sync=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4", "D")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DevicesScreen)
        assert screen.check_action("relink", ()) and not screen.check_action("add", ())
        await pilot.press("l")
        await pilot.pause()
        form = app.screen
        form.query_one("#code", Input).value = "tsd1-nonsense"
        form.query_one("#name", Input).value = "laptop"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert app.screen is form  # refused: the form and its text stay
        form.query_one("#code", Input).value = fresh
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert app.screen is screen
    app.group.close()

    desk = Group.open(desk_home)
    assert sync_group(desk).devices_added == 1
    desk.close()
    laptop = Group.open(laptop_home)
    sync_group(laptop)
    assert laptop.me == ben.me != laptop.device
    laptop.close()
