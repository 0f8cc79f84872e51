"""Sealing what only moderators may read, and opening it again.

Reports, who made them, decisions and notes are sealed to the **moderators'
key**, an X25519 key pair announced in the log by a `modkey.rotate` op (made
and renewed by sync/moderator_key.py): the public half in the clear (any
member can seal a report to it), the private half wrapped for each moderator
of the time, and the previous private key boxed under the new one, so
whoever holds the newest key can open every older record. Members see that
moderators wrote something, never what.

Sealed file / record layout (docs/changeset-format.md, "Moderators' records"):
    magic "TSM1" | group id (16) | moderators' key id (8) | eph_pub (32) | ciphertext+tag
with the first 28 bytes as associated data, and the plaintext JSON padded with
spaces to a multiple of 512 bytes so its length says little. A report also
carries its reporter's signature inside, checked here (`check_report`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tablespace.core import limits, log_queries, member_queries
from tablespace.core.clock import hlc_to_datetime
from tablespace.core.errors import Rejected, TablespaceError
from tablespace.core.fold import record_id
from tablespace.core.group import Group
from tablespace.core.home import EXCHANGE_KEY_NAME
from tablespace.core.identity import author_id_for, verify_signature
from tablespace.core.ops import InvalidOp, canonical_json, decode_payload
from tablespace.core.rituals import parse_start
from tablespace.sync.keys import ExchangeKey, KeyWrapError, open_previous_key, open_sealed, seal_to, unwrap_key

MAGIC = b"TSM1"
SEAL_INFO = b"tablespace sealed to moderators v1"
LINK_INFO = b"tablespace previous moderators key v1"  # its own label: not the epoch keys' chain
REPORT_FIELDS = frozenset(
    {
        "type",
        "group",
        "post",
        "thread",
        "post_author",
        "excerpt",
        "reason",
        "reporter",
        "reporter_key",
        "at",
        "nonce",
        "sig",
    }
)
HEADER_BYTES = len(MAGIC) + 16 + 8
PAD_TO = 512
MAX_SEALED_BYTES = 32 * 1024
REASON_MAX = 1000
EXCERPT_MAX = 600


class SealedRecordError(Exception):
    """A sealed record is damaged, forged or not what it claims to be."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotForMe(SealedRecordError):
    """Sealed to a moderators' key this home does not hold (yet)."""


# --- the moderators' key ------------------------------------------------------------


@dataclass(frozen=True)
class ModKey:
    epoch: int
    key_id: str
    public: bytes
    recipients: frozenset[str]


def current_mod_key(group: Group) -> ModKey | None:
    """The key new records are sealed to: the newest epoch, and within it the
    lowest key id (two moderators may rotate at once; everyone picks alike)."""
    row = log_queries.newest_mod_key(group.conn)
    if row is None:
        return None
    return ModKey(row[0], row[1], bytes.fromhex(row[2]), frozenset(filter(None, row[3].split(","))))


def link_context(group_id: str, previous_id: str, key_id: str) -> bytes:
    """What binds a previous moderators' key, boxed under a new one, to both."""
    return b"tablespace moderators key link\x00" + bytes.fromhex(group_id + previous_id + key_id)


def held_mod_keys(group: Group, exchange: ExchangeKey) -> dict[str, X25519PrivateKey]:
    """Every moderators' key this home can open: those wrapped for us, and the
    older ones reachable through each key's link to its predecessor."""
    rows = log_queries.mod_keys(group.conn)
    publics = {row[0]: bytes.fromhex(row[4]) for row in rows}
    raw: dict[str, bytes] = {}
    for key_id, wrapped, _, _, _ in rows:
        stanza = json.loads(wrapped).get(group.device)  # wrapped per device: our signing key
        if stanza:
            try:
                raw[key_id] = unwrap_key(bytes.fromhex(stanza), exchange.private_key)
            except KeyWrapError:
                continue
    changed = True
    while changed:  # newest first, so one pass usually walks the whole chain
        changed = False
        for key_id, _, previous_id, previous, _ in rows:
            # the fold lets a key name its predecessor only with the link (modkey.rotate)
            if key_id in raw and previous_id and previous and previous_id not in raw:
                try:
                    raw[previous_id] = open_previous_key(
                        bytes.fromhex(previous),
                        raw[key_id],
                        info=LINK_INFO,
                        context=link_context(group.id, previous_id, key_id),
                    )
                    changed = True
                except KeyWrapError:
                    continue
    keys = {key_id: X25519PrivateKey.from_private_bytes(secret) for key_id, secret in raw.items()}
    # A moderator could wrap the wrong key: only a private half that matches
    # the announced public one counts as held.
    return {k: v for k, v in keys.items() if v.public_key().public_bytes_raw() == publics.get(k)}


def my_exchange_key(group: Group) -> ExchangeKey:
    return ExchangeKey.load(group.path / EXCHANGE_KEY_NAME)


# --- sealing and opening ----------------------------------------------------------


def seal_for_moderators(group: Group, record: dict[str, Any]) -> tuple[ModKey, bytes]:
    key = current_mod_key(group)
    if key is None:
        raise TablespaceError("the moderators have not published their key yet; try again after they sync")
    text = canonical_json(record)  # what open_for_moderators insists on
    padded = text + b" " * (-len(text) % PAD_TO)
    header = MAGIC + bytes.fromhex(group.id) + bytes.fromhex(key.key_id)
    sealed = header + seal_to(padded, key.public, info=SEAL_INFO, aad=header)
    if len(sealed) > MAX_SEALED_BYTES:
        raise TablespaceError("that is too long to send to the moderators")
    return key, sealed


def sealed_key_id(data: bytes, group_id: str) -> str:
    if len(data) > MAX_SEALED_BYTES:
        raise SealedRecordError(f"over the {MAX_SEALED_BYTES} byte limit")
    if len(data) < HEADER_BYTES or data[:4] != MAGIC:
        raise SealedRecordError("not a sealed moderators' record")
    if data[4:20] != bytes.fromhex(group_id):
        raise SealedRecordError("sealed for another group")
    return data[20:HEADER_BYTES].hex()


def open_for_moderators(data: bytes, group_id: str, held: Mapping[str, X25519PrivateKey]) -> dict[str, Any]:
    key_id = sealed_key_id(data, group_id)
    if key_id not in held:
        raise NotForMe("sealed to a moderators' key you do not hold")
    try:
        text = open_sealed(data[HEADER_BYTES:], held[key_id], info=SEAL_INFO, aad=data[:HEADER_BYTES])
    except KeyWrapError:
        raise SealedRecordError("damaged, or not sealed by a member of this group") from None
    try:  # as strict as an op payload: no NaN or Infinity, bounded nesting
        record = decode_payload(text.rstrip(b" "))
    except InvalidOp as exc:
        raise SealedRecordError(f"not a moderators' record ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        raise SealedRecordError("not a moderators' record")
    return record


def write_sealed(group: Group, record: dict[str, Any], *, handled: str | None = None, reply: str | None = None) -> str:
    """File a moderators-only record in the log; returns its record id.
    `handled`: the id of a report this record resolves, said in the open so
    its reporter learns it was handled (core/fold/moderation.py); `reply`,
    a word to that reporter sealed to them alone."""
    key, sealed = seal_for_moderators(group, record)
    payload = {"key": key.key_id, "sealed": base64.b64encode(sealed).decode()}
    if handled is not None:
        payload["handled"] = handled
    if reply is not None:
        payload["reply"] = reply
    group.write("mod.record", payload)
    return record_id(sealed)


# --- a report's signature -------------------------------------------------------------


def signed_part(record: Mapping[str, Any]) -> bytes:
    """What a reporter signs: every field of their report but the signature."""
    return b"tablespace report v1\x00" + canonical_json({k: v for k, v in record.items() if k != "sig"})


def check_report(record: Mapping[str, Any], group: Group, *, filing: bool = True) -> None:
    """A report is from a member of this group, who signed it. When it is
    filed the reporter must be a current member; once in the log it stays
    readable if they later leave or are removed (`filing=False`)."""
    ids = ("post", "thread", "post_author", "reporter")
    if set(record) - REPORT_FIELDS:
        raise SealedRecordError("the report has fields a report does not have")
    if (
        record.get("type") != "report"
        or record.get("group") != group.id
        or not all(isinstance(record.get(k), str) and limits.ID_RE.match(record[k]) for k in ids)
    ):
        raise SealedRecordError("not a report for this group")
    for key, most in (("reason", REASON_MAX), ("excerpt", EXCERPT_MAX), ("at", 40)):
        if not isinstance(record.get(key), str) or len(record[key]) > most:
            raise SealedRecordError(f"the report's {key} is missing or too long")
    try:
        public = bytes.fromhex(record["reporter_key"])
        signature = bytes.fromhex(record["sig"])
        parse_start(record["at"])
        signed_part(record)  # canonical JSON of what was signed: must exist for every field
    except (KeyError, TypeError, ValueError, UnicodeError, Rejected):
        raise SealedRecordError("the report is not signed properly") from None
    signer = author_id_for(public)  # the reporter's first key, or a device they added
    device = None if signer == record["reporter"] else log_queries.device_of(group.conn, signer)
    owner = signer if device is None else device[0]
    if owner != record["reporter"] or not verify_signature(public, signature, signed_part(record)):
        raise SealedRecordError("the report's signature does not match its reporter")
    status = member_queries.member_status(group.conn, record["reporter"])
    if status is None or (filing and status != "active"):
        raise SealedRecordError("the reporter is not a member of this group")


# --- reading the record (moderators) ------------------------------------------------------


@dataclass(frozen=True)
class SealedEntry:
    op_id: str
    author: str
    at: datetime
    record_id: str
    record: dict[str, Any]
    hlc: int


# replica (the group's directory in a home) -> op id -> the record opened:
# records never change, so each is opened (X25519, then a signature check for
# a report) once per process, not on every refresh of the queue, the log and
# the join requests. Keyed by replica, not group: one process may hold
# several members' homes (tests, the demo), each with its own keys.
_OPENED: dict[str, dict[str, SealedEntry]] = {}


def open_records(group: Group, exchange: ExchangeKey) -> tuple[list[SealedEntry], int]:
    """The moderators' records we can open, in log order, and how many we cannot."""
    opened = _OPENED.setdefault(str(group.path), {})
    held: Mapping[str, X25519PrivateKey] | None = None  # unwrapped only if a record is new
    entries, closed = [], 0
    for op_id, author, hlc, sealed, rid in log_queries.mod_records(group.conn):
        if op_id not in opened:
            held = held_mod_keys(group, exchange) if held is None else held
            data = base64.b64decode(sealed)
            try:
                record = open_for_moderators(data, group.id, held)
                if record["type"] == "report":
                    check_report(record, group, filing=False)
            except SealedRecordError:
                closed += 1  # not ours to open (yet): tried again next time
                continue
            opened[op_id] = SealedEntry(op_id, author, hlc_to_datetime(hlc), rid, record, hlc)
        entries.append(opened[op_id])
    return entries, closed
