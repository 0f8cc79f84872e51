"""What a running watch of the shared folder saw change, for the rounds of
the same process: a round need not look at a directory the watch saw no
change in since the round before (sync/folder.py `list`). `sync --watch`
and the app run such a watch; a plain `tablespace sync` has none and looks
at every directory's signature, as it must.

The watch is trusted only while it is up: until it reports its first batch,
after it ends, and after a round that broke off, the next round looks at
everything, and from then on only at what the watch saw since. A change
the OS reports late (after a round began) marks its directory for the next
round, which the same change makes due."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tablespace.sync.folder import DirSignature

# More directories marked than this between two rounds: look at everything
# (a burst such as a first sync; the set stays small and cheap to hold).
MAX_MARKED = 1000
# File systems whose every change the OS's watch reports, wherever it was
# made. On a network share (NFS, SMB, sshfs) another machine's writes raise
# no event here, so there every round looks at every directory, as without
# a watch. Only Linux says which file system a folder is on (mountinfo).
LOCAL_FILE_SYSTEMS = frozenset(
    {"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "bcachefs", "jfs", "zfs", "tmpfs", "vfat", "exfat", "ntfs3"}
)
MOUNTINFO = Path("/proc/self/mountinfo")


class SeenChanges:
    """The directories of one group's directory in the folder that a watch
    saw a change in, as paths relative to it ("." for itself): for each
    changed path, the path itself and the directory holding it."""

    def __init__(self, folder: Path, group_id: str) -> None:
        self.group_dir = str(folder.resolve() / group_id)  # as the OS reports paths
        self.local = False  # the watch sees every change there (`file_system`), as of when it came up
        self._lock = threading.Lock()
        self._up = False
        self._everything = True  # what changed since the last round is not known
        self._dirs: set[str] = set()
        self._identity: tuple[int, int] | None = None  # the group's directory the watch is on
        # The names the rounds found in the directories that hold the
        # authors' ones (by prefix: "" for the group's own), while this watch
        # is up: one it saw no change in need not be listed again
        # (FolderStore.list, KEPT_LISTINGS).
        self.names: dict[str, tuple[DirSignature, list[str]]] = {}

    @property
    def up(self) -> bool:
        return self._up

    def watching(self) -> None:
        """The OS watch is up: every change from now on is reported."""
        identity = self._look()
        local = file_system(self.group_dir) in LOCAL_FILE_SYSTEMS
        with self._lock:
            self._up, self._everything, self._identity, self.local = True, True, identity, local
            self._dirs.clear()
            self.names = {}

    def _look(self) -> tuple[int, int] | None:
        """Which directory is at the group's path now (device, inode)."""
        try:
            info = os.stat(self.group_dir)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def stopped(self) -> None:
        """The watch ended (the folder went, the OS refused, or it was stopped)."""
        with self._lock:
            self._up, self._everything = False, True
            self._dirs.clear()
            self.names = {}

    def saw(self, paths: Iterable[str]) -> None:
        """Mark the directories these changed paths (absolute, as reported) are or are in."""
        root = self.group_dir
        prefix = root + "/"
        with self._lock:
            for path in paths:
                if path == root:
                    self._dirs.add(".")
                elif path.startswith(prefix):
                    relative = path[len(prefix) :]
                    self._dirs.add(relative)
                    self._dirs.add(relative.rpartition("/")[0] or ".")
            if len(self._dirs) > MAX_MARKED:
                self._everything = True
                self._dirs.clear()

    @contextmanager
    def taken(self) -> Iterator[frozenset[str] | None]:
        """For one round: the directories changed since the round before, or
        None (look at everything). If the round breaks off, the next one
        looks at everything: what was taken may not have been read. Another
        directory at the group's path (the folder remounted, say, before the
        watch noticed) is looked at whole."""
        same = self.local and self._identity is not None and self._look() == self._identity
        with self._lock:
            changed = None if self._everything or not self._up or not same else frozenset(self._dirs)
            self._everything = not self._up
            self._dirs = set()
        try:
            yield changed
        except BaseException:
            with self._lock:
                self._everything = True
            raise


def file_system(path: str) -> str | None:
    """The type of the file system `path` is on (Linux), or None if unknown."""
    try:
        lines = MOUNTINFO.read_text().splitlines()
    except OSError:
        return None
    best, kind = "", None
    for line in lines:
        fields, _, after = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not after:
            continue
        mount = parts[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        inside = path == mount or path.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) >= len(best):
            best, kind = mount, after.split()[0]
    return kind


_running: dict[Path, SeenChanges] = {}
_running_lock = threading.Lock()


@contextmanager
def watch_running(group_path: Path, seen: SeenChanges) -> Iterator[SeenChanges]:
    """While inside, the rounds of this process on the group at
    `group_path` (its directory in the home) are handed what `seen` saw."""
    with _running_lock:
        _running[group_path] = seen
    try:
        yield seen
    finally:
        with _running_lock:
            if _running.get(group_path) is seen:
                del _running[group_path]


def running_watch(group_path: Path) -> SeenChanges | None:
    """What a watch running in this process saw of the group, if one runs."""
    return _running.get(group_path)
