"""Which of our changesets the folder lost, judged by their content, and the
seqs of ours to write again because of it.

Sync software changes a file's time without changing its bytes (a `touch`,
a copy over itself, a restore that keeps contents), so a new time or size
only makes us read the file again: it is lost when it is gone, or when its
bytes are no longer the ones we wrote (damaged). Only the seqs a lost file
held, and that no intact file of ours still holds, are written again; they
wait in the home (meta `resend_seqs`) until a round writes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from tablespace.core import folder_queries, log_queries, sync_files
from tablespace.core.store import Store
from tablespace.sync.envelope import MAX_FILE_BYTES
from tablespace.sync.folder import FolderFile, FolderStore

RESEND_KEY = "resend_seqs"

Span = tuple[int, int]  # first and last seq, both included


def note_lost_files(store: Store, folder: FolderStore, listing: dict[str, FolderFile], me: str) -> None:
    """Find our files the folder lost, forget them (so the import looks at
    whatever is at their path as new) and keep their seqs for the next export.
    An intact file (a pack, say) stands in for a lost one only over seqs our
    log holds one op for: where our chain forked, a file of the same seqs may
    hold the other branch."""
    lost: list[str] = []
    lost_spans: list[Span] = []
    kept_spans: list[Span] = []
    for path, first, last, size, mtime_ns, digest in folder_queries.files_we_wrote(store.conn):
        info = listing.get(path)
        if info is not None and ((info.size, info.mtime_ns) == (size, mtime_ns) or _same_bytes(folder, info, digest)):
            kept_spans.append((first, last))
            if (info.size, info.mtime_ns) != (size, mtime_ns):
                with store.db.atomic():
                    sync_files.restat_file(store.conn, path, info.size, info.mtime_ns)
        else:
            lost.append(path)
            lost_spans.append((first, last))
    if not lost:
        return  # the usual round: no count of our ops per file
    unforked = [(a, b) for a, b in kept_spans if log_queries.op_count_between(store.conn, me, a, b) == b - a + 1]
    missing = subtract(merge(lost_spans), merge(unforked))
    with store.db.atomic():
        set_to_resend(store, merge([*to_resend(store), *missing]))
        sync_files.forget_files(store.conn, lost)


def _same_bytes(folder: FolderStore, info: FolderFile, digest: str) -> bool:
    """Whether the file still holds the bytes we wrote (read at most once per new time)."""
    if not info.regular or info.size > MAX_FILE_BYTES:
        return False
    try:
        data = folder.read(info.path, MAX_FILE_BYTES)
    except OSError:
        return False  # unreadable is as good as lost to the others: it goes out again
    return hashlib.sha256(data).hexdigest() == digest


def rows_to_send(store: Store, me: str, exported_seq: int) -> list[log_queries.OpRow]:
    """Our ops to write, in seq order: those of lost files, then those never written."""
    again = [(first, min(last, exported_seq)) for first, last in to_resend(store) if first <= exported_seq]
    return [
        *(row for first, last in again for row in log_queries.ops_between(store.conn, me, first, last)),
        *log_queries.ops_after(store.conn, me, exported_seq),
    ]


def to_resend(store: Store) -> list[Span]:
    """The seqs of ours to write again, as spans."""
    return [(int(a), int(b)) for a, b in json.loads(store.get_meta(RESEND_KEY, "") or "[]")]


def set_to_resend(store: Store, spans: list[Span]) -> None:
    store.set_meta(RESEND_KEY, json.dumps(spans))


def resent(store: Store, first: int, last: int) -> None:
    """Seqs `first`..`last` are in the folder again."""
    spans = to_resend(store)
    if spans:
        set_to_resend(store, subtract(spans, [(first, last)]))


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted spans, overlapping or touching ones joined."""
    merged: list[Span] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def subtract(spans: list[Span], taken: list[Span]) -> list[Span]:
    """The parts of `spans` that no span of `taken` covers."""
    left: list[Span] = []
    for first, last in spans:
        start = first
        for a, b in merge(taken):
            if b < start or a > last:
                continue
            if a > start:
                left.append((start, a - 1))
            start = max(start, b + 1)
        if start <= last:
            left.append((start, last))
    return left


# What became of a folder file, as engine.FileRecord holds it after the file:
# (digest, status, reason, first seq, last seq)
Settled = tuple[str, str, str | None, int | None, int | None]


def settled_as(known: Settled | None, digest: str) -> Settled | None:
    """The file's record (`known`, as read already) if it was settled
    (imported, ours or quarantined) with these very bytes: a new time
    changes nothing. A file waiting for a key is always read again."""
    if known is None or known[0] != digest or known[1] == "waiting":
        return None
    return known
