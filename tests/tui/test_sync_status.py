"""The header's sync status for a joiner the moderators answered: a real
group, a real folder, one real round of the app's sync thread."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tablespace.actions import create_invite, deny, found_group, join_group, sync_group
from tablespace.core.group import Transport
from tablespace.core.home import Home
from tablespace.tui.live import SyncStatus, one_round
from tests.tui.waits import wait_for


def test_a_turned_down_joiner_sees_it_in_the_header(tmp_path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    transport = Transport(folder=folder)
    ana = found_group(Home(tmp_path / "ana"), "Sourdough circle", "Ana", transport)
    code = create_invite(ana, timedelta(days=1), 1)
    sync_group(ana)
    ben, request = join_group(Home(tmp_path / "ben"), code, "Ben", transport)
    try:
        waiting = one_round(ben, SyncStatus())
        assert waiting.join_answer is None and "not admitted" not in waiting.line()
        deny(ana, request[:8], "not this time")
        status = one_round(ben, waiting)
        assert status.join_answer == "declined"
        assert status.line(80).startswith("⚠ not admitted: declined")
        assert status.line(20) == "⚠ not admitted"
    finally:
        ana.close()
        ben.close()


async def test_the_moderation_pane_reads_the_git_clone_without_fetching(tmp_path) -> None:
    """The pane refreshes after every sync round; over git it reads the clone
    the round just pulled, never the network (a fetch would stall the screen)."""
    import shutil
    import subprocess

    from tablespace.sync.git import git_env
    from tablespace.tui.app import TablespaceApp
    from tablespace.tui.moderation import ModerationScreen

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True, env=git_env())
    transport = Transport(git=str(remote))
    ana = found_group(Home(tmp_path / "ana"), "Sourdough circle", "Ana", transport)
    code = create_invite(ana, timedelta(days=1), 1)
    sync_group(ana)
    ben, request = join_group(Home(tmp_path / "ben"), code, "Ben", transport)
    ben.close()
    sync_group(ana)  # the request is in Ana's clone now
    remote.rename(tmp_path / "gone.git")  # no network from here on
    try:
        async with TablespaceApp(ana, sync=False).run_test(size=(100, 30)) as pilot:
            await pilot.press("6")
            await pilot.pause()
            screen = pilot.app.screen
            assert isinstance(screen, ModerationScreen)
            await wait_for(pilot, lambda: [r.id for r in screen.requests] == [request])  # read on a worker
    finally:
        ana.close()
