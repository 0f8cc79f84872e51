"""What the app's cold start imports: the heavy libraries wait for first use.

Opening a group and painting the first frame needs none of sqlite_utils
(writes, migrations), cryptography (signing, and only once the key is parsed),
dateutil (ritual schedules), humanize (the list's times are written out in
tui.format), Markdown (post bodies) or watchfiles (live sync); bench_tui
measures the time this saves.
"""

from __future__ import annotations

import gc
import os
import pty
import select
import subprocess
import sys

import pytest

from tablespace import actions
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group
from tablespace.core.identity import Identity
from tablespace.tui.app import TablespaceApp
from tablespace.tui.chrome import KeyFooter
from tests.clirun import TS
from tests.tui.waits import wait_for

DEFERRED = ("sqlite_utils", "cryptography", "dateutil", "humanize", "markdown_it", "watchfiles")

CHILD = """
import sys
from pathlib import Path
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp

class First(TablespaceApp):
    def on_ready(self):
        print("LOADED", *sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2:])), flush=True)
        self.exit()
    def _warm_up(self, section_modules):  # the app loads them after the first frame; not measured here
        pass

group = Group.open(Home(Path(sys.argv[1])))
First(group, sync=False).run(headless=True, size=(100, 40))
group.close()
"""


def test_first_frame_loads_none_of_the_deferred_libraries(kitchen):
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(kitchen.home.path), *DEFERRED], capture_output=True, text=True, timeout=60
    )
    loaded = next((line for line in result.stdout.splitlines() if line.startswith("LOADED")), None)
    assert loaded == "LOADED", (result.returncode, result.stdout[-500:], result.stderr[-2000:])


def test_a_group_opens_without_parsing_its_key_and_checks_it_at_first_use(tmp_path, kitchen):
    group = Group.open(kitchen.home)
    try:
        assert group.identity._private_key is None  # our id came from the database
        me = group.me
        actions.post(group, "Signed on demand")
        assert group.identity.author_id == me
    finally:
        group.close()
    # A key file swapped for another member's is refused at the first signature.
    key = tmp_path / "identity.pem"
    Identity.generate().save(key)
    swapped = Identity.load(key, expected_author=me)
    with pytest.raises(TablespaceError, match="not this group's member key"):
        swapped.sign(b"x")


LATER = {"sync rounds", "folder watcher", "warm up imports"}


async def test_live_sync_and_the_warm_up_wait_for_the_first_frame(kitchen):
    """The sync thread, the folder watcher and the warm-up imports would take
    the interpreter from the first frame while it is drawn: none runs before
    it is on the terminal, and sync starts right after."""
    running_at_ready: set[str] = set()

    class Watched(TablespaceApp):
        def on_ready(self) -> None:
            running_at_ready.update(worker.name for worker in self.workers)
            super().on_ready()

    group = Group.open(kitchen.home)
    try:
        app = Watched(group, sync_every=600)
        async with app.run_test(size=(100, 32)) as pilot:
            await wait_for(pilot, lambda: app.sync_rounds > 0)
        assert not running_at_ready & LATER
    finally:
        group.close()


async def test_the_footer_draws_every_key_itself_and_a_click_on_one_presses_it(app):
    """A widget per key made each screen's first show mount, style and lay
    out a dozen more widgets, and mount them again as the focus moved: the
    footer draws its line as one widget, and a click still presses a key."""
    from tablespace.tui.modals import HelpScreen

    async with app.run_test(size=(100, 32)) as pilot:
        await wait_for(pilot, lambda: "? Keys" in footer_line(app))
        footer = app.screen.query_one(KeyFooter)
        assert not footer.children
        line = footer_line(app)
        assert "^p palette" in line and "q Quit" in line, line
        await pilot.click(KeyFooter, offset=(line.index("? Keys"), 0))
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))


def footer_line(app: TablespaceApp) -> str:
    return app.screen._compositor.render_strips()[-1].text


# Not needed for the first frame. (core.inbox is: the list marks followed and
# muted threads, and the section bar shows unread counts.) The reads are one
# module per topic so that the list's own (thread_queries) comes without the
# others': a thread's posts and its poll, search, the library, rituals and
# events (and their time zones) wait for the screens that show them.
LAUNCH_DEFERRED = (
    "humanize",
    "zoneinfo",
    "tablespace.core.fold",
    "tablespace.core.post_queries",
    "tablespace.core.search_queries",
    "tablespace.core.resource_queries",
    "tablespace.core.calendar_queries",
    "tablespace.core.polls",
    "tablespace.core.rituals",
    "tablespace.core.digest",
    "tablespace.core.metrics",
    "tablespace.tui.thread_screen",
)
PTY_CHILD = """
import gc
import sys

import tablespace.tui.app as app_module
from tablespace.cli import main

class Shown(app_module.TablespaceApp):
    def _first_frame_painted(self):
        paused = not gc.isenabled()
        loaded = sorted(set(sys.argv[3:]) & set(sys.modules))
        super()._first_frame_painted()
        with open(sys.argv[2], "w") as report:  # not the terminal: Textual's writer thread shares it
            report.write(f"{'paused' if paused else 'running'}, then {'on' if gc.isenabled() else 'off'}; {loaded}")
        self.exit()

app_module.TablespaceApp = Shown
main(["--home", sys.argv[1]])
"""


@pytest.mark.slow
def test_the_launch_pauses_the_gc_until_the_first_frame_then_resumes_it(kitchen, tmp_path):
    """Launched as a person does (the CLI, a terminal): start-up allocates much
    and frees little, so a collection before the first frame (a tenth of a
    second on a large home) would re-scan it for nothing; and the frame loads
    neither the fold (writes) nor the inbox nor humanize (the commands' times)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "TABLESPACE_NOW": "2026-03-02T09:00:00Z"}
    child = subprocess.Popen(
        [sys.executable, "-c", PTY_CHILD, str(kitchen.home.path), str(tmp_path / "gc"), *LAUNCH_DEFERRED],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    seen = b""
    try:
        while chunk := read_terminal(leader):
            seen += chunk
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
        os.close(leader)
    assert (tmp_path / "gc").read_text() == "paused, then on; []", seen[-2000:]


def read_terminal(leader: int, timeout: float = 60) -> bytes:
    """What the child wrote next; b"" once it has closed the terminal (or
    written nothing for `timeout` seconds)."""
    ready, _, _ = select.select([leader], [], [], timeout)
    try:
        return os.read(leader, 65536) if ready else b""
    except OSError:
        return b""


def test_a_launch_that_cannot_draw_leaves_the_gc_running(tmp_path, monkeypatch):
    cli = TS(tmp_path / "home", monkeypatch)
    assert "needs a terminal" in cli.error()
    assert gc.isenabled()
