"""The Rituals, Library and Members sections: loaded on the first switch to one
of them (the first frame shows only Threads; see registry.SECTIONS)."""

from __future__ import annotations

import os
import webbrowser
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import AwaitMount, Widget
from textual.widgets import DataTable, Select, Static

from tablespace import actions
from tablespace.core import (
    calendar_queries,
    circle_queries,
    group_queries,
    inbox,
    member_queries,
    post_queries,
    resource_queries,
    thread_queries,
)
from tablespace.core.calendar import calendar_entries
from tablespace.core.clock import iso, now
from tablespace.core.errors import Rejected
from tablespace.core.events import duration_text
from tablespace.core.fold import derived_id
from tablespace.core.limits import split_tags
from tablespace.core.metrics import QuietNewcomer, to_welcome
from tablespace.core.resource_queries import ResourceView
from tablespace.core.rituals import UTC_NAME, Closed, check_zone
from tablespace.core.text import visible
from tablespace.tui.chrome import KeyFooter, SectionScreen
from tablespace.tui.format import answers_text, days_until, event_place, event_when, local, relative, tags_text
from tablespace.tui.invites import MadeInvite, ask_for_invite, copy_invite, show_invite
from tablespace.tui.markdown import titled_body
from tablespace.tui.screens import land_in_room
from tablespace.tui.tables import OPEN_ON_ENTER, Flexible, RowTable, open_on_enter
from tablespace.tui.thread_screen import ThreadScreen, mute_member_of

if TYPE_CHECKING:
    from tablespace.core.group import Group
    from tablespace.tui.editor import Draft
    from tablespace.tui.jobs import Job
    from tablespace.tui.modals import ResourceDraft


# --- the calendar: rituals and events -------------------------------------------------


@dataclass(frozen=True)
class Occurrence:
    ritual: calendar_queries.RitualView
    at: datetime
    thread_id: str
    has_thread: bool
    replies: int

    @property
    def closed(self) -> Closed | None:
        """Why it opens no thread (paused, skipped, a quiet spell), or None."""
        return None if self.has_thread else self.ritual.closed_because(self.at)


@dataclass(frozen=True)
class EventRow:
    """An event on the calendar: its thread exists from the start."""

    event: calendar_queries.EventView
    replies: int
    has_thread: bool = True
    closed: Closed | None = None

    @property
    def at(self) -> datetime:
        return self.event.at

    @property
    def thread_id(self) -> str:
        return self.event.id


CalendarRow = Occurrence | EventRow

MIN_TITLE_CELLS = 16  # a row's title is never cut shorter than this
ROW_EDGES = 10  # a cell's padding on both sides, three cells, and the scrollbar

# The keys that change a ritual: moderators only (the fold refuses anyone else).
TENDING = frozenset({"edit", "pause", "skip", "remove"})


# The system's names for UTC itself: a form shows the one the group uses.
UTC_ALIASES = frozenset({"Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Universal", "Zulu", "Etc/GMT"})


def reader_zone() -> str | None:
    """The reader's own time zone as an IANA name, if the system says which."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        candidates.append(os.readlink("/etc/localtime").partition("zoneinfo/")[2])
    except OSError:
        pass
    for name in candidates:
        try:
            if name:
                return UTC_NAME if name in UTC_ALIASES else check_zone(name)
        except Rejected:
            continue
    return None


def form_zone(group: Group) -> str:
    """The time zone a new event's or ritual's form starts with: the group's,
    or the reader's own while the group's is still the default UTC."""
    group_zone = group_queries.group_settings(group.conn).tz
    return group_zone if group_zone != UTC_NAME else reader_zone() or UTC_NAME


class RitualsScreen(SectionScreen):
    """The group's calendar: today's prompts on top, then rituals and events
    in time order, from a week ago to three weeks ahead (and every event
    still to come), on the reader's own clock."""

    SECTION = "rituals"
    PAST = timedelta(days=7)
    AHEAD = timedelta(days=21)
    BINDINGS = [
        Binding("o", "open_occurrence", "Open", id="rituals.open"),
        OPEN_ON_ENTER,
        Binding("a", "add_event", "Add event", id="rituals.add_event"),
        Binding("r", "rsvp", "RSVP", id="rituals.rsvp"),
        Binding("n", "add_ritual", "New ritual", id="rituals.add_ritual"),
        Binding("e", "edit", "Edit", id="rituals.edit"),
        Binding("p", "pause", "Pause", id="rituals.pause"),
        Binding("x", "skip", "Skip", id="rituals.skip"),
        Binding("d", "remove", "Remove", id="rituals.remove"),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in TENDING:
            return self.ts_app.is_moderator() and self.current_occurrence is not None
        if action == "add_ritual":
            return self.ts_app.is_moderator()
        if action == "rsvp":
            return self.current_event is not None
        return True

    def __init__(self) -> None:
        super().__init__()
        self.rituals: list[calendar_queries.RitualView] = []
        self.rows: list[CalendarRow] = []
        self.shown_day: date | None = None

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static(id="today")
        yield RowTable(id="calendar")
        yield Static(id="ritual-prompt", classes="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()

    def calendar(self, moment: datetime) -> list[CalendarRow]:
        """Events and the rituals' occurrences around today, paused, skipped
        and quiet ones included (marked), so a moderator can find a ritual to
        resume it."""
        conn = self.group.conn
        day = local(moment).replace(hour=0, minute=0, second=0, microsecond=0)
        since = day - self.PAST
        events = calendar_queries.events(conn, since, me=self.group.me)
        found: list[CalendarRow] = []
        for entry in calendar_entries(events, self.rituals, since, day + self.AHEAD, closed=True):
            if entry.event is not None:
                found.append(EventRow(entry.event, post_queries.reply_count(conn, entry.id)))
            elif entry.ritual is not None:
                thread_id = derived_id("ritual.occur", entry.id, iso(entry.at))
                exists = thread_queries.thread_exists(conn, thread_id)
                replies = post_queries.reply_count(conn, thread_id) if exists else 0
                found.append(Occurrence(entry.ritual, entry.at, thread_id, exists, replies))
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
        self.rituals = calendar_queries.rituals(self.group.conn, moment)
        self.rows = self.calendar(moment)
        self._show_today(moment, [row for row in self.rows if local(row.at).date() == today and not row.closed])
        self._fill(table, moment)
        ids = [row.thread_id for row in self.rows]
        if keep in ids:
            table.move_cursor(row=ids.index(keep), animate=False)
        else:  # land on today, or the next one coming
            upcoming = next((n for n, row in enumerate(self.rows) if local(row.at).date() >= today), 0)
            table.move_cursor(row=upcoming, animate=False, scroll=True)
        self.set_info(*self._count_texts())
        self.show_prompt()
        self.refresh_bindings()

    def _fill(self, table: DataTable, moment: datetime) -> None:
        """The rows, as they fit the screen: without "in 3 days" if need be,
        then with titles cut (an ellipsis marks it); the time and the
        answers matter more in a row, and the panel below has the whole title."""
        width = self.app.size.width
        for in_days in (True, False):
            cells = [(self._when(row, moment, in_days), *self._what_and_status(row, moment)) for row in self.rows]
            widest = [max((c[n].cell_len for c in cells), default=0) for n in range(3)]
            if sum(widest) + ROW_EDGES <= width:
                break
        room = max(MIN_TITLE_CELLS, width - widest[0] - widest[2] - ROW_EDGES)
        table.clear(columns=True)  # columns are only ever widened; a narrower screen starts them anew
        table.add_columns("When", "What", "Details")
        for row, (when, what, details) in zip(self.rows, cells, strict=True):
            what.truncate(room, overflow="ellipsis")
            table.add_row(when, what, details, key=row.thread_id)

    def on_resize(self) -> None:
        """The same rows fitted again to the new width: nothing is read again."""
        if self.rows:
            table = self.query_one(DataTable)
            keep = table.cursor_row
            self._fill(table, now())
            table.move_cursor(row=min(keep, len(self.rows) - 1), animate=False)

    def _count_texts(self) -> tuple[str, ...]:
        """How many rituals and events, in words, then shorter for a narrow bar."""
        rituals, events = len(self.rituals), sum(isinstance(row, EventRow) for row in self.rows)
        text = f"{rituals} ritual{'s' if rituals != 1 else ''}"
        if not events:
            return (text,)
        return f"{text}, {events} event{'s' if events != 1 else ''}", text

    @staticmethod
    def _when(row: CalendarRow, moment: datetime, in_days: bool = True) -> Text:
        when = local(row.at).strftime("%a %d %b")
        if local(row.at).date() == local(moment).date():
            return Text(f"{when}  today", "bold")
        if row.at > moment:
            return Text(f"{when}  {days_until(row.at, at=moment)}" if in_days else when)
        return Text(when, "dim")

    @staticmethod
    def _what_and_status(row: CalendarRow, moment: datetime) -> tuple[Text, Text]:
        if isinstance(row, EventRow):
            event = row.event
            status = Text(
                f"{local(event.at):%H:%M} {duration_text(event.minutes)} · ", "dim" if event.ends <= moment else ""
            )
            status.append_text(answers_text(event))
            return Text("📅 " + visible(event.title), "bold"), status
        closed = row.closed
        if row.has_thread:
            status = Text(f"↩ {row.replies} repl{'y' if row.replies == 1 else 'ies'}")
        elif closed:
            status = Text(closed.short, "dim italic")
        elif row.at > moment:
            status = Text(f"opens at {local(row.at):%H:%M}", "dim")
        else:
            status = Text("not opened", "dim italic")
        return Text(("🔒 " if row.ritual.circle else "") + visible(row.ritual.name), "bold"), status

    def _show_today(self, moment: datetime, due: list[CalendarRow]) -> None:
        text = Text(f"Today · {moment.strftime('%A %d %B')}\n", "bold")
        coming = [row for row in self.rows if row.at > moment and not row.closed]
        if not self.rituals and not coming and not due:
            text.append("Nothing on the calendar yet. Press a to add an event.", "not bold")
        elif not due:
            following = coming[0] if coming else None
            text.append("Nothing today.", "not bold")
            if following:
                text.append(
                    f" Next: {visible(self._title(following))}, {days_until(following.at, at=moment)}.", "not bold dim"
                )
        for row in due:
            text.append("● ", "not bold")
            if isinstance(row, EventRow):
                text.append("📅 " + visible(row.event.title), "bold")
                where = f", {event_place(row.event)}" if row.event.where else ""
                text.append(f" — {local(row.at):%H:%M}–{local(row.event.ends):%H:%M}{where}\n", "not bold")
            else:
                text.append(visible(row.ritual.name), "bold")
                text.append(f" — {visible(row.ritual.prompt, multiline=True)}\n", "not bold")
        self.query_one("#today", Static).update(text.rstrip() or text)

    @staticmethod
    def _title(row: CalendarRow) -> str:
        return row.event.title if isinstance(row, EventRow) else row.ritual.name

    @property
    def current(self) -> CalendarRow | None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        if not self.rows or row is None or not 0 <= row < len(self.rows):
            return None
        return self.rows[row]

    @property
    def current_occurrence(self) -> Occurrence | None:
        row = self.current
        return row if isinstance(row, Occurrence) else None

    @property
    def current_event(self) -> calendar_queries.EventView | None:
        row = self.current
        return row.event if isinstance(row, EventRow) else None

    def show_prompt(self) -> None:
        row = self.current
        prompt = self.query_one("#ritual-prompt", Static)
        if row is None:
            prompt.update("Nothing on the calendar." if self.rituals else "")
            return
        if isinstance(row, EventRow):
            prompt.update(self._event_detail(row.event))
            return
        o, ritual = row, row.ritual
        if o.has_thread:
            hint = "enter or o: open this occurrence's thread"
        elif o.closed:
            hint = o.closed.short
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

    @staticmethod
    def _event_detail(event: calendar_queries.EventView) -> Text:
        text = Text.assemble(
            (visible(event.title), "bold"),
            (f"  ·  {event_when(event)} ({duration_text(event.minutes)})", "dim"),
        )
        if event.where:
            text.append("\n" + event_place(event))
        people = [(label, names) for label, names in (("Going", event.going), ("Maybe", event.maybe)) if names]
        text.append("\n")
        if people:
            text.append(" · ".join(f"{label}: {visible(', '.join(names))}" for label, names in people))
        else:
            text.append("Nobody has answered yet.", "dim")
        if event.mine:
            text.append(f"  (you: {event.mine})", "dim")
        text.append("  ·  enter: its thread  ·  r: RSVP", "dim")
        return text

    @on(DataTable.RowHighlighted)
    def highlighted(self) -> None:
        self.show_prompt()
        self.refresh_bindings()  # the keys for a ritual, or for an event

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
        elif not isinstance(o, Occurrence):
            return
        elif o.closed:
            self.notify(f"{o.ritual.name}: {o.closed.short}.", title="No thread")
        elif o.at > now():
            self.notify(f"{o.ritual.name} opens {days_until(o.at)} at {local(o.at):%H:%M}.", title="Not yet")
        else:
            self.notify("Nobody opened this one (it came while nobody was in).", title="No thread")

    # --- events (any member) ----------------------------------------------------------

    def action_add_event(self) -> None:
        from tablespace.tui.modals import AskForm, Field

        zone_name = form_zone(self.group)

        def save(values: dict[str, str | bool]) -> Job[str]:
            title, at = str(values["title"]), str(values["at"])
            where, body = str(values["where"]), str(values["body"])
            zone, duration = str(values["tz"]).strip() or None, str(values["duration"]).strip() or None
            return self.write_job(
                "adding the event",
                lambda g: actions.event_add(g, title, at, tz=zone, duration=duration, where=where, body=body),
                success=f"{title.strip()} is on the calendar",
                refused="Not added",
            )

        self.app.push_screen(
            AskForm(
                "Add an event",
                "A one-off gathering (an AMA, a meetup): it gets a thread, and members answer going, maybe or no.",
                [
                    Field("title", "e.g. Monthly AMA", label="Title", required="give the event a title"),
                    Field("at", "YYYY-MM-DD HH:MM", label="Date and time", required="give a date and time"),
                    Field("tz", "an IANA name, e.g. Europe/Berlin", zone_name, label="Time zone"),
                    Field("duration", "45m, 2h, 1h30m", "1h", label="How long"),
                    Field("where", "a place or a link (optional)", label="Where"),
                    Field("body", "What it is about (optional)", multiline=True, label="About (optional)"),
                ],
                save,
                verb="add",
                rows=True,
            )
        )

    def action_rsvp(self) -> None:
        from tablespace.tui.modals import RsvpModal

        event = self.current_event
        if event is None:
            return
        if event.ends <= now():
            self.notify(f"{event.title} is over.", title="Not answered")
            return

        def answered(answer: str | None) -> None:
            if answer is not None and answer != event.mine:
                job = self.write_job(
                    "answering",
                    lambda g: actions.rsvp(g, event.id, answer),
                    success=f"{event.title}: {answer}",
                    refused="Not answered",
                )
                self.run_job(job)

        self.app.push_screen(RsvpModal(event.title, event.mine), answered)

    # --- tending (moderators) ---------------------------------------------------------

    def action_add_ritual(self) -> None:
        from tablespace.tui.ritual_form import RitualDraft, RitualForm

        zone_name = form_zone(self.group)

        def save(draft: RitualDraft) -> Job[str]:
            def add(g: Group) -> str:
                start = draft.start(draft.tz)
                return actions.ritual_add(g, draft.name, draft.prompt, draft.rrule(), start=start, tz=draft.tz)

            return self.write_job(
                "adding the ritual", add, success=f"{draft.name} is on the calendar", refused="Not added"
            )

        self.app.push_screen(RitualForm("New ritual", save, tz=zone_name, verb="add"))

    def action_edit(self) -> None:
        from tablespace.tui.ritual_form import RitualDraft, RitualForm, start_day, time_of

        o = self.current_occurrence
        if o is None:
            return
        ritual = o.ritual
        at = time_of(ritual.start, ritual.tz)

        def save(draft: RitualDraft) -> Job[None]:
            def edit(g: Group) -> None:
                given = {"name": draft.name, "prompt": draft.prompt, "rrule": draft.rrule(), "tz": draft.tz}
                changed = {key: value for key, value in given.items() if value != getattr(ritual, key)}
                if draft.starts.strip() or draft.at.strip() != at:  # a new time keeps its first day
                    changed["start"] = draft.start(draft.tz, start_day(ritual.start, ritual.tz))
                actions.ritual_edit(g, ritual.id, **changed)

            return self.write_job("saving the ritual", edit, success=f"{ritual.name} saved")

        self.app.push_screen(
            RitualForm(
                f"Edit {ritual.name}",
                save,
                tz=ritual.tz,
                name=ritual.name,
                prompt=ritual.prompt,
                rule=ritual.rrule,
                at=at,
            )
        )

    def action_pause(self) -> None:
        from tablespace.tui.modals import AskForm, Field

        o = self.current_occurrence
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
        o = self.current_occurrence
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

        o = self.current_occurrence
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


# --- library ---------------------------------------------------------------------


class LibraryScreen(SectionScreen):
    SECTION = "library"
    BINDINGS = [
        Binding("a", "add", "Add", id="library.add"),
        Binding("o", "open_link", "Open", id="library.open"),
        Binding("y", "copy_link", "Copy", id="library.copy"),
        Binding("t", "filter", "Tag filter", id="library.filter"),
        Binding("e", "edit", "Edit", id="library.edit"),
        Binding("d", "remove", "Remove", id="library.remove"),
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
        all_resources = resource_queries.resources(conn)
        tags = sorted({t for r in all_resources for t in r.tags})
        select_widget = self.query_one("#tag-filter", Select)
        if self.tag and self.tag not in tags:
            self.tag = None
        with select_widget.prevent(Select.Changed):
            select_widget.set_options([(f"#{t}", t) for t in tags])
            select_widget.value = self.tag if self.tag else Select.NULL
        self.resources = resource_queries.resources(conn, tag=self.tag) if self.tag else all_resources
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

    def action_edit(self) -> None:
        from tablespace.tui.modals import AskForm, Field

        r = self.current
        if r is None:
            return
        resource_id = r.id

        def save(values: dict[str, str | bool]) -> Job[None]:
            title, url, summary = str(values["title"]), str(values["url"]), str(values["summary"])
            tags = split_tags(str(values["tags"]))
            return self.write_job(
                "saving the resource",
                lambda g: actions.library_edit(g, resource_id, title=title, url=url, summary=summary, tags=tags),
                success="Saved.",
            )

        fields = [
            Field("title", "Title", r.title, required="A resource needs a title."),
            Field("url", "https://…", r.url, required="A resource needs a link."),
            Field("summary", "One-line summary", r.summary),
            Field("tags", "tags", " ".join(r.tags)),
        ]
        self.app.push_screen(AskForm("Edit the resource", "Whoever added it, a curator or a moderator.", fields, save))

    def action_remove(self) -> None:
        from tablespace.tui.modals import ConfirmModal

        r = self.current
        if r is None:
            return
        resource_id = r.id

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self.act("removing", lambda g: actions.library_remove(g, resource_id), success="Removed.")

        self.app.push_screen(ConfirmModal(f"Remove “{r.title}” from the library?", yes="Remove"), done)

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


def conduct_parts(settings: dict[str, str]) -> list[tuple[str, str]]:
    """The code of conduct and the house rules, under their titles, as shown."""
    parts = [("Code of conduct", settings.get("conduct", "")), ("House rules", settings.get("rules", ""))]
    return [(title, visible(text, multiline=True)) for title, text in parts]


def conduct_widget(parts: list[tuple[str, str]]) -> Widget:
    return titled_body(parts, "_The moderators have not written a code of conduct yet._", id="conduct")


class MembersScreen(SectionScreen):
    """The roster, and the group's code of conduct and house rules below it
    (the moderators keep them; see the Moderation section's Settings)."""

    SECTION = "members"
    READ_AS_MOUNTED = True
    BINDINGS = [
        Binding("m", "mute", "Mute / unmute", id="members.mute"),
        Binding("c", "message", "Message", id="members.message"),
        Binding("i", "invite", "Invite", id="members.invite"),
        Binding("y", "copy_invite", "Copy code", id="members.copy_invite"),
        Binding("o", "open_intro", "Open intro", id="members.open_intro"),
        Binding("D", "devices", "My devices", id="members.devices"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.people: list[member_queries.MemberView] = []
        self.invite_code: str | None = None
        self.waiting: list[QuietNewcomer] = []  # intros to welcome, for greeters and moderators
        self.conduct_text: list[tuple[str, str]] | None = None  # the code of conduct and house rules shown
        self.conduct_shown: AwaitMount | None = None  # their widget, mounted in the background

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Invites are the moderators' (the action refuses anyone else too)."""
        if action == "invite":
            return self.is_mounted and self.ts_app.is_moderator()
        if action == "copy_invite":
            return self.invite_code is not None
        if action == "open_intro":
            return bool(self.waiting)
        return True

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static(id="purpose", classes="strip")
        yield Static(id="invite-code", classes="strip")
        yield RowTable(id="members")
        yield Static(id="to-welcome", classes="detail")
        # Read as the screen is made, so its first layout has it.
        self.conduct_text = conduct_parts(group_queries.settings(self.group.conn))
        yield VerticalScroll(conduct_widget(self.conduct_text), id="conduct-box", classes="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Name", "Roles", "Status", "Id")
        self.query_one("#invite-code").display = False

    def refresh_data(self) -> None:
        self.people = people = member_queries.members(self.group.conn)
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
        settings = group_queries.settings(self.group.conn)
        purpose = settings.get("purpose", "").strip()
        self.query_one("#purpose", Static).update(
            Text.assemble(("Purpose  ", "bold"), visible(purpose) if purpose else ("not written yet", "dim"))
        )
        self.show_to_welcome()
        shown = conduct_parts(settings)
        if shown != self.conduct_text:
            self.conduct_text = shown
            box = self.query_one("#conduct-box")
            box.remove_children()
            self.conduct_shown = box.mount(conduct_widget(shown))

    async def filled(self) -> None:
        if self.conduct_shown is not None:
            await self.conduct_shown

    def action_mute(self) -> None:
        """Mute the selected member (or unmute one muted)."""
        row = self.query_one(DataTable).cursor_row
        if 0 <= row < len(self.people):
            mute_member_of(self, self.people[row].id, self.people[row].name)

    def action_message(self) -> None:
        """Our direct conversation with the selected member (`dm`): opened
        if there is one, else begun with a first message, then opened."""
        row = self.query_one(DataTable).cursor_row
        if not 0 <= row < len(self.people):
            return
        person = self.people[row]
        if person.id == self.group.me:
            self.notify("A direct message goes to someone else.", severity="warning")
            return
        if self._conversation_with(person.id) is not None:
            self.app.run_worker(self._open_conversation(person.id))
            return
        name = visible(person.name)

        def send(draft: Draft) -> Job[str]:
            return self.write_job(
                f"sending to {name}",
                lambda g: actions.dm(g, person.id, draft.body),
                then=lambda _thread: self.app.run_worker(self._open_conversation(person.id)),
            )

        from tablespace.tui.modals import ComposeModal

        self.app.push_screen(ComposeModal(f"New message to {name}", send, names=[person.name], submit_label="Send"))

    def _conversation_with(self, member: str) -> str | None:
        return next((d.id for d in circle_queries.dms(self.group.conn, self.group.me) if d.with_member == member), None)

    async def _open_conversation(self, member: str) -> None:
        circle = self._conversation_with(member)
        if circle is not None:
            await land_in_room(self.app, circle)

    def action_devices(self) -> None:
        from tablespace.tui.devices import DevicesScreen

        self.app.push_screen(DevicesScreen())

    def show_to_welcome(self) -> None:
        """Greeters' (and moderators') work: newcomers whose intro has no
        reply yet, oldest first."""
        box = self.query_one("#to-welcome", Static)
        roles = self.group.my_roles()
        box.display = bool(roles & {"greeter", "moderator"})
        if not box.display:
            return
        self.waiting = waiting = [q for q in to_welcome(self.group.conn, now()) if q.member_id != self.group.me]
        self.refresh_bindings()
        lines = Text("To welcome", "bold")
        if not waiting:
            lines.append("  nobody is waiting for a reply", "not bold dim")
        else:
            lines.append(f" · {len(waiting)}", "bold")
            lines.append("  longest waiting first · o opens the first", "not bold dim")
        for q in waiting:
            lines.append("\n")
            lines.append(visible(q.name), "bold")
            lines.append(f"  “{visible(q.title)}”  {relative(q.started_at)}", "not bold")
        box.update(lines)

    def action_open_intro(self) -> None:
        """The intro that has waited longest for a welcome; escape comes back here."""
        if self.waiting:
            self.app.push_screen(ThreadScreen(self.waiting[0].thread_id))

    def action_invite(self) -> None:
        """A code, for how long and how many people the form says (as `tablespace invite`)."""
        ask_for_invite(self, self.show_invite)

    def show_invite(self, made: MadeInvite) -> None:
        self.invite_code = made.code
        show_invite(self, self.query_one("#invite-code", Static), made)

    def action_copy_invite(self) -> None:
        if self.invite_code is not None:
            copy_invite(self, self.invite_code)
