"""The Health section: this week's figures, a 12-week sparkline per figure,
the newcomers whose first thread nobody has answered yet, and the weekly
recap (tui/recap.py).

The numbers are core/metrics.py's (the same as `tablespace metrics`); this
module only lays them out. Imported when the section is first shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.renderables.sparkline import Sparkline as SparklineRenderable
from textual.widget import Widget
from textual.widgets import DataTable, Static

from tablespace import actions
from tablespace.core import circle_queries
from tablespace.core.clock import now
from tablespace.core.metrics import WEEKS, HealthWeek, QuietNewcomer, duration, quiet_newcomers, weekly_series
from tablespace.core.recap import Recap, past_recaps
from tablespace.core.text import visible
from tablespace.tui.chrome import KeyFooter, SectionScreen
from tablespace.tui.format import local, short_relative
from tablespace.tui.jobs import Job
from tablespace.tui.recap import RecapChoice, RecapModal
from tablespace.tui.tables import OPEN_ON_ENTER, Flexible, RowTable, open_on_enter
from tablespace.tui.thread_screen import ThreadScreen

if TYPE_CHECKING:
    from tablespace.tui.editor import Draft

LABEL_WIDTH = 17
VALUE_WIDTH = 8


def percent(value: float | None, *, sign: bool = True) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}%" if sign else f"{value:.0f}"


def count(value: int) -> str:
    return str(value) if value < 1000 else f"{value // 1000}k"


@dataclass(frozen=True)
class Figure:
    """One row of the dashboard: what it reads from a week and how it prints."""

    key: str
    label: str
    value: Callable[[HealthWeek], float | None]
    big: Callable[[float | None], str]  # this week's number
    small: Callable[[float | None], str]  # one week under its bar (3 characters)


def _ratio(value: float | None) -> float | None:
    return None if value is None else 100 * value


FIGURES = (
    Figure(
        "weekly_active_pct", "Weekly active", lambda w: w.weekly_active_pct, percent, lambda v: percent(v, sign=False)
    ),
    Figure(
        "contributor_ratio",
        "Contributors",
        lambda w: _ratio(w.contributor_ratio),
        percent,
        lambda v: percent(v, sign=False),
    ),
    Figure(
        "median_first_reply_s",
        "First reply",
        lambda w: w.median_first_reply_s,
        duration,
        lambda v: duration(v, short=True),
    ),
    Figure(
        "reply_coverage",
        "Reply coverage",
        lambda w: _ratio(w.reply_coverage),
        percent,
        lambda v: percent(v, sign=False),
    ),
    Figure("wins", "Wins", lambda w: w.wins, lambda v: count(int(v or 0)), lambda v: count(int(v or 0))),
)


class HealthRow(Widget):
    """Label, this week's value, and the 12-week sparkline with each week's
    value under its bar: two lines drawn by one widget, as Sparkline and
    Static widgets side by side would draw them (a widget each made the
    section's first show mount thirty)."""

    COMPONENT_CLASSES = {"health-row--value", "health-row--weeks", "sparkline--min-color", "sparkline--max-color"}
    DEFAULT_CSS = """
    HealthRow {
        height: 2;
        color: $foreground;
        & > .health-row--value {
            color: $primary;
        }
        & > .health-row--weeks {
            color: $foreground 60%;
        }
        & > .sparkline--max-color {
            color: $primary;
        }
        & > .sparkline--min-color {
            color: $primary 30%;
        }
    }
    """

    def __init__(self, figure: Figure) -> None:
        super().__init__(classes="health-row", id=f"health-{figure.key.replace('_', '-')}")
        self.figure = figure
        self.values: list[float | None] = []
        self.cell = 4

    def show(self, series: list[HealthWeek], cell: int) -> None:
        self.values = [self.figure.value(w) for w in series]
        self.cell = cell
        self.refresh()

    def render(self) -> RenderableType:
        figure, values, cell = self.figure, self.values, self.cell
        value_style = self.get_component_rich_style("health-row--value")
        head = Text(figure.label.ljust(LABEL_WIDTH)[:LABEL_WIDTH])
        if values:
            big = figure.big(values[-1])[: VALUE_WIDTH - 1].rjust(VALUE_WIDTH - 1)
            head.append(big + " ", value_style + Style(bold=True))
        weeks = Text(" " * (LABEL_WIDTH + VALUE_WIDTH))
        weeks_style = self.get_component_rich_style("health-row--weeks")
        for n, v in enumerate(values):
            weeks.append(figure.small(v).rjust(cell), weeks_style + Style(bold=n == len(values) - 1))
        _, base = self.background_colors
        # One data point per column (each week repeated `cell` times), so every
        # bar sits exactly over its week's label; an empty week draws as the floor.
        spark = SparklineRenderable(
            [v or 0.0 for v in values for _ in range(cell)],
            width=cell * len(values),
            height=1,
            min_color=(base + self.get_component_styles("sparkline--min-color").color).rich_color,
            max_color=(base + self.get_component_styles("sparkline--max-color").color).rich_color,
        )
        return RowLines(head, spark, weeks)


class RowLines:
    """A health row's two lines: the head and the sparkline, then the weeks."""

    def __init__(self, head: Text, spark: SparklineRenderable[float], weeks: Text) -> None:
        self.head, self.spark, self.weeks = head, spark, weeks

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.head.render(console, end="")
        if self.spark.data:
            yield from console.render(self.spark, options.update(width=self.spark.width, height=1))
        yield Segment.line()
        yield from self.weeks.render(console, end="")


class HealthScreen(SectionScreen):
    """Group health: what `tablespace metrics` says, week by week."""

    SECTION = "health"
    READS_THE_CLOCK = True
    BINDINGS = [
        Binding("o", "open_thread", "Open thread", id="health.open"),
        Binding("r", "recap", "Recap", id="health.recap"),
        OPEN_ON_ENTER,
        # The summary line says "[ ] circles" to a member of one, so the footer keeps its width.
        Binding("right_square_bracket", "circle(1)", "Next circle", show=False, id="health.next_circle"),
        Binding("left_square_bracket", "circle(-1)", "Previous circle", show=False, id="health.previous_circle"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.series: list[HealthWeek] = []
        self.newcomers: list[QuietNewcomer] = []
        self.cell = 4
        # The figures shown: the group's (None), or one of my circles' over its members.
        self.circle: str | None = None
        self.circles: dict[str, str] = {}  # my circles: id -> name

    def compose(self) -> ComposeResult:
        yield from self.compose_header()
        yield Static(id="health-summary")
        with Vertical(id="health-figures"):
            yield Static(id="health-axis")
            for figure in FIGURES:
                yield HealthRow(figure)
        yield Static(id="newcomers-title")
        yield RowTable(id="newcomers")
        yield KeyFooter()

    def on_mount(self) -> None:
        table = self.query_one("#newcomers", DataTable)
        table.add_columns(Flexible("Newcomer", 8), Flexible("Their first thread"), "Waiting")
        table.focus()

    def on_resize(self) -> None:
        cell = max(3, min(6, (self.size.width - 2 - LABEL_WIDTH - VALUE_WIDTH) // WEEKS))
        if cell != self.cell:
            self.cell = cell
            self._show_series()

    def action_circle(self, step: int) -> None:
        """The figures of the next (or previous) of my circles, round to the group's."""
        rooms: list[str | None] = [None, *self.circles]
        if len(rooms) == 1:
            self.notify("You are in no circle: these are the group's figures.")
            return
        index = rooms.index(self.circle) if self.circle in rooms else 0
        self.circle = rooms[(index + step) % len(rooms)]
        self.refresh_data()

    def refresh_data(self) -> None:
        moment = now()
        conn = self.group.conn
        self.circles = {c.id: visible(c.name) for c in circle_queries.circles(conn, self.group.me)}
        if self.circle not in self.circles:
            self.circle = None  # we left it: back to the group's
        self.series = weekly_series(conn, moment, now=moment, circle=self.circle)
        self.newcomers = quiet_newcomers(conn, moment)
        self._show_series()
        self._show_newcomers(moment)

    def _show_series(self) -> None:
        if not self.series:
            return
        this = self.series[-1]
        summary = Text.assemble(
            (f"{self.circles[self.circle]} · " if self.circle is not None else "", "bold"),
            ("Last 7 days", "bold"),
            (f" · {this.members} member{'s' if this.members != 1 else ''}", ""),
            (f" · {this.active} active, {this.contributors} wrote", ""),
            (f" · {this.threads_answered} of {this.threads_started} new threads answered", "dim"),
        )
        hint = "   [ ] circles"  # the keys that step through my circles' figures
        if self.circles and summary.cell_len + len(hint) <= self.size.width - 2:  # whole, or not at all
            summary.append(hint, "dim")
        self.query_one("#health-summary", Static).update(summary)
        self.query_one("#health-axis", Static).update(self._axis())
        for row in self.query(HealthRow):
            row.show(self.series, self.cell)
        # The window's end in the reader's own time: "up to" says what it is.
        end = local(this.end).strftime("%d %b %H:%M")
        self.set_info(f"up to {end}", end)

    def _axis(self) -> Text:
        """`Week ending   7 days   05 Jan    19 Jan …  02 Mar`: the day each week
        ends, over the last column of its values (as many as fit, newest first)."""
        cell = self.cell
        line = [" "] * (cell * len(self.series))
        step = -(-7 // cell)  # weeks per label: a date is 6 characters plus a gap
        for index in range(len(self.series) - 1, -1, -step):
            label = self.series[index].end.strftime("%d %b")
            right = (index + 1) * cell
            if right - len(label) >= 0:
                line[right - len(label) : right] = label
        text = Text("Week ending".ljust(LABEL_WIDTH) + "7 days".rjust(VALUE_WIDTH - 1) + " ", "dim")
        text.append("".join(line), "dim")
        return text

    def _show_newcomers(self, moment: datetime) -> None:
        table = self.query_one("#newcomers", DataTable)
        keep = self.current.thread_id if self.current and table.row_count else None
        table.clear()
        for q in self.newcomers:
            waiting = short_relative(q.started_at, at=moment).removesuffix(" ago")
            table.add_row(Text(q.name, "bold"), q.title, waiting, key=q.thread_id)
        ids = [q.thread_id for q in self.newcomers]
        if keep in ids:
            table.move_cursor(row=ids.index(keep), animate=False)
        title = Text("Newcomers waiting for a first reply", "bold")
        if self.newcomers:
            title.append(f"  ·  {len(self.newcomers)}  ·  enter opens the thread", "not bold dim")
        else:
            title.append("  ·  none right now", "not bold dim")
        self.query_one("#newcomers-title", Static).update(title)

    @property
    def current(self) -> QuietNewcomer | None:
        table = self.query_one("#newcomers", DataTable)
        row = table.cursor_row
        if not self.newcomers or row is None or not 0 <= row < len(self.newcomers):
            return None
        return self.newcomers[row]

    @on(DataTable.RowSelected, "#newcomers")
    def selected(self) -> None:  # a click
        self.action_open_thread()

    def action_open_row(self) -> None:
        open_on_enter(self, self.action_open_thread, "newcomers")

    def action_open_thread(self) -> None:
        q = self.current
        if q is not None:
            self.app.push_screen(ThreadScreen(q.thread_id))  # escape comes back here

    def can_post_recap(self) -> bool:
        from tablespace.actions.summaries import RECAP_ROLES

        return bool(self.group.my_roles() & set(RECAP_ROLES))

    def action_recap(self) -> None:
        """This week's recap and the past ones; a note-taker or a moderator
        may post it from there."""
        recap = actions.weekly_recap(self.group)  # a read: the week's view tables
        past = past_recaps(self.group.conn)
        self.app.push_screen(
            RecapModal(recap, past, can_post=self.can_post_recap()), lambda choice: self._recap_chosen(recap, choice)
        )

    def _recap_chosen(self, recap: Recap, choice: RecapChoice | None) -> None:
        if choice is None:
            return
        if choice.thread is not None:
            self.app.push_screen(ThreadScreen(choice.thread))
        elif choice.post:
            self._edit_and_post_recap(recap)

    def _edit_and_post_recap(self, recap: Recap) -> None:
        """The recap just shown, in the composer, to edit before it goes to
        everyone; posting it is the note-taker's or moderator's act, as
        `recap --post`."""
        from tablespace.tui.modals import ComposeModal

        def post(draft: Draft) -> Job[str]:
            title, body = draft.title or recap.title, draft.body
            return self.write_job(
                "posting the recap",
                lambda g: actions.post_recap(g, title=title, body=body)[0],
                success="Posted the recap as a thread tagged recap.",
                then=lambda thread: self.app.push_screen(ThreadScreen(thread)),
            )

        self.app.push_screen(
            ComposeModal("Post the week's recap", post, title=recap.title, body=recap.markdown(), submit_label="Post")
        )
