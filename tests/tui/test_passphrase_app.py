"""The app with a group whose keys are locked by a passphrase: it asks in a
masked field before it syncs, asks again after a wrong one, and then syncs
and writes."""

from __future__ import annotations

import pytest

from tablespace.actions import found_group
from tablespace.core import keyfile, thread_queries
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.modals import PassphraseModal
from tests.tui.waits import refusal_line, wait_for

NOW = "2026-03-02T09:00:00Z"
SIZE = (100, 32)
PASSPHRASE = "warm kitchen"


@pytest.fixture
def locked_home(tmp_path, monkeypatch) -> Home:
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    shared = tmp_path / "shared"
    shared.mkdir()
    home = Home(tmp_path / "ana")
    with keyfile.new_keys_locked(PASSPHRASE):
        found_group(home, "Sourdough circle", "Ana", Transport(folder=shared)).close()
    keyfile.forget()  # as a new process would start
    return home


async def test_the_app_asks_for_the_passphrase_again_after_a_wrong_one_then_syncs(locked_home: Home) -> None:
    group = Group.open(locked_home)
    app = TablespaceApp(group, watch=False, sync_every=600)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, PassphraseModal)
            field = app.screen.query_one("#passphrase")
            assert field.password  # masked
            assert app.sync_rounds == 0  # nothing synced before the keys open
            await pilot.press(*"warm kitchens", "enter")
            await pilot.pause()
            assert isinstance(app.screen, PassphraseModal) and field.value == ""
            assert "wrong passphrase" in refusal_line(app)
            await pilot.press(*PASSPHRASE, "enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, PassphraseModal))
            await wait_for(pilot, lambda: app.sync_rounds >= 1)
            assert app.sync_status.problem is None
            await pilot.press("c")
            await pilot.pause()
            await pilot.press(*"Oven thermometer?")
            app.screen.query_one("#body").text = "Which one do you use?"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: app.sync_rounds >= 2)
            assert "Oven thermometer?" in [t.title for t in thread_queries.threads(group.conn)]
    finally:
        group.close()


async def test_escape_reads_without_the_keys_and_does_not_sync(locked_home: Home) -> None:
    group = Group.open(locked_home)
    app = TablespaceApp(group, watch=False, sync_every=600)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, PassphraseModal)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, PassphraseModal)
            assert app.sync_loop is None and "Read only" in [n.title for n in app._notifications]
    finally:
        group.close()


async def test_the_right_passphrase_in_the_environment_asks_nothing(locked_home: Home, monkeypatch) -> None:
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, PASSPHRASE)
    group = Group.open(locked_home)
    app = TablespaceApp(group, watch=False, sync_every=600)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: app.sync_rounds >= 1)
            assert not isinstance(app.screen, PassphraseModal) and app.sync_status.problem is None
    finally:
        group.close()
