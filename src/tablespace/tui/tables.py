"""The row table every section uses: a DataTable that also moves with j/k
(and g/G to the ends), like the thread list, so the keys are the same everywhere.

Its columns may be `Flexible`: those share the width the other columns leave
(each at least its minimum), are cropped with an ellipsis, and are fitted
again when the table is resized or refilled, so a table fits its screen at
any width instead of scrolling sideways or cutting text by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from tablespace.tui.format import shown

# A screen's binding for enter on a table that opens another screen (see open_on_enter).
OPEN_ON_ENTER = Binding("enter", "open_row", "Open", show=False, priority=True, id="table.open")


def open_on_enter(screen: Screen, open_row: Callable[[], None], table_id: str | None = None) -> None:
    """Enter on a table opens its row from the screen's priority binding, not
    from the table's RowSelected message: the new screen is pushed before the
    keys typed after enter are handed out, so they reach it (the app's
    burst-key holding), not the table. Elsewhere enter does what it does."""
    focused = screen.focused
    if not isinstance(focused, DataTable) or (table_id is not None and focused.id != table_id):
        raise SkipAction()
    open_row()


@dataclass(frozen=True)
class Flexible:
    """A column that takes a share of the width the fixed columns leave."""

    label: str
    minimum: int = 10


Column = str | Flexible


def share_out(room: int, wants: Sequence[int], minimums: Sequence[int]) -> list[int]:
    """Widths for columns wanting `wants` cells in `room` cells: a column
    narrower than an even share gets what it wants, the others split the
    rest evenly; none goes below its minimum (the table then scrolls)."""
    wants = [max(want, minimum) for want, minimum in zip(wants, minimums, strict=True)]
    widths = list(wants)
    pending = list(range(len(wants)))
    left = room
    while pending:
        fair = left // len(pending)
        narrow = [i for i in pending if wants[i] <= fair]
        if not narrow:
            for n, i in enumerate(pending):  # the odd cells go to the first ones
                widths[i] = fair + (1 if n < left - fair * len(pending) else 0)
            break
        for i in narrow:
            left -= wants[i]
            pending.remove(i)
    return [max(width, minimum) for width, minimum in zip(widths, minimums, strict=True)]


def _width(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))


class RowTable(DataTable):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("g", "scroll_top", "First", show=False, id="table.first"),
        Binding("G", "scroll_bottom", "Last", show=False, id="table.last"),
    ]

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's own name for it
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._layout: list[Column] = []
        # Every row as added (key, cells, options): what a re-fit adds again.
        self._rows: list[tuple[str | None, list[Any], dict[str, Any]]] = []
        self._row_at: dict[str, int] = {}
        self._flexible_widths: list[int] = []
        self._fit_due = False

    # --- columns ---------------------------------------------------------------------

    def add_columns(self, *columns: Column) -> list[ColumnKey]:  # type: ignore[override]
        """The table's columns, once; plain labels fit their content."""
        self._layout = list(columns)
        self._flexible_widths = self._fitted_widths()
        return self._add_layout()

    def _add_layout(self) -> list[ColumnKey]:
        widths = iter(self._flexible_widths)
        return [
            self.add_column(column.label, width=next(widths), key=f"column-{index}")
            if isinstance(column, Flexible)
            else self.add_column(column, key=f"column-{index}")
            for index, column in enumerate(self._layout)
        ]

    def _flexible(self) -> list[int]:
        return [index for index, column in enumerate(self._layout) if isinstance(column, Flexible)]

    def _natural_width(self, index: int) -> int:
        column = self._layout[index]
        label = column.label if isinstance(column, Flexible) else column
        return max([cell_len(label), *(_width(cells[index]) for _key, cells, _options in self._rows)])

    def _fitted_widths(self) -> list[int]:
        flexible = self._flexible()
        if not flexible:
            return []
        padding = 2 * self.cell_padding
        fixed = sum(self._natural_width(i) + padding for i in range(len(self._layout)) if i not in flexible)
        # Room is kept for a vertical scrollbar, so one appearing never makes the table scroll sideways.
        room = self.size.width - self.styles.scrollbar_size_vertical - fixed - padding * len(flexible)
        minimums = [self._layout[i].minimum for i in flexible]  # type: ignore[union-attr]
        return share_out(room, [self._natural_width(i) for i in flexible], minimums)

    def fit_columns(self) -> None:
        """Share the width out again; the rows are added afresh only if a
        flexible column's width changed."""
        self._fit_due = False
        widths = self._fitted_widths()
        if widths == self._flexible_widths:
            return
        self._flexible_widths = widths
        row = self.cursor_row
        super().clear(columns=True)
        self._add_layout()
        for key, cells, options in self._rows:
            super().add_row(*cells, key=key, **options)
        if self._rows:
            self.move_cursor(row=min(row, len(self._rows) - 1), animate=False, scroll=True)

    def _fit_soon(self) -> None:
        """Once the handler filling the table is done, before it is painted."""
        if self._flexible() and not self._fit_due:
            self._fit_due = True
            self.call_later(self.fit_columns)

    def on_resize(self, _event: events.Resize) -> None:
        if self._flexible():
            self.fit_columns()

    # --- rows ------------------------------------------------------------------------

    def _cell(self, index: int, cell: Any) -> Any:
        """A cell as a Text with members' text made visible (a plain string
        would also be read as markup); in a flexible column, on one line cut
        with an ellipsis."""
        if not isinstance(cell, (str, Text)):
            return cell
        text = shown(cell, multiline=False)
        if index < len(self._layout) and isinstance(self._layout[index], Flexible):
            text = text.copy()
            text.no_wrap = True
            text.overflow = "ellipsis"
        return text

    def add_row(self, *cells: Any, key: str | None = None, **options: Any) -> RowKey:
        shown_cells = [self._cell(index, cell) for index, cell in enumerate(cells)]
        row_key = super().add_row(*shown_cells, key=key, **options)
        if key is not None:
            self._row_at[key] = len(self._rows)
        self._rows.append((key, shown_cells, options))
        self._fit_soon()
        return row_key

    def update_cell(self, row_key: RowKey | str, column_key: ColumnKey | str, value: Any, **options: Any) -> None:
        index = self.get_column_index(column_key)
        cell = self._cell(index, value)
        at = self._row_at.get(row_key.value if isinstance(row_key, RowKey) else row_key)  # type: ignore[arg-type]
        if at is not None:
            self._rows[at][1][index] = cell
        super().update_cell(row_key, column_key, cell, **options)

    def clear(self, columns: bool = False) -> RowTable:
        super().clear(columns=columns)
        self._rows.clear()
        self._row_at.clear()
        if columns:
            self._layout = []
        self._fit_soon()
        return self
