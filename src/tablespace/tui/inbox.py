"""The Inbox section: what concerns me, newest first (mentions of me, replies
in threads I started or follow, reactions to my posts, my reports'
outcomes). Enter opens the thread at the entry's post; reading it there
marks the entry read (the thread screen marks its thread read)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable

from tablespace import actions
from tablespace.core.inbox import InboxEntry
from tablespace.core.text import visible
from tablespace.tui.chrome import KeyFooter, SectionScreen
from tablespace.tui.format import short_relative
from tablespace.tui.tables import OPEN_ON_ENTER, Flexible, RowTable, open_on_enter
from tablespace.tui.thread_screen import ThreadScreen

KIND_LABELS = {
    "mention": "@ mention",
    "reply": "↩ reply",
    "reaction": "+ reaction",
    "event": "◷ event",
    "report": "✓ report",
}


def entry_what(entry: InboxEntry) -> Text:
    """The excerpt, or what a reaction or a report's outcome says."""
    if entry.kind == "reaction":
        return Text(f"{visible(entry.emoji or '')} on “{visible(entry.excerpt)}”")
    if entry.kind == "report" and entry.stage == "received":
        return Text("The moderators have your report.", "italic")
    if entry.kind == "report":
        if entry.note:
            return Text.assemble(("Handled: ", "italic"), visible(entry.note))
        return Text("Your report was handled.", "italic")
    return Text(visible(entry.excerpt) or "(deleted)")


class InboxScreen(SectionScreen):
    SECTION = "inbox"
    BINDINGS = [
        OPEN_ON_ENTER,
        Binding("a", "toggle_all", "All / unread", id="inbox.toggle_all"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.show_all = False  # unread entries only, until `a`
        self.entries: list[InboxEntry] = []

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield RowTable(id="inbox")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        self.when_column = table.add_columns(
            "", "Kind", Flexible("Who", 6), "When", Flexible("Thread"), Flexible("What")
        )[3]
        table.focus()

    def refresh_data(self) -> None:
        self.entries = actions.inbox(self.group, include_read=self.show_all)
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for entry in self.entries:
            style = "dim" if entry.read else "bold"
            table.add_row(
                Text(" " if entry.read else "●", "bold"),
                Text(KIND_LABELS.get(entry.kind, entry.kind), style),
                Text(visible(entry.from_name or "—"), style),
                short_relative(entry.at),
                Text(visible(entry.title) or "(deleted)", style),
                entry_what(entry),
                key=entry.id,
            )
        if self.entries:
            table.move_cursor(row=min(keep or 0, len(self.entries) - 1), animate=False)
        unread = sum(1 for e in self.entries if not e.read)
        # Where the bar is narrow the key goes first: the footer names it too.
        if self.show_all:
            self.set_info(
                f"all {len(self.entries)} · {unread} unread · a: unread only",
                f"all {len(self.entries)} · {unread} unread",
            )
        elif self.entries:
            self.set_info(f"{unread} unread · a: show all", f"{unread} unread")
        else:
            self.set_info("nothing unread · a: show all", "nothing unread")

    def refresh_times(self) -> None:
        table = self.query_one(DataTable)
        for entry in self.entries:
            table.update_cell(entry.id, self.when_column, short_relative(entry.at))

    @property
    def current(self) -> InboxEntry | None:
        row = self.query_one(DataTable).cursor_row
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self.refresh_data()

    def action_open_row(self) -> None:
        open_on_enter(self, self.open_entry)

    def open_entry(self) -> None:
        """The thread, scrolled to the entry's post and selected: opened over
        the inbox, so escape comes back here."""
        entry = self.current
        if entry is None:
            return
        if not entry.title:  # a report's outcome may have taken the thread with it
            self.act(
                "marking read",
                lambda g: actions.mark_entry_read(g, entry),
                success="That thread has been deleted; the entry is marked read.",
            )
            return
        self.app.push_screen(ThreadScreen(entry.thread, entry.post))
