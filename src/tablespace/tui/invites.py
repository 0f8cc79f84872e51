"""Making an invite from the app, as `tablespace invite` does: a form for how
long the code works and how many people may use it, then the code shown on a
line of its own and copied, with `y` to copy it again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from tablespace import actions
from tablespace.core.clock import parse_duration
from tablespace.core.errors import TablespaceError
from tablespace.tui.modals import AskForm, Field

if TYPE_CHECKING:
    from tablespace.tui.chrome import TablespaceScreen
    from tablespace.tui.jobs import Job

DEFAULT_EXPIRES = "7d"  # as `tablespace invite`
DEFAULT_USES = "1"


@dataclass(frozen=True)
class MadeInvite:
    code: str
    expires: timedelta
    uses: int

    def line(self) -> Text:
        """`Invite code  CODE   3 people, 2 days · y copies it`."""
        people = "one person" if self.uses == 1 else f"{self.uses} people"
        return Text.assemble(
            ("Invite code  ", "bold"), self.code, (f"   {people}, {_lasting(self.expires)} · y copies it", "dim")
        )


def _lasting(span: timedelta) -> str:
    if span.days and not span.seconds:
        return "1 day" if span.days == 1 else f"{span.days} days"
    hours, minutes = divmod(int(span.total_seconds()) // 60, 60)
    return f"{hours} h" if not minutes else f"{hours} h {minutes} min" if hours else f"{minutes} min"


def ask_for_invite(screen: TablespaceScreen, then: Callable[[MadeInvite], object]) -> None:
    """The invite form; `then` gets the code once it is made."""

    def make(values: dict[str, str | bool]) -> Job[MadeInvite]:
        expires = parse_duration(str(values["expires"]).strip() or DEFAULT_EXPIRES)
        uses_text = str(values["uses"]).strip() or DEFAULT_USES
        if not uses_text.isdigit():
            raise TablespaceError(f"{uses_text!r} is not a number of people: give 1 to 150")
        uses = int(uses_text)
        return screen.write_job(
            "making an invite",
            lambda g: MadeInvite(actions.create_invite(g, expires, uses), expires, uses),
            then=then,
        )

    screen.app.push_screen(
        AskForm(
            "Invite someone",
            "Send the code to whoever you invite: they join with it, and you admit them under Requests.",
            [
                Field("expires", "30m, 24h, 7d", DEFAULT_EXPIRES, label="Works for"),
                Field("uses", "1 to 150", DEFAULT_USES, label="People"),
            ],
            make,
            verb="make the code",
            rows=True,
        )
    )


def show_invite(screen: TablespaceScreen, box: Static, made: MadeInvite) -> None:
    """Put the code on its line and copy it."""
    box.display = True
    box.update(made.line())
    screen.refresh_bindings()
    copy_invite(screen, made.code)


def copy_invite(screen: TablespaceScreen, code: str) -> None:
    screen.app.copy_to_clipboard(code)
    screen.notify("Copied the invite code.")
