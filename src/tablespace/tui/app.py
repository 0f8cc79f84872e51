"""The tablespace Textual app: the sections (registry.SECTIONS) as modes over one open Group."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import weakref
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len
from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message_pump import MessagePump
from textual.notifications import Notification, Notify, SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.worker import Worker, WorkerState, get_current_worker

from tablespace import actions
from tablespace.core import group_queries
from tablespace.core.clock import now
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.core.inbox import unread_counts
from tablespace.core.text import visible
from tablespace.themes import DEFAULT_THEME, THEMES
from tablespace.tui.chrome import GroupChanged, TablespaceScreen
from tablespace.tui.commands import TablespaceCommands
from tablespace.tui.format import local
from tablespace.tui.jobs import Job, JobDone, JobStarted, start_job
from tablespace.tui.live import (
    SYNC_EVERY,
    WAITING_MEANS,
    WATCH_DEBOUNCE_MS,
    DatabaseChanged,
    InAppNotifier,
    SyncLoop,
    SyncRound,
    SyncStatus,
    initial_status,
)
from tablespace.tui.registry import SECTIONS, Section, section, sections_for
from tablespace.tui.screens import threads_section
from tablespace.tui.textual_private import (
    apply_ansi_colors,
    changed_off_screen,
    lay_out_off_screen,
    make_mode_screen,
    mark_styled_as_current,
    mode_is_made,
    render_off_screen,
    shown_notifications,
    withdraw_notification,
)

if TYPE_CHECKING:
    from tablespace.core.search_queries import SearchHit
    from tablespace.tui.modals import HelpRow

# Modules that the first frame does not need (the compose/search/help modals,
# Markdown, the sync engine and its crypto, the file watcher, the first-run
# screen, the other sections) are imported where they are first used: cold
# start is measured.


def _setup_screen() -> Screen:
    from tablespace.tui.setup import SetupScreen

    return SetupScreen()


# Cells of the header that the centred title must stay clear of: the icon on
# the left, the clock's space on the right (Textual's Header), both sides.
HEADER_CHROME = 2 * 10

# How long a toast stays, by severity: news is read at a glance, a refusal
# needs reading. A toast also goes when the form it spoke for is saved.
TOAST_SECONDS: dict[SeverityLevel, float] = {"information": 3.0, "warning": 5.0, "error": 7.0}

# The palette's name for Textual's "Keys" side panel: told apart from `?` at a glance.
KEYS_PANEL = "Side panel: the focused widget's keys"

# How long keys typed ahead wait for the screen they opened to mount: long
# enough for a loaded machine, short enough that a screen that never mounts
# does not keep them.
MOUNT_WAIT_S = 4.0
# The gap the preparation of the sections (see _prepare_sections) leaves
# between two of them, for keys and sync news to come first.
PREPARE_GAP_S = 0.05
# Layout and render passes a section gets off screen, at most: a pass can
# change what the next lays out (a scroll bar shows, the footer refits).
OFF_SCREEN_PASSES = 4
WARM_UP = "warm up imports"
PREPARING = "prepare sections"
# Actions that make no sense while a modal is open (they would switch the
# screen out from under it).
APP_ONLY_ACTIONS = {"section", "search", "help", "quit", "new_thread", "sync_now", "welcome"}
# Actions that need a group (not available on the first-run screen).
GROUP_ACTIONS = {"section", "search", "new_thread", "sync_now", "welcome"}


class TablespaceApp(App[None]):
    CSS_PATH = Path(__file__).parent / "app.tcss"  # absolute: subclasses elsewhere still find it
    TITLE = "tablespace"
    SUB_TITLE = ""
    MODES = {s.id: s.make_screen for s in SECTIONS}
    DEFAULT_MODE = SECTIONS[0].id
    TIME_TICK = 30.0  # seconds between redraws of relative times ("synced 2m ago", "5 minutes ago")
    COMMANDS = App.COMMANDS | {TablespaceCommands}
    # Make every section's screen in idle time once the first frame is up
    # (see _prepare_sections); the app's tests turn it off, bar their own.
    PREPARE_SECTIONS: ClassVar[bool] = True
    BINDINGS = [
        *(s.binding() for s in SECTIONS),
        Binding("slash", "search", "Search", id="app.search"),
        Binding("s", "sync_now", "Sync", id="app.sync"),
        Binding("question_mark", "help", "Keys", id="app.help"),
        Binding("w", "welcome", "Welcome", show=False, id="app.welcome"),
        Binding("q", "quit", "Quit", id="app.quit"),
        # The palette's "Keys" panel: escape closes it (only while it is open).
        Binding("escape", "hide_help_panel", "Hide the keys panel", show=False, priority=True, system=True),
    ]

    def __init__(
        self,
        group: Group | None,
        home: Home | None = None,
        *,
        sync: bool = True,
        watch: bool = True,
        sync_every: float = SYNC_EVERY,
    ) -> None:
        self.MODES = {s.id: partial(self._new_section_screen, s) for s in SECTIONS}
        if group is None:  # an empty home: first run, found or join a group
            self.DEFAULT_MODE = "setup"
            self.MODES["setup"] = _setup_screen
        super().__init__()
        if group is None and home is None:
            raise ValueError("TablespaceApp needs a group or a home")
        self.group: Group = group  # type: ignore[assignment]  # None only until the setup screen succeeds
        self.home: Home = home or group.home  # type: ignore[union-attr]
        self.sync_enabled = sync
        self.watch_enabled = watch
        self.sync_every = sync_every
        self.sync_loop: SyncLoop | None = None
        self.sync_status = SyncStatus(enabled=sync)
        self.sync_rounds = 0  # rounds reported to the app (for tests)
        self.jobs: list[str] = []  # what the running jobs are doing (jobs.py), shown in the header
        self._held_keys: list[events.Key] = []  # see _hold_key
        self._typed_on: weakref.WeakKeyDictionary[events.Key, Screen] = weakref.WeakKeyDictionary()
        self._retyped: weakref.WeakSet[events.Key] = weakref.WeakSet()
        self._retyping: asyncio.Task[None] | None = None  # typing the held keys again
        self._mounted_once = False  # see refresh_css
        self._painted = False  # the first frame is on the terminal
        self.sections_prepared = False  # every section's screen is made (see _prepare_sections)
        self._after_sections_prepared: list[Callable[[], None]] = []  # see after_sections_prepared
        self._section_screens: list[Screen] = []  # every section's screen made so far
        self._after_first_frame: list[Callable[[], None]] = []  # see after_first_frame
        self._shown_version: tuple[int, int] | None = None  # the database as the screens last read it
        self._unread: tuple[tuple[int, int], dict[str, int]] | None = None  # see unread_counts
        self._moderator: tuple[tuple[int, int], bool] | None = None  # see is_moderator
        self._parsed_variables: dict[str, str] = {}
        for theme in THEMES:
            self.register_theme(theme)
        saved = self.home.config().get("theme")
        self._start_with_theme(saved if isinstance(saved, str) and saved in self.available_themes else DEFAULT_THEME)
        if group is not None:
            self.title = group_title(group)
        else:
            self.title = "tablespace"
            self.sub_title = "set up a group"

    # --- start-up: theme and keymap from the home config ------------------------

    def _start_with_theme(self, name: str) -> None:
        """Choose the theme before the stylesheet is first parsed (the CSS is read
        when the app starts running, after `__init__`).

        `self.theme = name` here would run the theme watcher, which queues a
        `refresh_css` and marks the CSS stale, so the start re-parses every rule
        twice more (once after Load, once when the first mode's screen is made).
        Instead the value is set without watchers (`set_reactive`, Textual's
        documented way to set `App.theme` up front) and what the watcher would
        do is done here, before any CSS is parsed or any widget exists: the
        theme classes, the CSS variables the first parse will use, and the
        ANSI-to-truecolor mapping for a light or dark theme.
        """
        self.set_reactive(App.theme, name)
        theme = self.current_theme
        self.set_class(True, f"-theme-{theme.name}", update=False)
        self.set_class(theme.dark, "-dark-mode", update=False)
        self.set_class(not theme.dark, "-light-mode", update=False)
        self._parsed_variables = self.get_css_variables()
        self.stylesheet.set_variables(self._parsed_variables)
        apply_ansi_colors(self)

    def refresh_css(self, animate: bool = True) -> None:
        """Textual refreshes the CSS when it makes a mode's screen for the first
        time, the app's first screen included: a full re-parse of every rule
        before anything is on screen. Skip that one while the variables are
        those the stylesheet was parsed with (nothing changed the theme since
        `__init__`): mounting styles every widget with the current rules."""
        variables = self.get_css_variables()
        if not self._mounted_once and variables == self._parsed_variables:
            return
        super().refresh_css(animate)
        self._parsed_variables = variables

    def _new_section_screen(self, section: Section) -> Screen:
        """A section's screen, made the first time it is shown or prepared
        (and kept). Its widgets are styled with the current rules as they
        mount: the first screen too, else its first return re-parses the CSS."""
        screen = section.make_screen()
        mark_styled_as_current(self, screen)
        self._section_screens.append(screen)
        return screen

    def on_mount(self) -> None:
        self._mounted_once = True
        config = self.home.config()
        keymap = config.get("keymap")
        if isinstance(keymap, dict):
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self.screen_change_signal.subscribe(self, self._screen_changed)
        if self.group is not None:
            self.unlock_then_start()
        self.set_interval(self.TIME_TICK, self.refresh_times)

    def on_ready(self) -> None:
        """Textual's Ready comes once the first frame is laid out; its lines
        reach the terminal at the refresh after it."""
        self.call_after_refresh(self._first_frame_painted)

    def _first_frame_painted(self) -> None:
        """The first frame is on the terminal: start what it did not need. A
        thread started earlier (a sync round, the watcher, these imports)
        would take the interpreter from the frame while it is drawn."""
        self._painted = True
        self._warm_up(self._section_modules())
        for start in self._after_first_frame:
            start()
        self._after_first_frame.clear()

    def after_first_frame(self, start: Callable[[], None]) -> None:
        """Call `start` once the first frame is on the terminal (now, if it is)."""
        if self._painted:
            start()
        else:
            self._after_first_frame.append(start)

    def _section_modules(self) -> list[str]:
        """The modules of the sections this member may open (and what they
        import on their first read), for the warm-up."""
        if self.group is None:
            return []
        moderator = self.is_moderator()
        # The thread view first: enter on the list opens it.
        modules = ["tablespace.tui.thread_screen", *(s.screen.partition(":")[0] for s in sections_for(moderator))]
        if moderator:
            modules.append("tablespace.actions.moderation")  # the reports and the log, read on first show
        return modules

    @work(thread=True, exclusive=True, group="warm-up", name=WARM_UP)
    def _warm_up(self, section_modules: list[str]) -> None:
        """Load, in a thread, what the first write or signature needs, so opening
        a thread (which marks it read) does not pay for the imports; and the
        other sections' code, so their first show builds the screen only."""
        import cryptography.hazmat.primitives.asymmetric.ed25519  # noqa: F401
        import cryptography.hazmat.primitives.serialization  # noqa: F401
        from sqlite_utils.plugins import ensure_plugins_loaded

        import tablespace.core.fold  # noqa: F401

        ensure_plugins_loaded()
        for module in section_modules:
            import_module(module)

    @on(Worker.StateChanged)
    def _after_warm_up(self, event: Worker.StateChanged) -> None:
        """The sections' code is loaded: make their screens now, not on their keys."""
        warmed_up = event.worker.name == WARM_UP and event.state == WorkerState.SUCCESS
        if warmed_up and self.PREPARE_SECTIONS and self.group is not None:
            self._prepare_sections()

    @work(exclusive=True, group="prepare", name=PREPARING)
    async def _prepare_sections(self) -> None:
        """Make each section's screen the member may open, read what it
        shows, lay it out and render it off screen, one section at a time
        while the reader reads the first: a section's first visit then
        only shows it, as a later one does. A key for a section not made
        yet makes it then, as before."""
        for entry in sections_for(self.is_moderator()):
            await asyncio.sleep(PREPARE_GAP_S)
            if not mode_is_made(self, entry.id) and self.is_running:
                await self._prepare(make_mode_screen(self, entry.id))
        self.sections_prepared = True
        for then in self._after_sections_prepared:
            then()
        self._after_sections_prepared.clear()

    async def _prepare(self, screen: Screen) -> None:
        """Until a section's screen, just made, has read what it shows and is
        laid out and rendered off screen as it will first be shown."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._mounted(screen), timeout=MOUNT_WAIT_S)
        await self._settled(screen)  # its first read, on the resume it was posted
        if isinstance(screen, TablespaceScreen):
            await screen.filled()
        for _ in range(OFF_SCREEN_PASSES):
            lay_out_off_screen(screen, self.size)
            await self._quiet(screen)  # what its widgets do at their first size
            render_off_screen(screen)
            await self._quiet(screen)
            if not changed_off_screen(screen):
                break

    def after_sections_prepared(self, then: Callable[[], None]) -> None:
        """Call `then` once every section's screen is prepared (now, if it is)."""
        if self.sections_prepared:
            then()
        else:
            self._after_sections_prepared.append(then)

    def unlock_then_start(self) -> None:
        """Keys locked with a passphrase are opened before the group starts
        syncing (a sync signs, and opens the epoch keys): from
        TABLESPACE_PASSPHRASE if it is right, else asked in a modal. Deriving
        the key takes about a second, so it is done in a thread."""
        from tablespace.core import keyfile

        path = self.group.path
        given = os.environ.get(keyfile.PASSPHRASE_ENV)
        if not keyfile.keys_locked(path) or keyfile.is_unlocked(path):
            self.start_group()
        elif given is None:
            self.ask_passphrase()
        else:
            start_job(self, Job("unlocking your keys", lambda: _try_unlock(path, given), done=self._after_env_unlock))

    def _after_env_unlock(self, unlocked: bool) -> None:
        if unlocked:
            self.start_group()
        else:  # a wrong one: ask the person instead
            self.ask_passphrase()

    def ask_passphrase(self) -> None:
        from tablespace.tui.modals import PassphraseModal

        self.push_screen(PassphraseModal(self.group.path), self._after_passphrase)

    def _after_passphrase(self, unlocked: bool | None) -> None:
        if not unlocked:
            self.sync_enabled = False
            self.notify(
                "Your keys stay locked: you can read, but not write or sync, until you open the app again.",
                title="Read only",
                severity="warning",
            )
        self.start_group()

    def start_group(self) -> None:
        """The group is open: show its sync state and start syncing it live,
        and walk a newcomer through the welcome."""
        self.title = group_title(self.group)
        if self.group.needs_welcome:
            self.after_first_frame(self.action_welcome)
        self.sync_status = initial_status(self.group, enabled=self.sync_enabled)
        self._show_sync_status()
        if not self.sync_enabled:
            return
        notifier = actions.choose_notifier(None, fallback=InAppNotifier(self))  # without a desktop: bell and toast
        self.sync_loop = SyncLoop(self.home, self.group, self._report_round, every=self.sync_every, notifier=notifier)
        self.after_first_frame(self._start_live_sync)

    def _start_live_sync(self) -> None:
        loop = self.sync_loop
        if loop is None or loop.stop.is_set():  # the app is closing already
            return
        self._run_sync_loop(loop, self.sync_status)
        if self.watch_enabled:
            self._watch_folder(loop)

    async def group_ready(self, group: Group) -> None:
        """The first-run screen founded or joined a group: continue into it."""
        self.group = group
        await self.switch_mode("threads")
        await self.remove_mode("setup")
        self.start_group()
        # The first frame's warm-up had no sections to load: load and prepare them now.
        self._warm_up(self._section_modules())

    # --- live sync -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="sync", name="sync rounds")
    def _run_sync_loop(self, loop: SyncLoop, status: SyncStatus) -> None:
        worker = get_current_worker()
        loop.run(status, cancelled=lambda: worker.is_cancelled)

    @work(thread=True, exclusive=True, group="watch", name="folder watcher")
    def _watch_folder(self, loop: SyncLoop) -> None:
        """A round whenever files land, or the folder goes or comes back (the
        round then says "folder unreachable", or clears it); the sync loop's
        own timer does the periodic rounds. When the database changes (a
        `sync --watch` or a command beside the app wrote to it), the screens
        re-read: a round of ours would find nothing new to tell them."""
        for why in actions.watch_folder(self.group, loop.stop, debounce_ms=WATCH_DEBOUNCE_MS):
            if why == actions.DATABASE_CHANGED:
                self.post_message(DatabaseChanged())
            else:
                loop.request()

    @on(DatabaseChanged)
    def _database_changed(self) -> None:
        self.refresh_if_changed()
        outbox = group_queries.outbox_count(self.group.conn, self.group.device)
        if outbox > self.sync_status.outbox:  # a command beside the app wrote: send it out now
            self.wrote()

    def _report_round(self, status: SyncStatus, manual: bool) -> None:
        """Called in the sync thread; the message crosses to the app's thread."""
        self.post_message(SyncRound(status, manual))

    @on(SyncRound)
    def _sync_round_done(self, message: SyncRound) -> None:
        status = message.status
        self.sync_status = status
        if not status.running:
            self.sync_rounds += 1
        self._show_sync_status()
        if status.imported or status.opened_rituals:
            self.title = group_title(self.group)
            self.refresh_if_changed()
        elif not status.running:  # what a round brings besides ops (join requests, reports filed)
            self.screen.post_message(GroupChanged(ops=False))
        for reason in status.refused_mine:
            self.notify(reason, title="The group refused something you wrote", severity="warning", timeout=15)
        if message.manual:
            if status.problem:
                self.notify(status.detail or status.problem, title="Not synced", severity="warning")
            else:
                news = f"{status.imported} new" if status.imported else "nothing new"
                waiting = f"\n{status.pending} waiting: {WAITING_MEANS}" if status.pending else ""
                self.notify(f"Synced: {news}, {status.exported} sent.{waiting}", title="Sync")

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> Notification:
        """Every toast (widgets' and screens' notify come here): a message or
        title may quote members' text, so it is made visible and never read as
        markup. A toast saying what one on screen says replaces it; how long
        one stays depends on how much it matters (TOAST_SECONDS)."""
        notification = Notification(
            visible(message, multiline=True),
            visible(title),
            severity,
            TOAST_SECONDS[severity] if timeout is None else timeout,
            markup=False,
        )
        for shown in shown_notifications(self):
            if (shown.title, shown.message) == (notification.title, notification.message):
                withdraw_notification(self, shown)
        self.post_message(Notify(notification))
        return notification

    def _screen_changed(self, screen: Screen) -> None:
        """A dialog opened: the news toasts shown before it ("Deleted.",
        "Synced") spoke of what the person has moved on from, and would
        cover the dialog's border and lines. Warnings and refusals stay."""
        if isinstance(screen, ModalScreen):
            for shown in shown_notifications(self):
                if shown.severity == "information":
                    withdraw_notification(self, shown)

    def refresh_times(self) -> None:
        """The clock moved on: redraw the relative times in the header and on
        the screen in view (others redraw theirs when shown again)."""
        self._show_sync_status()
        if isinstance(self.screen, TablespaceScreen):
            self.screen.refresh_times()

    def _show_sync_status(self) -> None:
        if self.group is None:
            return
        busy = quiet_words(self.group) + "".join(f"{label}… · " for label in self.jobs)
        room = self.size.width - HEADER_CHROME - cell_len(self.title) - len(" — ") - cell_len(busy)
        self.sub_title = visible(busy + self.sync_status.line(room))

    @on(JobStarted)
    def _job_started(self, message: JobStarted) -> None:
        self.jobs.append(message.job.busy)
        self._show_sync_status()

    @on(JobDone)
    def _job_ended(self, message: JobDone) -> None:
        """Every job's end comes here (its screen's handler lets it bubble up)."""
        with contextlib.suppress(ValueError):
            self.jobs.remove(message.job.busy)
        self._show_sync_status()
        if message.orphaned:
            self._orphan_ended(message)
        elif message.started_by is self and message.refusal is None:
            message.job.done(message.result)

    def _orphan_ended(self, message: JobDone) -> None:
        """A job whose form was closed while it ran (escape does not stop a
        write in flight): say if it was refused, else show what it wrote."""
        if message.refusal is not None:
            self.notify(message.refusal, title=message.job.refused, severity="error")
            return
        self.wrote()
        self.refresh_all()

    def on_resize(self) -> None:
        self._show_sync_status()  # the header's sync line is fitted to the width

    def wrote(self) -> None:
        """A local write happened: count it in the outbox and send it out now."""
        if self.group is None:
            return
        self.sync_status = replace(
            self.sync_status, outbox=group_queries.outbox_count(self.group.conn, self.group.device)
        )
        self._show_sync_status()
        if self.sync_loop is not None:
            self.sync_loop.request()

    def action_sync_now(self) -> None:
        if self.sync_loop is None:
            self.notify("Live sync is off in this session.", severity="warning")
            return
        self.sync_loop.request(manual=True)

    def stop_sync(self) -> None:
        """Ask the sync thread and the watcher to finish (they end within ~1 s)."""
        if self.sync_loop is not None:
            self.sync_loop.shutdown()

    def exit(self, *args: Any, **kwargs: Any) -> None:
        self.stop_sync()  # before workers are cancelled: the thread must end on its own
        self._forget_hidden_focus()
        super().exit(*args, **kwargs)

    def _forget_hidden_focus(self) -> None:
        """Closing the app closes every kept section's screen, and Textual
        blurs the focused widget of each as it does, restyling the widget
        (a table: every row's styles) on a screen nobody sees again. The
        hidden screens let go of their focus without that first."""
        shown = self.screen if self.screen_stack else None
        for screen in self._section_screens:
            if screen is not shown:
                screen.set_reactive(Screen.focused, None)

    def on_unmount(self) -> None:
        self.stop_sync()

    def _remember_theme(self, theme: Theme) -> None:
        if not self.home.path.is_dir():
            return  # first run, nothing founded yet: don't create a home just for this
        if self.home.config().get("theme") != theme.name:
            self.home.update_config(theme=theme.name)

    # --- keys typed in a burst ---------------------------------------------------------
    #
    # Textual hands every key to the widget focused when the key arrives; the
    # bindings run when the key comes back up to the app. In a burst ("a" then
    # "oat" before the screen is redrawn) the keys after the one that opens a
    # modal were all handed to the screen beneath, and reached the app with
    # the modal on top but not yet focused: they were lost (or, on a screen
    # that used them, acted there). Each key remembers the screen it was typed
    # on; one that comes back after that screen was covered (or closed) is
    # held, with every key after it, and typed again in order once the screen
    # now on top is mounted and has its focus. So a binding that opens a
    # screen pushes it in its action, not through a message handled later
    # (see ThreadsScreen.action_open_thread).

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not self.screen_stack:
            return  # the app is closing: a key typed again now has nowhere to go
        if isinstance(event, events.Key) and not event.is_forwarded and event not in self._retyped:
            if self._retyping is not None or not (self.screen_stack and self.screen.is_mounted):
                self._hold_key(event)  # behind the keys already waiting, or the screen is not there yet
                return
            self._typed_on[event] = self.screen
        await super().on_event(event)

    def on_key(self, event: events.Key) -> None:
        """Runs before App's own key handler (Textual calls the handler of each
        class in the MRO, this class first), which checks the bindings unless
        the default is prevented."""
        typed_on = self._typed_on.get(event)
        if typed_on is not None and typed_on is not self.screen:
            event.prevent_default()
            self._hold_key(event)

    def _hold_key(self, event: events.Key) -> None:
        key = events.Key(event.key, event.character)
        self._retyped.add(key)
        self._held_keys.append(key)
        if self._retyping is None:
            self._retyping = asyncio.create_task(self._retype_held_keys())

    async def _retype_held_keys(self) -> None:
        """Type the held keys again one by one, each handled all the way (by the
        app, the focused widget, the screen, the bindings) before the next: a
        key that moves the focus or opens a screen sends the rest after it."""
        try:
            while self._held_keys:
                await self._until_ready(self.screen)  # a key may have opened (or closed) a screen
                self.post_message(self._held_keys.pop(0))
                for pump in (self, self.focused or self.screen, self.screen, self):
                    await self._settled(pump)
        finally:
            self._retyping = None

    async def _until_ready(self, screen: Screen) -> None:
        """Until `screen` is mounted, has shown what it shows on resume (a
        thread's posts, for `j`) and has the focus it asked for."""
        with contextlib.suppress(asyncio.TimeoutError):  # a screen that never mounts must not keep the keys
            await asyncio.wait_for(self._mounted(screen), timeout=MOUNT_WAIT_S)
        await self._settled(screen)  # its ScreenResume handler and what that queued next
        await self._settled(self)  # focus() is a call_later on the app

    @staticmethod
    async def _mounted(screen: Screen) -> None:
        while not screen.is_mounted:
            await asyncio.sleep(0.005)

    async def _quiet(self, screen: Screen) -> None:
        """Until a screen and each of its widgets have handled what they hold
        (a widget's idle turn asks its screen for a layout or a repaint)."""
        await self._settled(screen)
        for widget in list(screen.walk_children()):
            await self._settled(widget)
        await self._settled(screen)

    @staticmethod
    async def _settled(pump: MessagePump) -> None:
        """Until `pump` has handled the messages it holds now (or is gone)."""
        done = asyncio.Event()
        pump.call_later(done.set)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=0.5)

    # --- actions -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "hide_help_panel":
            return bool(self.screen.query("HelpPanel"))
        if action in GROUP_ACTIONS and self.group is None:
            return False
        if action in APP_ONLY_ACTIONS and isinstance(self.screen, ModalScreen):
            return False
        if action == "section" and parameters and section(str(parameters[0])).moderators_only:
            return self.is_moderator()
        return True

    def is_moderator(self) -> bool:
        """The Moderation section is for moderators only (and shown only to them)."""
        if self.group is None:
            return False
        # Asked for every key binding shown, many times a frame: read once per change of the database.
        version = group_queries.data_version(self.group.conn)
        if self._moderator is None or self._moderator[0] != version:
            self._moderator = (version, self.group.is_moderator)
        return self._moderator[1]

    def unread_counts(self) -> dict[str, int]:
        """The unread counts every section's bar shows: read once per change
        of the database, not once per section shown."""
        version = group_queries.data_version(self.group.conn)
        if self._unread is None or self._unread[0] != version:
            self._unread = (version, unread_counts(self.group.conn, self.group.me))
        return self._unread[1]

    def action_section(self, mode: str) -> None:
        """Show a section; its own key again goes back to the section's screen
        (from a thread opened in it)."""
        if mode != self.current_mode:
            self.switch_mode(mode)
            return
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_welcome(self) -> None:
        """The onboarding walk (tui/welcome.py)."""
        from tablespace.tui.welcome import WelcomeWalk

        if self.group is not None and not isinstance(self.screen, WelcomeWalk):
            self.push_screen(WelcomeWalk(self.group))

    def action_search(self) -> None:
        from tablespace.tui.modals import SearchModal

        self.push_screen(SearchModal(self.group.conn), self._search_done)

    def _search_done(self, hit: SearchHit | None) -> None:
        if hit is None:
            return
        if hit.thread:
            self.call_later(self.open_thread, hit.thread, hit.id if hit.kind == "post" else None)
        elif hit.kind == "resource":
            self.call_later(self.open_resource, hit.id)

    async def open_thread(self, thread_id: str, post_id: str | None = None) -> None:
        """Open a thread on top of whatever is in view (a section, another
        thread): escape comes back there, as from any thread."""
        from tablespace.tui.thread_screen import ThreadScreen

        await self.push_screen(ThreadScreen(thread_id, post_id))

    async def open_resource(self, resource_id: str) -> None:
        from tablespace.tui.sections import LibraryScreen

        await self.switch_mode("library")
        screen = self.screen
        if isinstance(screen, LibraryScreen):
            screen.select_resource(resource_id)

    async def action_new_thread(self) -> None:
        screen = await threads_section(self)
        if screen is not None:
            screen.action_new_thread()

    async def action_new_circle(self) -> None:
        screen = await threads_section(self)
        if screen is not None:
            screen.action_new_circle()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's own commands, its "Keys" side panel named so it is not
        taken for `?`'s list of every key (the palette's "Help: …")."""
        for command in super().get_system_commands(screen):
            if command.title == "Keys":
                command = command._replace(title=KEYS_PANEL)
            yield command

    def help_rows(self) -> list[HelpRow]:
        """Every binding active on the current screen, keys grouped per action."""
        from tablespace.tui.modals import HelpRow

        # Keys that do the same (⏎ and o both "Open") are one row, with both keys and ids.
        grouped: dict[str, list[str]] = {}
        ids: dict[str, list[str]] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.system or not binding.id:
                continue  # Textual's own scrolling/focus keys are not ours to list
            does = binding.description or binding.action
            grouped.setdefault(does, []).append(self.get_key_display(binding))
            if binding.id not in ids.setdefault(does, []):
                ids[does].append(binding.id)
        return [HelpRow(", ".join(keys), does, ", ".join(ids[does])) for does, keys in grouped.items()]

    def action_help(self) -> None:
        from tablespace.tui.modals import HelpRow, HelpScreen
        from tablespace.tui.thread_screen import ThreadScreen

        rows = self.help_rows()
        rows.append(
            HelpRow(self.get_key_display(Binding(self.COMMAND_PALETTE_BINDING, "")), "Command palette", "(textual)")
        )
        label = next((s.title for s in SECTIONS if s.id == self.current_mode), self.current_mode)
        if isinstance(self.screen, ThreadScreen):
            label = "Thread"
        self.push_screen(HelpScreen(label, rows, self.home.config_path))

    def refresh_all(self) -> None:
        """New ops landed (sync) or something changed: the screens in view re-read."""
        self._shown_version = group_queries.data_version(self.group.conn)
        # A linked device becomes its member when the certificate comes in, by
        # the app's sync or a command beside it: every screen reads as them.
        self.group.take_up_device()
        for screen in self.screen_stack:
            screen.post_message(GroupChanged(ops=True))  # a screen not composed yet reads on mount

    def refresh_if_changed(self) -> None:
        """`refresh_all`, unless no connection committed since the screens last
        re-read (a round and the database watcher both report one import)."""
        if group_queries.data_version(self.group.conn) != self._shown_version:
            self.refresh_all()


def _try_unlock(path: Path, passphrase: str) -> bool:
    from tablespace.core import keyfile

    try:
        keyfile.unlock(path, passphrase)
    except keyfile.LockedKeyError:
        return False
    return True


def group_title(group: Group) -> str:
    """The group's name; a joiner not admitted yet cannot read it (it is in
    the encrypted log), so say what they wait for instead of an id."""
    name = visible(group_queries.settings(group.conn).get("name", ""))
    return name or ("Waiting for your other device" if group.waiting_for_my_device else "Waiting to be admitted")


def quiet_words(group: Group) -> str:
    """'quiet until Mon 30 Nov 00:00 · ' while the group is in a quiet spell
    (on the reader's clock), else nothing."""
    spell = group_queries.quiet_now(group.conn, now())
    if spell is None:
        return ""
    return f"quiet until {local(spell.ends):%a %d %b %H:%M} · "


def require_terminal() -> None:
    """The app draws on a terminal and reads keys from it; without one (a pipe,
    a cron job, /dev/null) it would wait forever for keys nobody can type."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise TablespaceError(
            "the app needs a terminal (input or output is not one); "
            "in scripts use the commands, see `tablespace --help`"
        )


def run(home: Home, selector: str | None) -> None:
    """Open the group chosen by `selector` (see Home.resolve) and run the app.

    With no group in the home (and no selector), the app opens on the first-run
    screen to found or join one. Raises TablespaceError (before any screen is
    drawn) if there is no such group, or no terminal to draw on.

    The cyclic garbage collector, which the caller may pause while the app's
    modules load (cli.main does), is resumed once the first frame is painted
    (`resume_gc_after_start`), and in any case when the app ends; what the
    preparation of the sections made is frozen out of it as well.
    """
    try:
        require_terminal()
        if selector is None and not home.groups():
            app = TablespaceApp(None, home)
            app.after_first_frame(resume_gc_after_start)
            app.after_sections_prepared(gc.freeze)  # once the form has made a group and its sections
            try:
                app.run()
            finally:
                if app.group is not None:
                    app.group.close()
            return
        group = Group.open(home, selector)
        try:
            app = TablespaceApp(group, home)
            app.after_first_frame(resume_gc_after_start)
            app.after_sections_prepared(gc.freeze)  # the prepared sections live as long as the app too
            app.run()
        finally:
            group.close()
    finally:
        gc.enable()


def resume_gc_after_start() -> None:
    """Start-up allocates much and frees little (modules, styles, widgets that
    live as long as the app), so a collection before the first frame re-scans
    all of it for nothing (a tenth of a second). Once the frame is painted, what
    start-up left is frozen out of every later collection and the GC resumes."""
    gc.freeze()
    gc.enable()


__all__ = ["TablespaceApp", "run"]
