"""The app stays responsive while an action waits on a slow git remote: the
action runs on a worker, and keys typed meanwhile are handled at once.

The remote is a real bare repository; `git` on the PATH is a wrapper that
takes SLOW seconds before every network command, then runs the real git.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tablespace.actions import create_invite, found_group, join_group, sync_group
from tablespace.core import queries
from tablespace.core.group import Transport
from tablespace.core.home import Home
from tablespace.sync.git import git_env
from tablespace.tui.app import TablespaceApp
from tablespace.tui.modals import HelpScreen
from tablespace.tui.moderation import ModerationScreen

SLOW = 3.0
NETWORK = "fetch|push|pull|clone|ls-remote"


def slow_git(bin_dir: Path, switch: Path) -> None:
    """A `git` that waits SLOW seconds before talking to a remote while `switch` exists."""
    real = shutil.which("git")
    bin_dir.mkdir()
    shim = bin_dir / "git"
    shim.write_text(f"""#!/bin/sh
if [ -e "{switch}" ]; then
  for arg in "$@"; do
    case "$arg" in {NETWORK}) sleep {SLOW}; break;; esac
  done
fi
exec "{real}" "$@"
""")
    shim.chmod(0o755)


@pytest.fixture
def over_slow_git(tmp_path, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    switch = tmp_path / "slow"
    slow_git(tmp_path / "bin", switch)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True, env=git_env())
    transport = Transport(git=str(remote))
    ana = found_group(Home(tmp_path / "ana"), "Sourdough circle", "Ana", transport)
    sync_group(ana)
    ben, _request = join_group(Home(tmp_path / "ben"), create_invite(ana, timedelta(days=1), 1), "Ben", transport)
    ben.close()
    sync_group(ana)  # the request is in Ana's clone
    switch.touch()  # from here on the remote takes seconds to answer
    yield ana
    ana.close()


async def test_keys_are_handled_while_an_admit_waits_on_a_slow_remote(over_slow_git) -> None:
    ana = over_slow_git
    app = TablespaceApp(ana, sync=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("6", "right_square_bracket")
        screen = app.screen
        assert isinstance(screen, ModerationScreen) and [r.name for r in screen.requests] == ["Ben"]
        started = time.monotonic()
        await pilot.press("a")  # pulls, then pushes the grant: at least 2 * SLOW seconds
        await pilot.pause()
        assert "admitting Ben" in app.sub_title  # the header says what is running
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert time.monotonic() - started < SLOW  # handled while the remote was still answering
        assert app.jobs == ["admitting Ben"]
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.jobs == [] and "admitting" not in app.sub_title
        assert time.monotonic() - started >= SLOW
        assert screen.requests == []
    assert "Ben" in {m.name for m in queries.members(ana.conn)}


async def test_keys_are_handled_while_a_sync_waits_on_a_slow_remote(over_slow_git) -> None:
    ana = over_slow_git
    app = TablespaceApp(ana, watch=False, sync_every=600)
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + 4 * SLOW
        while app.sync_rounds < 1 and time.monotonic() < deadline:  # the first round, slow too
            await pilot.pause(0.05)
        started = time.monotonic()
        await pilot.press("s")
        while not app.sync_status.running:
            assert time.monotonic() - started < SLOW, "the round did not start"
            await pilot.pause(0.02)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert app.sync_status.running  # the round is still waiting on the remote
        assert time.monotonic() - started < SLOW
