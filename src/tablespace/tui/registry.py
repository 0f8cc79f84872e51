"""The app's sections, declared once: the modes, the number keys, the section
bar, the command palette and the help are all made from this list.

A screen is named by its import path, not imported here, so a section's code
(and the widgets it needs) loads after the first frame (the app's warm-up, or
the first switch to it, whichever comes first): the first frame only needs
Threads. The app then makes each section's screen in idle time
(TablespaceApp._prepare_sections).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from textual.binding import Binding
from textual.screen import Screen


@dataclass(frozen=True)
class Section:
    key: str  # the number key that shows it
    id: str  # its mode name
    title: str
    about: str  # one line for the command palette
    screen: str  # "module:Class" of its screen, imported on first use
    moderators_only: bool = False

    def make_screen(self) -> Screen:
        module, _, name = self.screen.partition(":")
        screen_class = getattr(import_module(module), name)
        return screen_class()

    def binding(self) -> Binding:
        return Binding(self.key, f"section('{self.id}')", self.title, show=False, id=f"app.section.{self.id}")


SECTIONS: tuple[Section, ...] = (
    Section("1", "threads", "Threads", "the group's threads", "tablespace.tui.screens:ThreadsScreen"),
    Section(
        "2",
        "rituals",
        "Rituals",
        "the calendar: rituals and events in time order",
        "tablespace.tui.sections:RitualsScreen",
    ),
    Section("3", "library", "Library", "the shared resource library", "tablespace.tui.sections:LibraryScreen"),
    Section("4", "members", "Members", "who is at the table", "tablespace.tui.sections:MembersScreen"),
    Section(
        "5",
        "health",
        "Health",
        "weekly activity, replies and wins, newcomers waiting for a reply, and the weekly recap",
        "tablespace.tui.health:HealthScreen",
    ),
    Section(
        "6",
        "moderation",
        "Moderation",
        "reports, join requests, members, evidence, the log, settings",
        "tablespace.tui.moderation:ModerationScreen",
        moderators_only=True,
    ),
    Section(
        "7",
        "inbox",
        "Inbox",
        "mentions of you, replies in your threads, reactions, report outcomes",
        "tablespace.tui.inbox:InboxScreen",
    ),
)


def section(section_id: str) -> Section:
    return next(s for s in SECTIONS if s.id == section_id)


def sections_for(moderator: bool) -> list[Section]:
    """The sections this member may open."""
    return [s for s in SECTIONS if moderator or not s.moderators_only]
