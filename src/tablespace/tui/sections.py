"""The Rituals, Library and Members sections: loaded on the first switch to one
of them (the first frame shows only Threads; see registry.SECTIONS)."""

from __future__ import annotations

import webbrowser
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Markdown, Select, Static

from tablespace import actions
from tablespace.core import inbox, queries
from tablespace.core.clock import iso, now
from tablespace.core.fold import derived_id
from tablespace.core.queries import ResourceView
from tablespace.core.rituals import occurrences_between
from tablespace.core.text import visible
from tablespace.tui.chrome import KeyFooter, SectionScreen
from tablespace.tui.format import days_until, local, relative, tags_text
from tablespace.tui.markdown import MembersMarkdown
from tablespace.tui.screens import ThreadScreen, mute_member_of
from tablespace.tui.tables import OPEN_ON_ENTER, Flexible, RowTable, open_on_enter

if TYPE_CHECKING:
    from tablespace.tui.jobs import Job
    from tablespace.tui.modals import ResourceDraft


# --- rituals -----------------------------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    ritual: queries.RitualView
    at: datetime
    thread_id: str
    has_thread: bool
    replies: int

    @property
    def closed(self) -> str | None:
        """Why it opens no thread (paused, skipped, a quiet spell), or None."""
        return None if self.has_thread else self.ritual.closed_because(self.at)


# The keys that change a ritual: moderators only (the fold refuses anyone else).
TENDING = frozenset({"edit", "pause", "skip", "remove"})


class RitualsScreen(SectionScreen):
    """Today's prompts on top, then the calendar: the last week and the next
    three, on the reader's own clock."""

    SECTION = "rituals"
    PAST = timedelta(days=7)
    AHEAD = timedelta(days=21)
    BINDINGS = [
        Binding("o", "open_occurrence", "Open thread", id="rituals.open"),
        OPEN_ON_ENTER,
        Binding("e", "edit", "Edit", id="rituals.edit"),
        Binding("p", "pause", "Pause/resume", id="rituals.pause"),
        Binding("x", "skip", "Skip once", id="rituals.skip"),
        Binding("d", "remove", "Remove", id="rituals.remove"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TENDING:
            return self.group.is_moderator
        return True

    def __init__(self) -> None:
        super().__init__()
        self.rituals: list[queries.RitualView] = []
        self.occurrences: list[Occurrence] = []
        self.shown_day: date | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static(id="today")
        yield RowTable(id="calendar")
        yield Static(id="ritual-prompt", classes="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("When", "Ritual", "Thread")
        table.focus()

    def calendar(self, moment: datetime) -> list[Occurrence]:
        """Occurrences around today, paused, skipped and quiet ones included
        (marked), so a moderator can find a ritual to resume it."""
        conn = self.group.conn
        day = local(moment).replace(hour=0, minute=0, second=0, microsecond=0)
        found: list[Occurrence] = []
        for ritual in self.rituals:
            for at in occurrences_between(ritual.rrule, ritual.start, day - self.PAST, day + self.AHEAD, ritual.tz):
                thread_id = derived_id("ritual.occur", ritual.id, iso(at))
                exists = queries.thread_exists(conn, thread_id)
                found.append(
                    Occurrence(ritual, at, thread_id, exists, queries.reply_count(conn, thread_id) if exists else 0)
                )
        found.sort(key=lambda o: (o.at, o.ritual.name))
        return found

    def refresh_times(self) -> None:
        if local(now()).date() != self.shown_day:  # "today" and "in 3 days" moved on at midnight
            self.refresh_data()

    def refresh_data(self) -> None:
        moment = now()
        today = local(moment).date()
        self.shown_day = today
        table = self.query_one(DataTable)
        keep = self.current.thread_id if self.current and table.row_count else None
        self.rituals = queries.rituals(self.group.conn, moment)
        self.occurrences = self.calendar(moment)
        self._show_today(moment, [o for o in self.occurrences if local(o.at).date() == today and not o.closed])
        table.clear()
        for o in self.occurrences:
            when = local(o.at).strftime("%a %d %b")
            if local(o.at).date() == today:
                when_text = Text(f"{when}  today", "bold")
            elif o.at > moment:
                when_text = Text(f"{when}  {days_until(o.at, at=moment)}")
            else:
                when_text = Text(when, "dim")
            closed = o.closed
            if o.has_thread:
                status = Text(f"↩ {o.replies} repl{'y' if o.replies == 1 else 'ies'}")
            elif closed:
                status = Text(CLOSED_WORDS.get(closed, closed), "dim italic")
            elif o.at > moment:
                status = Text(f"opens at {local(o.at):%H:%M}", "dim")
            else:
                status = Text("not opened", "dim italic")
            table.add_row(when_text, Text(visible(o.ritual.name), "bold"), status, key=o.thread_id)
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
            following = next((o for o in self.occurrences if o.at > moment and not o.closed), None)
            text.append("No ritual today.", "not bold")
            if following:
                text.append(
                    f" Next: {visible(following.ritual.name)}, {days_until(following.at, at=moment)}.", "not bold dim"
                )
        for o in due:
            text.append("● ", "not bold")
            text.append(visible(o.ritual.name), "bold")
            text.append(f" — {visible(o.ritual.prompt, multiline=True)}\n", "not bold")
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
        elif o.closed:
            hint = CLOSED_WORDS.get(o.closed, o.closed)
        elif o.at > now():
            hint = f"its thread opens {days_until(o.at)} at {local(o.at):%H:%M}"
        else:
            hint = "nobody opened this one"
        prompt.update(
            Text.assemble(
                (visible(ritual.name), "bold"),
                (f"  ·  {local(o.at):%a %d %b %H:%M}  ·  {hint}", "dim"),
                "\n",
                visible(ritual.prompt, multiline=True),
            )
        )

    @on(DataTable.RowHighlighted)
    def highlighted(self) -> None:
        self.show_prompt()

    @on(DataTable.RowSelected)
    def selected(self) -> None:  # a click
        self.action_open_occurrence()

    def action_open_row(self) -> None:
        open_on_enter(self, self.action_open_occurrence)

    def action_open_occurrence(self) -> None:
        o = self.current
        if o is None:
            return
        if o.has_thread:  # on top of this section: escape comes back here
            self.app.push_screen(ThreadScreen(o.thread_id))
        elif o.closed:
            self.notify(f"{o.ritual.name}: {CLOSED_WORDS.get(o.closed, o.closed)}.", title="No thread")
        elif o.at > now():
            self.notify(f"{o.ritual.name} opens {days_until(o.at)} at {local(o.at):%H:%M}.", title="Not yet")
        else:
            self.notify("Nobody opened this one (it came while nobody was in).", title="No thread")

    # --- tending (moderators) ---------------------------------------------------------

    def action_edit(self) -> None:
        from tablespace.tui.modals import AskForm, Field

        o = self.current
        if o is None:
            return
        ritual = o.ritual

        def save(values: dict[str, str | bool]) -> Job[None]:
            changed = {
                key: str(values[key]).strip()
                for key in ("name", "prompt", "rrule", "tz")
                if str(values[key]).strip() != getattr(ritual, key)
            }
            return self.write_job(
                "saving the ritual",
                lambda g: actions.ritual_edit(g, ritual.id, **changed),
                success=f"{ritual.name} saved",
            )

        self.app.push_screen(
            AskForm(
                f"Edit {ritual.name}",
                "Its name, prompt, schedule (an RFC 5545 rule) and time zone (an IANA name, e.g. "
                "Europe/Berlin). Threads it opened already stay as they are.",
                [
                    Field("name", "Name", ritual.name, required="give the ritual a name"),
                    Field("prompt", "Prompt", ritual.prompt, required="give it a prompt"),
                    Field("rrule", "Schedule, e.g. FREQ=WEEKLY;BYDAY=FR", ritual.rrule, required="give a schedule"),
                    Field("tz", "Time zone", ritual.tz, required="give a time zone (UTC for none)"),
                ],
                save,
            )
        )

    def action_pause(self) -> None:
        from tablespace.tui.modals import AskForm, Field

        o = self.current
        if o is None:
            return
        ritual = o.ritual
        if ritual.paused:
            self.act(
                f"resuming {ritual.name}",
                lambda g: actions.ritual_resume(g, ritual.id),
                success=f"{ritual.name} is back on",
            )
            return

        def pause(values: dict[str, str | bool]) -> Job[None]:
            until = str(values["until"]).strip() or None
            return self.write_job(
                f"pausing {ritual.name}",
                lambda g: actions.ritual_pause(g, ritual.id, until=until),
                success=f"{ritual.name} is paused" + (f" until {until}" if until else ""),
            )

        self.app.push_screen(
            AskForm(
                f"Pause {ritual.name}?",
                "No occurrence opens while it is paused. Give a day (YYYY-MM-DD) for it to come "
                "back by itself, or leave it empty and press p again to resume.",
                [Field("until", "Back on: YYYY-MM-DD (optional)")],
                pause,
                verb="pause",
            )
        )

    def action_skip(self) -> None:
        o = self.current
        if o is None or o.has_thread:
            if o is not None:
                self.notify("This one has opened already.", title="Not skipped")
            return
        ritual, at, undo = o.ritual, iso(o.at), o.at in o.ritual.skipped
        self.act(
            "taking the skip back" if undo else "skipping",
            lambda g: actions.ritual_skip(g, ritual.id, at, undo=undo),
            success=f"{ritual.name} on {local(o.at):%a %d %b} " + ("is back on" if undo else "is skipped"),
        )

    def action_remove(self) -> None:
        from tablespace.tui.modals import ConfirmModal

        o = self.current
        if o is None:
            return
        ritual = o.ritual

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(
                    f"removing {ritual.name}",
                    lambda g: actions.ritual_remove(g, ritual.id),
                    success=f"{ritual.name} is removed; its threads stay",
                )

        self.app.push_screen(
            ConfirmModal(f"Remove the ritual {ritual.name}? No occurrence opens again; the threads it opened stay."),
            answered,
        )


# How the calendar words an occurrence that opens no thread (core.rituals.closed_because).
CLOSED_WORDS = {
    "the ritual is paused": "paused",
    "this occurrence is skipped": "skipped",
    "the group is in a quiet spell": "quiet spell",
}


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
        yield RowTable(id="resources")
        yield Static(id="resource-detail", classes="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        columns = (Flexible("Title"), Flexible("Tags", 6), Flexible("Added by", 6), "When")
        self.when_column = table.add_columns(*columns)[-1]
        table.focus()

    def refresh_times(self) -> None:
        table = self.query_one(DataTable)
        for r in self.resources:
            table.update_cell(r.id, self.when_column, relative(r.created_at))

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
            table.add_row(
                Text(visible(r.title), "bold"),
                Text(tags_text(r.tags)),
                Text(visible(r.added_by)),
                relative(r.created_at),
                key=r.id,
            )
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
        detail.update(
            Text.assemble(
                (visible(r.title), "bold"),
                "\n",
                (visible(r.url), "underline"),
                "\n",
                visible(r.summary or "", multiline=True),
            )
        )

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

        def add(draft: ResourceDraft) -> Job[str]:
            return self.write_job(
                "adding to the library",
                lambda g: actions.library_add(g, draft.title, draft.url, draft.summary, draft.tags),
                then=self.show_added,
            )

        self.app.push_screen(ResourceForm(add))

    def show_added(self, resource_id: str) -> None:
        """Land on the resource just added, whatever the tag filter was."""
        self.tag = None
        self.call_after_refresh(self.refresh_data, resource_id)

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
    """The roster, and the group's code of conduct and house rules below it
    (the moderators keep them; see the Moderation section's Settings)."""

    SECTION = "members"
    BINDINGS = [Binding("m", "mute", "Mute / unmute", id="members.mute")]

    def __init__(self) -> None:
        super().__init__()
        self.people: list[queries.MemberView] = []

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield RowTable(id="members")
        with VerticalScroll(id="conduct-box", classes="detail"):
            yield MembersMarkdown(id="conduct")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Name", "Roles", "Status", "Id")

    def refresh_data(self) -> None:
        self.people = people = queries.members(self.group.conn)
        muted = set(inbox.muted(self.group.conn, "member"))
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for m in people:
            name = Text(visible(m.name), "bold")
            if m.id == self.group.me:
                name.append("  (you)", "dim")
            status = Text(m.status.replace("_", " "), "" if m.status == "active" else "italic")
            if m.timeout_until:
                status.append(f" until {m.timeout_until:%d %b %H:%M}", "dim")
            if m.id in muted:  # mine alone: nobody else sees it
                status.append(" · muted by you", "dim")
            table.add_row(name, ", ".join(m.roles) or "member", status, Text(m.id[:8], "dim"), key=m.id)
        if people:
            table.move_cursor(row=min(keep or 0, len(people) - 1), animate=False)
        active = sum(1 for m in people if m.status == "active")
        self.set_info(f"{active} active of {len(people)}")
        settings = queries.settings(self.group.conn)
        parts = [("Code of conduct", settings.get("conduct", "")), ("House rules", settings.get("rules", ""))]
        self.query_one("#conduct", Markdown).update(
            "\n\n".join(
                f"### {title}\n\n{visible(text.strip(), multiline=True)}" for title, text in parts if text.strip()
            )
            or "_The moderators have not written a code of conduct yet._"
        )

    def action_mute(self) -> None:
        """Mute the selected member (or unmute one muted)."""
        row = self.query_one(DataTable).cursor_row
        if 0 <= row < len(self.people):
            mute_member_of(self, self.people[row].id, self.people[row].name)
