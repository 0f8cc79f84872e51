"""The onboarding walk: five messages a new member reads on their first open
of the app after admission (`tablespace welcome` prints them). They are made
from the group's settings and rituals at the time they are read, so a change
by the moderators shows at once; nothing here is stored."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tablespace.core import calendar_queries, group_queries, resource_queries
from tablespace.core.rituals import zone

STEPS = ("welcome", "intro", "rituals", "rules", "first-win")
EVENTS_SHOWN = timedelta(days=30)  # the calendar step names the events of the month ahead...
MAX_EVENTS_SHOWN = 5  # ...at most this many

# What a group that has written none of its own says: the walk still works.
DEFAULT_INTRO = "Hello! I'm … and I'm here because …\n\nOne thing I'd love help with:\n"


@dataclass(frozen=True)
class WelcomeStep:
    step: str  # one of STEPS
    title: str
    body: str
    # the intro's template (the composer starts with it) or the first win's resource id
    template: str | None = None
    resource: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "title": self.title,
            "body": self.body,
            "template": self.template,
            "resource": self.resource,
        }


def welcome_steps(conn: sqlite3.Connection, now: datetime) -> list[WelcomeStep]:
    """The five messages, in order, as a new member sees them now."""
    shown = group_queries.group_settings(conn)
    return [
        _welcome(shown),
        _intro(shown),
        _rituals(conn, now),
        WelcomeStep("rules", "House rules", shown.rules.strip() or "The moderators have not written house rules yet."),
        _first_win(conn, shown),
    ]


def _welcome(shown: group_queries.GroupSettings) -> WelcomeStep:
    parts = [shown.welcome.strip() or f"Welcome to {shown.name}!"]
    if shown.purpose.strip():
        parts.append(f"What we are here for: {shown.purpose.strip()}")
    return WelcomeStep("welcome", f"Welcome to {shown.name}", "\n\n".join(parts))


def _intro(shown: group_queries.GroupSettings) -> WelcomeStep:
    template = shown.intro_template.strip() or DEFAULT_INTRO.strip()
    body = f"Say hello: start a thread tagged #intro. A greeter will answer you.\n\nThe group suggests:\n\n{template}"
    return WelcomeStep("intro", "Introduce yourself", body, template=template + "\n")


def _rituals(conn: sqlite3.Connection, now: datetime) -> WelcomeStep:
    lines = []
    for r in calendar_queries.rituals(conn, now):
        if r.next is None:
            continue
        when = r.next.astimezone(zone(r.tz)).strftime("%a %d %b %H:%M")
        lines.append(f"- {r.name}: {r.prompt} (next: {when} {r.tz})")
    body = "\n".join(lines) if lines else "The group has no rituals yet."
    coming = calendar_queries.events(conn, now, until=now + EVENTS_SHOWN)[:MAX_EVENTS_SHOWN]
    if coming:
        body += "\n\nComing up (answer in the calendar, section 2):\n\n" + "\n".join(
            f"- {e.title}: {e.at.astimezone(zone(e.tz)).strftime('%a %d %b %H:%M')} {e.tz}"
            + (f", {e.where}" if e.where else "")
            for e in coming
        )
    return WelcomeStep("rituals", "Rituals and calendar", "What comes round regularly:\n\n" + body)


def _first_win(conn: sqlite3.Connection, shown: group_queries.GroupSettings) -> WelcomeStep:
    chosen = (
        next((r for r in resource_queries.resources(conn) if r.id == shown.first_win), None)
        if shown.first_win
        else None
    )
    if chosen is None:
        return WelcomeStep("first-win", "A first win", "Have a look round the library (section 3) and open one thing.")
    body = f"Start here: {chosen.title}\n{chosen.url}"
    if chosen.summary.strip():
        body += f"\n\n{chosen.summary.strip()}"
    return WelcomeStep("first-win", "A first win", body, resource=chosen.id)
