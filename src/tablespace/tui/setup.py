"""First run with an empty home: found a group, or join one with an invite code."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Header, Input, Label, Static, TabbedContent, TabPane

from tablespace.core.errors import TablespaceError
from tablespace.core.group import Transport
from tablespace.sync.service import found_group, join_group
from tablespace.tui.format import shown
from tablespace.tui.screens import KeyFooter

if TYPE_CHECKING:
    from tablespace.tui.app import TablespaceApp

INTRO = ("Welcome to tablespace. Your home has no group yet: found one for your people, "
         "or join one with the invite code a moderator gave you. Changes travel through a "
         "folder you already share (Syncthing, Dropbox, a NAS…).")

FOLDER_HINT = "a folder you already share, e.g. ~/Sync/circle"
GIT_HINT = "…or a git remote URL (instead of a folder)"


def field(label: str, input_id: str, placeholder: str = "") -> Horizontal:
    return Horizontal(Label(label, classes="setup-label"), Input(placeholder=placeholder, id=input_id, compact=True),
                      classes="setup-row")


class SetupScreen(Screen):
    """Two forms in tabs; errors show inline under them, the draft stays."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Found / join", priority=True, id="setup.submit"),
        Binding("ctrl+t", "toggle_tab", "Switch found ↔ join", priority=True, id="setup.switch"),
        Binding("ctrl+q", "app.quit", "Quit", priority=True, id="setup.quit"),
    ]

    @property
    def ts_app(self) -> "TablespaceApp":
        return cast("TablespaceApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="setup"):
            yield Static(INTRO, id="setup-intro")
            with TabbedContent(id="setup-tabs"):
                with TabPane("Found a group", id="found"):
                    yield field("Group name", "found-name", "e.g. Sourdough circle")
                    yield field("Your name", "found-display", "how the group sees you")
                    yield field("Purpose", "found-purpose", "one line: why this group exists (optional)")
                    yield field("Shared folder", "found-folder", FOLDER_HINT)
                    yield field("Git remote", "found-git", GIT_HINT)
                    yield Button("Found the group (ctrl+s)", id="found-go", variant="primary", compact=True)
                with TabPane("Join with an invite", id="join"):
                    yield field("Invite code", "join-code", "the code a moderator sent you")
                    yield field("Your name", "join-display", "how the group sees you")
                    yield field("Shared folder", "join-folder", "your copy of the group's shared folder")
                    yield field("Git remote", "join-git", GIT_HINT)
                    yield Button("Ask to join (ctrl+s)", id="join-go", variant="primary", compact=True)
            yield Static(id="setup-error")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#found-name", Input).focus()

    def action_toggle_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = "join" if tabs.active == "found" else "found"
        self.query_one("#join-code" if tabs.active == "join" else "#found-name", Input).focus()

    @on(TabbedContent.TabActivated)
    def tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self.query_one("#setup-error", Static).update("")

    def value(self, input_id: str) -> str:
        return self.query_one(f"#{input_id}", Input).value.strip()

    def show_error(self, message: str) -> None:
        self.query_one("#setup-error", Static).update(shown(f"⚠ {message}"))

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        if event.input.id in ("found-git", "join-git"):
            self.call_next(self.action_submit)
        else:
            self.focus_next(Input)

    @on(Button.Pressed)
    async def pressed(self, event: Button.Pressed) -> None:
        await self.action_submit()

    async def action_submit(self) -> None:
        tab = self.query_one(TabbedContent).active
        try:
            if tab == "join":
                await self.join()
            else:
                await self.found()
        except (TablespaceError, ValueError) as exc:
            self.show_error(str(exc))

    def transport(self, prefix: str) -> Transport:
        return Transport.choose(self.value(f"{prefix}-folder") or None, self.value(f"{prefix}-git") or None)

    async def found(self) -> None:
        name, display = self.value("found-name"), self.value("found-display")
        if not name or not display:
            raise TablespaceError("give the group a name, and yourself a display name")
        group = found_group(self.ts_app.home, name, display, self.transport("found"),
                            purpose=self.value("found-purpose"))
        self.app.notify(f"Founded “{group.name()}”. Invite people with `tablespace invite`.", title="Welcome")
        await self.ts_app.group_ready(group)

    async def join(self) -> None:
        code, display = self.value("join-code"), self.value("join-display")
        if not code or not display:
            raise TablespaceError("paste the invite code, and give yourself a display name")
        group, request = join_group(self.ts_app.home, code, display, self.transport("join"))
        self.app.notify(f"Asked to join (request {request[:8]}). Once a moderator admits you, the group "
                        "fills in here by itself.", title="Waiting to be admitted", timeout=30)
        await self.ts_app.group_ready(group)
