"""The thread view: a thread's posts, its poll or survey, and the keys that
answer, react and moderate in it. Not needed for the first frame: the app
loads it in its warm-up, after the list is painted."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from math import ceil
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Static

from tablespace import actions
from tablespace.actions import in_own_group
from tablespace.core import calendar_queries, circle_queries, inbox, post_queries
from tablespace.core.errors import TablespaceError
from tablespace.core.polls import PollView, SurveyView, result_lines, status_line
from tablespace.core.post_queries import PostView
from tablespace.core.text import only_a_reaction, reaction_for, visible
from tablespace.tui.chrome import AppHeader, AppHost, GroupChanged, KeyFooter, TablespaceScreen
from tablespace.tui.curation import edit_tags, toggle_pin
from tablespace.tui.format import event_summary, mentions_marked, relative, tags_text
from tablespace.tui.jobs import Job
from tablespace.tui.rooms import room_phrase, roster_names

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.layout import DockArrangeResult

    from tablespace.tui.editor import Draft
    from tablespace.tui.modals import ComposeModal


class PostCard(Vertical, can_focus=True):
    """One post: author and time, Markdown body, reactions."""

    def __init__(
        self,
        post: PostView,
        *,
        opening: bool,
        mine: bool,
        mention_keys: tuple[str, ...] = (),
        poll: PollView | None = None,
        survey: SurveyView | None = None,
    ) -> None:
        super().__init__(classes="post" + (" opening" if opening else "") + (" mine" if mine else ""))
        self.post = post
        self.opening = opening
        self.mine = mine
        self.mention_keys = mention_keys  # the name keys its mentions resolved by, when folded
        self.poll = poll  # the thread's poll, under its opening post
        self.survey = survey  # likewise its survey

    async def show(
        self,
        post: PostView,
        mention_keys: tuple[str, ...],
        poll: PollView | None = None,
        survey: SurveyView | None = None,
    ) -> None:
        """The post was edited or reacted to, its poll voted in or its survey
        answered: redraw just this card."""
        self.post, self.poll, self.survey = post, poll, survey
        self.mention_keys = mention_keys
        await self.recompose()

    def meta(self) -> Text:
        post = self.post
        meta = Text.assemble(
            (visible(post.author), "bold"),
            ("  (you)" if self.mine else "", "dim"),
            ("  ·  " + relative(post.created_at), "dim"),
        )
        if post.edited_at:
            meta.append(f"  ·  edited {relative(post.edited_at)}", "dim italic")
        return meta

    @staticmethod
    def quote_line(quote: post_queries.Quote) -> Text:
        """Who is quoted and the start of what they wrote (enter jumps to it)."""
        line = Text.assemble(("▎ ", "dim"), (visible(quote.author), "bold"), (": ", "dim"))
        if quote.deleted:
            line.append("(the quoted post was deleted)", "dim italic")
        else:
            excerpt = " ".join(visible(quote.excerpt).split())
            line.append(excerpt[:117] + "…" if len(excerpt) > 118 else excerpt, "italic")
        return line

    def refresh_times(self) -> None:
        for meta in self.query(".post-meta").results(Static):  # none while recomposing
            meta.update(self.meta())

    def compose(self) -> ComposeResult:
        post = self.post
        yield Static(self.meta(), classes="post-meta")
        if post.quote is not None:
            yield Static(self.quote_line(post.quote), classes="post-quote")
        from tablespace.tui.markdown import post_body  # ~70 ms to import: not before the first frame

        if post.body.strip() or self.poll is None:  # a poll speaks for itself
            body = mentions_marked(visible(post.body, multiline=True), self.mention_keys)
            yield post_body(body or "*(no text)*", classes="post-body")
        if self.poll is not None:
            yield Static(poll_text(self.poll), classes="post-poll")
        if self.survey is not None:
            moderator = cast(AppHost, self.app).is_moderator()
            yield Static(survey_text(self.survey, moderator=moderator), classes="post-survey")
        if post.reactions:
            yield Static(reactions_text(post), classes="post-reactions")


def poll_text(view: PollView) -> Text:
    """The poll's options with a bar of votes each; the reader's own choices
    are ticked, and the last line says how to vote."""
    text = Text()
    for label, drawn, chosen in result_lines(view):
        text.append(f"{'✓' if chosen else ' '} {visible(label)}\n", "bold" if chosen else "")
        text.append(f"  {drawn}\n", "green" if chosen else "cyan")
    how = "" if view.closed else ("  ·  v to change your vote" if view.mine else "  ·  v to vote")
    text.append(status_line(view) + how, "dim")
    return text


def survey_text(view: SurveyView, *, moderator: bool = False) -> Text:
    """Who has answered, whether the reader has, and how to answer; never
    an answer (the reader's own is sealed and gone from this home)."""
    answered = f"{view.answered} answered"
    if view.mine:
        text = Text.assemble(("✓ You answered", "bold green"), (f"  ·  {answered}", "dim"))
    else:
        text = Text(answered, "dim")
    if view.closes_at is not None:
        text.append(f"  ·  {'closed' if view.closed else 'closes'} {view.closes_at:%Y-%m-%d %H:%M} UTC", "dim")
    if not view.closed:
        text.append("  ·  a to change your answers" if view.mine else "  ·  a to answer", "dim")
    if moderator:
        text.append("  ·  A to read them", "dim")
    return text


def reactions_text(post: PostView) -> Text:
    """`👍 you + 2  🍞 1`: the reader's own reactions say so (`+` takes them back)."""
    text = Text()
    for emoji, count in post.reactions.items():
        if len(text):
            text.append("  ")
        if emoji in post.my_reactions:
            others = f" + {count - 1}" if count > 1 else ""
            text.append(f"{visible(emoji)} you{others}", "bold")
        else:
            text.append(f"{visible(emoji)} {count}")
    return text


def rows_of(card: PostCard, width: int) -> int:
    """A cheap guess at a post's height on screen, to pick the posts the
    first screen needs: its lines wrapped at `width`, its meta line and
    margin, and its quote, reactions and poll lines."""
    post = card.post
    rows = 2 + (post.quote is not None) + bool(post.reactions)
    rows += sum(max(1, ceil(len(line) / width)) for line in post.body.splitlines() or [""])
    if card.poll is not None:
        rows += 2 * len(card.poll.options) + 1
    return rows + (card.survey is not None)


# Posts mounted together after the first paint: fewer make more layouts of the
# whole thread, more make a key typed meanwhile wait longer.
BATCH = 4


class PostScroll(VerticalScroll, can_focus=False, inherit_bindings=False):
    """The posts of a thread: j/k/arrows move between posts (the screen's
    bindings), so only paging is bound here; home and end go to the thread's
    ends, mounting them first if they are not yet.

    What the reader sees stays put when posts are mounted (or grow) above
    it, as a browser's scroll anchoring does: the first post in view at the
    last layout is found in the new one and the view moves with it, in the
    same layout, so no frame shows the posts pushed down."""

    BINDINGS = [
        Binding("pagedown,space", "page_down", "Page down", show=False, id="thread.page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="thread.page_up"),
        Binding("home", "screen.top", "Top", show=False, id="thread.top"),
        Binding("end", "screen.bottom", "Bottom", show=False, id="thread.bottom"),
    ]

    def __init__(self, *children: Widget, **kwargs: Any) -> None:
        super().__init__(*children, **kwargs)
        self._placed: dict[Widget, tuple[int, int]] = {}  # each post's top and bottom at the last layout
        self._reveal: tuple[Widget, bool] | None = None  # a post to bring into view once it is laid out

    def arrange(self, size: Size, optimal: bool = False) -> DockArrangeResult:
        result = super().arrange(size, optimal)
        if optimal:
            return result
        before, self._placed = self._placed, {p.widget: (p.region.y, p.region.bottom) for p in result.placements}
        # set first: moving the scrollbar below arranges again, and must find nothing to move
        anchor = next((w for w, (_top, bottom) in before.items() if bottom > self.scroll_y), None)
        if anchor is not None and anchor in self._placed:
            shift = self._placed[anchor][0] - before[anchor][0]
            if shift:
                self._scroll_now(max(0, self.scroll_y + shift))
        if self._reveal is not None and self._reveal[0] in self._placed:
            (widget, top), self._reveal = self._reveal, None
            self._scroll_now(self._revealing(self._placed[widget], top, size.height, result.total_region.bottom))
        return result

    def reveal(self, widget: Widget, *, top: bool = False) -> None:
        """Bring a post just mounted into view in the layout that places it
        (as `scroll_to_widget` would once it is placed), not a frame later."""
        self._reveal = (widget, top)
        self.refresh(layout=True)

    def _revealing(self, placed: tuple[int, int], top: bool, height: int, bottom: int) -> int:
        y, end = placed
        if top or y < self.scroll_y or end - y > height:
            wanted = y
        elif end > self.scroll_y + height:
            wanted = end - height
        else:
            wanted = int(self.scroll_y)
        return max(0, min(wanted, bottom - height))

    def _scroll_now(self, y: float) -> None:
        """Move the view within the layout being made: the scroll watchers
        would check it against the size of the layout before."""
        self.set_reactive(PostScroll.scroll_y, y)
        self.set_reactive(PostScroll.scroll_target_y, y)
        self.vertical_scrollbar.position = y


class ThreadScreen(TablespaceScreen):
    """A thread and its replies; acts on the focused post."""

    SECTION = "threads"
    BINDINGS = [
        Binding("escape", "back", "Back", id="thread.back"),
        Binding("r", "reply", "Reply", id="thread.reply"),
        Binding("greater_than_sign", "quote", "Quote", id="thread.quote"),
        Binding("enter", "jump_to_quote", "Go to quoted", id="thread.jump_to_quote"),
        Binding("f", "follow", "Follow", show=False, id="thread.follow"),
        Binding("m", "mute_thread", "Mute thread", show=False, id="thread.mute"),
        Binding("M", "mute_member", "Mute author", show=False, id="thread.mute_member"),
        Binding("plus", "react", "React", id="thread.react"),
        Binding("e", "edit", "Edit", id="thread.edit"),
        Binding("d", "delete", "Delete", id="thread.delete"),
        Binding("exclamation_mark", "report", "Report", id="thread.report"),
        Binding("v", "vote", "Vote", id="thread.vote"),
        Binding("a", "answer", "Answer", id="thread.answer"),
        # In ?, and said under the survey: the footer keeps the palette hint at 80 columns.
        Binding("A", "read_answers", "Read answers", show=False, id="thread.read_answers"),
        Binding("P", "pin", "Pin", show=False, id="thread.pin"),  # in ?: the footer keeps the palette hint
        Binding("t", "tags", "Tags", show=False, id="thread.tags"),
        Binding("n", "next_unread", "Next unread", show=False, id="thread.next_unread"),
        Binding("u", "jump_to_news", "Jump to new", id="thread.jump_to_news"),
        Binding("j,down", "move(1)", "Next post", show=False, id="thread.next_post"),
        Binding("k,up", "move(-1)", "Previous post", show=False, id="thread.previous_post"),
    ]

    def __init__(self, thread_id: str, focus_post: str | None = None) -> None:
        super().__init__()
        self.thread_id = thread_id
        self.focus_post = focus_post  # a post to land on (from search), once
        self.detail: post_queries.ThreadDetail | None = None
        self.event: calendar_queries.EventView | None = None  # when the thread is an event's
        self.room = ""  # where the thread is, for its heading: "" in the group's room (room_phrase)
        self.focus_index = 0
        self.land_on_last = False  # after our own reply: focus it once it is shown
        self.news_below: list[PostCard] = []  # replies that came while the reader was scrolled up, not yet in view
        self.unread: list[str] = []  # the posts unread when the thread opened, in order (`n` walks them)
        self.mention_keys: dict[str, list[str]] = {}  # post id -> the name keys its mentions resolved by
        self._cards: list[PostCard] = []  # every post's card in the thread's order, mounted or not yet
        self._mounted: set[int] = set()  # the indexes of the cards mounted (or being mounted)
        self._generation = 0  # a rebuild starts a new one: mounting for an older one stops
        self._filling: int | None = None  # the generation whose posts are being mounted after the first paint
        self.painted_with: int | None = None  # how many posts the first paint of the thread mounted

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(id="thread-title")
        yield PostScroll(id="posts")
        yield KeyFooter()

    def on_mount(self) -> None:
        posts = self.query_one("#posts", PostScroll)
        self.watch(posts, "scroll_y", lambda _y: self.call_after_refresh(self._count_news_below), init=False)

    def refresh_data(self) -> None:
        try:
            detail = post_queries.thread(self.group.conn, self.thread_id, me=self.group.me)
        except TablespaceError:
            self.detail = None
            if self.is_current and len(self.app.screen_stack) > 1:
                self.notify("That thread has been deleted.")
                self.app.pop_screen()
            return
        event = calendar_queries.event(self.group.conn, self.thread_id, me=self.group.me)
        if detail == self.detail and event == self.event:
            return  # the database changed elsewhere (marking read is a change too): nothing to show or mark
        if self.detail is None:
            self.note_unread()
        self.detail, self.event = detail, event
        # where the thread is: read here, not each time the heading is drawn (it is, on scrolling)
        circle = circle_queries.thread_circle(self.group.conn, self.thread_id)
        self.room = room_phrase(self.group.conn, self.group.me, circle)
        self.mention_keys = inbox.mention_keys(self.group.conn, self.thread_id)
        self.refresh_bindings()  # the vote key follows the poll
        self.mark_read()
        self.call_next(self._rebuild)

    def note_unread(self) -> None:
        """Before the thread is marked read: what was unread in it, and so
        where it opens (at the first unread post, unless asked for one)."""
        conn, me = self.group.conn, self.group.me
        self.unread = inbox.unread_posts(conn, me, self.thread_id)
        if self.focus_post is None and self.unread:
            self.focus_post = self.unread[0]

    def keys_of(self, post: PostView) -> tuple[str, ...]:
        return tuple(self.mention_keys.get(post.id, ()))

    def mark_read(self) -> None:
        """Mark the thread read, on a worker: the write waits while another
        holds the database (a sync importing a backlog), and the screen must
        not. If the reader went back meanwhile, the screen now in view
        re-reads, to show the thread read."""
        thread_id, app = self.thread_id, self.app
        mark = in_own_group(self.group, lambda g: g.mark_read(thread_id))

        def run() -> None:
            try:
                mark()
            except (TablespaceError, sqlite3.OperationalError):
                return  # the database stayed busy: the next visit marks it
            if app.screen is not self:
                app.screen.post_message(GroupChanged())

        app.run_worker(run, thread=True, group="reads", name="marking read", exit_on_error=False)

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

    async def _update_in_place(
        self, posts: PostScroll, cards: list[PostCard], detail: post_queries.ThreadDetail
    ) -> None:
        """Sync or a write changed the thread: keep the reader's place, update
        the posts that changed and append the new ones."""
        following = posts.scroll_y >= posts.max_scroll_y - 1  # reading at the bottom: keep up
        for card, post in zip(cards, detail.posts, strict=False):
            poll = detail.poll if card.opening else None
            survey = detail.survey if card.opening else None
            changed = card.poll != poll or card.survey != survey
            if changed or card.post != post or card.mention_keys != self.keys_of(post):
                await card.show(post, self.keys_of(post), poll, survey)
        new = [
            PostCard(p, opening=False, mine=p.author_id == self.group.me, mention_keys=self.keys_of(p))
            for p in detail.posts[len(cards) :]
        ]
        if new:
            tail = len(cards) - 1 in self._mounted  # else the posts still to mount take them along
            self._cards.extend(new)
            if tail:
                await self._mount(range(len(cards), len(self._cards)))
            else:
                self._fill(self._generation)
        if self.land_on_last:
            self.land_on_last = False
            last = len(self._cards) - 1
            if last in self._mounted:
                self.focus_index = last
                self._cards[last].focus(scroll_visible=False)
                self.call_after_refresh(posts.scroll_to_widget, self._cards[last], animate=False)
            else:
                self.land(last)
        elif new and following:
            self.call_after_refresh(posts.scroll_end, animate=False)
        elif new:  # the reader is further up: keep their place, say what came below
            self.news_below.extend(new)
            self._update_heading(detail)
            self.refresh_bindings()
            self.call_after_refresh(self._count_news_below)

    def _count_news_below(self) -> None:
        """A new reply scrolled into view is seen; the heading counts the rest."""
        if not self.news_below:
            return
        view = self.query_one("#posts", PostScroll).region
        unseen = [card for card in self.news_below if not card.is_attached or not card.region.overlaps(view)]
        if len(unseen) != len(self.news_below):
            self._seen_below(unseen)

    def _seen_below(self, unseen: list[PostCard]) -> None:
        self.news_below = unseen
        if self.detail is not None:
            self._update_heading(self.detail)
        self.refresh_bindings()

    def action_jump_to_news(self) -> None:
        """Focus the first reply that came while the reader was scrolled up."""
        if not self.news_below:
            return
        first = self.news_below[0]
        cards = self.cards
        if first in cards:
            self.land(cards.index(first), top=True)
        self._seen_below(self.news_below[1:])

    def _update_heading(self, detail: post_queries.ThreadDetail) -> None:
        heading = Text(visible(detail.title) or "(untitled)", style="bold")
        replies = len(detail.posts) - 1
        facts = [f"{replies} repl{'y' if replies == 1 else 'ies'}"]
        if detail.pinned:
            facts.insert(0, "📌 pinned")
        if self.room:
            facts.insert(0, self.room)
        if detail.tags:
            facts.append(tags_text(detail.tags))
        heading.append("\n" + "  ·  ".join(facts), "not bold dim")
        if self.event is not None:
            summary = event_summary(self.event)
            summary.stylize("not bold")
            heading.append("\n")
            heading.append_text(summary)
        if self.news_below:
            heading.append("  ")
            heading.append(f" ↓ {len(self.news_below)} new · u ", "not dim reverse")
        self.query_one("#thread-title", Static).update(heading)

    async def _mount_all(self, posts: PostScroll, detail: post_queries.ThreadDetail) -> None:
        """Mount the posts the first screen shows, around the one the thread
        opens at; the rest follow in small batches after the first paint."""
        self.news_below = []
        self._generation += 1
        self._mounted = set()
        await posts.remove_children()
        self._cards = [
            PostCard(
                p,
                opening=n == 0 and p.id == detail.id,
                mine=p.author_id == self.group.me,
                mention_keys=self.keys_of(p),
                poll=detail.poll if n == 0 and p.id == detail.id else None,
                survey=detail.survey if n == 0 and p.id == detail.id else None,
            )
            for n, p in enumerate(detail.posts)
        ]
        cards = self._cards
        if self.focus_post is not None:
            self.focus_index = next((n for n, card in enumerate(cards) if card.post.id == self.focus_post), 0)
            self.focus_post = None
        if self.land_on_last:
            self.land_on_last = False
            self.focus_index = len(cards) - 1
        if not cards:
            return
        self.focus_index = min(self.focus_index, len(cards) - 1)
        await self._mount(self._window(self.focus_index, posts))
        cards[self.focus_index].focus(scroll_visible=False)
        if self.focus_index:
            posts.reveal(cards[self.focus_index])
        self.call_after_refresh(self._painted, self._generation)

    def _window(self, index: int, posts: PostScroll, screens: float = 1.0) -> list[int]:
        """The posts a view at `index` can show: it and a screen's height of
        posts below it, and as much above (the view may end at it), by a
        cheap estimate of their height."""
        height = posts.size.height or self.app.size.height
        width = max(20, (posts.size.width or self.app.size.width) - 6)
        budget = int(height * screens) - rows_of(self._cards[index], width)
        window = [index]
        for step in (1, -1):
            rows, n = 0, index + step
            while 0 <= n < len(self._cards) and rows < budget:
                window.append(n)
                rows += rows_of(self._cards[n], width)
                n += step
        return sorted(window)

    async def _mount(self, indexes: Iterable[int]) -> None:
        """Mount these cards in the thread's order, each run of neighbours
        at once, before the next card already mounted."""
        todo = sorted(set(indexes) - self._mounted)
        if not todo:
            return
        posts = self.query_one("#posts", PostScroll)
        self._mounted.update(todo)
        runs: list[list[int]] = []
        for n in todo:
            if runs and runs[-1][-1] == n - 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        for run in runs:
            following = next((n for n in range(run[-1] + 1, len(self._cards)) if n in self._mounted), None)
            cards = [self._cards[n] for n in run]
            await posts.mount_all(cards, before=None if following is None else self._cards[following])

    def _painted(self, generation: int) -> None:
        """The first screen of the thread is painted: mount the rest."""
        if generation != self._generation:
            return  # rebuilt before its first paint: the newer one fills
        if self.painted_with is None:
            self.painted_with = len(self._mounted)
        self._fill(generation)

    def _fill(self, generation: int) -> None:
        if self._filling != generation:
            self._filling = generation
            self.call_after_refresh(self._mount_more, generation)

    async def _mount_more(self, generation: int) -> None:
        """One small batch, then the next after a refresh: keys typed
        meanwhile wait for one batch at most."""
        if generation != self._filling or not self.is_attached:
            return  # rebuilt meanwhile (a newer generation fills), or closed
        batch = self._next_batch()
        if not batch:
            self._filling = None
            self._all_mounted()
            return
        await self._mount(batch)
        self.call_after_refresh(self._mount_more, generation)

    def _next_batch(self) -> list[int]:
        """The unmounted posts nearest below the focused one, then above it."""
        here, count = min(self.focus_index, len(self._cards) - 1), len(self._cards)
        below = [n for n in range(max(here, 0), count) if n not in self._mounted][:BATCH]
        if below:
            return below
        return [n for n in range(here, -1, -1) if n not in self._mounted][:BATCH]

    def _all_mounted(self) -> None:
        """Every post is mounted (a hook for the benchmark)."""

    def land(self, index: int, *, top: bool = False, scroll: bool = True) -> None:
        """Focus the post at `index` and bring it into view, mounting it and
        what shows around it first if it is not mounted yet."""
        self.focus_index = index
        card = self._cards[index]
        if index in self._mounted and card.is_attached:
            self._show_card(card, top=top, scroll=scroll)
        else:
            self.call_next(self._mount_and_land, self._generation, index, top)

    async def _mount_and_land(self, generation: int, index: int, top: bool) -> None:
        if generation != self._generation or self.focus_index != index:
            return  # rebuilt, or the reader moved on meanwhile
        posts = self.query_one("#posts", PostScroll)
        await self._mount(self._window(index, posts))
        card = self._cards[index]
        card.focus(scroll_visible=False)
        posts.reveal(card, top=top)
        self._fill(generation)

    def _show_card(self, card: PostCard, *, top: bool, scroll: bool) -> None:
        if not scroll:
            card.focus()
            return
        card.focus(scroll_visible=False)
        self.query_one("#posts", PostScroll).scroll_to_widget(card, animate=False, top=top)

    async def action_top(self) -> None:
        await self._scroll_to_end(0)

    async def action_bottom(self) -> None:
        await self._scroll_to_end(len(self._cards) - 1)

    async def _scroll_to_end(self, index: int) -> None:
        """home and end: the thread's first or last screen, mounted first."""
        posts = self.query_one("#posts", PostScroll)
        if index < 0:
            return
        await self._mount(self._window(index, posts))
        if index == 0:
            self.call_after_refresh(posts.scroll_home, animate=False)
        else:
            self.call_after_refresh(posts.scroll_end, animate=False)
        self._fill(self._generation)

    def refresh_times(self) -> None:
        for card in self.cards:
            if card.is_attached:
                card.refresh_times()

    @property
    def cards(self) -> list[PostCard]:
        """Every post's card, in the thread's order, mounted or not yet."""
        return self._cards

    @property
    def focused_post(self) -> PostCard | None:
        """The post at `focus_index`, not the widget with the focus: `j` sets
        the index at once but the focus a moment later, after the keys typed
        with it (`j` then `e` edits the post `j` moved to)."""
        cards = self.cards
        return cards[min(self.focus_index, len(cards) - 1)] if cards else None

    def on_descendant_focus(self, event) -> None:
        node = event.widget
        while node is not None and not isinstance(node, PostCard):
            node = node.parent if node.parent is not self else None
        cards = self.cards
        if node in cards:  # a click or tab on (or into) a post
            self.focus_index = cards.index(node)
        self.refresh_bindings()  # edit and delete depend on whose post has the focus

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Show edit only on your own posts, delete on yours (or anyone's, for
        a moderator), jump to new only while replies wait below, vote only
        in an open poll, answer only an open survey, and read its answers
        only as a moderator."""
        if action == "jump_to_news":
            return bool(self.news_below)
        if action == "jump_to_quote":
            card = self.focused_post
            return card is not None and card.post.quote is not None
        if action == "vote":
            poll = self.detail.poll if self.detail is not None else None
            return poll is not None and not poll.closed
        if action == "answer":
            survey = self.detail.survey if self.detail is not None else None
            return survey is not None and not survey.closed
        if action == "read_answers":
            return self.detail is not None and self.detail.survey is not None and self.ts_app.is_moderator()
        if action not in ("edit", "delete"):
            return True
        card = self.focused_post
        if card is None:
            return False
        return card.mine or (action == "delete" and self.ts_app.is_moderator())

    def action_move(self, step: int) -> None:
        cards = self.cards
        if not cards:
            return
        self.land(max(0, min(len(cards) - 1, self.focus_index + step)), scroll=False)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_reply(self, quote: PostView | None = None) -> None:
        from tablespace.tui.modals import ComposeModal

        if self.detail is None:
            return

        thread_id = self.thread_id
        quoted = quote.id if quote is not None else None

        def posting(body: str) -> Job[str]:
            return self.write_job(
                "replying",
                lambda g: actions.reply(g, thread_id, body, quote=quoted, insist=True),
                then=self.land_on_reply,
            )

        def reply(draft: Draft) -> Job[str] | object:
            if not only_a_reaction(draft.body):
                return posting(draft.body)
            self.offer_reaction(compose, quoted or thread_id, draft.body, posting)
            return ComposeModal.STAY

        heading = f"Reply to “{self.detail.title}”" if quote is None else f"Reply quoting {quote.author}"
        names = roster_names(self.group, circle_queries.thread_circle(self.group.conn, thread_id))
        compose = ComposeModal(heading, reply, submit_label="Reply", names=names)
        self.app.push_screen(compose)

    def offer_reaction(
        self, compose: ComposeModal, post_id: str, body: str, posting: Callable[[str], Job[str]]
    ) -> None:
        """No dogpiles: a reply that only says "+1" or an emoji is better as a
        reaction to the post it answers. Reacting drops the draft; posting
        anyway runs in the form, which keeps the text if it is refused."""
        from tablespace.tui.modals import ReactInsteadModal

        emoji = reaction_for(body)

        def chosen(choice: str | None) -> None:
            if choice == "react":
                compose.dismiss(False)
                self.act("reacting", lambda g: actions.react(g, post_id, emoji))
            elif choice == "post":
                compose.run(posting(body))

        self.app.push_screen(ReactInsteadModal(emoji), chosen)

    def action_quote(self) -> None:
        """Reply quoting the selected post."""
        card = self.focused_post
        if card is not None:
            self.action_reply(quote=card.post)

    def action_jump_to_quote(self) -> None:
        """Select the post the selected reply quotes (in this thread)."""
        card = self.focused_post
        quote = card.post.quote if card is not None else None
        if quote is None:
            return
        if quote.deleted:
            self.notify("The quoted post was deleted.")
            return
        self.select_post(quote.post)

    def select_post(self, post_id: str) -> None:
        index = next((n for n, c in enumerate(self.cards) if c.post.id == post_id), None)
        if index is not None:
            self.land(index, top=True)

    def action_follow(self) -> None:
        undo = inbox.is_following(self.group.conn, self.thread_id)
        thread_id = self.thread_id
        self.act(
            "unfollowing" if undo else "following",
            lambda g: actions.follow(g, thread_id, undo=undo),
            success="Unfollowed: replies here no longer reach your inbox."
            if undo
            else "Following: replies here reach your inbox.",
        )

    def action_mute_thread(self) -> None:
        undo = inbox.is_muted(self.group.conn, "thread", self.thread_id)
        thread_id = self.thread_id
        self.act(
            "unmuting" if undo else "muting",
            lambda g: actions.mute_thread(g, thread_id, undo=undo),
            success="Unmuted this thread." if undo else "Muted: nothing from this thread reaches your inbox.",
        )

    def action_mute_member(self) -> None:
        card = self.focused_post
        if card is None:
            return
        mute_member_of(self, card.post.author_id, card.post.author)

    def land_on_reply(self, _post_id: str) -> None:
        """Our reply was written: focus it once the refresh shows it."""
        self.land_on_last = True

    def action_edit(self) -> None:
        from tablespace.tui.modals import ComposeModal

        card = self.focused_post
        if card is None:
            return
        if not card.mine:
            self.notify("You can only edit your own posts.", severity="warning")
            return
        post_id = card.post.id

        def edit(draft: Draft) -> Job[None]:
            body, title = draft.body, draft.title
            return self.write_job("saving the edit", lambda g: actions.edit(g, post_id, body, title=title))

        title = self.detail.title if card.opening and self.detail else None
        names = roster_names(self.group, circle_queries.thread_circle(self.group.conn, self.thread_id))
        self.app.push_screen(
            ComposeModal("Edit post", edit, title=title, body=card.post.body, submit_label="Save", names=names)
        )

    def action_delete(self) -> None:
        from tablespace.tui.modals import ConfirmModal

        card = self.focused_post
        if card is None or self.detail is None:
            return
        post_id = card.post.id
        question = (
            f"Delete the thread “{self.detail.title}” and all its replies?"
            if card.opening
            else f"Delete this reply by {card.post.author}?"
        )

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.act("deleting", lambda g: actions.delete(g, post_id), success="Deleted.")

        self.app.push_screen(ConfirmModal(question), done)

    def action_report(self) -> None:
        from tablespace.tui.modals import AskForm, Field

        card = self.focused_post
        if card is None:
            return
        post_id = card.post.id

        def report(values: dict[str, str | bool]) -> Job[actions.FiledReport]:
            reason = str(values["reason"])
            return self.write_job(
                "sealing the report",
                lambda g: actions.report(g, post_id, reason),
                success="Reported. Only moderators can read it, or see who sent it.",  # the next sync delivers it
                refused="Not reported",
            )

        self.app.push_screen(
            AskForm(
                f"Report this post by {card.post.author}?",
                "Only moderators can read a report or see who made it. Say what is wrong.",
                [Field("reason", "What is wrong")],
                report,
                verb="report",
            )
        )

    def action_vote(self) -> None:
        from tablespace.tui.modals import AskForm, Field

        poll = self.detail.poll if self.detail is not None else None
        if poll is None:
            self.notify("This thread has no poll.")
            return
        if poll.closed:
            self.notify("This poll has closed.")
            return
        thread = self.thread_id

        def vote(values: dict[str, str | bool]) -> Job[list[int]]:
            choices = [c for c in str(values["choices"]).replace(",", " ").split() if c]
            return self.write_job(
                "voting",
                lambda g: actions.vote(g, thread, choices),
                success=lambda mine: f"Voted for {', '.join(map(str, mine))}.",
                refused="Not voted",
            )

        several = "one or more option numbers, e.g. 1 3" if poll.multi else "one option number, e.g. 2"
        options = "  ".join(f"{n}. {o.text}" for n, o in enumerate(poll.options, 1))
        mine = " ".join(map(str, poll.mine))
        self.app.push_screen(
            AskForm(
                "Vote",
                f"{options}\n\nGive {several}. Voting again replaces your vote.",
                [Field("choices", "Option number(s)", value=mine, required="Give an option number")],
                vote,
                verb="vote",
            )
        )

    def action_answer(self) -> None:
        """One field per question; the answers are sealed to the moderators
        by the action before anything is written, as `tablespace answer` does."""
        from tablespace.tui.modals import AskForm, Field

        survey = self.detail.survey if self.detail is not None else None
        if survey is None:
            self.notify("This thread is not a survey.")
            return
        if survey.closed:
            self.notify("This survey has closed.")
            return
        thread = self.thread_id
        fields = [Field(f"q{n}", "your answer", label=f"{n}. {q}") for n, q in enumerate(survey.questions, 1)]

        def answer(values: dict[str, str | bool]) -> Job[None]:
            answers = [str(values[f.id]) for f in fields]
            return self.write_job(
                "sealing your answers",
                lambda g: actions.answer(g, thread, answers),
                success="Answered. Only the moderators can read your answers.",
                refused="Not answered",
            )

        again = " Answering again replaces them." if survey.mine else ""
        self.app.push_screen(
            AskForm(
                survey.title,
                f"Only the moderators can read your answers: they are sealed before they are saved.{again}",
                fields,
                answer,
                verb="send",
            )
        )

    def action_read_answers(self) -> None:
        """Moderators: open the sealed answers on a worker (it needs the
        moderators' key) and show them; they stay in memory, in the modal."""
        survey = self.detail.survey if self.detail is not None else None
        if survey is None or not self.ts_app.is_moderator():
            return
        thread = self.thread_id

        def show(results: actions.SurveyResults) -> None:
            from tablespace.tui.modals import ReadModal

            self.app.push_screen(ReadModal(results.survey.title, answers_text(results)))

        opening = in_own_group(self.group, lambda g: actions.survey_answers(g, thread))
        self.run_job(Job("opening the answers", opening, done=show, refused="Answers not opened"))

    def action_pin(self) -> None:
        if self.detail is not None:
            toggle_pin(self, self.thread_id, self.detail.pinned)

    def action_tags(self) -> None:
        if self.detail is not None:
            edit_tags(self, self.thread_id, self.detail.title, list(self.detail.tags))

    def action_react(self) -> None:
        from tablespace.tui.modals import ReactModal

        card = self.focused_post
        if card is None:
            return
        post_id = card.post.id
        mine = post_queries.my_reactions(self.group.conn, post_id, self.group.me)

        def done(emoji: str | None) -> None:
            if emoji:
                undo = emoji in mine
                taken_back = f"Took back your {visible(emoji)}." if undo else None
                self.act("reacting", lambda g: actions.react(g, post_id, emoji, undo=undo), success=taken_back)

        self.app.push_screen(ReactModal(mine), done)

    def action_next_unread(self) -> None:
        """The next post that was unread when the thread opened, then the first
        unread post of the next thread with any (in the thread list's order)."""
        card = self.focused_post
        here = card.post.id if card is not None else None
        later = self.unread[self.unread.index(here) + 1 :] if here in self.unread else self.unread
        shown = {c.post.id for c in self.cards}
        following = next((p for p in later if p in shown and p != here), None)
        if following is not None:
            self.select_post(following)
            return
        last = self.detail.posts[-1].id if self.detail and self.detail.posts else self.thread_id
        elsewhere = inbox.next_unread_post(self.group.conn, self.group.me, thread_id=self.thread_id, post_id=last)
        if elsewhere is None:
            self.notify("You're all caught up.", title="No unread posts")
            return
        self.app.switch_screen(ThreadScreen(elsewhere.thread, elsewhere.post))


def answers_text(results: actions.SurveyResults) -> Text:
    """A survey's answers by question, each under the member who gave it."""
    count = len(results.answers)
    text = Text(f"{count} member{'' if count == 1 else 's'} answered", "dim")
    if results.unreadable:
        text.append(f"  ·  {results.unreadable} could not be opened here (sync, then try again)", "dim")
    for n, question in enumerate(results.survey.questions):
        text.append(f"\n\n{n + 1}. {visible(question)}", "bold")
        given = [(a.member, a.answers[n]) for a in results.answers if a.answers[n]]
        for member, said in given:
            text.append(f"\n{visible(member)}: ", "dim")
            text.append(visible(said, multiline=True))
        if not given:
            text.append("\n(no answers)", "dim italic")
    return text


def mute_member_of(screen: TablespaceScreen, member_id: str, name: str) -> None:
    """Mute a member (or unmute one muted): nothing they do reaches my inbox.
    Muting myself is refused by the action, like everywhere."""
    undo = inbox.is_muted(screen.group.conn, "member", member_id)
    screen.act(
        "unmuting" if undo else "muting",
        lambda g: actions.mute_member(g, member_id, undo=undo),
        success=f"Unmuted {name}." if undo else f"Muted {name}: nothing they do reaches your inbox.",
    )
