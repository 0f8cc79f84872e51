"""Writing a file so readers see all of it or none: temp file, fsync, rename."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(target: Path, data: bytes, *, mode: int, tmp_name: str | None = None,
                     mtime: float | None = None) -> None:
    """Write `data` to `target` via a temp file in the same directory
    (`tmp_name`, default `<name>.tmp`), fsynced before and after the rename.
    `mtime`: the file's modification time instead of now, set before the
    rename so no reader ever sees the real one."""
    tmp = target.with_name(tmp_name or target.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    os.replace(tmp, target)
    fsync_dir(target.parent)


def fsync_dir(path: Path) -> None:
    """Make a rename durable; some file systems cannot, which is fine."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
