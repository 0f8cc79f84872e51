"""What every screen of the app shares: the footer, the section bar, the base
screens, and the typed messages screens refresh on. Screens reach the app
through `AppHost`, so nothing here (or in a screen) imports the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, cast

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

from tablespace.actions import in_own_group
from tablespace.core import group_queries
from tablespace.core.clock import now
from tablespace.core.inbox import COUNT_CAP
from tablespace.core.text import visible
from tablespace.tui.format import truncated
from tablespace.tui.jobs import Job, JobDone, start_job
from tablespace.tui.registry import sections_for
from tablespace.tui.textual_private import style_stamp

if TYPE_CHECKING:
    from collections.abc import Callable

    from tablespace.core.group import Group
    from tablespace.core.home import Home

T = TypeVar("T")  # what a write returns


class AppHost(Protocol):
    """What screens use of the app (tablespace.tui.app.TablespaceApp)."""

    group: Group
    home: Home
    sync_rounds: int

    def is_moderator(self) -> bool: ...

    def unread_counts(self) -> dict[str, int]: ...

    def wrote(self) -> None: ...

    async def group_ready(self, group: Group) -> None: ...

    def after_first_frame(self, start: Callable[[], None]) -> None: ...


@dataclass
class GroupChanged(Message):
    """What the group holds changed: sync imported ops (`ops`), or a round
    ended that brought only what lives outside the log (join requests,
    reports). Posted by the app to the screens that show the group."""

    bubble = False
    ops: bool = True


HELP_ACTION = "help"  # the app's `? Keys`: the footer always keeps it
APP_KEYS_GO_FIRST = ("sync_now", "search", "quit")  # left out of a narrow footer in this order


@dataclass(frozen=True)
class FooterEntry:
    """A key as the footer shows it."""

    key: str  # what a click on it presses
    display: str  # how the key is written ("?", "^p")
    description: str
    action: str
    enabled: bool
    the_apps: bool  # bound by the app, not the screen


class KeyFooter(Widget, can_focus=False):
    """The footer: the screen's own keys first, then the app's, then the
    `^p palette` hint on the right. When they do not all fit, the app's keys
    go first, then the screen's own from the last, but never `? Keys` or the
    palette hint: those two lead to every key there is.

    One widget draws the whole line, in Textual's compact footer look: a
    widget per key (Textual's Footer) made every screen's first show mount,
    style and lay out a dozen more widgets, and mount them again whenever the
    focus changed what the keys are. A click on a key presses it."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"key-footer--key", "key-footer--description", "key-footer--edge"}
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        .key-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .key-footer--edge {
            color: $foreground 20%;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[FooterEntry, ...] = ()  # the keys as last drawn
        self._spans: list[tuple[int, int, str]] = []  # (from, to, key) of each key drawn, for clicks
        self._drawn_yet = False  # the app's first frame does not wait for the keys: they follow it

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        cast(AppHost, self.app).after_first_frame(self._first_frame_painted)

    def _first_frame_painted(self) -> None:
        self._drawn_yet = True
        self.refresh()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        """The screen's bindings change as it starts and as the focus moves:
        draw again only if the keys to show changed."""
        if screen is self.screen and self.entries() != self._shown:
            self.refresh()

    def entries(self) -> tuple[FooterEntry, ...]:
        """The keys to show, one per action, in the screen's order."""
        app = self.app
        seen: dict[str, FooterEntry] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.show and binding.action not in seen:
                seen[binding.action] = FooterEntry(
                    binding.key,
                    app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    active.enabled,
                    active.node is app,
                )
        return tuple(seen.values())

    def palette_entry(self) -> FooterEntry | None:
        app = self.app
        active = self.screen.active_bindings.get(app.COMMAND_PALETTE_BINDING)
        if not app.ENABLE_COMMAND_PALETTE or active is None:
            return None
        binding = active.binding
        return FooterEntry(binding.key, app.get_key_display(binding), binding.description, binding.action, True, True)

    def _fit(self, entries: tuple[FooterEntry, ...], palette: FooterEntry | None, width: int) -> tuple[set[str], bool]:
        """Which keys' actions to leave out, and whether the palette hint
        shows, for `width` cells."""
        cells = {e.action: cell_len(e.display) + 1 + cell_len(e.description) + 1 for e in entries}
        # the hint, its edge, and the free cell after it
        hint = 2 + cell_len(palette.display) + 1 + cell_len(palette.description) if palette else 0
        needed = sum(cells.values()) + hint
        left_out: set[str] = set()
        if needed <= width:
            return left_out, True
        # the app's keys first (the same on every screen, so soon known by
        # heart), then the screen's own from the last, keeping `? Keys`
        app_keys = sorted(
            (e.action for e in entries if e.the_apps and e.action != HELP_ACTION),
            key=lambda a: APP_KEYS_GO_FIRST.index(a) if a in APP_KEYS_GO_FIRST else len(APP_KEYS_GO_FIRST),
        )
        order = app_keys + [e.action for e in reversed(entries) if not e.the_apps]
        for action in order:
            left_out.add(action)
            needed -= cells[action]
            if needed <= width:
                return left_out, True
        return left_out, False

    def render(self) -> Text:
        if not self._drawn_yet:
            return Text()
        entries, palette = self.entries(), self.palette_entry()
        self._shown = entries
        width = self.size.width
        left_out, show_palette = self._fit(entries, palette, width)
        key_style = self.get_component_rich_style("key-footer--key")
        description_style = self.get_component_rich_style("key-footer--description")
        line = Text(no_wrap=True, overflow="crop", end="")
        self._spans = []
        for entry in entries:
            if entry.action in left_out:
                continue
            start = line.cell_len
            dim = Style(dim=not entry.enabled)
            line.append(entry.display, key_style + dim)
            if entry.description:
                line.append(" " + entry.description, description_style + dim)
            self._spans.append((start, line.cell_len, entry.key))
            line.append(" ")
        if palette is not None and show_palette:
            hint = Text.assemble(
                ("▏", self.get_component_rich_style("key-footer--edge")),
                (palette.display, key_style),
                (" " + palette.description, description_style),
            )
            at = max(0, width - hint.cell_len - 1)  # a cell free at the right, as every key has
            line.truncate(at, pad=True)
            self._spans.append((at + 1, at + hint.cell_len, palette.key))
            line.append_text(hint)
        return line

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.app.simulate_key(key)
                return


class AppHeader(Widget, can_focus=False):
    """The top line: the palette's icon on the left, the title and sub-title
    centred between the icon's cells and the clock's (Textual's Header
    layout, without a clock). One widget draws it: Textual's Header is four,
    and laid the screen out again each time the title changed. A click on
    the icon opens the command palette."""

    ICON = "⭘"
    ICON_CELLS = 8  # the icon's width, its padding included
    CLOCK_CELLS = 10  # kept free on the right, as Textual's header keeps it for a clock
    DEFAULT_CSS = """
    AppHeader {
        dock: top;
        width: 100%;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    def on_mount(self) -> None:
        for node in (self.app, self.screen):
            self.watch(node, "title", self._retitle, init=False)
            self.watch(node, "sub_title", self._retitle, init=False)

    def _retitle(self) -> None:
        self.refresh()

    def render(self) -> Content:
        screen, app = self.screen, self.app
        title = screen.title if screen.title is not None else app.title
        sub_title = screen.sub_title if screen.sub_title is not None else app.sub_title
        room = max(0, self.size.width - self.ICON_CELLS - self.CLOCK_CELLS)
        icon = Content(" " + self.ICON).pad_right(self.ICON_CELLS - 1 - cell_len(self.ICON))
        middle = app.format_title(title, sub_title).center(room, ellipsis=True) if room else Content("")
        return icon + middle + Content(" " * self.CLOCK_CELLS)

    async def on_click(self, event: events.Click) -> None:
        if event.x < self.ICON_CELLS and self.app.ENABLE_COMMAND_PALETTE:
            event.stop()
            await self.run_action("app.command_palette")


MIN_INFO_CELLS = 12  # less of the section bar's info than this says nothing: drop it


class SectionBar(Static):
    """`1 Threads  2 Rituals  3 Library  4 Members`, the current one
    highlighted, then news for the reader (kept longest), then the info.
    Its line is one cell high whatever it says: a change repaints it
    without laying the screen out again (as Static's update would)."""

    def __init__(self, current: str) -> None:
        super().__init__(classes="section-bar")
        self._line = Text()
        self.current = current
        self.info = ""
        self.shorter: tuple[str, ...] = ()  # the info in fewer words, for a narrow terminal
        self.news = ""
        self.counts: dict[str, int] = {}  # section id -> unread, shown beside its title

    def set_counts(self, counts: dict[str, int]) -> None:
        if counts != self.counts:
            self.counts = dict(counts)
            self.refresh_bar()

    def set_info(self, info: str, *shorter: str) -> None:
        """`info`, or the first of `shorter` (fewer words) that fits."""
        self.info, self.shorter = info, shorter
        self.refresh_bar()

    def set_news(self, news: str) -> None:
        if news != self.news:
            self.news = news
            self.refresh_bar()

    def on_mount(self) -> None:
        self.refresh_bar()

    def on_resize(self) -> None:
        self.refresh_bar()

    def refresh_bar(self) -> None:
        """The widest form that fits: spaced out, then tighter, then the
        other sections' names cut to three letters, then to two; the info
        (the thread count), then the news, are cut or dropped only when
        even that is too wide."""
        width = self.size.width  # the content area, inside the padding
        infos = [info for info in (self.info, *self.shorter) if info]
        forms = [
            (gap, cut, info, news)
            for news in ((self.news, "") if self.news else ("",))
            for info in (*infos, "")
            for cut in (0, 3, 2)
            for gap in (" ", "")
        ]
        for gap, cut, info, news in forms:
            text = self.bar(gap, cut, info, news)
            if width <= 0 or text.cell_len <= width:
                break
            if info and info == infos[-1] and cut == 2 and not gap:
                # Before the info goes, as much of it as fits (a few words say enough).
                room = width - self.bar(gap, cut, "", news).cell_len - 3
                if room >= MIN_INFO_CELLS:
                    text = self.bar(gap, cut, truncated(visible(info), room), news)
                    break
        if text != self._line:
            self._line = text
            self.refresh()

    def render(self) -> Text:
        return self._line

    def bar(self, gap: str, cut: int, info: str, news: str = "") -> Text:
        """The bar with the other sections' names cut to `cut` letters (0: whole)."""
        text = Text()
        for n, section in enumerate(sections_for(cast(AppHost, self.app).is_moderator())):
            if n:
                text.append(gap)
            current = section.id == self.current
            style = "reverse bold" if current else ""
            text.append(f" {section.key} {section.title[:cut] if cut and not current else section.title}", style)
            unread = self.counts.get(section.id, 0)
            if unread:
                shown = f"{COUNT_CAP:,}+" if section.id == "inbox" and unread >= COUNT_CAP else f"{unread:,}"
                text.append(f" ({shown})", (style + " " if style else "") + "bold")
            text.append(" ", style)
        if news:
            text.append("  ")
            text.append(news, "reverse bold")
        if info:
            text.append("   " + visible(info), "dim")
        return text


# The database's data_version, the sync rounds seen, the minute (see data_stamp).
DataStamp = tuple[tuple[int, int], int, str]


class TablespaceScreen(Screen[None]):
    """Shared plumbing: the app, its group, and data re-read when it changed.

    A screen kept while another is shown (a section, a thread under a
    modal) re-reads on its return only if the database changed since it
    last read (`data_stamp`): a return to an unchanged section costs no
    query."""

    SECTION = ""
    # Re-read after every sync round, not only when it brought ops (see GroupChanged).
    REFRESH_EVERY_ROUND = False
    # What it shows is worked out from the clock as well (figures up to now,
    # how long a report has waited): re-read on return once the minute moved on.
    READS_THE_CLOCK = False
    _read_at: DataStamp | None = None  # the data stamp as this screen last read it
    _styled_for: tuple[object, ...] | None = None  # the style_stamp it was last styled for

    @property
    def ts_app(self) -> AppHost:
        return cast(AppHost, self.app)

    @property
    def group(self) -> Group:
        return self.ts_app.group

    def refresh_data(self) -> None:
        """Re-read what this screen shows (after a write, or when sync lands ops)."""

    async def filled(self) -> None:
        """Until what the screen last read is in its widgets. Most fill them
        as they read; a screen that fills some in the background (a Markdown
        update) waits for that here."""

    def refresh_times(self) -> None:
        """Redraw the relative times shown ("5 minutes ago") as the clock moves
        on; the app calls this on an interval. Nothing is re-read."""

    def data_stamp(self) -> DataStamp:
        """Changes whenever what this screen shows may have: any commit to the
        database (a write, an import, a command beside the app), for a
        screen that shows what lives outside the log every sync round, and
        for one that reads the clock every minute."""
        rounds = self.ts_app.sync_rounds if self.REFRESH_EVERY_ROUND else 0
        minute = now().strftime("%Y-%m-%d %H:%M") if self.READS_THE_CLOCK else ""
        return group_queries.data_version(self.group.conn), rounds, minute

    def reread(self) -> None:
        """`refresh_data`, noting the stamp first (a commit while it reads is
        seen next time)."""
        self._read_at = self.data_stamp()
        self.refresh_data()

    def reread_if_changed(self) -> None:
        if self.data_stamp() != self._read_at:
            self.reread()

    @on(events.ScreenResume)
    def _restyle_only_if_stale(self, event: events.ScreenResume) -> None:
        """Runs before Screen's own resume handler, which restyles every
        widget of the screen. A screen's widgets are styled as they mount
        and whenever a class of theirs changes: restyle it only if what else
        its styles depend on (style_stamp) changed since it was last styled."""
        stamp = style_stamp(self.app)
        # Just made (None), its widgets are styled with the current rules as they mount.
        if self._styled_for is None or stamp == self._styled_for:
            event.refresh_styles = False
        self._styled_for = stamp

    def on_screen_resume(self) -> None:
        self.reread_if_changed()
        self.refresh_times()

    @on(GroupChanged)
    def group_changed(self, message: GroupChanged) -> None:
        if (message.ops or self.REFRESH_EVERY_ROUND) and self.is_mounted and self.is_attached:
            self.reread()

    def act(
        self,
        busy: str,
        action: Callable[[Group], T],
        *,
        success: str | Callable[[T], str] | None = None,
        then: Callable[[T], object] | None = None,
    ) -> None:
        """Run a write off the event loop (see `write_job`); a refusal is
        shown as a notification."""
        self.run_job(self.write_job(busy, action, success=success, then=then))

    def write_job(
        self,
        busy: str,
        action: Callable[[Group], T],
        *,
        success: str | Callable[[T], str] | None = None,
        then: Callable[[T], object] | None = None,
        refused: str = "Refused",
    ) -> Job[T]:
        """A write as a `Job`: `action` runs on a worker, on a connection of
        its own to the group (a write may wait on the database while a sync
        round holds it). When it is done, `then` gets its result, the success
        notice shows (a text, or made from the result), and this screen
        re-reads what it shows. `act` starts it; a form's `on_submit` hands it
        back instead, so the form stays open until the write is over."""

        def done(result: T) -> None:
            if then is not None:
                then(result)
            self.after_write(success(result) if callable(success) else success)

        return Job(busy, in_own_group(self.group, action), done=done, refused=refused)

    def run_job(self, job: Job[Any]) -> None:
        """Run `job` on a worker; `job.done` follows when it is over (see `job_done`)."""
        start_job(self, job)

    @on(JobDone)
    def job_done(self, message: JobDone) -> None:
        if message.started_by is not self:
            return
        if message.refusal is not None:
            self.notify(message.refusal, title=message.job.refused, severity="error")
            return
        message.job.done(message.result)

    def after_write(self, success: str | None) -> None:
        if success:
            self.notify(success)
        self.ts_app.wrote()
        self.reread()


class SectionScreen(TablespaceScreen):
    """A section: the header, the section bar with its unread counts, and
    what the section shows, each re-read when the data stamp moved."""

    # Read before the first layout (see _read_as_mounted); not for a section
    # that scrolls to a row as it fills, which needs its size first.
    READ_AS_MOUNTED: ClassVar[bool] = False

    def compose_header(self) -> ComposeResult:
        yield AppHeader()
        yield SectionBar(self.SECTION)

    @on(events.Mount)
    def _read_as_mounted(self) -> None:
        """With READ_AS_MOUNTED, read what the section shows as it mounts
        (after the subclass's own Mount handler has made its columns),
        before its first layout: read on its resume, a table's rows came
        after a layout and asked for another, and for a repaint each."""
        if self.READ_AS_MOUNTED:
            self.reread()

    def reread(self) -> None:
        super().reread()
        self.count_unread()

    def count_unread(self) -> None:
        """The unread counts beside the sections' titles (threads, rituals, inbox)."""
        if self.group.my_status is None:
            return  # not admitted yet: nothing to read
        self.query_one(SectionBar).set_counts(self.ts_app.unread_counts())

    def set_info(self, info: str, *shorter: str) -> None:
        self.query_one(SectionBar).set_info(info, *shorter)

    def set_news(self, news: str) -> None:
        """What is new where the reader cannot see it, e.g. " ↑ 2 new · u "."""
        self.query_one(SectionBar).set_news(news)
