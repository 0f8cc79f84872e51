"""Notifications: one per new inbox entry, raised by `sync --watch --notify`
and by the running app.

Two halves kept apart so each can be tested alone: `due_notifications`
decides which entries notify (new since the last time, the home's level,
quiet hours), and a `Notifier` shows them: the desktop's (desktop-notifier,
D-Bus on Linux, the native API elsewhere), else the terminal's (OSC 9 or
OSC 777 where the terminal is known to show them, else the bell).

What a notification shows is other members' text: it goes through
`visible` and is never logged; what is remembered (how far notifying went:
a time, a place in the log, entry ids) is in the group's database in the home.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time as clock_time
from typing import IO, Any, Literal, Protocol

from tablespace.core.clock import datetime_to_hlc, now
from tablespace.core.errors import UsageError
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.core.inbox import InboxEntry, Window, inbox
from tablespace.core.log_queries import newest_op_row
from tablespace.core.text import visible

Level = Literal["all", "mentions", "off"]
LEVELS: tuple[Level, ...] = ("all", "mentions", "off")
MAX_PER_ROUND = 5  # more new entries than this in one round: the rest as one summary
TITLE_CHARS = 80
BODY_CHARS = 200
_NOTIFIED = "notified_entries"  # meta key: how far notifying went (a _Mark)


@dataclass(frozen=True)
class Notification:
    title: str
    body: str


class Notifier(Protocol):
    def show(self, note: Notification) -> None: ...


# --- settings: personal, kept in the home's config, never synced ------------------------


@dataclass(frozen=True)
class NotifySettings:
    level: Level = "all"
    quiet: tuple[clock_time, clock_time] | None = None  # local time range, may wrap past midnight

    def in_quiet_hours(self, local: clock_time) -> bool:
        if self.quiet is None:
            return False
        start, end = self.quiet
        return start <= local < end if start <= end else local >= start or local < end

    def to_json(self) -> dict[str, str | None]:
        return {"level": self.level, "quiet": quiet_text(self.quiet)}


def quiet_text(quiet: tuple[clock_time, clock_time] | None) -> str | None:
    return f"{quiet[0]:%H:%M}-{quiet[1]:%H:%M}" if quiet else None


def parse_quiet(text: str) -> tuple[clock_time, clock_time]:
    """'22:00-07:00' (local time; may wrap past midnight)."""
    try:
        start, end = (clock_time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise UsageError(f"{text!r} is not a time range like 22:00-07:00") from None
    if start == end:
        raise UsageError("quiet hours must start and end at different times")
    return start.replace(second=0, microsecond=0), end.replace(second=0, microsecond=0)


def notify_settings(home: Home) -> NotifySettings:
    """The home's notification settings; anything unreadable falls back to the default."""
    raw = home.config().get("notify")
    if not isinstance(raw, dict):
        return NotifySettings()
    level = raw.get("level") if raw.get("level") in LEVELS else "all"
    try:
        quiet = parse_quiet(raw["quiet"]) if isinstance(raw.get("quiet"), str) else None
    except UsageError:
        quiet = None
    return NotifySettings(level, quiet)  # type: ignore[arg-type]


def set_notify_settings(
    home: Home, *, level: Level | None = None, quiet: str | None = None, no_quiet: bool = False
) -> NotifySettings:
    """Change the home's notification level and/or quiet hours; None keeps one."""
    current = notify_settings(home)
    new_quiet = None if no_quiet else parse_quiet(quiet) if quiet is not None else current.quiet
    settings = NotifySettings(level or current.level, new_quiet)
    home.update_config(notify=settings.to_json())
    return settings


# --- dispatch: which entries notify -----------------------------------------------------


@dataclass(frozen=True)
class _Mark:
    """How far notifications went: entries timed from `hlc` on, or whose ops
    reached this home after the ops table's rowid `arrived` (written earlier,
    synced since), are the next round's candidates; `ids` are those of them
    already notified or passed over (entries timed exactly at the mark)."""

    hlc: int
    arrived: int
    ids: frozenset[str]

    def to_json(self) -> str:
        return json.dumps({"hlc": self.hlc, "arrived": self.arrived, "ids": sorted(self.ids)})


_NO_LATER_THAN = (1 << 63) - 1  # the window's upper end: everything to come


def _notified(group: Group) -> _Mark | None:
    """The mark as remembered, None before this home ever notified."""
    raw = group.store.get_meta(_NOTIFIED)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
        return _Mark(int(value["hlc"]), int(value["arrived"]), frozenset(str(v) for v in value["ids"]))
    except (ValueError, TypeError, KeyError):
        return _mark_now(group)  # unreadable (or an older form): go on from now


def _mark_now(group: Group, newest: list[InboxEntry] | None = None) -> _Mark:
    """A mark at the end of what is there: now, or the newest entry if a
    member's clock runs ahead, and the end of the log."""
    entries = inbox(group.conn, group.me, limit=1) if newest is None else newest
    hlc = max([datetime_to_hlc(now()), *(datetime_to_hlc(e.at) for e in entries)])
    return _Mark(hlc, newest_op_row(group.conn), frozenset(e.id for e in entries if datetime_to_hlc(e.at) >= hlc))


def _new_entries(group: Group, mark: _Mark) -> tuple[list[InboxEntry], _Mark]:
    """The unread entries past `mark` (newest first, notified or not), and
    the mark past them: a round reads what came since the last, never the
    whole inbox."""
    arrived = newest_op_row(group.conn)
    window = Window(mark.hlc, _NO_LATER_THAN, mark.arrived)
    entries = inbox(group.conn, group.me, limit=None, window=window)
    newest = max([mark.hlc, *(datetime_to_hlc(e.at) for e in entries)])
    at_newest = {e.id for e in entries if datetime_to_hlc(e.at) >= newest}
    ids = at_newest | (mark.ids if newest == mark.hlc else frozenset())
    return entries, _Mark(newest, arrived, frozenset(ids))


def _remember(group: Group, mark: _Mark, seen: _Mark | None = None) -> None:
    """Each entry is notified at most once. Unchanged from `seen`, nothing
    is written: a write every round would tell the app its data changed,
    and it would read everything again."""
    if mark == seen:
        return
    with group.store.db.atomic():
        group.store.set_meta(_NOTIFIED, mark.to_json())


def start_notifying(group: Group) -> None:
    """The first time a home notifies, what is already in its inbox is old
    news: remember where it ends without notifying. Later starts (a
    restarted `sync --watch`) go on from what was remembered."""
    if group.store.get_meta(_NOTIFIED) is None:
        _remember(group, _mark_now(group))


def describe(entry: InboxEntry, group_name: str) -> Notification:
    """A notification's words for an entry, made safe for any terminal."""
    what = entry.headline
    body = f"“{entry.title}”" if entry.title else ""
    if entry.text:
        body += f": {entry.text}" if body else entry.text
    return Notification(visible(f"{group_name}: {what}")[:TITLE_CHARS], visible(" ".join(body.split()))[:BODY_CHARS])


def due_notifications(group: Group, settings: NotifySettings, local: clock_time) -> list[Notification]:
    """The notifications for inbox entries new since the last call, oldest
    first; at most MAX_PER_ROUND, then one that counts the rest. Entries that
    arrive while notifications are off or in quiet hours are remembered as
    passed over: they wait in the inbox, not in a later burst."""
    seen = _notified(group)
    if seen is None:  # the first round: what is there is old news (start_notifying)
        _remember(group, _mark_now(group))
        return []
    entries, mark = _new_entries(group, seen)
    _remember(group, mark, seen)
    if settings.level == "off" or settings.in_quiet_hours(local):
        return []
    fresh = [e for e in reversed(entries) if e.id not in seen.ids]
    if settings.level == "mentions":
        fresh = [e for e in fresh if e.kind == "mention"]
    name = group.name()
    notes = [describe(e, name) for e in fresh[:MAX_PER_ROUND]]
    if len(fresh) > MAX_PER_ROUND:
        notes.append(Notification(visible(name)[:TITLE_CHARS], f"{len(fresh) - MAX_PER_ROUND} more in your inbox"))
    return notes


def local_time() -> clock_time:
    """Now (TABLESPACE_NOW if set) in this computer's time zone: quiet hours are local."""
    return now().astimezone().time()


def notify_new(group: Group, notifier: Notifier) -> int:
    """Raise a notification per new inbox entry; how many were raised."""
    notes = due_notifications(group, notify_settings(group.home), local_time())
    for note in notes:
        notifier.show(note)
    return len(notes)


# --- transports ---------------------------------------------------------------------------

TerminalStyle = Literal["osc9", "osc777", "bell"]


def terminal_style(env: Mapping[str, str]) -> TerminalStyle:
    """How this terminal takes a notification, judged from its environment.
    Inside tmux or screen an OSC would reach tmux, not the terminal: the bell."""
    term = env.get("TERM", "")
    program = env.get("TERM_PROGRAM", "")
    if env.get("TMUX") or term.startswith(("screen", "tmux")):
        return "bell"
    if program in ("iTerm.app", "WezTerm", "ghostty") or env.get("WT_SESSION") or term == "xterm-kitty":
        return "osc9"
    if term.startswith(("foot", "rxvt-unicode")):
        return "osc777"
    return "bell"


def _osc_safe(text: str) -> str:
    # `visible` already spelled out ESC and BEL; OSC 777 also splits on ';'.
    return visible(text).replace(";", ",")


class TerminalNotifier:
    """Writes a notification the terminal shows (OSC 9 or OSC 777) or rings its bell."""

    def __init__(self, stream: IO[str], style: TerminalStyle) -> None:
        self.stream = stream
        self.style = style

    def show(self, note: Notification) -> None:
        title, body = _osc_safe(note.title), _osc_safe(note.body)
        if self.style == "osc9":
            sequence = f"\x1b]9;{title}: {body}\x07" if body else f"\x1b]9;{title}\x07"
        elif self.style == "osc777":
            sequence = f"\x1b]777;notify;{title};{body}\x07"
        else:
            sequence = "\a"
        self.stream.write(sequence)
        self.stream.flush()


class SilentNotifier:
    """No desktop and no terminal to tell: nothing is shown (nor written anywhere)."""

    def show(self, note: Notification) -> None:
        pass


class _Failures(logging.Handler):
    """desktop-notifier reports a failed send only as a warning in its log:
    this handler notices it (and keeps nothing of it)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.failed = False

    def emit(self, record: logging.LogRecord) -> None:
        self.failed = True


def _quiet_library_log() -> _Failures:
    """The library logs what it sends at debug and a traceback at warning:
    neither may reach a log or the terminal, so its log stops here."""
    log = logging.getLogger("desktop_notifier")
    log.propagate = False
    log.setLevel(logging.WARNING)
    for handler in log.handlers:
        if isinstance(handler, _Failures):
            return handler
    failures = _Failures()
    log.addHandler(failures)
    return failures


class DesktopNotifier:
    """The desktop's notifications through desktop-notifier; if sending fails
    (no notification server after all), the fallback shows this one and
    every later one."""

    def __init__(self, fallback: Notifier) -> None:
        self.fallback = fallback
        self._desktop: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the library's calls all run on this one loop
        self._broken = False

    def show(self, note: Notification) -> None:
        if not self._broken:
            self._broken = not self._sent(note)
            if self._broken:
                self._close()
        if self._broken:
            self.fallback.show(note)

    def _sent(self, note: Notification) -> bool:
        failures = _quiet_library_log()
        failures.failed = False
        try:
            from desktop_notifier import DesktopNotifier as Desktop

            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._desktop = Desktop(app_name="tablespace")
            self._loop.run_until_complete(self._desktop.send(title=note.title, message=note.body))
        except Exception:  # noqa: BLE001 - the desktop's bus failed in a way the library let through
            return False
        return not failures.failed

    def _close(self) -> None:
        if self._loop is not None:
            self._loop.close()
        self._loop = self._desktop = None


def has_desktop(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """A desktop to notify: macOS and Windows always; elsewhere a D-Bus session bus."""
    if platform in ("darwin", "win32"):
        return True
    return bool(env.get("DBUS_SESSION_BUS_ADDRESS"))


def choose_notifier(
    terminal: IO[str] | None, env: Mapping[str, str] | None = None, *, fallback: Notifier | None = None
) -> Notifier:
    """The desktop's notifier where there is a desktop, else `fallback` when
    given (the running app's own), else the terminal's (`terminal`: a stream
    on the terminal, or None when there is none). The same stands in when a
    desktop's bus turns out dead."""
    env = os.environ if env is None else env
    if fallback is None:
        fallback = TerminalNotifier(terminal, terminal_style(env)) if terminal is not None else SilentNotifier()
    return DesktopNotifier(fallback) if has_desktop(env) else fallback


__all__ = [
    "DesktopNotifier",
    "LEVELS",
    "Level",
    "Notification",
    "Notifier",
    "NotifySettings",
    "SilentNotifier",
    "TerminalNotifier",
    "choose_notifier",
    "due_notifications",
    "notify_new",
    "notify_settings",
    "set_notify_settings",
    "start_notifying",
    "terminal_style",
]
