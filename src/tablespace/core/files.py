"""Writing a file so readers see all of it or none: temp file, fsync, rename;
reading a user's file or stdin no further than its size limit."""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path
from typing import BinaryIO


class TooBig(Exception):
    """What was read is over its limit (only limit + 1 bytes were read)."""


def read_at_most(source: BinaryIO, limit: int) -> bytes:
    """All of `source` if it holds at most `limit` bytes; reads at most
    limit + 1 bytes either way, so a huge file or endless stdin costs nothing."""
    chunks: list[bytes] = []
    wanted = limit + 1
    while wanted > 0:
        chunk = source.read(wanted)
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    if wanted <= 0:
        raise TooBig
    return b"".join(chunks)


def read_text_at_most(source: BinaryIO, limit: int) -> str:
    """`read_at_most` decoded as UTF-8 (a BOM dropped), line ends made `\n` as
    text mode would; UnicodeDecodeError if it is not UTF-8."""
    return unix_line_ends(read_at_most(source, limit).decode("utf-8-sig"))


def unix_line_ends(text: str) -> str:
    """CRLF and lone CR as `\\n`: a line end typed on another system is a
    line end, not a control character the fold would refuse."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC


def write_atomically(
    target: Path,
    data: bytes,
    *,
    mode: int,
    tmp_name: str | None = None,
    mtime: float | None = None,
    dir_fd: int | None = None,
) -> None:
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
                view = view[os.write(fd, view) :]
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
