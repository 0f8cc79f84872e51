"""The tablespace Textual app: four sections as modes over one open Group."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.theme import Theme

from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.core.queries import SearchHit
from tablespace.themes import DEFAULT_THEME, THEMES
from tablespace.tui.commands import TablespaceCommands
from tablespace.tui.modals import HelpRow, HelpScreen, SearchModal
from tablespace.tui.screens import (
    SECTIONS,
    LibraryScreen,
    MembersScreen,
    RitualsScreen,
    ThreadScreen,
    ThreadsScreen,
)

# Actions that make no sense while a modal is open (they would switch the
# screen out from under it).
APP_ONLY_ACTIONS = {"section", "search", "help", "quit", "new_thread"}


class TablespaceApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "tablespace"
    SUB_TITLE = "sync: off"
    MODES = {
        "threads": ThreadsScreen,
        "rituals": RitualsScreen,
        "library": LibraryScreen,
        "members": MembersScreen,
        # "moderation": the moderators' pane lands here (issue for the moderation pane).
    }
    DEFAULT_MODE = "threads"
    COMMANDS = App.COMMANDS | {TablespaceCommands}
    BINDINGS = [
        Binding("1", "section('threads')", "Threads", show=False, id="app.section.threads"),
        Binding("2", "section('rituals')", "Rituals", show=False, id="app.section.rituals"),
        Binding("3", "section('library')", "Library", show=False, id="app.section.library"),
        Binding("4", "section('members')", "Members", show=False, id="app.section.members"),
        Binding("slash", "search", "Search", id="app.search"),
        Binding("question_mark", "help", "Keys", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
    ]

    def __init__(self, group: Group, home: Home | None = None) -> None:
        super().__init__()
        self.group = group
        self.home = home or group.home
        for theme in THEMES:
            self.register_theme(theme)
        self.title = group.name()

    # --- start-up: theme and keymap from the home config ------------------------

    def on_mount(self) -> None:
        config = self.home.config()
        saved = config.get("theme")
        self.theme = saved if isinstance(saved, str) and saved in self.available_themes else DEFAULT_THEME
        keymap = config.get("keymap")
        if isinstance(keymap, dict):
            self.set_keymap({str(k): str(v) for k, v in keymap.items()})
        self.theme_changed_signal.subscribe(self, self._remember_theme)

    def _remember_theme(self, theme: Theme) -> None:
        if self.home.config().get("theme") != theme.name:
            self.home.update_config(theme=theme.name)

    # --- actions -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in APP_ONLY_ACTIONS and isinstance(self.screen, ModalScreen):
            return False
        return True

    def action_section(self, mode: str) -> None:
        self.switch_mode(mode)

    def action_search(self) -> None:
        self.push_screen(SearchModal(self.group.conn), self._search_done)

    def _search_done(self, hit: SearchHit | None) -> None:
        if hit is None:
            return
        if hit.thread:
            self.call_later(self.open_thread, hit.thread, hit.id if hit.kind == "post" else None)
        elif hit.kind == "resource":
            self.call_later(self.open_resource, hit.id)

    async def open_thread(self, thread_id: str, post_id: str | None = None) -> None:
        await self.switch_mode("threads")
        base = self.screen_stack[0]
        if isinstance(base, ThreadsScreen):
            base.thread_list.select_id(thread_id)
        if isinstance(self.screen, ThreadScreen):
            await self.switch_screen(ThreadScreen(thread_id, post_id))
        else:
            await self.push_screen(ThreadScreen(thread_id, post_id))

    async def open_resource(self, resource_id: str) -> None:
        await self.switch_mode("library")
        screen = self.screen
        if isinstance(screen, LibraryScreen):
            screen.select_resource(resource_id)

    async def action_new_thread(self) -> None:
        await self.switch_mode("threads")
        while isinstance(self.screen, ThreadScreen):
            await self.pop_screen()
        screen = self.screen
        if isinstance(screen, ThreadsScreen):
            screen.action_new_thread()

    def help_rows(self) -> list[HelpRow]:
        """Every binding active on the current screen, keys grouped per action."""
        grouped: dict[tuple[str, str], list[str]] = {}
        ids: dict[tuple[str, str], str] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if binding.system or not binding.id:
                continue  # Textual's own scrolling/focus keys are not ours to list
            group_key = (binding.action, binding.description or binding.action)
            grouped.setdefault(group_key, []).append(self.get_key_display(binding))
            ids[group_key] = binding.id or ""
        return [HelpRow(", ".join(keys), description, ids[(action, description)])
                for (action, description), keys in grouped.items()]

    def action_help(self) -> None:
        rows = self.help_rows()
        rows.append(HelpRow(self.get_key_display(Binding(self.COMMAND_PALETTE_BINDING, "")), "Command palette",
                            "(textual)"))
        label = next((name for mode, name in SECTIONS if mode == self.current_mode), self.current_mode)
        if isinstance(self.screen, ThreadScreen):
            label = "Thread"
        self.push_screen(HelpScreen(label, rows))

    def refresh_all(self) -> None:
        """New ops landed (sync) or something changed: re-read the screens on show."""
        for screen in self.screen_stack:
            refresh = getattr(screen, "refresh_data", None)
            if refresh is not None:
                refresh()


def run(home: Home, selector: str | None) -> None:
    """Open the group chosen by `selector` (see Home.resolve) and run the app.

    Raises TablespaceError (before any screen is drawn) if there is no such group.
    """
    group = Group.open(home, selector)
    try:
        TablespaceApp(group, home).run()
    finally:
        group.close()


__all__ = ["TablespaceApp", "run"]
