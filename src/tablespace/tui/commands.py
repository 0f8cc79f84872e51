"""The command palette provider: sections, writing, search, themes."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tablespace.themes import THEMES
from tablespace.tui.chrome import AppHost
from tablespace.tui.registry import sections_for


class TablespaceCommands(Provider):
    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = self.app

        def run(action: str) -> Callable[[], object]:
            """The app's own action, as its key binding runs it."""
            return partial(app.call_later, app.run_action, action)

        found: list[tuple[str, str, Callable[[], object]]] = [
            (f"Go to {s.title}", f"Section {s.key}: {s.about}", run(f"section('{s.id}')"))
            for s in sections_for(cast(AppHost, app).is_moderator())
        ]
        found += [
            ("New thread", "Start a thread", run("new_thread")),
            (
                "New circle",
                "A small room of 2-12 members with its own key, its members picked from the roster",
                run("new_circle"),
            ),
            ("Search", "Full-text search over threads, replies and the library", run("search")),
            ("Welcome", "The five welcome messages: purpose, intro, rituals, house rules, a first win", run("welcome")),
            ("Help: every key of this screen", "The list ? shows, with each key's id to remap it", run("help")),
        ]
        for theme in THEMES:
            found.append(
                (
                    f"Theme: {theme.name}",
                    "Switch to this theme (remembered)",
                    partial(setattr, app, "theme", theme.name),
                )
            )
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
