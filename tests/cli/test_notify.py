"""Notifications: which inbox entries notify (against a recording notifier,
a real object), the home's settings, and the transports: the terminal's
OSC bytes read back from a real pty, and the desktop's falling back to the
terminal when its bus does not answer."""

from __future__ import annotations

import io
import json
import os
from datetime import time as clock_time

import pytest

from tablespace import actions
from tablespace.actions.notify import (
    DesktopNotifier,
    Notification,
    NotifySettings,
    SilentNotifier,
    TerminalNotifier,
    choose_notifier,
    terminal_style,
)
from tablespace.core.home import Home
from tests.clirun import everyone_syncs, make_group


class Recording:
    """A notifier that keeps what it was asked to show."""

    def __init__(self) -> None:
        self.shown: list[Notification] = []

    def show(self, note: Notification) -> None:
        self.shown.append(note)

    def titles(self) -> list[str]:
        titles = [n.title for n in self.shown]
        self.shown.clear()
        return titles


@pytest.mark.slow
def test_each_new_entry_notifies_once_never_mine_nor_muted_and_settings_hold(tmp_path, monkeypatch, utc) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    mine = ben.out("post", "Proofing?", "--body", "how long")
    loud = ana.out("post", "Old news", "--body", "hi @Ben")  # before Ben ever notified: old news
    everyone_syncs(ben, ana)
    group = actions.open_group(Home(ben.home), None)
    seen = Recording()
    try:
        actions.start_notifying(group)
        assert actions.notify_new(group, seen) == 0

        ben.run("mute", loud[:6])
        ana.out("reply", loud[:6], "--body", "@Ben again")  # a muted thread
        ana.out("reply", mine[:6], "--body", "overnight; ask @ben")  # a mention (and a reply): once
        ben.out("reply", mine[:6], "--body", "thanks")  # my own doing
        everyone_syncs(ana, ben)
        assert actions.notify_new(group, seen) == 1
        (note,) = seen.shown
        assert note.title.endswith(": Ana mentioned you")
        assert note.body == "“Proofing?”: overnight; ask @ben"
        seen.titles()
        assert actions.notify_new(group, seen) == 0  # once

        # A restarted `sync --watch` goes on from what was remembered.
        group.close()
        group = actions.open_group(Home(ben.home), None)
        actions.start_notifying(group)
        assert actions.notify_new(group, seen) == 0

        # Mentions only.
        assert ben.json("notify", "--mentions") == {"level": "mentions", "quiet": None}
        ana.out("reply", mine[:6], "--body", "also: warm kitchen")
        ana.out("post", "Flour", "--body", "@Ben rye?")
        everyone_syncs(ana, ben)
        assert [t.split(": ", 1)[1] for t in (actions.notify_new(group, seen), seen.titles())[1]] == [
            "Ana mentioned you"
        ]

        # Quiet hours (09:00 local is inside 08:30-10:00): nothing now, nor later for what came meanwhile.
        ben.run("notify", "--all", "--quiet", "08:30-10:00")
        ana.out("reply", mine[:6], "--body", "one more")
        everyone_syncs(ana, ben)
        assert actions.notify_new(group, seen) == 0
        ben.run("notify", "--no-quiet")
        assert actions.notify_new(group, seen) == 0
        ana.out("reply", mine[:6], "--body", "last one")
        everyone_syncs(ana, ben)
        assert [t.split(": ", 1)[1] for t in (actions.notify_new(group, seen), seen.titles())[1]] == ["Ana replied"]

        ben.run("notify", "--off")
        ana.out("post", "Again", "--body", "@Ben")
        everyone_syncs(ana, ben)
        assert actions.notify_new(group, seen) == 0
        assert ben.json("notify") == {"level": "off", "quiet": None}
    finally:
        group.close()
    # The settings and the memory live in Ben's home; the folder holds no trace of them.
    assert '"level": "off"' in (ben.home / "config.json").read_text()
    for path in folder.rglob("*"):
        assert not path.is_file() or b"notified_entries" not in path.read_bytes()
    # `sync --notify` runs without a desktop or a terminal (nothing to show it on) and says nothing of it.
    assert "mentioned" not in ben.run("sync", "--notify").output


def test_a_burst_is_capped_with_a_count_of_the_rest(tmp_path, monkeypatch, utc) -> None:
    pytest.importorskip("desktop_notifier")
    from tablespace.actions.notify import MAX_PER_ROUND

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    group = actions.open_group(Home(ben.home), None)
    seen = Recording()
    try:
        actions.start_notifying(group)
        for n in range(MAX_PER_ROUND + 2):
            ana.out("post", f"t{n}", "--body", "@Ben")
        everyone_syncs(ana, ben)
        assert actions.notify_new(group, seen) == MAX_PER_ROUND + 1
        assert [n.body for n in seen.shown][0] == "“t0”: @Ben"  # oldest first
        assert seen.shown[-1].body == "2 more in your inbox"
    finally:
        group.close()


def test_quiet_hours_wrap_past_midnight_and_bad_ranges_are_refused(tmp_path) -> None:
    from tablespace.actions.notify import parse_quiet

    night = NotifySettings("all", parse_quiet("22:00-07:00"))
    assert night.in_quiet_hours(clock_time(23, 30)) and night.in_quiet_hours(clock_time(6, 59))
    assert not night.in_quiet_hours(clock_time(7, 0)) and not night.in_quiet_hours(clock_time(12, 0))
    day = NotifySettings("all", parse_quiet("09:00-17:00"))
    assert day.in_quiet_hours(clock_time(9, 0)) and not day.in_quiet_hours(clock_time(17, 0))
    from tests.clirun import TS

    me = TS(tmp_path / "home", pytest.MonkeyPatch())
    assert "not a time range" in me.error("notify", "--quiet", "late", code=2)
    assert "not both" in me.error("notify", "--quiet", "22:00-07:00", "--no-quiet", code=2)
    assert not (tmp_path / "home" / "config.json").exists()  # refused: nothing changed
    assert me.json("notify", "--quiet", "22:00-07:00") == {"level": "all", "quiet": "22:00-07:00"}


@pytest.mark.parametrize(
    ("env", "style"),
    [
        ({"TERM_PROGRAM": "iTerm.app"}, "osc9"),
        ({"TERM_PROGRAM": "WezTerm"}, "osc9"),
        ({"WT_SESSION": "x", "TERM": "xterm-256color"}, "osc9"),
        ({"TERM": "xterm-kitty"}, "osc9"),
        ({"TERM": "foot"}, "osc777"),
        ({"TERM": "rxvt-unicode-256color"}, "osc777"),
        ({"TERM": "xterm-256color"}, "bell"),
        ({"TERM": "tmux-256color", "TERM_PROGRAM": "tmux"}, "bell"),
        ({"TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/tmux-0/default,1,0"}, "bell"),
        ({}, "bell"),
    ],
)
def test_the_terminal_style_is_judged_from_the_environment(env, style) -> None:
    assert terminal_style(env) == style


def read_pty(style: str, note: Notification) -> bytes:
    """What the terminal receives: the notifier writes to a real pty's slave side."""
    master, slave = os.openpty()
    try:
        with open(slave, "w", encoding="utf-8", closefd=False) as stream:
            TerminalNotifier(stream, style).show(note)  # type: ignore[arg-type]
        return os.read(master, 4096)
    finally:
        os.close(master)
        os.close(slave)


def test_the_terminal_fallback_writes_osc_or_the_bell_and_nothing_raw() -> None:
    hostile = Notification("G: Ana; replied", "ends\x07 then \x1b]0;owned\x07")
    assert read_pty("osc9", hostile) == b"\x1b]9;G: Ana, replied: ends\\x07 then \\x1b]0,owned\\x07\x07"
    assert read_pty("osc777", hostile) == b"\x1b]777;notify;G: Ana, replied;ends\\x07 then \\x1b]0,owned\\x07\x07"
    assert read_pty("bell", hostile) == b"\x07"


def test_without_a_desktop_the_terminal_and_with_a_dead_bus_the_fallback(monkeypatch) -> None:
    stream = io.StringIO()
    assert isinstance(choose_notifier(stream, {"TERM": "foot"}), TerminalNotifier)
    assert isinstance(choose_notifier(None, {}), SilentNotifier)
    pytest.importorskip("desktop_notifier")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    fallback = Recording()
    desktop = choose_notifier(stream, {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"})
    assert isinstance(desktop, DesktopNotifier)
    desktop.fallback = fallback
    desktop.show(Notification("t", "b"))
    desktop.show(Notification("t2", "b2"))  # a dead bus is not tried again
    assert fallback.titles() == ["t", "t2"]


@pytest.mark.slow
def test_digest_since_the_last_one_and_the_recap_posted_by_a_note_taker_only(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    ana.out("post", "Proofing?", "--body", "how long, @Ben?", "--tag", "win")
    everyone_syncs(ana, ben)
    first = ben.out("digest")
    assert "## Your inbox (1)" in first and "Ana mentioned you in “Proofing?”" in first
    assert "## Wins (1)" in first and "## New threads (1)" in first
    # The next digest starts where this one ended: nothing new since.
    assert "Nothing happened." in ben.out("digest")
    assert "## New threads (1)" in ben.out("digest", "--since", "7d")  # a one-off window
    assert "Nothing happened." in ben.out("digest")  # ...which did not move the mark
    out = tmp_path / "digest.json"
    ben.run("digest", "--since", "30d", "--format", "json", "-o", str(out))
    assert json.loads(out.read_text())["sections"]["threads"]["total"] == 1
    assert "not a duration" in ben.error("digest", "--since", "soon", code=2)

    bullets = ben.out("recap", "--week", "2026-11-23").splitlines()
    assert bullets[0] == "- 1 new thread and 0 replies from 1 member."
    assert ben.out("recap", "--week", "2026-11-23") == ana.out("recap", "--week", "2026-11-23")
    assert "note-taker or a moderator" in ben.error("recap", "--post", code=3)
    assert "not a date" in ben.error("recap", "--week", "monday", code=2)
    ana.run("role", "Ben", "note-taker")
    everyone_syncs(ana, ben)
    posted = ben.json("recap", "--post")
    assert posted["bullets"][0] == "1 new thread and 0 replies from 1 member."
    assert ben.json("show", posted["thread"])["tags"] == ["recap"]


@pytest.mark.slow
def test_sync_notify_shows_new_entries_but_never_a_muted_member_nor_logs_them(tmp_path, monkeypatch, caplog) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Carol")
    ben, carol = m["Ben"], m["Carol"]
    terminal = io.StringIO()
    monkeypatch.setattr("tablespace.cli.terminal_stream", lambda: terminal)
    monkeypatch.setenv("TERM", "foot")
    monkeypatch.delenv("TMUX", raising=False)
    # A desktop bus that does not answer: the terminal shows it instead.
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")
    ben.run("sync", "--notify")  # the first time: what is there is old news
    assert terminal.getvalue() == ""

    ben.run("mute", "--member", "Carol")
    carol.out("post", "From Carol", "--body", "@Ben psst")
    ana.out("post", "From Ana", "--body", "@Ben secret crumb ratio")
    ben.out("post", "Mine", "--body", "@Ben note to self")
    everyone_syncs(carol, ana)
    caplog.set_level("DEBUG")
    result = ben.run("sync", "--notify")
    assert terminal.getvalue() == "\x1b]777;notify;Circle: Ana mentioned you;“From Ana”: @Ben secret crumb ratio\x07"
    assert "crumb" not in result.stdout + result.stderr
    assert not [r for r in caplog.records if "crumb" in r.getMessage() or "crumb" in str(r.args)]


def test_what_the_desktop_library_would_log_of_a_notification_goes_nowhere(caplog) -> None:
    pytest.importorskip("desktop_notifier")
    import logging

    caplog.set_level("DEBUG")
    desktop = choose_notifier(None, {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"}, fallback=Recording())
    desktop.show(Notification("G: Ana mentioned you", "secret crumb ratio"))
    # On a live bus the library logs each notification it sends, text and all, at debug.
    logging.getLogger("desktop_notifier.backends.base").debug("Notification sent: %s", "secret crumb ratio")
    assert not [r for r in caplog.records if r.name.startswith("desktop_notifier")]


def test_a_post_that_arrives_after_the_digest_it_was_written_before_is_in_the_next(tmp_path, monkeypatch) -> None:
    """Written offline on Sunday, synced after Monday's mailed digest: it
    would fall before every later digest's window, so the mark also keeps
    where the log ended, and the next digest lists what arrived since."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-29T18:00:00Z")  # Sunday, Ana offline
    ana.out("post", "Rye at altitude", "--body", "written on the train, @Ben", "--tag", "win")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-30T07:00:00Z")  # Monday's cron
    assert "Rye at altitude" not in ben.out("digest")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-30T20:00:00Z")
    everyone_syncs(ana, ben)  # Ana is back online
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-01T07:00:00Z")  # Tuesday's cron
    late = ben.out("digest")
    assert "## New threads (1)" in late and "“Rye at altitude” by Ana" in late
    assert "## Wins (1)" in late and "Ana mentioned you in “Rye at altitude”" in late
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-02T07:00:00Z")
    assert "Nothing happened." in ben.out("digest")  # listed once


def test_a_round_with_nothing_new_writes_nothing(tmp_path, monkeypatch, utc) -> None:
    """The running app asks every sync round; a write each time would tell it
    the group changed, and it would read every section again."""
    from tablespace.actions.notify import due_notifications

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    m["Ben"].out("post", "Hello", "--body", "@Ana hi")
    everyone_syncs(m["Ben"], ana)
    group = actions.open_group(Home(ana.home))
    try:
        settings = NotifySettings()
        assert due_notifications(group, settings, clock_time(12)) == []  # the first round: old news
        writes: list[str] = []
        set_meta = group.store.set_meta
        monkeypatch.setattr(group.store, "set_meta", lambda key, value: writes.append(key) or set_meta(key, value))
        assert due_notifications(group, settings, clock_time(12)) == []
        assert writes == []
    finally:
        group.close()


@pytest.mark.slow
def test_what_arrives_late_still_notifies_and_the_memory_stays_small(tmp_path, monkeypatch, utc) -> None:
    """A round reads only what came since the last: entries timed after the
    mark, and those written earlier whose ops reached this home since (Cy
    was offline). What is remembered does not grow with the unread inbox."""
    from tablespace.actions.notify import MAX_PER_ROUND

    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-01T08:00:00Z")
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    mine = ben.out("post", "Starter", "--body", "fed daily")
    everyone_syncs(ben, ana, cy)
    group = actions.open_group(Home(ben.home), None)
    seen = Recording()
    try:
        actions.start_notifying(group)
        monkeypatch.setenv("TABLESPACE_NOW", "2026-12-01T09:00:00Z")
        cy.out("reply", mine[:6], "--body", "mine sleeps in the fridge")  # offline until later
        cy.run("react", mine[:6], "🍞")
        for n in range(MAX_PER_ROUND + 20):
            monkeypatch.setenv("TABLESPACE_NOW", f"2026-12-01T10:{n:02d}:00Z")
            ana.out("reply", mine[:6], "--body", f"day {n}")
        everyone_syncs(ana, ben)
        assert actions.notify_new(group, seen) == MAX_PER_ROUND + 1
        remembered = json.loads(group.store.get_meta("notified_entries") or "{}")
        assert len(remembered["ids"]) == 1  # the newest entry's, not every unread one
        seen.titles()

        everyone_syncs(cy, ben)
        assert [t.split(": ", 1)[1] for t in (actions.notify_new(group, seen), seen.titles())[1]] == [
            "Cy replied",
            "Cy reacted 🍞",
        ]
        assert actions.notify_new(group, seen) == 0
    finally:
        group.close()
