"""A desktop's notifications for the tests: a private dbus-daemon, and a
notification server on it that records what it is asked to show (the part
a desktop provides). The `desktop` fixture (tests/conftest.py) starts them
and points DBUS_SESSION_BUS_ADDRESS at that bus, so the real
desktop-notifier library in the code under test talks to it."""

# No `from __future__ import annotations`: dbus-fast reads the D-Bus type
# signatures ("s", "as", "a{sv}") from the annotations of the server's
# methods, which Python and the linter would take for names.
# ruff: noqa: F821, F722, N802

import asyncio
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dbus_fast.aio import MessageBus
from dbus_fast.service import ServiceInterface, method


def have_dbus() -> bool:
    """Whether dbus-daemon is installed (.ci/run installs it)."""
    return shutil.which("dbus-daemon") is not None


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


@contextmanager
def session_bus(folder: Path) -> Iterator[tuple[NotificationServer, str]]:
    """A session bus of our own with a notification server on it: (the
    server, the bus's address), both gone when the block ends."""
    socket = folder / "bus"
    config = folder / "bus.conf"
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
        yield server, address
    finally:
        stop.set()
        thread.join(5)
        daemon.terminate()
        daemon.wait(5)
