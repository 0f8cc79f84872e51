"""The row table every section uses: a DataTable that also moves with j/k
(and g/G to the ends), like the thread list, so the keys are the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.actions import SkipAction
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable

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


class RowTable(DataTable):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("g", "scroll_top", "First", show=False, id="table.first"),
        Binding("G", "scroll_bottom", "Last", show=False, id="table.last"),
    ]

    def __init__(self, *, id: str) -> None:  # noqa: A002 - Textual's own name for it
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def add_row(self, *cells: Any, **kwargs: Any) -> Any:
        """Every cell as a Text with members' text made visible (a plain
        string would also be read as markup)."""
        return super().add_row(
            *(shown(cell, multiline=False) if isinstance(cell, (str, Text)) else cell for cell in cells), **kwargs
        )
