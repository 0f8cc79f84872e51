"""First run with an empty home: found a group, join one with an invite
code, or link this device to my membership with a pairing code."""

from __future__ import annotations

from typing import cast

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Static, TabbedContent, TabPane

from tablespace import actions
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group, Transport
from tablespace.core.home import GroupEntry, Home
from tablespace.tui.chrome import AppHeader, AppHost, KeyFooter
from tablespace.tui.format import shown
from tablespace.tui.jobs import Job, JobDone, start_job
from tablespace.tui.modals import field_keys, move_field

INTRO = (
    "Welcome to tablespace. Your home has no group yet: found one for your people, "
    "or join one with the invite code a moderator gave you. Changes travel through a "
    "folder you already share (Syncthing, Dropbox, a NAS…). Already a member on another "
    "device? Link this one with a pairing code from that device's Devices screen."
)

FOLDER_HINT = "a folder you already share, e.g. ~/Sync/circle"
GIT_HINT = "…or a git remote URL (instead of a folder)"

FORMS = ("found", "join", "link")  # the tabs, in ctrl+t's order
FIRST_FIELD = {"found": "found-name", "join": "join-code", "link": "link-code"}


def field(label: str, input_id: str, placeholder: str = "") -> Horizontal:
    return Horizontal(
        Label(label, classes="setup-label"),
        Input(placeholder=placeholder, id=input_id, compact=True),
        classes="setup-row",
    )


class SetupScreen(Screen):
    """Two forms in tabs; errors show inline under them, the draft stays."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Found / join / link", priority=True, id="setup.submit"),
        Binding("ctrl+t", "toggle_tab", "Next form", priority=True, id="setup.switch"),
        Binding("ctrl+q", "app.quit", "Quit", priority=True, id="setup.quit"),
        *field_keys("setup"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.busy = False  # founding or joining is under way

    @property
    def ts_app(self) -> AppHost:
        return cast(AppHost, self.app)

    def compose(self) -> ComposeResult:
        yield AppHeader()
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
                with TabPane("Link a device", id="link"):
                    yield field("Pairing code", "link-code", "from Members → My devices on your other device")
                    yield field("This device", "link-name", "what to call it, e.g. laptop")
                    yield field("Shared folder", "link-folder", "your copy of the group's shared folder")
                    yield field("Git remote", "link-git", GIT_HINT)
                    yield Button("Link this device (ctrl+s)", id="link-go", variant="primary", compact=True)
            yield Static(id="setup-error")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#found-name", Input).focus()

    def action_field(self, step: int) -> None:
        move_field(self, step)

    def action_toggle_tab(self) -> None:
        """Found, join, link, and round again."""
        tabs = self.query_one(TabbedContent)
        tabs.active = FORMS[(FORMS.index(tabs.active) + 1) % len(FORMS)]
        self.query_one(f"#{FIRST_FIELD[tabs.active]}", Input).focus()

    @on(TabbedContent.TabActivated)
    def tab_changed(self, event: TabbedContent.TabActivated) -> None:
        self.query_one("#setup-error", Static).update("")

    def value(self, input_id: str) -> str:
        return self.query_one(f"#{input_id}", Input).value.strip()

    def show_error(self, message: str) -> None:
        self.query_one("#setup-error", Static).update(shown(f"⚠ {message}"))

    @on(Input.Submitted)
    def next_field(self, event: Input.Submitted) -> None:
        if event.input.id in ("found-git", "join-git", "link-git"):
            self.call_next(self.action_submit)
        else:
            self.focus_next(Input)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        if self.busy:
            return
        tab = self.query_one(TabbedContent).active
        try:
            job = {"join": self.join_job, "link": self.link_job}.get(tab, self.found_job)()
        except (TablespaceError, ValueError) as exc:
            self.show_error(str(exc))
            return
        self.busy = True
        self.query_one("#setup-error", Static).update(shown(f"{job.busy[0].upper()}{job.busy[1:]}…"))
        start_job(self, job)

    @on(JobDone)
    def job_done(self, message: JobDone) -> None:
        self.busy = False
        if message.refusal is not None:
            self.show_error(message.refusal)
            return
        self.query_one("#setup-error", Static).update("")
        # On the app's loop: continuing into the group removes this screen,
        # which waits for its own handlers (this one) to finish.
        self.app.call_later(message.job.done, message.result)

    def transport(self, prefix: str) -> Transport:
        """The folder or the remote, said in the form's words (Transport.choose
        words it for the command line)."""
        folder, git = self.value(f"{prefix}-folder"), self.value(f"{prefix}-git")
        if bool(folder) == bool(git):
            raise TablespaceError("fill in a shared folder or a git remote (one of them, not both)")
        return Transport.choose(folder or None, git or None)

    def found_job(self) -> Job[GroupEntry]:
        """Founding makes the group's keys and writes to the folder or pushes to
        the remote: in a thread. The thread's connection is closed there; the
        app opens the group again on its own thread."""
        name, display = self.value("found-name"), self.value("found-display")
        if not name or not display:
            raise TablespaceError("give the group a name, and yourself a display name")
        home, transport, purpose = self.ts_app.home, self.transport("found"), self.value("found-purpose")

        def found() -> GroupEntry:
            return _entry_of(actions.found_group(home, name, display, transport, purpose=purpose))

        async def founded(entry: GroupEntry) -> None:
            group = _open_here(home, entry)
            self.app.notify(f"Founded “{group.name()}”. Invite people with `tablespace invite`.", title="Welcome")
            await self.ts_app.group_ready(group)

        return Job("founding the group", found, done=founded)

    def join_job(self) -> Job[tuple[GroupEntry, str]]:
        code, display = self.value("join-code"), self.value("join-display")
        if not code or not display:
            raise TablespaceError("paste the invite code, and give yourself a display name")
        home, transport = self.ts_app.home, self.transport("join")

        def join() -> tuple[GroupEntry, str]:
            group, request = actions.join_group(home, code, display, transport)
            return _entry_of(group), request

        async def joined(result: tuple[GroupEntry, str]) -> None:
            entry, request = result
            self.app.notify(
                f"Asked to join (request {request[:8]}). Once a moderator admits you, the group "
                "fills in here by itself.",
                title="Waiting to be admitted",
                timeout=30,
            )
            await self.ts_app.group_ready(_open_here(home, entry))

        return Job("asking to join", join, done=joined)

    def link_job(self) -> Job[GroupEntry]:
        code, name = self.value("link-code"), self.value("link-name")
        if not code or not name:
            raise TablespaceError("paste the pairing code, and name this device")
        home, transport = self.ts_app.home, self.transport("link")

        def link() -> GroupEntry:
            return _entry_of(actions.link_device(home, code, name, transport))

        async def linked(entry: GroupEntry) -> None:
            self.app.notify(
                "Linked. Your other device lets this one in on its next sync (sync it now if it is on); "
                "then the group fills in here by itself.",
                title="Waiting for your other device",
                timeout=30,
            )
            await self.ts_app.group_ready(_open_here(home, entry))

        return Job("linking this device", link, done=linked)


def _entry_of(group: Group) -> GroupEntry:
    """Where a group made in a worker thread lives; its connection closes with that thread's work."""
    entry = GroupEntry(group.id, "", group.path)
    group.close()
    return entry


def _open_here(home: Home, entry: GroupEntry) -> Group:
    return Group(home, entry)
