"""The onboarding walk: the five welcome messages (core/onboarding.py), one
at a time. It opens by itself on a member's first open after admission,
can be left at any step, and comes back with w or the command palette."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tablespace import actions
from tablespace.core.clock import now
from tablespace.core.onboarding import WelcomeStep, welcome_steps
from tablespace.tui.format import key_hint, shown

if TYPE_CHECKING:
    from tablespace.core.group import Group
    from tablespace.tui.chrome import TablespaceScreen
    from tablespace.tui.jobs import Job
    from tablespace.tui.modals import Draft


class WelcomeWalk(ModalScreen[None]):
    BINDINGS = [
        Binding("right,enter,space", "step(1)", "Next", id="welcome.next"),
        Binding("left", "step(-1)", "Back", id="welcome.back"),
        Binding("c", "write_intro", "Write my intro", id="welcome.intro"),
        Binding("o", "open_first_win", "Open it", id="welcome.first_win"),
        Binding("escape", "leave", "Leave", id="welcome.leave"),
    ]

    def __init__(self, group: Group) -> None:
        super().__init__()
        self.group = group
        self.steps: list[WelcomeStep] = welcome_steps(group.conn, now())
        self.index = 0

    @property
    def step(self) -> WelcomeStep:
        return self.steps[self.index]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="welcome"):
            yield Label(id="welcome-title", classes="dialog-title")
            yield Static(id="welcome-body", classes="question")
            yield Label(id="welcome-hint", classes="dialog-hint")

    def on_mount(self) -> None:
        self.show_step()

    def show_step(self) -> None:
        step = self.step
        self.query_one("#welcome-title", Label).update(shown(f"{self.index + 1}/{len(self.steps)} · {step.title}"))
        self.query_one("#welcome-body", Static).update(shown(step.body))
        keys: list[tuple[str, str]] = []
        if step.step == "intro":
            keys.append(("c", "write my intro"))
        if step.resource:
            keys.append(("o", "open it"))
        keys.append(("→", "next" if self.index < len(self.steps) - 1 else "done"))
        if self.index:
            keys.append(("←", "back"))
        keys.append(("esc", "leave (w brings it back)"))
        self.query_one("#welcome-hint", Label).update(key_hint(*keys))

    def action_step(self, by: int) -> None:
        target = self.index + by
        if target >= len(self.steps):
            self.action_leave()
            return
        self.index = max(0, target)
        self.show_step()

    def action_leave(self) -> None:
        self.group.mark_welcomed()
        self.dismiss()

    def action_write_intro(self) -> None:
        """The composer, with the group's intro template and the intro tag."""
        from tablespace.tui.modals import ComposeModal

        if self.step.step != "intro":
            return
        screen = self.owner

        def post(draft: Draft) -> Job[str]:
            title, body, tags = draft.title or "", draft.body, draft.tags or ()
            return screen.write_job("posting", lambda g: actions.post(g, title, body, tags))

        template = self.step.template or ""
        self.app.push_screen(ComposeModal("Introduce yourself", post, title="Hello!", tags=["intro"], body=template))

    def action_open_first_win(self) -> None:
        """The first win: the chosen resource, shown in the Library."""
        resource = self.step.resource
        if resource is None:
            return
        self.group.mark_welcomed()
        self.dismiss()
        self.app.call_later(self.app.open_resource, resource)  # type: ignore[attr-defined]

    @property
    def owner(self) -> TablespaceScreen:
        """The screen under the walk, which runs the writes it starts."""
        from tablespace.tui.chrome import TablespaceScreen

        under = next(s for s in reversed(self.app.screen_stack) if isinstance(s, TablespaceScreen))
        return under
