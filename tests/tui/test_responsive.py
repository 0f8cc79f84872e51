"""The app stays responsive while an action waits on a slow git remote: the
action runs on a worker, and keys typed meanwhile are handled at once.

The remote is a real bare repository; `git` on the PATH is a wrapper that
takes SLOW seconds before every network command, then runs the real git.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tablespace.actions import create_invite, found_group, join_group, post, sync_group
from tablespace.core import member_queries, post_queries
from tablespace.core.group import Transport
from tablespace.core.home import DB_NAME, Home
from tablespace.sync.git import git_env
from tablespace.tui.app import TablespaceApp
from tablespace.tui.modals import HelpScreen
from tablespace.tui.moderation import ModerationScreen
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.waits import wait_for

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
        assert isinstance(screen, ModerationScreen)
        await wait_for(pilot, lambda: [r.name for r in screen.requests] == ["Ben"])  # read on a worker
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
        await wait_for(pilot, lambda: screen.requests == [])
    assert "Ben" in {m.name for m in member_queries.members(ana.conn)}


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


async def test_a_write_waits_on_a_worker_while_a_slow_sync_holds_things_up(over_slow_git) -> None:
    """A reaction made while a round waits on the remote, and while another
    command's long write holds the database: the reaction waits for it on a
    worker, keys are handled meanwhile, and the reaction shows once the
    write is done."""
    ana = over_slow_git
    thread = post(ana, "Crumb shots", "Show us yours.")
    app = TablespaceApp(ana, watch=False, sync_every=600)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.sync_rounds >= 1, timeout=4 * SLOW)  # the first round, slow too
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, ThreadScreen) and screen.thread_id == thread
        await pilot.press("s")
        await wait_for(pilot, lambda: app.sync_status.running, timeout=SLOW)
        holder = sqlite3.connect(ana.path / DB_NAME, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the database is another command's until we let go
        try:
            started = time.monotonic()
            await pilot.press("plus", "8")
            await wait_for(pilot, lambda: "reacting" in app.jobs, timeout=SLOW)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert time.monotonic() - started < SLOW  # handled while the write and the round both wait
            assert app.sync_status.running and "reacting" in app.jobs
            assert not screen.query(".post-reactions")
            await pilot.press("escape")
        finally:
            holder.rollback()
            holder.close()
        await wait_for(pilot, lambda: bool(screen.query(".post-reactions")), timeout=2 * SLOW)
        assert "🍞 you" in str(screen.query_one(".post-reactions").render())  # mine, alone
        assert app.jobs == [] or "reacting" not in app.jobs
    assert post_queries.thread(ana.conn, thread).posts[0].reactions == {"🍞": 1}
