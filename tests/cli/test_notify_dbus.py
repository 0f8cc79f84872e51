"""Desktop notifications over a real D-Bus session bus (the `desktop`
fixture: tests/desktop_bus.py), with the real desktop-notifier library in
between. Skipped where dbus-daemon is not installed (.ci/run installs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tablespace.actions.notify import DesktopNotifier, Notification
from tests.clirun import everyone_syncs, make_group
from tests.desktop_bus import NotificationServer, have_dbus

pytestmark = pytest.mark.skipif(not have_dbus(), reason="dbus-daemon is not installed")


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
