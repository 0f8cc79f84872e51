"""Reading that changes something of ours: a thread shown is marked read,
and an export can be written to a file. Plain reads stay in core.queries."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from tablespace.core import queries
from tablespace.core.export import export_json, export_markdown
from tablespace.core.files import write_atomically
from tablespace.core.group import Group
from tablespace.core.text import json_text, visible

ExportFormat = Literal["json", "markdown"]


def read_thread(group: Group, thread_ref: str) -> queries.ThreadDetail:
    """A thread with its posts, oldest first, marked read up to its newest."""
    detail = queries.thread(group.conn, group.thread_id(thread_ref))
    group.mark_read(detail.id)
    return detail


def export_text(group: Group, fmt: ExportFormat) -> str:
    """The whole readable group as JSON or Markdown. Made safe for a
    terminal even when written to a file: it is read with `less` or `cat`."""
    if fmt == "json":
        return json_text(export_json(group.conn))
    return visible(export_markdown(group.conn), multiline=True)


def export_to(group: Group, fmt: ExportFormat, path: Path) -> None:
    """Write the export to `path` whole or not at all (a temp file renamed
    over it), readable as any file the user makes."""
    write_atomically(path, (export_text(group, fmt) + "\n").encode("utf-8"), mode=0o666)
