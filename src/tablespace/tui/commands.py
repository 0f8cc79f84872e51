"""The command palette provider: sections, writing, search, themes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tablespace.themes import THEMES

if TYPE_CHECKING:
    from tablespace.tui.app import TablespaceApp


class TablespaceCommands(Provider):
    @property
    def ts_app(self) -> "TablespaceApp":
        return cast("TablespaceApp", self.app)

    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.ts_app
        found: list[tuple[str, str, Callable[[], object]]] = [
            ("Go to Threads", "Section 1: the group's threads", partial(app.action_section, "threads")),
            ("Go to Rituals", "Section 2: recurring prompts and when they come next",
             partial(app.action_section, "rituals")),
            ("Go to Library", "Section 3: the shared resource library", partial(app.action_section, "library")),
            ("Go to Members", "Section 4: who is at the table", partial(app.action_section, "members")),
            ("Go to Health", "Section 5: weekly activity, replies and wins, and newcomers waiting for a reply",
             partial(app.action_section, "health")),
            *([("Go to Moderation", "Section 6: reports, join requests, members, evidence, the log, settings",
                partial(app.action_section, "moderation"))] if app.is_moderator() else []),
            ("New thread", "Start a thread", app.action_new_thread),
            ("Search", "Full-text search over threads, replies and the library", app.action_search),
            ("Keys", "List every key binding of this screen", app.action_help),
        ]
        for theme in THEMES:
            found.append((f"Theme: {theme.name}", "Switch to this theme (remembered)",
                          partial(setattr, app, "theme", theme.name)))
        return found

    async def discover(self) -> Hits:
        for title, help_text, callback in self.commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
