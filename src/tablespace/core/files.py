"""Writing a file so readers see all of it or none: temp file, fsync, rename."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


def write_atomically(target: Path, data: bytes, *, mode: int, tmp_name: str | None = None,
                     mtime: float | None = None, dir_fd: int | None = None) -> None:
    """Write `data` to `target` via a temp file in the same directory
    (`tmp_name`, default `<name>.tmp`), fsynced before and after the rename.
    `mtime`: the file's modification time instead of now, set before the
    rename so no reader ever sees the real one. `dir_fd`: an open directory
    that `target` (then a bare name) lives in, so no path is looked up again.
    The temp file is removed on every error (a full disk, a size limit), and
    neither name is ever followed through a symbolic link."""
    if dir_fd is None:
        tmp: str | Path = target.with_name(tmp_name or target.name + ".tmp")
        final: str | Path = target
    else:
        tmp, final = tmp_name or target.name + ".tmp", target.name
    fd = os.open(tmp, _CREATE, mode, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(data)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view):]
            if mtime is not None:
                os.utime(fd, (mtime, mtime))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    fsync_dir(target.parent if dir_fd is None else dir_fd)


def fsync_dir(path: Path | int) -> None:
    """Make a rename durable (`path`: the directory, or an open descriptor
    on it); some file systems cannot, which is fine."""
    if isinstance(path, int):
        with suppress(OSError):
            os.fsync(path)
        return
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
