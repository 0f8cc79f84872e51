"""My devices (from Members): which one this is, a pairing code for another,
and taking one away (a lost or stolen laptop). One member, several keys:
see actions/devices.py."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from tablespace import actions
from tablespace.core import member_queries
from tablespace.core.text import visible
from tablespace.tui.chrome import AppHeader, KeyFooter, TablespaceScreen
from tablespace.tui.jobs import Job
from tablespace.tui.tables import RowTable

HOW_TO_LINK = (
    "On the new device: start tablespace and choose “Link a device” (or run "
    "`tablespace device link CODE --name NAME --folder PATH`). This device lets it in "
    "on its next sync: leave it on until the new one shows here."
)


class DevicesScreen(TablespaceScreen):
    """The member's devices, oldest first."""

    SECTION = "members"
    # A code is used on this device's next sync: the list changes with the rounds.
    REFRESH_EVERY_ROUND = True
    BINDINGS = [
        Binding("escape", "back", "Back", id="devices.back"),
        Binding("a", "add", "Pairing code", id="devices.add"),
        Binding("y", "copy_code", "Copy code", id="devices.copy"),
        Binding("x", "remove", "Remove", id="devices.remove"),
        Binding("l", "relink", "Link with a new code", id="devices.relink"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.devices: list[member_queries.DeviceView] = []
        self.pairing_code: str | None = None
        self.active = False  # a current member on a device not removed: may pair and remove
        self.waiting = False  # a home linked to another device that has not let it in yet: may link again

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_code":
            return self.pairing_code is not None
        if action in ("add", "remove"):
            return self.active  # asked many times a frame: read with the list
        if action == "relink":
            return self.waiting
        return True

    def compose(self) -> ComposeResult:
        yield AppHeader()
        yield Static(Text("Your devices", "bold"), classes="strip")
        yield Static(id="pairing-code", classes="strip")
        yield RowTable(id="devices")
        yield Static(HOW_TO_LINK, id="how-to-link", classes="detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Device", "Added", "Id")
        self.query_one("#pairing-code").display = False
        self.reread()

    def refresh_data(self) -> None:
        self.devices = member_queries.devices(self.group.conn, self.group.me, self.group.device)
        active, waiting = self.group.my_status == "active", self.group.waiting_for_my_device
        if (active, waiting) != (self.active, self.waiting):
            self.active, self.waiting = active, waiting
            self.refresh_bindings()
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear()
        for d in self.devices:
            name = Text(visible(d.name), "bold")
            if d.this:
                name.append("  (this one)", "dim")
            table.add_row(name, f"{d.added_at:%d %b %Y}", Text(d.id[:8], "dim"), key=d.id)
        if self.devices:
            table.move_cursor(row=min(keep or 0, len(self.devices) - 1), animate=False)

    @property
    def current(self) -> member_queries.DeviceView | None:
        row = self.query_one(DataTable).cursor_row
        return self.devices[row] if 0 <= row < len(self.devices) else None

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_add(self) -> None:
        """A one-time code, good for an hour (as `tablespace device add`)."""
        self.act("making a pairing code", lambda g: actions.add_device(g), then=self.show_code)

    def show_code(self, code: str) -> None:
        self.pairing_code = code
        box = self.query_one("#pairing-code", Static)
        box.display = True
        # The code on a line of its own: it fits 80 columns whole, for copying by hand.
        box.update(Text.assemble(("Pairing code", "bold"), ("  one device, an hour · y copies it\n", "dim"), code))
        self.refresh_bindings()
        self.action_copy_code()

    def action_copy_code(self) -> None:
        if self.pairing_code is not None:
            self.app.copy_to_clipboard(self.pairing_code)
            self.notify("Copied the pairing code.")

    def action_remove(self) -> None:
        from tablespace.tui.modals import ConfirmModal

        device = self.current
        if device is None:
            return
        if device.this:
            self.notify("This is the device you are on: remove it from another of yours.", severity="warning")
            return
        device_id, name = device.id, visible(device.name)

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(
                    f"removing {name}",
                    lambda g: actions.remove_device(g, device_id),
                    success=lambda r: (
                        f"Removed {name}." + ("" if r.key_renewed else " The group's key is renewed on the next sync.")
                    ),
                )

        self.app.push_screen(
            ConfirmModal(
                f"Remove “{name}”? Whatever it writes from now on is refused, and it reads nothing "
                "written afterwards. Use this for a lost or stolen device.",
                yes="Remove",
            ),
            answered,
        )

    def action_relink(self) -> None:
        """A fresh code from the other device, when the first expired before
        it synced (as `tablespace device link CODE` run again on this home)."""
        from tablespace.tui.modals import AskForm, Field

        def link(values: dict[str, str | bool]) -> Job[None]:
            code, name = str(values["code"]).strip(), str(values["name"]).strip()
            return self.write_job(
                "linking again",
                lambda g: actions.relink_device(g, code, name),
                success="Linked again: your other device lets this one in on its next sync.",
            )

        self.app.push_screen(
            AskForm(
                "Link with a new code",
                "Make a new pairing code on your other device (Members → Devices → a), and paste it here.",
                [
                    Field("code", "tsd1-…", required="paste the pairing code", label="Pairing code"),
                    Field("name", "e.g. laptop", required="name this device", label="This device"),
                ],
                link,
                verb="link",
                rows=True,
            )
        )
