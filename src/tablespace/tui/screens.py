"""The section screens (one per app mode) and the thread view."""

from __future__ import annotations

import webbrowser
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Select, Static

from tablespace.core import queries
from tablespace.core.clock import iso, now
from tablespace.core.errors import TablespaceError
from tablespace.core.fold import derived_id
from tablespace.core.queries import PostView, ResourceView
from tablespace.core.rituals import occurrences_between
from tablespace.tui import data
from tablespace.tui.format import days_until, relative, tags_text
from tablespace.tui.thread_list import ThreadList

if TYPE_CHECKING:
    from tablespace.tui.modals import Draft, ResourceDraft
    from tablespace.core.group import Group
    from tablespace.tui.app import TablespaceApp

SECTIONS = (("threads", "Threads"), ("rituals", "Rituals"), ("library", "Library"), ("members", "Members"),
            ("health", "Health"))


class KeyFooter(Footer):
    """The footer; below 90 columns it leaves out the `^p palette` hint so the
    screen's own keys fit (the help screen still lists ctrl+p)."""

    def __init__(self) -> None:
        super().__init__(compact=True)

    def on_resize(self, event) -> None:  # noqa: ANN001
        self.show_command_palette = event.size.width >= 90


class SectionBar(Static):
    """`1 Threads  2 Rituals  3 Library  4 Members`, the current one highlighted."""

    def __init__(self, current: str) -> None:
        super().__init__(classes="section-bar")
        self.current = current
        self.info = ""

    def set_info(self, info: str) -> None:
        self.info = info
        self.refresh_bar()

    def on_mount(self) -> None:
        self.refresh_bar()

    def refresh_bar(self) -> None:
        text = Text()
        for n, (mode, label) in enumerate(SECTIONS, 1):
            style = "reverse bold" if mode == self.current else ""
            text.append(f" {n} {label} ", style)
            text.append(" ")
        if self.info:
            text.append("  " + self.info, "dim")
        self.update(text)


class TablespaceScreen(Screen):
    """Shared plumbing: the app, its group, and data reloaded on every resume."""

    SECTION = ""

    @property
    def ts_app(self) -> "TablespaceApp":
        return cast("TablespaceApp", self.app)

    @property
    def group(self) -> "Group":
        return self.ts_app.group

    def refresh_data(self) -> None:
        """Re-read what this screen shows (after a write, or when sync lands ops)."""

    def on_screen_resume(self) -> None:
        self.refresh_data()

    def act(self, action, *args, success: str | None = None, **kwargs) -> bool:
        """Run a Group action; show a refusal as a notification instead of crashing."""
        try:
            action(*args, **kwargs)
        except TablespaceError as exc:
            self.notify(str(exc), title="Refused", severity="error")
            return False
        if success:
            self.notify(success)
        self.ts_app.wrote()
        self.refresh_data()
        return True


class SectionScreen(TablespaceScreen):
    def compose_header(self) -> ComposeResult:
        yield Header()
        yield SectionBar(self.SECTION)

    def set_info(self, info: str) -> None:
        self.query_one(SectionBar).set_info(info)


# --- threads ---------------------------------------------------------------------


class ThreadsScreen(SectionScreen):
    SECTION = "threads"
    BINDINGS = [
        Binding("c", "new_thread", "New thread", id="threads.new"),
        Binding("n", "next_unread", "Next unread", id="threads.next_unread"),
    ]

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield ThreadList(self.group.conn, id="thread-list")
        yield KeyFooter()

    @property
    def thread_list(self) -> ThreadList:
        return self.query_one(ThreadList)

    def refresh_data(self) -> None:
        self.thread_list.reload()
        count = self.thread_list.count
        self.set_info(f"{count:,} thread{'s' if count != 1 else ''}")

    @on(ThreadList.Selected)
    def open_selected(self, event: ThreadList.Selected) -> None:
        self.app.push_screen(ThreadScreen(event.thread_id))

    def action_next_unread(self) -> None:
        index = self.thread_list.index_of_next_unread()
        if index is None:
            self.notify("You're all caught up.", title="No unread threads")
        else:
            self.thread_list.cursor = index

    def action_new_thread(self) -> None:
        from tablespace.tui.modals import ComposeModal

        def post(draft: Draft) -> None:
            new_id = self.group.post(draft.title or "", draft.body, draft.tags)
            self.ts_app.wrote()
            self.call_after_refresh(self.thread_list.select_id, new_id)

        self.app.push_screen(ComposeModal("New thread", post, title="", tags=[]))


class PostCard(Vertical, can_focus=True):
    """One post: author and time, Markdown body, reactions."""

    def __init__(self, post: PostView, *, opening: bool, mine: bool) -> None:
        super().__init__(classes="post" + (" opening" if opening else "") + (" mine" if mine else ""))
        self.post = post
        self.opening = opening
        self.mine = mine

    async def show(self, post: PostView) -> None:
        """The post was edited or reacted to: redraw just this card."""
        self.post = post
        await self.recompose()

    def compose(self) -> ComposeResult:
        post = self.post
        meta = Text.assemble((post.author, "bold"), ("  (you)" if self.mine else "", "dim"),
                             ("  ·  " + relative(post.created_at), "dim"))
        if post.edited_at:
            meta.append(f"  ·  edited {relative(post.edited_at)}", "dim italic")
        yield Static(meta, classes="post-meta")
        from textual.widgets import Markdown  # ~70 ms to import: not before the first frame

        yield Markdown(post.body or "*(no text)*", classes="post-body")
        if post.reactions:
            yield Static("  ".join(f"{emoji} {count}" for emoji, count in post.reactions.items()),
                         classes="post-reactions")


class PostScroll(VerticalScroll, can_focus=False, inherit_bindings=False):
    """The posts of a thread: j/k/arrows move between posts (the screen's
    bindings), so only paging is bound here."""

    BINDINGS = [
        Binding("pagedown,space", "page_down", "Page down", show=False, id="thread.page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="thread.page_up"),
        Binding("home", "scroll_home", "Top", show=False, id="thread.top"),
        Binding("end", "scroll_end", "Bottom", show=False, id="thread.bottom"),
    ]


class ThreadScreen(TablespaceScreen):
    """A thread and its replies; acts on the focused post."""

    SECTION = "threads"
    BINDINGS = [
        Binding("escape", "back", "Back", id="thread.back"),
        Binding("r", "reply", "Reply", id="thread.reply"),
        Binding("plus", "react", "React", id="thread.react"),
        Binding("e", "edit", "Edit", id="thread.edit"),
        Binding("d", "delete", "Delete", id="thread.delete"),
        Binding("n", "next_unread", "Next unread", show=False, id="thread.next_unread"),
        Binding("j,down", "move(1)", "Next post", show=False, id="thread.next_post"),
        Binding("k,up", "move(-1)", "Previous post", show=False, id="thread.previous_post"),
    ]

    def __init__(self, thread_id: str, focus_post: str | None = None) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.focus_post = focus_post  # a post to land on (from search), once
        self.detail: queries.ThreadDetail | None = None
        self.focus_index = 0
        self.land_on_last = False  # after our own reply: focus it once it is shown

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="thread-title")
        yield PostScroll(id="posts")
        yield KeyFooter()

    def refresh_data(self) -> None:
        try:
            self.detail = queries.thread(self.group.conn, self.thread_id)
        except TablespaceError:
            self.detail = None
            if self.is_current and len(self.app.screen_stack) > 1:
                self.notify("That thread has been deleted.")
                self.app.pop_screen()
            return
        self.group.mark_read(self.thread_id)
        self.call_next(self._rebuild)

    async def _rebuild(self) -> None:
        detail = self.detail
        if detail is None:
            return
        self._update_heading(detail)
        posts = self.query_one("#posts", PostScroll)
        cards = self.cards
        shown = [card.post.id for card in cards]
        if cards and [p.id for p in detail.posts[: len(shown)]] == shown:
            await self._update_in_place(posts, cards, detail)
        else:
            await self._mount_all(posts, detail)

    async def _update_in_place(self, posts: "PostScroll", cards: list["PostCard"],
                               detail: queries.ThreadDetail) -> None:
        """Sync or a write changed the thread: keep the reader's place, update
        the posts that changed and append the new ones."""
        following = posts.scroll_y >= posts.max_scroll_y - 1  # reading at the bottom: keep up
        for card, post in zip(cards, detail.posts):
            if card.post != post:
                await card.show(post)
        new = [PostCard(p, opening=False, mine=p.author_id == self.group.me) for p in detail.posts[len(cards):]]
        if new:
            await posts.mount_all(new)
        if self.land_on_last:
            self.land_on_last = False
            last = self.cards[-1]
            self.focus_index = len(self.cards) - 1
            last.focus(scroll_visible=False)
            self.call_after_refresh(posts.scroll_to_widget, last, animate=False)
        elif new and following:
            self.call_after_refresh(posts.scroll_end, animate=False)

    def _update_heading(self, detail: queries.ThreadDetail) -> None:
        heading = Text(detail.title or "(untitled)", style="bold")
        replies = len(detail.posts) - 1
        facts = [f"{replies} repl{'y' if replies == 1 else 'ies'}"]
        if detail.pinned:
            facts.insert(0, "📌 pinned")
        if detail.tags:
            facts.append(tags_text(detail.tags))
        heading.append("\n" + "  ·  ".join(facts), "not bold dim")
        self.query_one("#thread-title", Static).update(heading)

    async def _mount_all(self, posts: "PostScroll", detail: queries.ThreadDetail) -> None:
        await posts.remove_children()
        cards = [PostCard(p, opening=n == 0 and p.id == detail.id, mine=p.author_id == self.group.me)
                 for n, p in enumerate(detail.posts)]
        await posts.mount_all(cards)
        if self.focus_post is not None:
            self.focus_index = next((n for n, card in enumerate(cards) if card.post.id == self.focus_post), 0)
            self.focus_post = None
        if self.land_on_last:
            self.land_on_last = False
            self.focus_index = len(cards) - 1
        if cards:
            self.focus_index = min(self.focus_index, len(cards) - 1)
            cards[self.focus_index].focus(scroll_visible=False)
            if self.focus_index:
                posts.scroll_to_widget(cards[self.focus_index], animate=False)

    @property
    def cards(self) -> list[PostCard]:
        return list(self.query(PostCard))

    @property
    def focused_post(self) -> PostCard | None:
        node = self.focused
        while node is not None and not isinstance(node, PostCard):
            node = node.parent if node.parent is not self else None
        if isinstance(node, PostCard):
            return node
        cards = self.cards
        return cards[min(self.focus_index, len(cards) - 1)] if cards else None

    def on_descendant_focus(self, event) -> None:
        cards = self.cards
        if isinstance(event.widget, PostCard) and event.widget in cards:
            self.focus_index = cards.index(event.widget)

    def action_move(self, step: int) -> None:
        cards = self.cards
        if not cards:
            return
        self.focus_index = max(0, min(len(cards) - 1, self.focus_index + step))
        cards[self.focus_index].focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reply(self) -> None:
        from tablespace.tui.modals import ComposeModal

        if self.detail is None:
            return

        def reply(draft: Draft) -> None:
            self.group.reply(self.thread_id, draft.body)
            self.ts_app.wrote()
            self.land_on_last = True  # land on the new reply

        self.app.push_screen(ComposeModal(f"Reply to “{self.detail.title}”", reply, submit_label="Reply"))

    def action_edit(self) -> None:
        from tablespace.tui.modals import ComposeModal

        card = self.focused_post
        if card is None:
            return
        if not card.mine:
            self.notify("You can only edit your own posts.", severity="warning")
            return
        post_id = card.post.id

        def edit(draft: Draft) -> None:
            self.group.edit(post_id, draft.body, title=draft.title)
            self.ts_app.wrote()

        title = self.detail.title if card.opening and self.detail else None
        self.app.push_screen(ComposeModal("Edit post", edit, title=title, body=card.post.body, submit_label="Save"))

    def action_delete(self) -> None:
        from tablespace.tui.modals import ConfirmModal

        card = self.focused_post
        if card is None or self.detail is None:
            return
        post_id = card.post.id
        question = (f"Delete the thread “{self.detail.title}” and all its replies?" if card.opening
                    else f"Delete this reply by {card.post.author}?")

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.act(self.group.delete, post_id, success="Deleted.")

        self.app.push_screen(ConfirmModal(question), done)

    def action_react(self) -> None:
        from tablespace.tui.modals import ReactModal

        card = self.focused_post
        if card is None:
            return
        post_id = card.post.id
        mine = data.my_reactions(self.group.conn, post_id, self.group.me)

        def done(emoji: str | None) -> None:
            if emoji:
                self.act(self.group.react, post_id, emoji, undo=emoji in mine)

        self.app.push_screen(ReactModal(mine), done)

    def action_next_unread(self) -> None:
        following = queries.threads(self.group.conn, unread=True, pinned_first=True, limit=1)
        if not following:
            self.notify("You're all caught up.", title="No unread threads")
            return
        self.app.switch_screen(ThreadScreen(following[0].id))


# --- rituals -----------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    ritual: queries.RitualView
    at: datetime
    thread_id: str
    has_thread: bool
    replies: int


class RitualsScreen(SectionScreen):
    """Today's prompts on top, then the calendar: the last week and the next three."""

    SECTION = "rituals"
    PAST = timedelta(days=7)
    AHEAD = timedelta(days=21)
    BINDINGS = [
        Binding("o", "open_occurrence", "Open thread", id="rituals.open"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.rituals: list[queries.RitualView] = []
        self.occurrences: list[Occurrence] = []

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static(id="today")
        yield DataTable(id="calendar", cursor_type="row", zebra_stripes=True)
        yield Static(id="ritual-prompt", classes="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("When", "Ritual", "Thread")
        table.focus()

    def calendar(self, moment: datetime) -> list[Occurrence]:
        conn = self.group.conn
        day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        found: list[Occurrence] = []
        for ritual in self.rituals:
            if ritual.paused:
                continue
            for at in occurrences_between(ritual.rrule, ritual.start, day - self.PAST, day + self.AHEAD):
                thread_id = derived_id("ritual.occur", ritual.id, iso(at))
                exists = data.thread_exists(conn, thread_id)
                found.append(Occurrence(ritual, at, thread_id, exists,
                                        data.reply_count(conn, thread_id) if exists else 0))
        found.sort(key=lambda o: (o.at, o.ritual.name))
        return found

    def refresh_data(self) -> None:
        moment = now()
        table = self.query_one(DataTable)
        keep = self.current.thread_id if self.current and table.row_count else None
        self.rituals = queries.rituals(self.group.conn, moment)
        self.occurrences = self.calendar(moment)
        today = moment.date()
        self._show_today(moment, [o for o in self.occurrences if o.at.date() == today])
        table.clear()
        for o in self.occurrences:
            when = o.at.strftime("%a %d %b")
            if o.at.date() == today:
                when_text = Text(f"{when}  today", "bold")
            elif o.at > moment:
                when_text = Text(f"{when}  {days_until(o.at, at=moment)}")
            else:
                when_text = Text(when, "dim")
            if o.has_thread:
                status = Text(f"↩ {o.replies} repl{'y' if o.replies == 1 else 'ies'}")
            elif o.at > moment:
                status = Text("opens then", "dim")
            else:
                status = Text("not opened", "dim italic")
            table.add_row(when_text, Text(o.ritual.name, "bold"), status, key=o.thread_id)
        ids = [o.thread_id for o in self.occurrences]
        if keep in ids:
            table.move_cursor(row=ids.index(keep), animate=False)
        else:  # land on today, or the next one coming
            upcoming = next((n for n, o in enumerate(self.occurrences) if o.at.date() >= today), 0)
            table.move_cursor(row=upcoming, animate=False, scroll=True)
        count = len(self.rituals)
        self.set_info(f"{count} ritual{'s' if count != 1 else ''}")
        self.show_prompt()

    def _show_today(self, moment: datetime, due: list[Occurrence]) -> None:
        text = Text(f"Today · {moment.strftime('%A %d %B')}\n", "bold")
        if not self.rituals:
            text.append("No rituals yet. Moderators add them with `tablespace ritual add`.", "not bold")
        elif not due:
            following = next((o for o in self.occurrences if o.at > moment), None)
            text.append("No ritual today.", "not bold")
            if following:
                text.append(f" Next: {following.ritual.name}, {days_until(following.at, at=moment)}.",
                            "not bold dim")
        for o in due:
            text.append("● ", "not bold")
            text.append(o.ritual.name, "bold")
            text.append(f" — {o.ritual.prompt}\n", "not bold")
        self.query_one("#today", Static).update(text.rstrip() or text)

    @property
    def current(self) -> Occurrence | None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        if not self.occurrences or row is None or not 0 <= row < len(self.occurrences):
            return None
        return self.occurrences[row]

    def show_prompt(self) -> None:
        o = self.current
        prompt = self.query_one("#ritual-prompt", Static)
        if o is None:
            prompt.update("Nothing on the calendar." if self.rituals else "")
            return
        ritual = o.ritual
        if o.has_thread:
            hint = "enter or o: open this occurrence's thread"
        elif o.at > now():
            hint = f"its thread opens {days_until(o.at)}"
        else:
            hint = "nobody opened this one"
        prompt.update(Text.assemble((ritual.name, "bold"), (f"  ·  {o.at.strftime('%a %d %b')}  ·  {hint}", "dim"),
                                    "\n", ritual.prompt))

    @on(DataTable.RowHighlighted)
    def highlighted(self) -> None:
        self.show_prompt()

    @on(DataTable.RowSelected)
    def selected(self) -> None:
        self.action_open_occurrence()

    def action_open_occurrence(self) -> None:
        o = self.current
        if o is None:
            return
        if o.has_thread:
            self.call_later(self.ts_app.open_thread, o.thread_id)
        elif o.at > now():
            self.notify(f"{o.ritual.name} opens {days_until(o.at)}.", title="Not yet")
        else:
            self.notify("Nobody opened this one (it came while nobody was in).", title="No thread")


# --- library ---------------------------------------------------------------------


class LibraryScreen(SectionScreen):
    SECTION = "library"
    BINDINGS = [
        Binding("a", "add", "Add", id="library.add"),
        Binding("o", "open_link", "Open", id="library.open"),
        Binding("y", "copy_link", "Copy", id="library.copy"),
        Binding("t", "filter", "Tag filter", id="library.filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.resources: list[ResourceView] = []
        self.tag: str | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Select[str]([], prompt="All tags", id="tag-filter", allow_blank=True)
        yield DataTable(id="resources", cursor_type="row", zebra_stripes=True)
        yield Static(id="resource-detail", classes="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Title", "Tags", "Added by", "When")
        self.query_one(DataTable).focus()

    def refresh_data(self, select: str | None = None) -> None:
        conn = self.group.conn
        all_resources = queries.resources(conn)
        tags = sorted({t for r in all_resources for t in r.tags})
        select_widget = self.query_one("#tag-filter", Select)
        if self.tag and self.tag not in tags:
            self.tag = None
        with select_widget.prevent(Select.Changed):
            select_widget.set_options([(f"#{t}", t) for t in tags])
            select_widget.value = self.tag if self.tag else Select.NULL
        self.resources = queries.resources(conn, tag=self.tag) if self.tag else all_resources
        table = self.query_one(DataTable)
        current = self.current.id if self.current else None
        table.clear()
        for r in self.resources:
            table.add_row(Text(r.title, "bold"), tags_text(r.tags), r.added_by, relative(r.created_at), key=r.id)
        target = select or current
        if target and target in [r.id for r in self.resources]:
            table.move_cursor(row=[r.id for r in self.resources].index(target))
        shown = len(self.resources)
        self.set_info(f"{shown} resource{'s' if shown != 1 else ''}" + (f" tagged #{self.tag}" if self.tag else ""))
        self.show_detail()

    @property
    def current(self) -> ResourceView | None:
        table = self.query_one(DataTable)
        if not self.resources or table.cursor_row is None or not 0 <= table.cursor_row < len(self.resources):
            return None
        return self.resources[table.cursor_row]

    def show_detail(self) -> None:
        detail = self.query_one("#resource-detail", Static)
        r = self.current
        if r is None:
            detail.update("The library is empty. Press a to add a link." if not self.tag else "Nothing with that tag.")
            return
        detail.update(Text.assemble((r.title, "bold"), "\n", (r.url, "underline"), "\n", r.summary or ""))

    @on(DataTable.RowHighlighted)
    def highlighted(self) -> None:
        self.show_detail()

    @on(DataTable.RowSelected)
    def selected(self) -> None:
        self.action_open_link()

    @on(Select.Changed, "#tag-filter")
    def filter_changed(self, event: Select.Changed) -> None:
        self.tag = None if event.value is Select.NULL else str(event.value)
        self.refresh_data()
        self.query_one(DataTable).focus()

    def action_filter(self) -> None:
        select = self.query_one("#tag-filter", Select)
        select.focus()
        select.action_show_overlay()

    def action_add(self) -> None:
        from tablespace.tui.modals import ResourceForm

        def add(draft: ResourceDraft) -> None:
            new_id = self.group.library_add(draft.title, draft.url, draft.summary, draft.tags)
            self.ts_app.wrote()
            self.tag = None
            self.call_after_refresh(self.refresh_data, new_id)

        self.app.push_screen(ResourceForm(add))

    def action_open_link(self) -> None:
        r = self.current
        if r is None:
            return
        try:
            opened = webbrowser.open(r.url)
        except Exception:  # noqa: BLE001 - the browser is outside our control
            opened = False
        if opened:
            self.notify(f"Opened {r.url}")
        else:
            self.notify(f"Could not open a browser; press y to copy {r.url}", severity="warning")

    def action_copy_link(self) -> None:
        r = self.current
        if r is not None:
            self.app.copy_to_clipboard(r.url)
            self.notify(f"Copied {r.url}")

    def select_resource(self, resource_id: str) -> None:
        self.tag = None
        self.refresh_data(resource_id)


# --- members ---------------------------------------------------------------------


class MembersScreen(SectionScreen):
    SECTION = "members"

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield DataTable(id="members", cursor_type="row", zebra_stripes=True)
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Name", "Roles", "Status", "Id")

    def refresh_data(self) -> None:
        people = queries.members(self.group.conn)
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for m in people:
            name = Text(m.name, "bold")
            if m.id == self.group.me:
                name.append("  (you)", "dim")
            status = Text(m.status.replace("_", " "), "" if m.status == "active" else "italic")
            table.add_row(name, ", ".join(m.roles) or "member", status, Text(m.id[:8], "dim"), key=m.id)
        if people:
            table.move_cursor(row=min(keep or 0, len(people) - 1), animate=False)
        active = sum(1 for m in people if m.status == "active")
        self.set_info(f"{active} active of {len(people)}")
