"""How a sealed report reaches the moderators, without naming its reporter.

A report travels in two steps, so no op ever names its reporter:
1. the reporter seals it (with their signature inside) and drops the file in
   `reports/` in the shared folder (via an outbox in their home, so an
   unreachable folder loses nothing; the home keeps only ciphertext);
2. a moderator's sync opens it, checks the signature, and files the same
   sealed bytes in the log as a `mod.record` op, so every moderator sees it
   and it survives the folder losing the file.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tablespace.core import folder_queries, log_queries, sync_files
from tablespace.core.errors import TablespaceError
from tablespace.core.files import write_atomically
from tablespace.core.fold import record_id
from tablespace.core.group import Group
from tablespace.sync.folder import FolderStore
from tablespace.sync.keys import ExchangeKey
from tablespace.sync.moderator_key import rotate_mod_key_if_needed
from tablespace.sync.sealing import (
    MAX_SEALED_BYTES,
    NotForMe,
    SealedRecordError,
    check_report,
    held_mod_keys,
    open_for_moderators,
    sealed_key_id,
)

REPORTS_DIR = "reports"
REPORT_SUFFIX = ".tsm"
OUTBOX_DIR = "outbox"  # in the group's directory in the home: sealed reports not yet delivered


# --- the reporter's side ----------------------------------------------------------------


def put_in_outbox(group: Group, sealed: bytes) -> str:
    """Keep a sealed report in the home until it is in the shared folder;
    returns its record id."""
    rid = record_id(sealed)
    outbox = group.path / OUTBOX_DIR
    outbox.mkdir(mode=0o700, exist_ok=True)
    write_atomically(outbox / f"{rid}{REPORT_SUFFIX}", sealed, mode=0o600)
    return rid


def deliver_reports(group: Group, folder: FolderStore) -> int:
    """Move sealed reports from the outbox to the shared folder (write-once).

    Call it only when nothing else of ours is being written (SyncEngine.run,
    the `report` command): a report that landed beside the reporter's own
    changesets, or in the same git commit, would name them to anyone who
    looks at the folder. The files carry NEUTRAL_TIME for the same reason."""
    sent = 0
    for item in waiting_reports(group):
        try:
            folder.write_once(f"{REPORTS_DIR}/{item.name}", item.read_bytes(), timeless=True)
        except OSError:
            break  # the folder refused (full, read-only, reports/ is not a directory): the outbox keeps them
        item.unlink()
        sent += 1
    return sent


def waiting_reports(group: Group) -> list[Path]:
    """Our sealed reports not yet in the shared folder."""
    outbox = group.path / OUTBOX_DIR
    return sorted(outbox.glob(f"*{REPORT_SUFFIX}")) if outbox.is_dir() else []


# --- the moderators' side ----------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    file: str
    reason: str
    data: bytes | None = None  # the bytes to keep in quarantine, when newly refused


def receive_reports(group: Group, folder: FolderStore, exchange: ExchangeKey) -> list[Refused]:
    """File every new report in the folder in the log (moderators only).

    Like changesets, each file is looked at once per version (sync_files):
    a bad one is refused with its reason and left where it is, and tried
    again only if it changes; one sealed to a key we do not hold yet waits.
    The moderators' keys are unwrapped only when a new file needs opening.
    """
    seen = folder_queries.files_looked_at(group.conn, f"{REPORTS_DIR}/")
    held: Mapping[str, X25519PrivateKey] | None = None
    refused = []
    for path in folder.small_files(REPORTS_DIR, REPORT_SUFFIX):
        try:
            info = folder.stat(path)
        except OSError:
            continue  # gone: a missing file is never a delete
        # Report files all carry NEUTRAL_TIME and one padded size: the change
        # time tells a replaced file (a transfer completing) from the one seen.
        version = (info.st_size, info.st_ctime_ns)
        before = seen.get(path)
        if before is not None and before[:2] == version and before[2] != "waiting":
            if before[2] == "quarantined":
                refused.append(Refused(path, before[3] or ""))  # a quarantine always records its reason
            continue  # looked at already, unchanged: not read again
        try:
            data = folder.read(path, MAX_SEALED_BYTES)
        except OSError:
            continue  # being written: a later round
        filed = log_queries.mod_record_filed(group.conn, record_id(data))
        status, reason = "imported", None
        try:
            if not filed:  # another moderator may have filed it already
                held = held_mod_keys(group, exchange) if held is None else held
                check_report(open_for_moderators(data, group.id, held), group)
        except NotForMe as exc:
            status, reason = "waiting", exc.reason
        except SealedRecordError as exc:
            status, reason = "quarantined", exc.reason
            refused.append(Refused(path, exc.reason, data))
        with group.store.db.atomic():
            if status == "imported" and not filed:
                group.write(
                    "mod.record", {"key": sealed_key_id(data, group.id), "sealed": base64.b64encode(data).decode()}
                )
            sync_files.record_file(group.conn, path, *version, hashlib.sha256(data).hexdigest(), status, reason)
    return refused


def moderation_round(group: Group, folder: FolderStore, exchange: ExchangeKey) -> list[Refused]:
    """Each sync, as a moderator (SyncEngine checks): keep the moderators'
    key current and file new reports in the log."""
    try:
        rotate_mod_key_if_needed(group, exchange)
    except TablespaceError:
        pass  # refused by the fold (e.g. a rotation racing ours): the next round tries again
    return receive_reports(group, folder, exchange)
