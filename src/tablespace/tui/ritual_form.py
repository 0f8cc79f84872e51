"""The form that adds a ritual or edits one, as `ritual add` and `ritual edit`
do: a schedule a person picks (every day, every week on a day, every month,
at a time) instead of writing an RFC 5545 rule, which stays possible for the
rest."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select, Static

from tablespace.core.clock import now
from tablespace.core.errors import Rejected, TablespaceError, checked_before_writing
from tablespace.core.rituals import parse_local_start, zone
from tablespace.tui.format import key_hint, shown
from tablespace.tui.modals import FormModal

DAYS = tuple(
    zip(
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        ("MO", "TU", "WE", "TH", "FR", "SA", "SU"),
        strict=True,
    )
)
REPEATS = (("every day", "daily"), ("every week", "weekly"), ("every month", "monthly"), ("a rule (RRULE)", "rule"))
SIMPLE_RULES = {"FREQ=DAILY": ("daily", "MO"), "FREQ=MONTHLY": ("monthly", "MO")}
WEEKLY = re.compile(r"FREQ=WEEKLY;BYDAY=(MO|TU|WE|TH|FR|SA|SU)")
CLOCK_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
DEFAULT_TIME = "09:00"


@dataclass(frozen=True)
class RitualDraft:
    name: str
    prompt: str
    repeats: str  # one of REPEATS' values
    day: str  # MO..SU, for a weekly one
    at: str  # HH:MM on the ritual's clock
    rule: str  # the RRULE, for "rule"
    tz: str
    starts: str  # YYYY-MM-DD, or "" (today, or as it was)

    def rrule(self) -> str:
        if self.repeats == "rule":
            return self.rule.strip()
        if self.repeats == "weekly":
            return f"FREQ=WEEKLY;BYDAY={self.day}"
        return "FREQ=DAILY" if self.repeats == "daily" else "FREQ=MONTHLY"

    def start(self, zone_name: str, day: str | None = None) -> str:
        """The start as `ritual add` takes it: a local date and time on the
        ritual's clock; the day given, else `day`, else today there."""
        found = CLOCK_TIME.fullmatch(self.at.strip())
        if found is None:
            raise TablespaceError(f"{self.at.strip() or 'the time'!r} is not a time of day (use HH:MM, e.g. 09:00)")
        with checked_before_writing():  # a zone that is no zone: said as `ritual add` says it
            when = self.starts.strip() or day or now().astimezone(zone(zone_name)).date().isoformat()
        return f"{when} {int(found[1]):02d}:{found[2]}"


def schedule_of(rule: str) -> tuple[str, str, str]:
    """(repeats, day, rule) for the form, from a stored rule: a rule the
    simple choices say is shown as one of them."""
    cleaned = rule.strip().upper().removeprefix("RRULE:")
    if cleaned in SIMPLE_RULES:
        return (*SIMPLE_RULES[cleaned], "")
    weekly = WEEKLY.fullmatch(cleaned)
    if weekly:
        return "weekly", weekly[1], ""
    return "rule", "MO", rule


def time_of(start: str, zone_name: str) -> str:
    """A stored start's time of day on the ritual's clock, as HH:MM."""
    try:
        return f"{parse_local_start(start, zone_name):%H:%M}"
    except Rejected:
        return DEFAULT_TIME


class RitualForm(FormModal):
    """Name, prompt, how often and when, on a line each; ctrl+s adds (or
    saves) it, a refusal is said above the keys."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Save", priority=True, id="ritual_form.submit"),
        Binding("escape", "cancel", "Cancel", priority=True, id="ritual_form.cancel"),
    ]
    REFUSED = "Not saved"

    def __init__(
        self,
        heading: str,
        on_submit: Callable[[RitualDraft], object],
        *,
        tz: str,
        name: str = "",
        prompt: str = "",
        rule: str = "FREQ=WEEKLY;BYDAY=FR",
        at: str = DEFAULT_TIME,
        verb: str = "save",
    ) -> None:
        super().__init__(on_submit)
        self.heading, self.verb = heading, verb
        self.initial = {"name": name, "prompt": prompt, "at": at, "tz": tz}
        self.repeats, self.day, self.rule = schedule_of(rule)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="ask rows ritual-form"):
            yield Label(shown(self.heading), classes="dialog-title")
            yield Static(
                "A prompt that opens a thread on a schedule, on the clock of its time zone. "
                "Every month: on the start's day of the month.",
                classes="question",
            )
            yield from self.row(
                "Name", Input(self.initial["name"], placeholder="e.g. Bake day", id="name", compact=True)
            )
            yield from self.row(
                "Prompt",
                Input(
                    self.initial["prompt"], placeholder="e.g. What did you bake this week?", id="prompt", compact=True
                ),
            )
            yield from self.row(
                "Repeats", Select(REPEATS, value=self.repeats, allow_blank=False, id="repeats", compact=True)
            )
            yield from self.row(
                "On", Select(DAYS, value=self.day, allow_blank=False, id="day", compact=True), "day-row"
            )
            yield from self.row(
                "Rule", Input(self.rule, placeholder="e.g. FREQ=MONTHLY;BYDAY=1SA", id="rule", compact=True), "rule-row"
            )
            yield from self.row("At", Input(self.initial["at"], placeholder="HH:MM", id="at", compact=True))
            yield from self.row(
                "Time zone", Input(self.initial["tz"], placeholder="e.g. Europe/Berlin", id="tz", compact=True)
            )
            yield from self.row("Starts (optional)", Input(placeholder="YYYY-MM-DD", id="starts", compact=True))
            yield self.refusal_line()
            yield Label(
                key_hint(("ctrl+s", self.verb), ("enter/tab", "next field"), ("esc", "cancel")), classes="dialog-hint"
            )

    @staticmethod
    def row(label: str, field: Input | Select[str], row_id: str | None = None) -> ComposeResult:
        with Horizontal(classes="field-row", id=row_id):
            yield Label(label, classes="field-label")
            yield field

    def on_mount(self) -> None:
        self.show_schedule()
        self.query_one("#name", Input).focus()

    @on(Select.Changed, "#repeats")
    def show_schedule(self) -> None:
        """The day for a weekly one, the rule for "a rule"; nothing more for the rest."""
        repeats = self.query_one("#repeats", Select).value
        self.query_one("#day-row").display = repeats == "weekly"
        self.query_one("#rule-row").display = repeats == "rule"

    def collect(self) -> RitualDraft | None:
        def text(field: str) -> str:
            return self.query_one(f"#{field}", Input).value

        draft = RitualDraft(
            text("name").strip(),
            text("prompt").strip(),
            str(self.query_one("#repeats", Select).value),
            str(self.query_one("#day", Select).value),
            text("at"),
            text("rule"),
            text("tz").strip(),
            text("starts"),
        )
        missing = next(
            (
                say
                for value, say in (
                    (draft.name, "give the ritual a name"),
                    (draft.prompt, "give it a prompt"),
                    (draft.rrule(), "give a rule, or pick how often it repeats"),
                    (draft.tz, "give a time zone (UTC for none)"),
                )
                if not value
            ),
            None,
        )
        if missing:
            self.say(missing)
            return None
        return draft


def start_day(start: str, zone_name: str) -> str | None:
    """A stored start's day on the ritual's clock (YYYY-MM-DD)."""
    try:
        return parse_local_start(start, zone_name).date().isoformat()
    except Rejected:
        return None
