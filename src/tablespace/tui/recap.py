"""The weekly recap, from the Health section: this week's bullets (the same
on every member's copy, core/recap.py), the recaps posted before, and for a
note-taker or a moderator the key that posts this one. The modal only
reads; what is chosen in it (open a past recap, post this one) is done by
the Health screen, which runs the write as a job."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Static

from tablespace.core.recap import PastRecap, Recap
from tablespace.tui.format import key_hint, shown
from tablespace.tui.tables import OPEN_ON_ENTER, RowTable, open_on_enter


@dataclass(frozen=True)
class RecapChoice:
    """What the reader chose in the recap modal."""

    post: bool = False  # post this week's recap
    thread: str | None = None  # open this past recap


def recap_text(recap: Recap) -> Text:
    text = Text()
    for n, bullet in enumerate(recap.bullets):
        text.append("\n" if n else "")
        text.append("• ", "bold")
        text.append(shown(bullet, multiline=False))
    return text


class RecapModal(ModalScreen[RecapChoice | None]):
    BINDINGS = [
        Binding("p", "post", "Post it", id="recap.post"),
        Binding("escape,q", "close", "Close", id="recap.close"),
        OPEN_ON_ENTER,
    ]

    def __init__(self, recap: Recap, past: list[PastRecap], *, can_post: bool) -> None:
        super().__init__()
        self.recap, self.past, self.can_post = recap, past, can_post

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="recap"):
            yield Label(shown(self.recap.title), classes="dialog-title")
            with VerticalScroll(id="recap-scroll"):
                yield Static(recap_text(self.recap), id="recap-bullets")
            past = Text("Past recaps", "bold")
            past.append(f"  ·  {len(self.past)}" if self.past else "  ·  none posted yet", "not bold dim")
            yield Static(past, id="past-title")
            if self.past:
                yield RowTable(id="past-recaps")
            keys = [("p", "post it")] if self.can_post else []
            if self.past:
                keys.append(("enter", "open"))
            yield Label(key_hint(*keys, ("esc", "close")), classes="dialog-hint")

    def on_mount(self) -> None:
        if self.past:
            table = self.query_one("#past-recaps", DataTable)
            table.add_columns("Recap", "Posted")
            for past in self.past:
                table.add_row(past.title, f"{past.created_at:%Y-%m-%d}", key=past.thread)
            table.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only a note-taker or a moderator is offered the posting key."""
        if action == "post":
            return self.can_post
        return True

    def action_post(self) -> None:
        if self.can_post:
            self.dismiss(RecapChoice(post=True))

    def action_open_row(self) -> None:
        open_on_enter(self, self._open_current, "past-recaps")

    @on(DataTable.RowSelected, "#past-recaps")
    def _selected(self) -> None:  # a click
        self._open_current()

    def _open_current(self) -> None:
        row = self.query_one("#past-recaps", DataTable).cursor_row
        if self.past and row is not None and 0 <= row < len(self.past):
            self.dismiss(RecapChoice(thread=self.past[row].thread))

    def action_close(self) -> None:
        self.dismiss(None)
