"""What Syncthing's own configuration says about the group's shared folder,
for `doctor`: a folder that keeps no conflict copies loses one side of an
edit made on two devices at once.

Syncthing 1.19 reads a folder entry written without `<maxConflicts>` (by
hand, or by a script) as 0, and then drops such an edit silently. The
configuration is the member's own file: it is read, never written.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tablespace.core.files import TooBig, read_at_most

CONFIG_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class SyncthingFolder:
    id: str
    path: Path
    max_conflicts: int  # 0: no conflict copies (also when the entry does not say)


def config_files() -> Iterator[Path]:
    """Where Syncthing keeps its config.xml on this machine: the state
    directory of newer releases, then the config directory of older ones."""
    home = Path.home()
    for base, default in (("XDG_STATE_HOME", home / ".local" / "state"), ("XDG_CONFIG_HOME", home / ".config")):
        path = Path(os.environ.get(base) or default) / "syncthing" / "config.xml"
        if path.is_file():
            yield path


def folders_holding(path: Path) -> list[SyncthingFolder]:
    """Syncthing's folders that are `path` or hold it, from every config found."""
    wanted = path.resolve()
    found = []
    for config in config_files():
        try:
            with config.open("rb") as source:
                root = ET.fromstring(read_at_most(source, CONFIG_MAX_BYTES))
        except (OSError, TooBig, ET.ParseError):
            continue  # not ours to judge: Syncthing says what is wrong with its own file
        for entry in root.iter("folder"):
            where = Path(os.path.expanduser(entry.get("path", ""))).resolve()
            if where == wanted or where in wanted.parents:
                found.append(SyncthingFolder(entry.get("id", "?"), where, _max_conflicts(entry)))
    return found


def _max_conflicts(entry: ET.Element) -> int:
    text = (entry.findtext("maxConflicts") or "").strip()
    try:
        return int(text)
    except ValueError:
        return 0


def conflict_copy_checks(folder: Path) -> Iterator[tuple[bool, str]]:
    """One line per Syncthing folder that carries the group's folder."""
    for entry in folders_holding(folder):
        if entry.max_conflicts == 0:
            yield (
                False,
                f"Syncthing folder {entry.id!r} ({entry.path}) keeps no conflict copies (maxConflicts 0): "
                "an edit made on two devices at once loses one side; fix: set it to 10 "
                "(Syncthing: the folder's Edit, Advanced, or maxConflicts in its config.xml)",
            )
        else:
            yield True, f"Syncthing folder {entry.id!r} keeps conflict copies (maxConflicts {entry.max_conflicts})"
