"""A member's week, end to end, as issue 18 tells it: Carol is mentioned
while her app is closed, and `tablespace sync --watch --notify`, a real
process on her home, shows it on her desktop (a real session bus and
notification server: tests/desktop_bus.py) within seconds of Ana's sync;
she opens the app, presses the Inbox key, enter lands on the post, and it
is read. Ben never opens the app: his `tablespace digest` tells him the
week's threads and that Ana mentioned him."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from tablespace.core import inbox
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.tui.app import TablespaceApp
from tablespace.tui.chrome import SectionBar
from tablespace.tui.inbox import InboxScreen
from tablespace.tui.thread_screen import ThreadScreen
from tablespace.tui.welcome import WelcomeWalk
from tests.clirun import TS, make_group
from tests.tui.waits import wait_for

if TYPE_CHECKING:
    from tests.desktop_bus import NotificationServer

SIZE = (100, 32)
SECONDS = 10.0  # "within seconds": the watch reacts to the folder, not to its 30 s round


def waited(condition: Callable[[], bool], timeout: float) -> float:
    """Wait (outside the app) until `condition` holds; how long it took."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"not true within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - start


class Watch:
    """`tablespace sync --watch --notify` on a home, as a process of its own
    (it inherits the test's environment: the clock and the desktop's bus)."""

    def __init__(self, member: TS) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tablespace", "--home", str(member.home), "sync", "--watch", "--notify"],
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [
            threading.Thread(target=lambda: self.out.extend(iter(self.process.stdout.readline, "")), daemon=True),
            threading.Thread(target=lambda: self.err.extend(iter(self.process.stderr.readline, "")), daemon=True),
        ]
        for reader in self.readers:
            reader.start()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        for reader in self.readers:
            reader.join(timeout=10)


@pytest.mark.slow
async def test_carol_is_told_on_her_desktop_and_lands_on_the_post_and_ben_reads_the_digest(
    tmp_path, monkeypatch, desktop: NotificationServer
) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Carol")
    ben, carol = m["Ben"], m["Carol"]
    ana.out("post", "Proofing times?", "--body", "How long do you proof rye?")
    ana.json("sync")

    watch = Watch(carol)
    try:
        # Its first round only takes note of what is there: the thread above is old news.
        waited(lambda: any(line.startswith("exported ") for line in watch.out), 60)
        crumb = ana.out("post", "Crumb shot", "--body", "@Carol is this open enough?")
        ana.out("post", "Bake-along Saturday", "--body", "@Ben brings the rye.")
        ana.json("sync")
        took = waited(lambda: len(desktop.shown) >= 1, SECONDS)
        assert desktop.shown == [
            ("tablespace", "Circle: Ana mentioned you", "“Crumb shot”: @Carol is this open enough?")
        ]
        waited(lambda: sum(line.startswith("exported ") for line in watch.out) >= 2, SECONDS)
    finally:
        watch.stop()
    assert took < SECONDS and len(desktop.shown) == 1  # the bake-along does not concern her
    said = "".join(watch.out + watch.err)
    assert "Traceback" not in said and "open enough" not in said  # what a notification shows is not printed

    group = Group.open(Home(carol.home))
    try:
        app = TablespaceApp(group, sync=False)  # her watch has synced already
        async with app.run_test(size=SIZE) as pilot:
            # Her first time in the app: the welcome walk opens by itself, and she leaves it.
            await wait_for(pilot, lambda: isinstance(app.screen, WelcomeWalk))
            await pilot.press("escape")
            await wait_for(pilot, lambda: "7 Inbox (1)" in str(app.screen.query_one(SectionBar).render()))
            await pilot.press("7")
            await wait_for(pilot, lambda: isinstance(app.screen, InboxScreen) and bool(app.screen.entries))
            screen = app.screen
            assert isinstance(screen, InboxScreen)
            assert [(e.kind, e.from_name, e.post) for e in screen.entries] == [("mention", "Ana", crumb)]
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ThreadScreen) and bool(app.screen.cards))
            thread = app.screen
            assert isinstance(thread, ThreadScreen)
            await wait_for(pilot, lambda: thread.focused_post is not None and thread.focused_post.post.id == crumb)
            await wait_for(pilot, lambda: inbox.unread_counts(group.conn, group.me)["inbox"] == 0)
    finally:
        group.close()
    assert carol.json("inbox") == [] and [e["read"] for e in carol.json("inbox", "--all")] == [True]

    ben.json("sync")  # what his cron job runs before the digest
    digest = ben.out("digest")
    for title in ("Proofing times?", "Crumb shot", "Bake-along Saturday"):
        assert f"“{title}” by Ana" in digest, title
    assert "## Your inbox (1)" in digest and "Ana mentioned you in “Bake-along Saturday”" in digest
    assert "@Ben brings the rye." in digest
