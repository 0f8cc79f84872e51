"""The thread list: a line-API ScrollView paged from SQLite.

Only the rows on screen are ever fetched, one page (PAGE_SIZE rows) at a time,
and pages live in an LRU cache (toolong's log_lines.py is the model). Moving
the cursor repaints two lines, so a keypress costs the same at 1k threads as
at 100k.

News (a thread new or newly active since the last read, and unread) lands
at the top. A reader at the top sees it come in; one scrolled down keeps
their rows where they are, and the list counts the news above them
(`news_above`, announced by the screen) until it comes into view or they
jump to it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tablespace.core import group_queries, inbox, thread_queries
from tablespace.core.clock import now
from tablespace.core.text import visible
from tablespace.core.thread_queries import ThreadSummary
from tablespace.tui.format import relative, short_relative, tags_text

PAGE_SIZE = 100
PAGE_CACHE = 64  # pages: 6,400 rows at most in memory

# Column widths (cells); the title takes what is left.
GUTTER = 2  # cursor mark
FLAGS = 5  # unread dot + followed or muted mark + pin + space
FOLLOWED, MUTED = "★", "⊘"
TAGS_MAX = 24
REPLIES = 5
WHEN = 15
NARROW = 96  # below this width: compact times and fewer tags


def fit(text: str, width: int) -> str:
    """`text` in exactly `width` cells: padded, or cut with an ellipsis."""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


def thread_marks(conn: sqlite3.Connection) -> dict[str, str]:
    """The threads I follow or muted, with the mark the list shows (muted wins)."""
    marks = dict.fromkeys(inbox.followed_threads(conn), FOLLOWED)
    marks.update(dict.fromkeys(inbox.muted(conn, "thread"), MUTED))
    return marks


class ThreadList(ScrollView, can_focus=True, inherit_bindings=False):
    """Threads, pinned first then most recent activity, one per line."""

    BINDINGS = [
        Binding("down,j", "cursor_down", "Down", show=False, id="threads.down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="threads.up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="threads.page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="threads.page_up"),
        Binding("home,g", "first", "First", show=False, id="threads.first"),
        Binding("end,G", "last", "Last", show=False, id="threads.last"),
    ]

    COMPONENT_CLASSES = {
        "thread-list--cursor",
        "thread-list--unread",
        "thread-list--read",
        "thread-list--tags",
        "thread-list--meta",
        "thread-list--pin",
        "thread-list--dot",
    }

    cursor: reactive[int] = reactive(0, repaint=False, always_update=True)

    @dataclass
    class NewsAbove(Message):
        """How many threads with news are above the rows in view changed."""

        thread_list: ThreadList
        count: int

    @dataclass
    class Selected(Message):
        """A thread was double-clicked. (Enter is the screen's binding, which
        opens the thread at once: see ThreadsScreen.action_open_thread.)"""

        thread_list: ThreadList
        thread_id: str

    def __init__(self, conn: sqlite3.Connection, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.conn = conn
        self._count = 0
        self._pages: LRUCache[int, list[ThreadSummary]] = LRUCache(PAGE_CACHE)
        self._strips: LRUCache[tuple[int, int, bool], Strip] = LRUCache(1024)
        self._styles: dict[str, Style] = {}  # styles resolved for the paint under way
        self.pages_loaded = 0  # how many SQL page fetches happened (for tests / benchmarks)
        self._version: tuple[int, int] | None = None  # the database as last read (group_queries.data_version)
        self.empty_hint = "No threads yet — press c to start one."  # what an empty list says
        self._hint: tuple[tuple[str, int], list[str]] | None = None  # it wrapped, for (text, width)
        self._marks: dict[str, str] = {}  # thread id -> FOLLOWED or MUTED (mine alone, a few at most)
        self._head: dict[str, datetime] | None = None  # the first page as last read: id -> last activity
        self._news: dict[str, int] = {}  # threads with news not yet in view -> their row
        self.news_above = 0
        # The thread under the cursor, by id: a reload finds it again wherever
        # the list moved it (its page may be gone from the cache by then).
        self._selected_id: str | None = None
        self.room: str | None = None  # the circle whose threads are listed; None: the group's room

    # --- data ----------------------------------------------------------------

    @property
    def count(self) -> int:
        return self._count

    def show_room(self, circle: str | None) -> None:
        """List another room's threads, from the top: what was read of the
        last room (pages, the cursor, the news) says nothing of this one."""
        if circle == self.room:
            return
        self.room = circle
        self._version = None
        self._head = None
        self._news = {}
        self._selected_id = None
        self.cursor = 0
        self.scroll_to(y=0, animate=False, immediate=True)
        self.reload()

    def reload(self) -> None:
        """Forget cached pages and re-read the count (after any write or sync);
        nothing to do if no connection has committed since the last read.

        The selected thread stays selected, and on the same screen line, even
        when new activity moves it down (or up) the list; at the top of the
        list the rows stay put instead, so what lands on top is seen.
        """
        version = group_queries.data_version(self.conn)
        if version == self._version:
            return
        self._version = version
        selected_id = self._selected_id
        old_cursor, old_top = self.cursor, self.scroll_offset.y
        self._pages.clear()
        self._strips.clear()
        self._count = thread_queries.count_threads(self.conn, self.room)
        self._marks = thread_marks(self.conn)
        self.virtual_size = Size(self.size.width, self._count)
        head = self._read_head()
        position = (
            thread_queries.thread_position(self.conn, selected_id, self.room) if selected_id is not None else None
        )
        if position is not None and position != old_cursor:
            if old_top > 0:
                self.scroll_to(y=max(0, old_top + position - old_cursor), animate=False, immediate=True)
            self.cursor = position
        elif self._count and self.cursor >= self._count:
            self.cursor = self._count - 1
        self._note_news(head)
        self._remember_selected()
        self.refresh()

    def _read_head(self) -> list[ThreadSummary]:
        """The first page, where news lands (read on every reload: it is
        also the page the list shows first)."""
        head = thread_queries.threads(self.conn, pinned_first=True, limit=PAGE_SIZE, circle=self.room)
        self._pages[0] = head
        self.pages_loaded += 1
        return head

    def _note_news(self, head: list[ThreadSummary]) -> None:
        """Remember the unread threads of the first page that are new, or
        newer, since it was last read (none on the first read)."""
        before, self._head = self._head, {row.id: row.last_activity for row in head}
        positions = {row.id: n for n, row in enumerate(head)}
        self._news = {thread_id: positions[thread_id] for thread_id in self._news if thread_id in positions}
        if before is not None:
            # A row the last read did not hold, older than all it held, was
            # only below it (the first page shifted up), not new.
            floor = min(before.values()) if len(before) == PAGE_SIZE else None
            for n, row in enumerate(head):
                activity = before.get(row.id)
                is_new = activity is None and (floor is None or row.last_activity >= floor)
                if row.unread and (is_new or (activity is not None and activity != row.last_activity)):
                    self._news[row.id] = n
        self._count_news()

    def _count_news(self) -> None:
        """News in view is seen; count what is still above the rows in view."""
        top, height = self.scroll_offset.y, self.scrollable_content_region.height
        if height <= 0:
            return  # not laid out (or hidden): counted once it is
        self._news = {thread_id: n for thread_id, n in self._news.items() if not top <= n < top + height}
        above = sum(1 for n in self._news.values() if n < top)
        if above != self.news_above:
            self.news_above = above
            self.post_message(self.NewsAbove(self, above))

    def jump_to_news(self) -> None:
        """Select the topmost thread with news, and show the top of the list
        if it is within a screenful of it."""
        if not self._news:
            return
        first = min(self._news.values())
        self.scroll_to(y=0 if first < self.scrollable_content_region.height else first, animate=False, immediate=True)
        self.cursor = first

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._count_news()

    def row(self, index: int) -> ThreadSummary | None:
        if not 0 <= index < self._count:
            return None
        page_no, offset = divmod(index, PAGE_SIZE)
        page = self._pages.get(page_no)
        if page is None:
            page = self._fetch_page(page_no)
            self._pages[page_no] = page
            self.pages_loaded += 1
        return page[offset] if offset < len(page) else None

    def _fetch_page(self, page_no: int) -> list[ThreadSummary]:
        """From a neighbouring page's edge when one is cached (keyset: as cheap
        at row 90,000 as at row 100), else by offset (a jump: g, G, a search)."""
        before = self._pages.get(page_no - 1) if page_no else None
        if before and len(before) == PAGE_SIZE:
            page = thread_queries.threads_next_to(
                self.conn, before[-1].id, after=True, limit=PAGE_SIZE, circle=self.room
            )
            if page is not None:
                return page
        following = self._pages.get(page_no + 1)
        if following:
            page = thread_queries.threads_next_to(
                self.conn, following[0].id, after=False, limit=PAGE_SIZE, circle=self.room
            )
            if page is not None and len(page) == PAGE_SIZE:
                return page
        return thread_queries.threads(
            self.conn, pinned_first=True, limit=PAGE_SIZE, offset=page_no * PAGE_SIZE, circle=self.room
        )

    @property
    def current(self) -> ThreadSummary | None:
        return self.row(self.cursor)

    def index_of_next_unread(self) -> int | None:
        """The next unread thread after the cursor (wrapping), or None."""
        if not thread_queries.threads(self.conn, unread=True, limit=1, circle=self.room):
            return None
        for step in range(1, self._count + 1):
            index = (self.cursor + step) % self._count
            summary = self.row(index)
            if summary is not None and summary.unread:
                return index
        return None

    # --- rendering -------------------------------------------------------------

    def on_mount(self) -> None:
        self.reload()

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self.virtual_size = Size(event.size.width, self._count)
        self._count_news()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        self._styles.clear()  # resolve the styles afresh for each paint, once
        return super().render_lines(crop)

    def _style(self, name: str) -> Style:
        """The widget's style ("") or a component's, resolved once per paint:
        resolving walks the DOM, and every row needs several."""
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name) if name else self.rich_style
        return style

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        if index >= self._count:
            if self._count == 0:
                hint = self._hint_lines(width)
                if index < len(hint):
                    line = Segment(f"  {hint[index]}", self._style("") + self._style("thread-list--meta"))
                    return Strip([line]).adjust_cell_length(width, self._style(""))
            return Strip.blank(width, self._style(""))
        is_cursor = index == self.cursor
        key = (index, width, is_cursor and self.has_focus)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._render_row(index, width, is_cursor)
            self._strips[key] = strip
        return strip

    def _hint_lines(self, width: int) -> list[str]:
        """What an empty list says, wrapped to the list's width (a narrow
        terminal would cut a single line); wrapped once, not per line drawn."""
        key = (self.empty_hint, width)
        if self._hint is None or self._hint[0] != key:
            lines = Text(self.empty_hint).wrap(self.app.console, max(10, width - 2))
            self._hint = (key, [line.plain.rstrip() for line in lines])
        return self._hint[1]

    def _render_row(self, index: int, width: int, is_cursor: bool) -> Strip:
        """One row as segments built directly (a Rich Text per row cost ~5x
        as much, and the first frame paints a screenful of rows)."""
        summary = self.row(index)
        base = self._style("")
        if summary is None:
            return Strip.blank(width, base)
        style = self._style
        cursor = style("thread-list--cursor") if is_cursor and self.has_focus else None
        narrow = width < NARROW
        tags_max = min(TAGS_MAX, width // 5) if narrow else TAGS_MAX
        tags = tags_text(summary.tags)
        if len(tags) > tags_max:
            tags = tags[: tags_max - 1] + "…"
        when_width = 9 if narrow else WHEN
        when = (short_relative if narrow else relative)(summary.last_activity, at=now())
        fixed = GUTTER + FLAGS + 1 + len(tags) + 1 + REPLIES + 1 + when_width
        title_style = style("thread-list--unread" if summary.unread else "thread-list--read")
        parts = [
            ("▶ " if is_cursor else "  ", style("thread-list--pin") if is_cursor else Style()),
            ("●" if summary.unread else " ", style("thread-list--dot")),
            (self._marks.get(summary.id, " "), style("thread-list--meta")),
            ("📌 " if summary.pinned else "   ", style("thread-list--pin")),
            (fit(visible(summary.title) or "(untitled)", max(8, width - fixed)) + " ", title_style),
            (tags + " ", style("thread-list--tags")),
            ((f"{summary.replies} ↩" if summary.replies else "").rjust(REPLIES) + " ", style("thread-list--meta")),
            (when.rjust(when_width)[-when_width:], style("thread-list--meta")),
        ]
        segments = [
            Segment(text, base + part_style + cursor if cursor else base + part_style) for text, part_style in parts
        ]
        return Strip(segments).adjust_cell_length(width, base + cursor if cursor else base)

    # --- cursor ----------------------------------------------------------------

    def _remember_selected(self) -> None:
        summary = self.row(self.cursor)
        self._selected_id = summary.id if summary is not None else None

    def watch_cursor(self, old: int, new: int) -> None:
        self._remember_selected()
        self.refresh_line(old)
        self.refresh_line(new)
        self._scroll_cursor_into_view()

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, self._count - 1)) if self._count else 0

    def _scroll_cursor_into_view(self) -> None:
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def refresh_times(self) -> None:
        """Redraw the visible rows so their relative times ("5 min ago") move on."""
        self._strips.clear()
        self.refresh()

    def on_focus(self) -> None:
        self._strips.clear()
        self.refresh()

    def on_blur(self) -> None:
        self._strips.clear()
        self.refresh()

    def action_cursor_down(self) -> None:
        self.cursor += 1

    def action_cursor_up(self) -> None:
        self.cursor -= 1

    def action_page_down(self) -> None:
        self.cursor += max(1, self.scrollable_content_region.height - 1)

    def action_page_up(self) -> None:
        self.cursor -= max(1, self.scrollable_content_region.height - 1)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = self._count - 1

    def action_open(self) -> None:
        summary = self.current
        if summary is not None:
            self.post_message(self.Selected(self, summary.id))

    def on_click(self, event: events.Click) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < self._count:
            if index == self.cursor and event.chain >= 2:
                self.action_open()
            self.cursor = index

    def select_id(self, thread_id: str) -> bool:
        """Move the cursor to a thread, wherever it is in the list."""
        position = thread_queries.thread_position(self.conn, thread_id, self.room)
        if position is None:
            return False
        if position >= self._count:
            self.reload()
        self.cursor = position
        return True
