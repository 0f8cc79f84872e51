"""The shared folder as untrusted, write-once storage.

Layout under the folder the member chose:
    <folder>/<group id>/changes/<author>/<first>-<last>-<hash16>.tsc
    <folder>/<group id>/changes/<author>/pack-<first>-<last>-<hash16>.tsc
Files are written to a temp name, fsynced and renamed and never rewritten.
The only files we ever delete are our own: changesets that a pack of ours
has held for long enough (sync/packing.py), and read marks a full file of
ours supersedes (sync/read_marks.py). A missing file is never a delete.

Everything under the group's directory is hostile: it is opened one name at a
time from an open directory (dir_fd) with O_NOFOLLOW, so no symbolic link is
ever followed there, for reading or writing (the folder the member chose may
itself be a link: their choice). A link where a directory belongs is noted
in `FolderStore.links` and skipped; what would be written through it waits.
Names that are not text (not UTF-8, or holding control characters) never
leave this module as they are: `list` yields them escaped (`shown_name`),
marked `refused`, never opened.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Generator, Iterator, Mapping
from collections.abc import Set as AbstractSet
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tablespace.core.errors import Unreachable
from tablespace.core.files import write_atomically
from tablespace.sync.envelope import SUFFIX

TMP_PREFIX = ".tmp-"
OUTBOX = "your changes stay in the outbox"  # how every "cannot reach it" message ends
# The time a file that must not say when it was written carries (a report:
# its time would hint at who sent it); also every git commit's date.
NEUTRAL_TIME = 946_684_800  # 2000-01-01 00:00:00 UTC


class SyncUnavailable(Unreachable):
    """The folder or remote cannot be reached; nothing was changed there."""


class LinkInFolder(OSError):
    """A symbolic link, or anything else that is not a directory, where a
    directory of the group belongs: never followed, nothing written through it."""


# Opens one directory of the group: never through a link, never blocking on a FIFO.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
A_LINK = "a symbolic link"
NOT_A_DIRECTORY = "not a directory"
UNNAMED = "its name is not text (bytes that are not UTF-8, or control characters); left unopened"
# A directory's times are trusted to say nothing in it changed only once they
# are this much older than the listing that recorded them: a change in the
# same tick as that listing (coarse file system clocks: FAT's is 2 s) would
# leave the times as they were.
RACY_SECONDS = 2.0
# A file rewritten in place leaves its directory's times as they were, so at
# least this often every directory is listed again, trusted or not.
FULL_LISTING_SECONDS = 300.0

# The directories whose names a watched round may take from the round
# before when the watch saw no change in them and their signature is as
# it was: they hold directories. A directory of files is listed whenever it
# is walked: ours, say, holds what another command of ours may have written
# a moment ago, and a file of ours missing from a listing counts as lost.
KEPT_LISTINGS = ("", "changes/")

# What says a directory's entries are as they were: its inode and times (a
# change time no one can set back).
DirSignature = tuple[int, int, int]


@dataclass(frozen=True)
class FolderFile:
    path: str  # relative to the group's directory, always with forward slashes; always safe text
    size: int
    mtime_ns: int
    regular: bool = True  # False for links, pipes, devices: reported, never opened
    refused: str | None = None  # why it is never opened (a name that is not text), if it is not


class FolderStore:
    def __init__(self, root: Path, group_id: str) -> None:
        self.root = root
        self.group_id = group_id
        self.group_dir = root / group_id
        self.changes = self.group_dir / "changes"
        self.written = 0  # files this store has written: a report goes only in a round that wrote none
        # Paths (relative to the group's directory, "." for itself) where a
        # directory belongs but something else is, and what: never followed.
        self.links: dict[str, str] = {}
        # Directories whose signature `list` was given and found unchanged:
        # not listed again (their files are as the last round recorded them).
        self.trusted: Mapping[str, DirSignature] = {}
        self.skipped: set[str] = set()
        # Directories listed this time that may be trusted next time: holding
        # only regular changeset files with text names (no directory, link
        # or refused name below them), with their signatures.
        self.plain_dirs: dict[str, DirSignature] = {}
        # What the last `list` was told a watcher saw change, and the names
        # in the directories the rounds beside it listed (see `list`).
        self.changed: AbstractSet[str] | None = None
        self.names: dict[str, tuple[DirSignature, list[str]]] | None = None

    def check(self, *, expect_existing: bool) -> None:
        """Refuse to touch a folder that is missing or looks unmounted, or
        whose group directory is a link (nothing of the group can be read or
        written through it).

        `expect_existing`: we have synced here before, so our group's directory
        must be there; an empty mount point must not be mistaken for a new folder.
        """
        if not self.root.is_dir():
            raise SyncUnavailable(f"the shared folder {self.root} is missing or unmounted; {OUTBOX}")
        try:
            mode = self.group_dir.lstat().st_mode
        except FileNotFoundError:
            mode = None
        except OSError as exc:
            raise SyncUnavailable(f"cannot read the shared folder {self.root}: {exc.strerror}; {OUTBOX}") from None
        if mode is not None and not stat.S_ISDIR(mode):
            what = A_LINK if stat.S_ISLNK(mode) else NOT_A_DIRECTORY
            self.links["."] = what
            raise SyncUnavailable(
                f"the group's directory {shown_name(str(self.group_dir))} in the shared folder is {what}, "
                f"never followed: nothing is read or written through it; make it a real directory; {OUTBOX}"
            )
        if expect_existing and mode is None:
            raise SyncUnavailable(
                f"the shared folder {self.root} has no {self.group_dir.name}/ any more (unmounted or not yet synced?);"
                f" {OUTBOX}"
            )

    def prepare(self) -> None:
        """Make changes/ if it is missing; a link there is noted, not followed."""
        try:
            with self._dir("changes", create=True):
                pass
        except LinkInFolder:
            pass

    def blocked(self, path: str) -> bool:
        """Is there a link (or a non-directory) on the way to the directory
        `path`? Then nothing can be written there until it is a real one."""
        try:
            with self._dir(path):
                return False
        except LinkInFolder:
            return True
        except FileNotFoundError:
            return False  # made when first written

    # --- reading -------------------------------------------------------------

    def list(
        self,
        trusted: Mapping[str, DirSignature] | None = None,
        changed: AbstractSet[str] | None = None,
        names: dict[str, tuple[DirSignature, list[str]]] | None = None,
    ) -> Iterator[FolderFile]:
        """Every changeset under changes/, and every name anywhere in the
        group's directory that is not text (`refused`: never opened). Links
        are never followed: a link named like a changeset is listed (as not
        regular), any other is noted in `links`. A directory in `trusted`
        whose signature is still the one given is skipped (`skipped`).

        `changed`: the directories (relative paths, "." for the group's own)
        a watcher saw a change in since it was set up, if one has watched
        all along: a trusted directory outside them, and under none of them,
        is skipped without even a look at its signature. `names`: what the
        rounds beside that watcher found in the directories of KEPT_LISTINGS
        (by prefix), kept up to date here; one the watch saw no change in is
        not listed again."""
        self.trusted = trusted or {}
        self.skipped = set()
        self.plain_dirs = {}
        self.changed = changed
        self.names = names
        try:
            with self._dir("") as fd:
                yield from self._walk(fd, "", changed is not None and "." not in changed)
        except (FileNotFoundError, LinkInFolder):
            return

    def _walk(self, fd: int, prefix: str, quiet: bool) -> Generator[FolderFile, None, bool]:
        """The files below the open directory `fd` (at `prefix`); returns
        (as a generator's value) whether it holds only plain changesets.
        `quiet`: the watcher saw no change to this directory or any above.
        An idle round passes here once per author's directory (a stat, then
        its signature is trusted; watched, not even the stat), so that path
        does no more than it must: a trusted path's name was checked when it
        was recorded, and only a directory is ever trusted."""
        plain = True
        in_changes = prefix.startswith("changes/")
        trusted, skipped, plain_dirs, changed = self.trusted, self.skipped, self.plain_dirs, self.changed or frozenset()
        names = _names(self.names, fd, prefix, quiet)
        if quiet and trusted:  # the trusted directories the watch saw no change in, at once: no look at each
            unseen = trusted.keys() & {prefix + name for name in names}
            unseen -= changed
            if unseen:
                plain = False
                skipped.update(unseen)
                plain_dirs.update({path: trusted[path] for path in unseen})
                names = [name for name in names if prefix + name not in unseen]
        for name in sorted(names):
            path = prefix + name
            recorded = trusted.get(path)
            if recorded is not None:
                plain = False
            elif not name.isprintable():  # shown_name would escape it
                plain = False
                yield FolderFile(prefix + shown_name(name), 0, 0, regular=False, refused=UNNAMED)
                continue
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                plain = False
                continue  # vanished while we looked: a missing file is never a delete
            mode = info.st_mode
            if stat.S_ISDIR(mode):
                plain = False
                signature = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns)
                if signature == recorded:
                    skipped.add(path)
                    plain_dirs[path] = signature
                else:
                    yield from self._walk_dir(fd, name, path, signature, quiet and path not in changed)
            elif in_changes and name.endswith(SUFFIX) and not name.startswith(TMP_PREFIX):
                plain = plain and stat.S_ISREG(mode)
                yield FolderFile(path, info.st_size, info.st_mtime_ns, regular=stat.S_ISREG(mode))
            elif stat.S_ISLNK(mode):
                plain = False
                self.links[path] = A_LINK
        return plain

    def _walk_dir(self, fd: int, name: str, path: str, signature: DirSignature, quiet: bool) -> Iterator[FolderFile]:
        """The files below directory `name` of `fd`, whose signature is not
        the trusted one (`_walk` skips those)."""
        try:
            child = self._open_child(fd, name, path)
        except (FileNotFoundError, LinkInFolder):
            return  # gone, or swapped for a link since the scan (noted)
        try:
            plain = yield from self._walk(child, path + "/", quiet)
        finally:
            os.close(child)
        if plain:
            self.plain_dirs[path] = signature

    def holds(self, path: str) -> bool:
        """Is `path` in a directory skipped by the last `list` (so, as it was)?"""
        return path.rpartition("/")[0] in self.skipped

    def small_files(self, subdir: str, suffix: str) -> Iterator[str]:
        """Regular files with text names directly under `subdir` (relative
        paths); links, pipes and devices are skipped, never opened."""
        try:
            with self._dir(subdir) as fd:
                names = sorted(
                    e.name
                    for e in _scan(fd)
                    if e.name.endswith(suffix) and shown_name(e.name) == e.name and e.is_file(follow_symlinks=False)
                )
        except (FileNotFoundError, LinkInFolder):
            return
        for name in names:
            yield f"{subdir}/{name}"

    def read(self, path: str, limit: int) -> bytes:
        """At most `limit` + 1 bytes of a regular file (the caller rejects more):
        a file swapped for a huge one after listing is never read whole."""
        parent, name = _split(path)
        with self._dir(parent) as dir_fd:
            fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return handle.read(limit + 1)
        finally:
            os.close(fd)

    def stat(self, path: str) -> os.stat_result:
        """The file's own status (a link's, never its target's)."""
        parent, name = _split(path)
        with self._dir(parent) as dir_fd:
            return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except (FileNotFoundError, NotADirectoryError, LinkInFolder):
            return False
        return True

    # --- writing -------------------------------------------------------------

    def write_once(self, path: str, data: bytes, *, timeless: bool = False) -> FolderFile:
        """Temp file, fsync, rename: readers see the whole file or nothing.
        `timeless`: dated NEUTRAL_TIME, not now. Raises LinkInFolder (an
        OSError) if a link is on the way: nothing is written through it."""
        parent, name = _split(path)
        with self._dir(parent, create=True) as dir_fd:
            write_atomically(
                Path(name),
                data,
                mode=0o644,
                tmp_name=f"{TMP_PREFIX}{os.getpid()}-{name}",
                mtime=NEUTRAL_TIME if timeless else None,
                dir_fd=dir_fd,
            )
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        self.written += 1
        return FolderFile(path, info.st_size, info.st_mtime_ns)

    def remove(self, path: str) -> bool:
        """Delete one regular file, never through a link; False if it was
        already gone or is not a regular file. Called only on
        our own changesets a pack of ours holds, and our read marks a newer
        full file of ours supersedes (sync/read_marks.py)."""
        parent, name = _split(path)
        with self._dir(parent) as dir_fd:
            try:
                if not stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                    return False
                os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                return False
        self.written += 1  # a change of ours in the folder, like a write: a report waits for another round
        return True

    # --- one name at a time ----------------------------------------------------

    @contextmanager
    def _dir(self, path: str, *, create: bool = False) -> Iterator[int]:
        """An open descriptor on the group's directory or one below it
        (`path` relative to it, "" for itself), reached one name at a time
        without following any link; missing ones made if `create`."""
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the root may be a link
        try:
            parts = [p for p in path.split("/") if p]
            steps = [(self.group_id, "."), *((part, "/".join(parts[: i + 1])) for i, part in enumerate(parts))]
            for name, shown in steps:
                child = self._open_child(fd, name, shown, create=create)
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    def _open_child(self, dir_fd: int, name: str, shown: str, *, create: bool = False) -> int:
        """Open directory `name` in `dir_fd`, never through a link; `shown`
        is its path as `links` names it."""
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            return self._not_a_directory(dir_fd, name, shown)
        with suppress(FileExistsError):
            os.mkdir(name, dir_fd=dir_fd)
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            return self._not_a_directory(dir_fd, name, shown)

    def _not_a_directory(self, dir_fd: int, name: str, shown: str) -> int:
        try:
            is_link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
        except OSError:
            is_link = False
        what = A_LINK if is_link else NOT_A_DIRECTORY
        self.links[shown] = what
        raise LinkInFolder(
            errno.ELOOP if is_link else errno.ENOTDIR,
            f"{what} where a directory belongs in the shared folder; never followed",
            shown,
        )


def _scan(fd: int) -> list[os.DirEntry[str]]:
    with os.scandir(fd) as entries:
        return sorted(entries, key=lambda e: e.name)


def _names(known: dict[str, tuple[DirSignature, list[str]]] | None, fd: int, prefix: str, quiet: bool) -> list[str]:
    """The names in the open directory `fd` (at `prefix`): as a round
    beside the watch last listed them, if it saw no change there and the
    directory's signature is the one that listing recorded (a change this
    process made, or one whose event is still on its way, moves it); else
    listed, and kept only once its times are RACY_SECONDS old (a coarse
    clock would leave them as they were after a change)."""
    if known is None or prefix not in KEPT_LISTINGS:
        return os.listdir(fd)
    info = os.fstat(fd)
    signature = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns)
    kept = known.get(prefix)
    if quiet and kept is not None and kept[0] == signature:
        return kept[1]
    names = os.listdir(fd)
    if max(info.st_mtime_ns, info.st_ctime_ns) < time.time_ns() - RACY_SECONDS * 1e9:
        known[prefix] = (signature, names)
    else:
        known.pop(prefix, None)
    return names


def _split(path: str) -> tuple[str, str]:
    parent, _, name = path.rpartition("/")
    return parent, name


def shown_name(name: str) -> str:
    """A name read from the file system as safe text: bytes that are not
    UTF-8 and characters that are not printable (controls, bidi overrides,
    line breaks) escaped as `\\xff`, `\\x1b`, `\\u202e`; a name of plain
    text is returned as it is."""
    if name.isprintable():  # every ordinary name; a byte that is not UTF-8 decodes to an unprintable surrogate
        return name
    text = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)
