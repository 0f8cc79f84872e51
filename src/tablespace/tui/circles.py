"""Beginning circles from the app, as `circle add`, `circle invite` and
`circle leave` do: the form that makes a circle (its members picked from the
roster) and the one that lets someone into a circle. Each says a refusal on
a line of its own inside the form, which stays open with what was typed."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from tablespace.core import member_queries
from tablespace.core.circles import MAX_MEMBERS, MIN_MEMBERS
from tablespace.core.text import visible
from tablespace.tui.format import key_hint, shown
from tablespace.tui.modals import FormModal

Person = tuple[str, str]  # (member id, display name)


@dataclass(frozen=True)
class CircleDraft:
    name: str
    purpose: str
    ends: str | None  # YYYY-MM-DD, or None: it does not end
    members: tuple[str, ...]  # member ids, me not among them


def others(conn: sqlite3.Connection, me: str, leave_out: Iterable[str] = ()) -> list[Person]:
    """Who may be picked: the group's active members but me (and `leave_out`), by name."""
    skip = {me, *leave_out}
    people = [
        (m.id, visible(m.name)) for m in member_queries.members(conn) if m.status == "active" and m.id not in skip
    ]
    return sorted(people, key=lambda person: person[1].casefold())


class CircleForm(FormModal):
    """Name, purpose and end date on a line each, then the roster to pick
    from (space picks); ctrl+s makes the circle."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Make it", priority=True, id="circle_form.submit"),
        Binding("escape", "cancel", "Cancel", priority=True, id="circle_form.cancel"),
    ]

    def __init__(self, people: list[Person], on_submit: Callable[[CircleDraft], object]) -> None:
        super().__init__(on_submit)
        self.people = people

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="ask rows circle-form"):
            yield Label("New circle", classes="dialog-title")
            yield Static(
                shown(
                    f"A small room of {MIN_MEMBERS}–{MAX_MEMBERS} people, you included, with its own key: "
                    "nobody outside it reads what is written there."
                ),
                classes="question",
            )
            for field, label, placeholder in (
                ("name", "Name", "Rye pod"),
                ("purpose", "Purpose (optional)", "what it is for"),
                ("ends", "Ends (optional)", "YYYY-MM-DD"),
            ):
                with Horizontal(classes="field-row"):
                    yield Label(label, classes="field-label")
                    yield Input(placeholder=placeholder, id=field, compact=True)
            yield Label("Members  (space picks, you are in it)", classes="field-label picks-label")
            yield SelectionList[str](
                *((shown(name, multiline=False), member) for member, name in self.people), id="members", compact=True
            )
            yield self.refusal_line()
            yield Label(
                key_hint(("ctrl+s", "make it"), ("enter/tab", "next field"), ("esc", "cancel")),
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def collect(self) -> CircleDraft:
        def value(field: str) -> str:
            return self.query_one(f"#{field}", Input).value

        ends = value("ends").strip()
        picked = tuple(self.query_one("#members", SelectionList).selected)
        return CircleDraft(value("name"), value("purpose").strip(), ends or None, picked)


class InviteForm(FormModal):
    """The members not in the circle; enter (or ctrl+s) lets the highlighted one in."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Invite", priority=True, id="circle_invite.submit"),
        Binding("escape", "cancel", "Cancel", priority=True, id="circle_invite.cancel"),
    ]

    def __init__(self, circle: str, members: Iterable[str], people: list[Person], on_submit: Callable[[str], object]):
        super().__init__(on_submit)
        self.circle, self.members, self.people = circle, list(members), people

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="ask circle-invite"):
            yield Label(shown(f"Invite someone into {self.circle}"), classes="dialog-title")
            yield Static(
                shown(f"In it: {', '.join(self.members)}. Whoever you let in reads what was written there before."),
                classes="question",
            )
            yield OptionList(
                *(Option(shown(name, multiline=False), id=member) for member, name in self.people), id="people"
            )
            yield self.refusal_line()
            yield Label(key_hint(("enter", "invite"), ("esc", "cancel")), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#people", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_submit()

    def collect(self) -> str | None:
        people = self.query_one("#people", OptionList)
        if people.highlighted is None:
            self.say("nobody else in the group can join it")
            return None
        return str(people.get_option_at_index(people.highlighted).id)
