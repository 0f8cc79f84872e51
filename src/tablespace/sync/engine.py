"""One sync round: import everything new, then export this member's outbox.

Import first: a removal or a new key already in the folder decides what our
changes are sealed under (the newest key we hold once it is imported), so a
member who wrote without having seen a removal never seals it under a key
the removed member holds. If the import fails, nothing of ours goes out that
round (we cannot know which key is safe); it all waits in the outbox.

The only way in for other members' ops is: file → size limit → signature →
decrypt → bounded decompress → parse → Store.ingest (chain check + fold).
A file that fails any check is copied to the home's quarantine with its
reason and never changed or deleted in the folder; the rest still imports.
Each import round is one transaction, so a kill at any point leaves either
nothing or everything of that round, and re-running it is idempotent.
"""

from __future__ import annotations

import gc
import hashlib
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tablespace.core import folder_queries, log_queries, sync_files
from tablespace.core.clock import SUPPORTED_RANGE, hlc_in_range, iso, now
from tablespace.core.errors import Refusal
from tablespace.core.files import write_atomically
from tablespace.core.group import Group
from tablespace.core.ops import Op
from tablespace.core.store import IngestResult
from tablespace.sync import conflicts, losses
from tablespace.sync import folder as folder_rules
from tablespace.sync.circle_keys import renew_stale_circle_keys
from tablespace.sync.delivery import deliver_reports, moderation_round, waiting_reports
from tablespace.sync.devices import approve_pairings, pairing_answer, supply_my_devices
from tablespace.sync.envelope import (
    MAX_FILE_BYTES,
    MAX_OPS_PER_FILE,
    BadChangeset,
    ChangesetTooLarge,
    UnknownEpoch,
    changeset_name,
    decode_changeset,
    encode_changeset,
    peek_header,
)
from tablespace.sync.folder import DirSignature, FolderFile, FolderStore, LinkInFolder
from tablespace.sync.keyring import Keyring
from tablespace.sync.membership import (
    GRANT_SUFFIX,
    MAX_GRANT_BYTES,
    BadMembershipFile,
    GrantHeader,
    GrantWontOpen,
    decode_grant,
)
from tablespace.sync.packing import (
    HELD_ALREADY,
    Packer,
    PackPolicy,
    SeqRuns,
    held_already,
    read_order,
    reread_skips_in_doubt,
)
from tablespace.sync.read_marks import share_read_marks, take_read_marks
from tablespace.sync.requests import answer_requests, join_answer
from tablespace.sync.roster import (
    ask_for_missing_keys,
    grant_missing_keys,
    rotate_if_needed,
    sendable_seq,
    when_changed,
)
from tablespace.sync.watched import SeenChanges

QUARANTINE_DIR = "quarantine"
# The quarantine's copies in a home, at most: anyone who can write to the
# folder can plant files, so the oldest copies go first when over either
# cap. Each copy's record (.json, small) stays, up to QUARANTINE_MAX_RECORDS,
# and every quarantined file's row in sync_files stays for good.
QUARANTINE_MAX_BYTES = 64 * 2**20
QUARANTINE_MAX_FILES = 1000
QUARANTINE_MAX_RECORDS = 10_000
# Meta key: the grants for us whose keys our keyring took, as they were then:
# an unchanged one is not read (nor decrypted) again.
GRANTS_TAKEN_META = "grants_taken"
# Ops per changeset we write; well under the reader's MAX_OPS_PER_FILE.
EXPORT_CHUNK = 1000
# Ops decoded before they are filed in the log and dropped (Store.file): bounds
# the decoded ops held on a huge backlog. Each filed op is read back and parsed
# again when the round folds, so a batch costs time: 50k took 1-2 s more than
# one batch on a 100k import (bench_import), for ~25 MB less at the peak.
IMPORT_BATCH_OPS = 200_000
# More new files than this in one round: import with a bigger page cache.
BULK_FILES = 8
# More bytes of new files than this: with a rollback journal too (Store.bulk_import).
ROLLBACK_JOURNAL_BYTES = 8 * 1024 * 1024


# What the sync records of a folder file it looked at (_record): the file,
# its digest, status, reason, and the seqs of the changeset it held.
FileRecord = tuple[FolderFile, str, str, str | None, int | None, int | None]
# The trusted directories' record (TRUSTED_DIRS_META): when it was listed,
# when every directory last was, every plain directory's signature, and those
# settled enough to be skipped (all but ours, none within RACY_SECONDS).
SavedTrust = tuple[int, int, dict[str, DirSignature], Mapping[str, DirSignature]]


@lru_cache(maxsize=4)
def _settled_dirs(saved: str, mine: str) -> SavedTrust | None:
    """The record parsed, once per value: an idle round reads back the one
    it left, and parsing it (a signature per author's directory) each time
    made the round grow with the group. Never changed by its callers: the
    result is shared by every round that reads the same record."""
    try:
        record = json.loads(saved)
        listed_at, full_at = int(record["at"]), int(record["full"])
        dirs = {str(path): (int(sig[0]), int(sig[1]), int(sig[2])) for path, sig in record["dirs"].items()}
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    settled_before = listed_at - folder_rules.RACY_SECONDS * 1e9
    settled = {path: sig for path, sig in dirs.items() if path != mine and max(sig[1], sig[2]) < settled_before}
    return listed_at, full_at, dirs, settled


@dataclass
class _Round:
    """What an import round knows of the files it reads: the seq runs read
    so far, the files' records (folder_queries.file_records), and the authors whose
    ops wait in the log."""

    read: SeqRuns
    records: Mapping[str, losses.Settled]
    waiting: frozenset[str]


@dataclass(frozen=True)
class Quarantined:
    file: str
    reason: str
    new: bool = True  # looked at this round; False: refused in an earlier round, unchanged since

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "reason": self.reason, "new": self.new}


@dataclass
class SyncReport:
    exported: int = 0  # ops of ours written to the folder this round
    imported: int = 0  # ops of others newly filed in our log this round
    pending: int = 0  # ops or files waiting: chain gaps, future HLCs, missing epoch keys
    quarantined: list[Quarantined] = field(default_factory=list)
    forks: int = 0
    # ops of ours the group's log now refuses, found this round (e.g. a reply
    # that reached the others after a moderator's time-out): (op kind, refusal)
    refused_mine: list[tuple[str, Refusal]] = field(default_factory=list)
    reports_sent: int = 0  # our sealed reports put in the folder this round
    reports_waiting: int = 0  # ours still in the outbox: they go in a round that sends nothing else of ours
    # not admitted yet: what the moderators answered our join request, if they
    # did ("declined", "invite used up", "invite expired"; sync/membership.py)
    join_answer: str | None = None
    # we started a new key epoch this round: someone had gone (sync/roster.py)
    renewed_key: bool = False
    # we asked for keys that did not reach us (a key need, sync/roster.py)
    asked_for_keys: bool = False
    # new devices of ours a pairing code of this home let in (sync/devices.py)
    devices_added: int = 0
    # pairing requests refused: made with a code another request had used
    pairings_refused: int = 0
    # where a directory of the group belongs, a link (or a file) is, never
    # followed: path -> what is there (FolderStore.links)
    links: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "exported": self.exported,
            "imported": self.imported,
            "pending": self.pending,
            "quarantined": [q.to_json() for q in self.quarantined],
            "forks": self.forks,
            "refused_mine": [{"kind": k, "reason": r.for_others()} for k, r in self.refused_mine],
            "reports_sent": self.reports_sent,
            "reports_waiting": self.reports_waiting,
            "join_answer": self.join_answer,
            "renewed_key": self.renewed_key,
            "asked_for_keys": self.asked_for_keys,
            "links": sorted(self.links),
            "pairings_refused": self.pairings_refused,
        }


class SyncEngine:
    def __init__(
        self,
        group: Group,
        folder: FolderStore,
        keyring: Keyring,
        *,
        send_reports: bool = True,
        packing: PackPolicy | None = None,
        seen: SeenChanges | None = None,
    ) -> None:
        self.group = group
        self.store = group.store
        self.folder = folder
        self.keyring = keyring
        # False when this round's files will travel with earlier ones of ours
        # (a git clone with unpushed commits): our reports wait for a later round.
        self.send_reports = send_reports
        # The epochs whose keys the files waiting this round need, with who
        # signed them (a round reads every waiting file again): roster asks
        # for those of active members' files.
        self.lacking: dict[int, set[str]] = {}
        # Our member's other devices, read once a round after pairings are
        # approved: taking and sharing read marks and supplying keys use it.
        self.siblings: list[log_queries.Sibling] = []
        self.packing = packing or PackPolicy()
        # What a watch running beside the rounds saw change (sync/watched.py).
        self.seen = seen
        # The trusted directories' record as this round read it (_settled_dirs).
        self._saved_trust: SavedTrust | None = None
        # The listing whose lost files of ours were last looked for (_recover_lost_exports).
        self._losses_noted: dict[str, FolderFile] | None = None

    def run(self) -> SyncReport:
        if self.seen is None:
            return self._run(None)
        with self.seen.taken() as changed:
            return self._run(changed)

    def _run(self, changed: frozenset[str] | None) -> SyncReport:
        """The round; `changed`: the directories a watch saw change since
        the round before, if one has watched all along (sync/folder.py `list`)."""
        synced_before = self.store.get_meta("last_sync") is not None
        self.folder.check(expect_existing=synced_before)
        self.folder.prepare()
        report = SyncReport()
        self.lacking = {}
        listed_at = time.time_ns()
        trusted, full_at = self._trusted_dirs(listed_at)
        # A full listing (nothing trusted) lists every directory, whatever the watch saw.
        names = self.seen.names if self.seen is not None and trusted else None
        listing = {f.path: f for f in self.folder.list(trusted, changed if trusted else None, names)}
        listed = set(listing)
        refused_before = self._refused_mine()
        unopened = self.catch_up(listing, report)
        report.refused_mine = [v for k, v in self._refused_mine().items() if k not in refused_before]
        report.exported = self.export(listing)  # under the newest key we hold now: see the module docstring
        # A new key epoch when someone who holds the current key has left or
        # been removed: a moderator starts it, or a member who needs it.
        report.renewed_key = self.rotate_as_needed(listing, report)
        grant_missing_keys(self.group, self.folder, self.keyring)  # a member a rotation missed
        with suppress(LinkInFolder):  # a link where keys/<device>/ belongs: tried again next round
            # keys that reached us after a pairing
            when_changed(
                self.group,
                self.keyring,
                "devices",
                lambda: supply_my_devices(self.group, self.folder, self.keyring, self.siblings),
            )
        report.asked_for_keys = ask_for_missing_keys(  # or a key that missed us
            self.group, self.folder, self.keyring, unopened, self.lacking
        )
        self._moderate(report)
        # someone went whose remover held no key of the circle
        when_changed(self.group, self.keyring, "circles", lambda: renew_stale_circle_keys(self.group))
        report.join_answer = join_answer(self.group, self.folder, self.keyring.exchange) or pairing_answer(
            self.group, self.folder, self.keyring.exchange
        )
        # Importing may have announced the key we were granted (a newly
        # admitted member can write from now on), or we just rotated.
        report.exported += self.export(listing)
        # Our read marks for our other devices, once a round, before the
        # reports: a round that wrote them sends none.
        with suppress(LinkInFolder):
            share_read_marks(self.group, self.folder, self.siblings)
        # Packing writes and deletes files of ours, so it comes before the
        # reports: a round that packed sends none.
        Packer(self.group, self.folder, self.keyring, self.packing).run(listing, listed)
        # A report never travels with anything else of ours: in a round that
        # wrote files of ours it waits, so no file time or git commit ties it
        # to the member who sent it.
        if self.send_reports and self.folder.written == 0:
            report.reports_sent = deliver_reports(self.group, self.folder)
        report.reports_waiting = len(waiting_reports(self.group))
        with self.store.db.atomic():
            self._trust_dirs(listed_at, full_at if trusted else listed_at)
            self.store.set_meta("last_sync", str(self.group.now_hlc()))
        return report

    # --- what the next round need not list again ------------------------------

    def _trusted_dirs(self, at: int) -> tuple[Mapping[str, DirSignature], int]:
        """The directories whose files the last round recorded settled, with
        their signatures, that this round need not list if they still have
        them; and when every directory was last listed. None are trusted once
        that is FULL_LISTING_SECONDS ago (a file rewritten in place leaves
        its directory's times as they were), nor any whose times are within
        RACY_SECONDS of the listing that recorded them, nor our own (what
        became of our files is checked every round: sync/losses.py)."""
        self._saved_trust = _settled_dirs(
            self.store.get_meta(sync_files.TRUSTED_DIRS_META, "") or "", f"changes/{self.group.device}"
        )
        if self._saved_trust is None:
            return {}, at
        _, full_at, _, settled = self._saved_trust
        if not 0 <= at - full_at < folder_rules.FULL_LISTING_SECONDS * 1e9:
            return {}, at
        return settled, full_at

    def _trust_dirs(self, listed_at: int, full_at: int) -> None:
        """Keep the directories this round found plain (sync/folder.py) and
        holding no file that waits, for the next round to skip if unchanged.
        When every one but ours was trusted and all are as recorded, the
        record stands as it is: rewriting it would change only its time."""
        waiting = {path.rpartition("/")[0] for path in folder_queries.waiting_file_paths(self.store.conn)}
        plain = self.folder.plain_dirs
        dirs = {path: sig for path, sig in plain.items() if path not in waiting} if waiting else plain
        saved = self._saved_trust
        others = dirs.keys() - {f"changes/{self.group.device}"}
        if saved is not None and saved[1] == full_at and saved[2] == dirs and others <= self.folder.skipped:
            return
        self.store.set_meta(
            sync_files.TRUSTED_DIRS_META,
            json.dumps(
                {"at": listed_at, "full": full_at, "dirs": {p: list(s) for p, s in dirs.items()}}, sort_keys=True
            ),
        )

    def catch_up(self, listing: dict[str, FolderFile], report: SyncReport) -> list[GrantHeader]:
        """Take in what the others put in the folder, before anything of ours
        goes out: the epoch keys granted to us, then their changesets.
        Returns the signed grants that did not open, for a key need."""
        # Before the import reads (and quarantines) a file of ours that was
        # damaged, which would forget it was ours: its ops go out again.
        self._recover_lost_exports(listing)
        unopened = self._receive_grants()
        self.import_new(listing, report)
        self.group.take_up_device()  # a new device: its certificate may just have come in
        # and on a device we have, the new ones a pairing code of ours lets in
        pairings = approve_pairings(self.group, self.folder, self.keyring)
        report.devices_added += pairings.approved
        report.pairings_refused += pairings.refused
        self.siblings = log_queries.sibling_devices(self.group.conn, self.group.me, self.group.device)
        self._take_read_marks(report)
        return unopened

    def _take_read_marks(self, report: SyncReport) -> None:
        """What our other devices read is read here too (sync/read_marks.py)."""
        _, refused = take_read_marks(
            self.group, self.folder, self.keyring.exchange, self.siblings, imported=report.imported > 0
        )
        for bad in refused:
            self._quarantine(FolderFile(bad.file, len(bad.data), 0), bad.data, bad.reason)
            report.quarantined.append(Quarantined(bad.file, conflicts.explained(bad.file, bad.reason)))

    def _refused_mine(self) -> dict[str, tuple[str, Refusal]]:
        return self.store.refused_ops(self.group.device)

    def rotate_as_needed(
        self, listing: dict[str, FolderFile], report: SyncReport, *, about_to_write: bool = False
    ) -> bool:
        """Rotate once per departure not yet rotated for, in order, when it is
        ours to do (roster.should_rotate), exporting after each: what we wrote
        up to the next departure, if we made it, goes out under a key that
        member still holds, so they learn of their own removal; nothing after
        it does (roster.sendable_seq). Returns whether we rotated."""
        rotated = False
        try:
            departed = rotate_if_needed(self.group, self.folder, self.keyring, about_to_write=about_to_write)
            while departed is not None:
                rotated = True
                report.exported += self.export(listing)
                departed = rotate_if_needed(
                    self.group, self.folder, self.keyring, departed, about_to_write=about_to_write
                )
        except LinkInFolder:
            pass  # a grant could not be written (a link where keys/<member>/ belongs): that rotation waits
        return rotated

    def _moderate(self, report: SyncReport) -> None:
        """As a moderator, keep the moderators' key current, file new reports
        (sync/delivery.py) and tell joiners whose invite can no longer
        admit them (sync/requests.py)."""
        if not self.group.is_moderator:
            return
        answer_requests(self.group, self.folder)
        for refused in moderation_round(self.group, self.folder, self.keyring.exchange):
            if refused.data is not None:
                self._quarantine(FolderFile(refused.file, len(refused.data), 0), refused.data, refused.reason)
            reason = conflicts.explained(refused.file, refused.reason)
            report.quarantined.append(Quarantined(refused.file, reason, new=refused.data is not None))

    # --- export --------------------------------------------------------------

    def export(self, listing: dict[str, FolderFile]) -> int:
        if self.folder.blocked(f"changes/{self.group.device}"):
            # A link where our directory belongs: nothing goes through it,
            # and our files there are not lost; all of it waits in the outbox.
            return 0
        self._recover_lost_exports(listing)
        exported_seq = int(self.store.get_meta("exported_seq", "0") or 0)
        current = self.keyring.writable(self._announced())
        if current is None:
            return 0  # not admitted yet: nothing of ours can be written readably
        epoch, key = current.epoch, current.key
        rows = losses.rows_to_send(self.store, self.group.device, exported_seq)
        ops = [self.store.read_op(*row) for row in rows]  # a post deleted before it went out: unsealed
        # Someone who holds this key has gone and nobody has rotated yet:
        # what we wrote up to a removal of ours may go (so the member learns
        # of it); the rest waits for the new key.
        sendable = sendable_seq(self.group, self.keyring)
        if sendable is not None:
            ops = [op for op in ops if op.seq <= sendable]
        written = 0
        for chunk in _chunks(ops, EXPORT_CHUNK):
            for part in self._fit(chunk, epoch, key):
                data = encode_changeset(
                    part, group_id=self.group.id, epoch=epoch, epoch_key=key, identity=self.group.identity
                )
                name = "changes/" + changeset_name(peek_header(data))
                try:
                    info = self.folder.write_once(name, data)
                except LinkInFolder:
                    return written  # made a link since we looked: the rest waits in the outbox
                with self.store.db.atomic():
                    self._record(info, hashlib.sha256(data).hexdigest(), "mine", None, part[0].seq, part[-1].seq)
                    losses.resent(self.store, part[0].seq, part[-1].seq)
                    self.store.set_meta("exported_seq", str(max(exported_seq, part[-1].seq)))
                listing[info.path] = info
                written += len(part)
        return written

    def _announced(self) -> set[tuple[int, str]]:
        return log_queries.announced_epoch_keys(self.store.conn)

    def _receive_grants(self) -> list[GrantHeader]:
        """Pick up epoch keys members wrapped for us (files under keys/<me>/).
        Returns the signed grants that did not open, for a key need."""
        unopened = []
        taken = self._grants_taken()
        now_taken: dict[str, list[int]] = {}
        for path in self.folder.small_files(f"keys/{self.group.device}", GRANT_SUFFIX):
            try:
                info = self.folder.stat(path)
                seen = [info.st_size, info.st_mtime_ns]
                if taken.get(path) == seen:  # its keys are in our keyring already
                    now_taken[path] = seen
                    continue
                data = self.folder.read(path, MAX_GRANT_BYTES)
                grant = decode_grant(data, group_id=self.group.id, me=self.group.device, exchange=self.keyring.exchange)
            except GrantWontOpen as exc:
                unopened.append(exc.header)
                continue
            except (OSError, BadMembershipFile):
                continue  # not for us, damaged, or forged: it grants nothing
            self.keyring.add(grant.keys, grant.granter)
            now_taken[path] = seen
        if now_taken != taken:
            with self.store.db.atomic():
                self.store.set_meta(GRANTS_TAKEN_META, json.dumps(now_taken, sort_keys=True))
        return unopened

    def _grants_taken(self) -> dict[str, list[int]]:
        """Our grants whose keys the keyring holds: path -> [size, mtime_ns] when read."""
        try:
            taken = json.loads(self.store.get_meta(GRANTS_TAKEN_META, "") or "{}")
        except ValueError:
            return {}
        return taken if isinstance(taken, dict) else {}

    def _fit(self, ops: list[Op], epoch: int, key: bytes) -> list[list[Op]]:
        """Split ops until each part encodes under the file size limit."""
        try:
            encode_changeset(ops, group_id=self.group.id, epoch=epoch, epoch_key=key, identity=self.group.identity)
            return [ops]
        except ChangesetTooLarge:
            if len(ops) == 1:
                raise
            middle = len(ops) // 2
            return self._fit(ops[:middle], epoch, key) + self._fit(ops[middle:], epoch, key)

    def _recover_lost_exports(self, listing: dict[str, FolderFile]) -> None:
        """If files we wrote have vanished (the folder was rolled back or
        restored from an old copy) or changed bytes (damaged in transit or on
        disk), write the ops they held again in a new file: nobody else can
        read past a missing file of ours, so without this everything we write
        after it would wait forever. A damaged file stays where it is (we
        never delete in the folder); everyone, us included, quarantines it.
        A new time alone is no loss (sync/losses.py).

        Once per listing: what the folder lost shows in the listing, and the
        files a round writes after looking are recorded as they are written,
        so a second look at the same listing finds nothing new."""
        if listing is self._losses_noted:
            return
        losses.note_lost_files(self.store, self.folder, listing, self.group.device)
        self._losses_noted = listing

    # --- import --------------------------------------------------------------

    def import_new(self, listing: dict[str, FolderFile], report: SyncReport) -> None:
        reread_skips_in_doubt(self.group)
        known = folder_queries.files_seen_at(self.store.conn, listing)
        todo = sorted(
            (
                f
                for f in listing.values()
                if f.path not in known
                or known[f.path][2] == "waiting"
                or (known[f.path][0], known[f.path][1]) != (f.size, f.mtime_ns)
            ),
            key=lambda f: read_order(f.path),
        )
        batch: list[Op] = []
        records: list[FileRecord] = []
        # One transaction for the whole round, folded once at the end. A batch
        # per transaction folded each batch on its own, and files come author by
        # author, so a later batch's ops sorted among the earlier one's and the
        # store re-folded the whole log (bench_import, 100k: ~2/3 of the time).
        # Batches still bound memory: a full batch is filed in the log (not
        # folded) and its ops dropped; the final ingest folds all of it. A kill
        # anywhere leaves nothing of the round, and re-running it is idempotent.
        big = (
            self.store.bulk_import(rollback_journal=sum(f.size for f in todo) > ROLLBACK_JOURNAL_BYTES)
            if len(todo) > BULK_FILES
            else nullcontext()
        )
        read = SeqRuns()  # what this round has read: a file it holds all of is skipped
        # What the round asks of every file, asked once: the records of the
        # files it reads, and whose ops wait (held_already). Nothing changes
        # either until a batch is filed.
        round_ = _Round(
            read, folder_queries.file_records(self.store.conn, [f.path for f in todo]), self._waiting_authors()
        )
        with big, _cyclic_gc_paused(), self.store.db.atomic():
            for info in todo:
                record = self._read_one(info, batch, round_)
                records.append(record)
                if len(batch) >= IMPORT_BATCH_OPS:
                    self._commit(batch, records, report, fold=False)
                    batch, records = [], []
                    round_.waiting = self._waiting_authors()
            self._commit(batch, records, report)
            # Free the decoded ops while the cyclic GC is still paused: the
            # first collection after it resumes walked every one of them
            # (~0.3 s of a 100k import, sampled with py-spy).
            batch.clear()
        looked_at = {f.path for f in todo}
        report.quarantined = [
            Quarantined(p, r, new=p in looked_at)
            for p, r in folder_queries.quarantined_files(self.store.conn)
            if p in listing or self.folder.holds(p)
        ]
        report.pending = log_queries.held_op_count(self.store.conn) + folder_queries.waiting_file_count(self.store.conn)
        report.links = dict(self.folder.links)

    def _waiting_authors(self) -> frozenset[str]:
        return frozenset(log_queries.authors_with_held_ops(self.store.conn))

    def _read_one(self, info: FolderFile, batch: list[Op], round_: _Round) -> FileRecord:
        if info.refused:
            return self._quarantine(info, None, info.refused)
        if not info.regular:
            # a FIFO would block a read forever; a link may point anywhere
            return self._quarantine(info, None, "not a regular file (a link, pipe or device); left unopened")
        if info.size > MAX_FILE_BYTES:
            return self._quarantine(info, None, f"file is {info.size} bytes, over the {MAX_FILE_BYTES} byte limit")
        if held_already(self.group, info.path, round_.read, round_.waiting):
            return (info, "", "imported", HELD_ALREADY, None, None)
        try:
            data = self.folder.read(info.path, MAX_FILE_BYTES)
        except OSError as exc:
            return (info, "", "waiting", f"could not read: {exc.strerror}", None, None)
        if len(data) > MAX_FILE_BYTES:
            return self._quarantine(info, None, f"file is over the {MAX_FILE_BYTES} byte limit")
        digest = hashlib.sha256(data).hexdigest()
        if settled := losses.settled_as(round_.records.get(info.path), digest):
            return (info, *settled)  # the same bytes under a new time: as it was
        if folder_queries.file_already_imported(self.store.conn, digest):
            return (info, digest, "imported", "duplicate of a file already imported", None, None)
        try:
            changeset = decode_changeset(data, group_id=self.group.id, epoch_keys=self.keyring.epochs)
        except UnknownEpoch as exc:
            self.lacking.setdefault(exc.epoch, set()).add(exc.author)
            return (info, digest, "waiting", exc.reason, None, None)
        except BadChangeset as exc:
            return self._quarantine(info, data, exc.reason, digest)
        if undated := _undated(changeset.ops):
            return self._quarantine(
                info, data, f"op at seq {undated.seq} is dated outside the supported range ({SUPPORTED_RANGE})", digest
            )
        batch.extend(changeset.ops)
        round_.read.add(changeset.author, changeset.first_seq, changeset.last_seq)
        status = "mine" if changeset.author == self.group.device else "imported"
        return (info, digest, status, None, changeset.first_seq, changeset.last_seq)

    def _quarantine(self, info: FolderFile, data: bytes | None, reason: str, digest: str | None = None) -> FileRecord:
        """Keep a copy of a rejected file in the home with its reason (the
        copy while the quarantine's caps allow it, the record longer)."""
        reason = conflicts.explained(info.path, reason)  # a sync software's conflict copy is named as such
        if data is not None:
            digest = digest or hashlib.sha256(data).hexdigest()
            keep_in_quarantine(
                self.group.path / QUARANTINE_DIR,
                digest,
                data,
                {"file": info.path, "reason": reason, "digest": digest, "at": iso(now())},
            )
        return (info, digest or "", "quarantined", reason, None, None)

    def _commit(self, batch: list[Op], records: list[FileRecord], report: SyncReport, fold: bool = True) -> None:
        with self.store.db.atomic():
            # Even with nothing new, held ops get another look: a far-future
            # op whose time has come is released and folded now.
            result: IngestResult = self.store.ingest(batch) if fold else self.store.file(batch)
            sync_files.record_files(
                self.store.conn,
                [
                    (info.path, info.size, info.mtime_ns, digest, status, reason, first, last)
                    for info, digest, status, reason, first, last in records
                ],
            )
        report.imported += result.added
        report.forks += len(result.forks)

    def _record(
        self, info: FolderFile, digest: str, status: str, reason: str | None, first: int | None, last: int | None
    ) -> None:
        sync_files.record_file(
            self.store.conn, info.path, info.size, info.mtime_ns, digest, status, reason, first, last
        )


def keep_in_quarantine(box: Path, digest: str, data: bytes, record: dict[str, Any]) -> None:
    """Write the copy and its record, then drop the oldest copies (and
    records) over the caps. Best effort: the quarantine is a courtesy copy,
    the sync_files row is the record that counts, and a full disk must not
    stop the import."""
    try:
        box.mkdir(exist_ok=True, mode=0o700)
        name = digest[:24]
        write_atomically(box / f"{name}.json", json.dumps(record).encode(), mode=0o600)
        if len(data) <= QUARANTINE_MAX_BYTES:
            write_atomically(box / f"{name}.tsc", data, mode=0o600)
        _drop_oldest(box, ".tsc", QUARANTINE_MAX_FILES, QUARANTINE_MAX_BYTES)
        _drop_oldest(box, ".json", QUARANTINE_MAX_RECORDS, None)
    except OSError:
        pass


def _drop_oldest(box: Path, suffix: str, max_files: int, max_bytes: int | None) -> None:
    """Remove the oldest files ending in `suffix` until at most `max_files`
    remain and (if given) they hold at most `max_bytes`."""
    kept = []
    for path in box.glob(f"*{suffix}"):
        with suppress(OSError):
            info = path.lstat()
            kept.append((info.st_mtime_ns, path.name, info.st_size, path))
    kept.sort()
    count, total = len(kept), sum(size for _, _, size, _ in kept)
    for _, _, size, path in kept:
        if count <= max_files and (max_bytes is None or total <= max_bytes):
            break
        with suppress(FileNotFoundError):
            path.unlink()
        count, total = count - 1, total - size


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """An import allocates a dozen objects per op and frees few until it ends,
    so the cyclic GC kept re-scanning every op decoded so far: ~15% of a 100k
    import (bench_import). Reference counting still frees as usual; cycles wait."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _undated(ops: list[Op]) -> Op | None:
    """The first op dated outside the supported range, if any. The range is
    one interval: if the oldest and newest times are in it, every one is, and
    a pack's hundreds of ops are not each asked."""
    hlcs = [op.hlc for op in ops]
    if hlcs and hlc_in_range(min(hlcs)) and hlc_in_range(max(hlcs)):
        return None
    return next((op for op in ops if not hlc_in_range(op.hlc)), None)


def _chunks(ops: list[Op], size: int) -> list[list[Op]]:
    """Our `ops` (by seq) in runs of at most `size`, each one chain, as a
    changeset holds. Our own chain forks when a home restored from a backup
    writes again: the import brings back the ops the backup lacked, so two
    of ours share a seq, and each goes out in a run of its own."""
    runs: list[list[Op]] = []
    open_runs: dict[str, list[Op]] = {}  # the id of each run's last op -> the run, while it has room
    for op in ops:
        run = open_runs.pop(op.prev, None) if op.prev else None
        if run is None or run[-1].seq != op.seq - 1:
            run = []
            runs.append(run)
        run.append(op)
        if len(run) < size:
            open_runs[op.id] = run
    return runs


assert EXPORT_CHUNK <= MAX_OPS_PER_FILE
