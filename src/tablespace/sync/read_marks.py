"""A member's read marks, carried to their other devices and to nobody else.

Each device of a member with several writes, at most once per sync round,
one file in its own directory of the folder, `reads/<device>/<hash16>.tso`,
sealed to the exchange keys of the member's other current devices (as the
log has them): the marks raised since its last file (a delta), or the whole
map (a full one) when the devices it writes for changed or after
DELTAS_PER_FULL deltas. Writing a full one removes every earlier file of
the device's, so a new device reads the current map, not its history, and
a removed one gets nothing written after the removal. A member with one
device writes nothing. Layout in docs/changeset-format.md ("Read marks").

Reading: each round, the files under the directories of our other current
devices not looked at yet (sync_files), checked (size, layout, group,
writer, signature) before anything is opened; a bad one is quarantined with
its reason, one sealed to others (written before this device was added) is
passed over. Marks are applied as core/read_marks.py says.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tablespace.core import folder_queries, read_marks, sync_files
from tablespace.core.group import Group
from tablespace.core.identity import author_id_for, verify_signature
from tablespace.core.log_queries import Sibling
from tablespace.core.read_marks import Marks
from tablespace.core.stanza import hkdf
from tablespace.sync.folder import FolderStore, LinkInFolder
from tablespace.sync.keys import STANZA_BYTES, ExchangeKey, KeyWrapError, unwrap_key, wrap_key
from tablespace.sync.sealing import SealedRecordError

READS_DIR = "reads"
SUFFIX = ".tso"
MAGIC = b"TSO1"
BODY_INFO = b"tablespace own devices record v1"
SIGNED_LABEL = b"tablespace own devices record v1\x00"
HEADER = struct.Struct(">4s16s16sB")  # magic, group id, writer's device id, stanza count
SIG_BYTES = 64
TAG_BYTES = 16
MARK = struct.Struct(">16sQ")  # thread id, read HLC
BODY_HEAD = struct.Struct(">BI")  # full (1) or delta (0), mark count
PAD_TO = 512
STANZAS_ROUND_TO = 4  # stanza count rounded up with random ones: says little of how many devices
MAX_STANZAS = 32
MAX_MARKS = 100_000  # a full map past this keeps the newest marks
MAX_RECORD_BYTES = 3 * 2**20
DELTAS_PER_FULL = 16
OUT_META = "read_marks_out"  # {"to": [device ids written for], "deltas": count since the last full}


class BadReadMarks(SealedRecordError):
    """A read-marks file that is damaged, forged or not what it claims to be."""


class NotForThisDevice(BadReadMarks):
    """Sealed to other devices: written before this one was added."""


@dataclass(frozen=True)
class ReadMarks:
    writer: str
    full: bool
    marks: Marks


@dataclass(frozen=True)
class Refused:
    file: str
    reason: str
    data: bytes


# --- the file -------------------------------------------------------------------------


def encode_read_marks(group: Group, recipients: list[bytes], marks: Marks, *, full: bool) -> bytes:
    """One sealed, signed file of `marks` for the exchange keys `recipients`."""
    chosen = sorted(marks.items(), key=lambda item: -item[1])[:MAX_MARKS]
    plain = BODY_HEAD.pack(1 if full else 0, len(chosen)) + b"".join(
        MARK.pack(bytes.fromhex(thread), hlc) for thread, hlc in sorted(chosen)
    )
    plain += bytes(-len(plain) % PAD_TO)
    file_key = os.urandom(32)
    stanzas = [wrap_key(file_key, public) for public in recipients]
    while len(stanzas) % STANZAS_ROUND_TO:
        stanzas.append(os.urandom(STANZA_BYTES))  # as random as a real one to anyone but its holder
    head = HEADER.pack(MAGIC, bytes.fromhex(group.id), bytes.fromhex(group.device), len(stanzas)) + b"".join(stanzas)
    body = ChaCha20Poly1305(hkdf(file_key, salt=None, info=BODY_INFO)).encrypt(bytes(12), plain, head)
    return head + body + group.identity.sign(SIGNED_LABEL + head + body)


def decode_read_marks(
    data: bytes, *, group_id: str, writer: str, public_key: bytes, exchange: ExchangeKey
) -> ReadMarks:
    """Check everything a file claims before opening it; raises BadReadMarks."""
    if len(data) > MAX_RECORD_BYTES:
        raise BadReadMarks(f"over the {MAX_RECORD_BYTES} byte limit")
    if len(data) < HEADER.size + SIG_BYTES + TAG_BYTES:
        raise BadReadMarks("too short to be read marks")
    magic, group, device, count = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise BadReadMarks("not read marks")
    if group.hex() != group_id:
        raise BadReadMarks("read marks of another group")
    if device.hex() != writer or author_id_for(public_key) != writer:
        raise BadReadMarks("read marks under another device's directory")
    if not 0 < count <= MAX_STANZAS or count % STANZAS_ROUND_TO:
        raise BadReadMarks("read marks with a bad number of stanzas")
    end = HEADER.size + count * STANZA_BYTES
    signed, signature = data[:-SIG_BYTES], data[-SIG_BYTES:]
    if len(signed) < end + TAG_BYTES or not verify_signature(public_key, signature, SIGNED_LABEL + signed):
        raise BadReadMarks("the read marks' signature does not match their device")
    file_key = _open_stanza(data[HEADER.size : end], count, exchange)
    try:
        plain = ChaCha20Poly1305(hkdf(file_key, salt=None, info=BODY_INFO)).decrypt(
            bytes(12), signed[end:], signed[:end]
        )
    except InvalidTag:
        raise BadReadMarks("the read marks are damaged") from None
    return ReadMarks(writer, *_parse_body(plain))


def _open_stanza(stanzas: bytes, count: int, exchange: ExchangeKey) -> bytes:
    for i in range(count):
        try:
            return unwrap_key(stanzas[i * STANZA_BYTES : (i + 1) * STANZA_BYTES], exchange.private_key)
        except KeyWrapError:
            continue
    raise NotForThisDevice("sealed to the member's other devices, not this one")


def _parse_body(plain: bytes) -> tuple[bool, Marks]:
    """One encoding only: flag 0 or 1, marks by strictly ascending thread
    id, zero padding to the next PAD_TO bytes and no more."""
    if len(plain) < BODY_HEAD.size or len(plain) % PAD_TO:
        raise BadReadMarks("read marks of a bad length")
    full, count = BODY_HEAD.unpack_from(plain)
    end = BODY_HEAD.size + count * MARK.size
    if full > 1 or count > MAX_MARKS or end > len(plain) or len(plain) - end >= PAD_TO or any(plain[end:]):
        raise BadReadMarks("read marks of a bad layout")
    marks: Marks = {}
    previous = b""
    for thread, hlc in MARK.iter_unpack(plain[BODY_HEAD.size : end]):
        if thread <= previous or hlc >= 2**63:
            raise BadReadMarks("read marks out of order")
        marks[thread.hex()] = hlc
        previous = thread
    return bool(full), marks


def marks_path(device: str, data: bytes) -> str:
    return f"{READS_DIR}/{device}/{hashlib.sha256(data).hexdigest()[:16]}{SUFFIX}"


# --- the round --------------------------------------------------------------------------


def share_read_marks(group: Group, folder: FolderStore, siblings: list[Sibling]) -> bool:
    """Write this round's file for our other devices, if anything is to be
    said; returns whether one was written. `siblings`: the round's
    `log_queries.sibling_devices`."""
    others = _other_devices(group, siblings)
    written_for, deltas = _out_state(group)
    if not others:
        if written_for:  # our last other device was removed: what we wrote for it goes
            _remove_ours(folder, group.device, keep=None)
            _save_out_state(group, [], 0)
        return False  # the usual member: one device, nothing written
    to = sorted(device for device, _ in others)
    full = written_for != to or deltas >= DELTAS_PER_FULL
    marks = read_marks.current_marks(group.conn) if full else read_marks.changed_marks(group.conn)
    if not marks and not (full and any(folder.small_files(f"{READS_DIR}/{group.device}", SUFFIX))):
        if full:
            _save_out_state(group, to, 0)
        return False
    data = encode_read_marks(group, [bytes.fromhex(x) for _, x in others], marks, full=full)
    path = marks_path(group.device, data)
    try:
        folder.write_once(path, data)
    except LinkInFolder:
        return False  # a link where our directory belongs: tried again next round
    if full:  # superseded: the new file holds all of it
        _remove_ours(folder, group.device, keep=path)
    with group.store.db.atomic():
        read_marks.note_shared(group.conn, marks)
        _save_out_state(group, to, 0 if full else deltas + 1)
    return True


def take_read_marks(
    group: Group, folder: FolderStore, exchange: ExchangeKey, siblings: list[Sibling], *, imported: bool
) -> tuple[int, list[Refused]]:
    """Apply the new files of our other devices, and, if the round
    `imported` ops, the marks that waited for them; returns how many reads
    rose and the files refused this round (to quarantine)."""
    others = _other_devices(group, siblings)
    raised, refused = 0, list[Refused]()
    if others:
        seen = folder_queries.files_looked_at(group.conn, f"{READS_DIR}/")
        listed: set[str] = set()
        for device, _ in others:
            public = read_marks.signing_key(group.conn, device)
            for path in folder.small_files(f"{READS_DIR}/{device}", SUFFIX):
                listed.add(path)
                raised += _take_one(group, folder, exchange, path, device, public, seen, refused)
        if gone := sorted(set(seen) - listed):  # superseded files, removed devices': their records go too
            with group.store.db.atomic():
                sync_files.drop_records(group.conn, gone)
    if imported and read_marks.any_waiting(group.conn):
        with group.store.db.atomic():
            raised += read_marks.release_waiting(group.conn, group.now_hlc())
    return raised, refused


def _take_one(
    group: Group,
    folder: FolderStore,
    exchange: ExchangeKey,
    path: str,
    device: str,
    public: bytes | None,
    seen: dict[str, tuple[int, int, str, str | None]],
    refused: list[Refused],
) -> int:
    try:
        info = folder.stat(path)
        before = seen.get(path)
        if before is not None and before[:2] == (info.st_size, info.st_mtime_ns):
            return 0  # looked at already, unchanged
        data = folder.read(path, MAX_RECORD_BYTES)
    except OSError:
        return 0  # gone or being written: a later round
    status, reason, raised = "imported", None, 0
    try:
        if public is None:
            raise BadReadMarks("no key of that device in the log")
        record = decode_read_marks(data, group_id=group.id, writer=device, public_key=public, exchange=exchange)
    except NotForThisDevice as exc:
        reason = exc.reason
        record = None
    except BadReadMarks as exc:
        status, reason, record = "quarantined", exc.reason, None
        refused.append(Refused(path, exc.reason, data))
    with group.store.db.atomic():
        if record is not None:
            now_hlc = group.now_hlc()
            raised = read_marks.apply_marks(group.conn, record.marks, now_hlc, max(now_hlc, group.store.clock.last))
        sync_files.record_file(
            group.conn, path, info.st_size, info.st_mtime_ns, hashlib.sha256(data).hexdigest(), status, reason
        )
    return raised


def _remove_ours(folder: FolderStore, device: str, keep: str | None) -> None:
    for old in list(folder.small_files(f"{READS_DIR}/{device}", SUFFIX)):
        if old != keep:
            folder.remove(old)


def _other_devices(group: Group, siblings: list[Sibling]) -> list[tuple[str, str]]:
    """(id, exchange key) of our member's other current devices, as the log
    has them; none unless this device is current itself."""
    if group.my_status != "active":
        return []
    return sorted((d, x) for d, x, _ in siblings)


def _out_state(group: Group) -> tuple[list[str] | None, int]:
    """Whom our last full file was for, and how many deltas followed it."""
    try:
        state = json.loads(group.store.get_meta(OUT_META, "") or "{}")
        return list(state["to"]), int(state["deltas"])
    except (ValueError, KeyError, TypeError):
        return None, 0


def _save_out_state(group: Group, to: list[str], deltas: int) -> None:
    with group.store.db.atomic():
        group.store.set_meta(OUT_META, json.dumps({"to": to, "deltas": deltas}, sort_keys=True))
