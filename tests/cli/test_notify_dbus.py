"""Desktop notifications over a real D-Bus session bus: a private
dbus-daemon, and a notification server on it that records what it is asked
to show (the part a desktop provides), with the real desktop-notifier
library in between. Skipped where dbus-daemon is not installed (.ci/run
installs it)."""

# No `from __future__ import annotations`: dbus-fast reads the D-Bus type
# signatures ("s", "as", "a{sv}") from the annotations of the server's
# methods, which Python and the linter would take for names.
# ruff: noqa: F821, F722, N802

import asyncio
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method

from tablespace.actions.notify import DesktopNotifier, Notification
from tests.clirun import everyone_syncs, make_group

pytestmark = pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="dbus-daemon is not installed")

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class NotificationServer(ServiceInterface):
    """org.freedesktop.Notifications as a desktop serves it, recording each notification."""

    def __init__(self) -> None:
        super().__init__("org.freedesktop.Notifications")
        self.shown: list[tuple[str, str, str]] = []  # (app name, summary, body)

    @method()
    def Notify(  # the D-Bus method's name and arguments
        self,
        app_name: "s",
        replaces_id: "u",
        app_icon: "s",
        summary: "s",
        body: "s",
        actions: "as",
        hints: "a{sv}",
        expire_timeout: "i",
    ) -> "u":
        self.shown.append((app_name, summary, body))
        return len(self.shown)

    @method()
    def GetCapabilities(self) -> "as":
        return ["body"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["test desktop", "tablespace tests", "1", "1.2"]

    @method()
    def CloseNotification(self, notification_id: "u") -> None:
        return None


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[NotificationServer]:
    """A session bus of our own with a notification server on it, as the
    DBUS_SESSION_BUS_ADDRESS every notifier in the test sees."""
    socket = tmp_path / "bus"
    config = tmp_path / "bus.conf"
    config.write_text(BUS_CONFIG.format(socket=socket))
    daemon = subprocess.Popen(["dbus-daemon", f"--config-file={config}", "--nofork"])
    server = NotificationServer()
    ready, stop = threading.Event(), threading.Event()
    address = f"unix:path={socket}"

    async def serve() -> None:
        for _ in range(100):  # the daemon makes its socket in a moment
            if socket.exists():
                break
            await asyncio.sleep(0.05)
        bus = await MessageBus(bus_address=address).connect()
        bus.export("/org/freedesktop/Notifications", server)
        await bus.request_name("org.freedesktop.Notifications")
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.02)
        bus.disconnect()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    try:
        assert ready.wait(10), "the notification server never came up"
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        yield server
    finally:
        stop.set()
        thread.join(5)
        daemon.terminate()
        daemon.wait(5)


class Fallback:
    def __init__(self) -> None:
        self.shown: list[Notification] = []

    def show(self, note: Notification) -> None:
        self.shown.append(note)


def test_a_notification_reaches_the_desktops_server_and_not_the_fallback(desktop: NotificationServer) -> None:
    fallback = Fallback()
    notifier = DesktopNotifier(fallback)
    notifier.show(Notification("Circle: Ben mentioned you", "“Crumb”: @Ana is this open enough?"))
    notifier.show(Notification("Circle: Cat replied", "“Crumb”: looks good"))
    assert desktop.shown == [
        ("tablespace", "Circle: Ben mentioned you", "“Crumb”: @Ana is this open enough?"),
        ("tablespace", "Circle: Cat replied", "“Crumb”: looks good"),
    ]
    assert fallback.shown == []


@pytest.mark.slow
def test_sync_notify_raises_a_desktop_notification_for_a_mention(
    desktop: NotificationServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    ana.json("sync", "--notify")  # the first round only marks what is there as seen
    ben.out("post", "Crumb shot", "--body", "@Ana is this open enough?")
    everyone_syncs(ben)
    ana.json("sync", "--notify")
    assert [summary for _, summary, _ in desktop.shown] == ["Circle: Ben mentioned you"]
    assert "@Ana is this open enough?" in desktop.shown[0][2]
    ben.out("post", "Plain news", "--body", "nothing for Ana")
    everyone_syncs(ben)
    ana.json("sync", "--notify")
    assert len(desktop.shown) == 1  # a thread that does not concern Ana raises nothing
