"""The shared folder as untrusted, write-once storage.

Layout under the folder the member chose:
    <folder>/<group id>/changes/<author>/<first>-<last>-<hash16>.tsc
Files are written to a temp name, fsynced and renamed, never rewritten and
never deleted by us. A missing file is never a delete.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tablespace.core.errors import TablespaceError
from tablespace.core.files import write_atomically
from tablespace.sync.envelope import SUFFIX

TMP_PREFIX = ".tmp-"
OUTBOX = "your changes stay in the outbox"  # how every "cannot reach it" message ends
# The time a file that must not say when it was written carries (a report:
# its time would hint at who sent it); also every git commit's date.
NEUTRAL_TIME = 946_684_800  # 2000-01-01 00:00:00 UTC


class SyncUnavailable(TablespaceError):
    """The folder or remote cannot be reached; nothing was changed there."""


@dataclass(frozen=True)
class FolderFile:
    path: str  # relative to the group's directory, always with forward slashes
    size: int
    mtime_ns: int
    regular: bool = True  # False for links, pipes, devices: reported, never opened


class FolderStore:
    def __init__(self, root: Path, group_id: str) -> None:
        self.root = root
        self.group_dir = root / group_id
        self.changes = self.group_dir / "changes"
        self.written = 0  # files this store has written: a report goes only in a round that wrote none

    def check(self, *, expect_existing: bool) -> None:
        """Refuse to touch a folder that is missing or looks unmounted.

        `expect_existing`: we have synced here before, so our group's directory
        must be there; an empty mount point must not be mistaken for a new folder.
        """
        if not self.root.is_dir():
            raise SyncUnavailable(
                f"the shared folder {self.root} is missing or unmounted; {OUTBOX}"
            )
        if expect_existing and not self.group_dir.is_dir():
            raise SyncUnavailable(
                f"the shared folder {self.root} has no {self.group_dir.name}/ any more (unmounted or not yet synced?);"
                f" {OUTBOX}"
            )

    def prepare(self) -> None:
        self.changes.mkdir(parents=True, exist_ok=True)

    def list(self) -> Iterator[FolderFile]:
        if not self.changes.is_dir():
            return
        for dirpath, _dirnames, filenames in os.walk(self.changes):
            for name in filenames:
                if not name.endswith(SUFFIX) or name.startswith(TMP_PREFIX):
                    continue
                full = Path(dirpath) / name
                try:
                    info = full.lstat()
                except OSError:
                    continue  # vanished while we looked: a missing file is never a delete
                yield FolderFile(full.relative_to(self.group_dir).as_posix(), info.st_size, info.st_mtime_ns,
                                 regular=stat.S_ISREG(info.st_mode))

    def small_files(self, subdir: str, suffix: str) -> Iterator[str]:
        """Regular files directly under `subdir` (relative paths); links,
        pipes and devices are skipped, never opened."""
        where = self.group_dir / subdir
        if not where.is_dir():
            return
        for entry in sorted(os.scandir(where), key=lambda e: e.name):
            if entry.name.endswith(suffix) and entry.is_file(follow_symlinks=False):
                yield f"{subdir}/{entry.name}"

    def read(self, path: str, limit: int) -> bytes:
        """At most `limit` + 1 bytes of a regular file (the caller rejects more):
        a file swapped for a huge one after listing is never read whole."""
        fd = os.open(self.group_dir / path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return handle.read(limit + 1)
        finally:
            os.close(fd)

    def write_once(self, path: str, data: bytes, *, timeless: bool = False) -> FolderFile:
        """Temp file, fsync, rename: readers see the whole file or nothing.
        `timeless`: dated NEUTRAL_TIME, not now."""
        target = self.group_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data, mode=0o644, tmp_name=f"{TMP_PREFIX}{os.getpid()}-{target.name}",
                         mtime=NEUTRAL_TIME if timeless else None)
        self.written += 1
        info = target.stat()
        return FolderFile(path, info.st_size, info.st_mtime_ns)
