"""What only moderators may read: reports, who made them, decisions and notes.

All of it is sealed to the **moderators' key**, an X25519 key pair announced
in the log by a `modkey.rotate` op: the public half in the clear (any member
can seal a report to it), the private half wrapped for each moderator of the
time, and the previous private key boxed under the new one, so whoever holds
the newest key can open every older record. A moderator starts a new key
whenever the set of moderators changes; a moderator who is gone keeps what
they could already read, and nothing after.

A report travels in two steps, so no op ever names its reporter:
1. the reporter seals it (with their signature inside) and drops the file in
   `reports/` in the shared folder (via an outbox in their home, so an
   unreachable folder loses nothing; the home keeps only ciphertext);
2. a moderator's sync opens it, checks the signature, and files the same
   sealed bytes in the log as a `mod.record` op, so every moderator sees it
   and it survives the folder losing the file.
Decisions and notes are `mod.record` ops sealed the same way. Members see
that moderators wrote something, never what.

Sealed file / record layout (docs/changeset-format.md, "Moderators' records"):
    magic "TSM1" | group id (16) | moderators' key id (8) | eph_pub (32) | ciphertext+tag
with the first 28 bytes as associated data, and the plaintext JSON padded with
spaces to a multiple of 512 bytes so its length says little.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tablespace.core import limits
from tablespace.core.clock import hlc_to_datetime, iso, now
from tablespace.core.errors import PermissionDenied, Rejected, TablespaceError
from tablespace.core.files import write_atomically
from tablespace.core.fold import MODERATORS_WITH_KEYS, mod_key_id, record_id
from tablespace.core.group import Group
from tablespace.core.identity import author_id_for, verify_signature
from tablespace.core.modlog import LogEntry, Names, moderation_actions
from tablespace.core.ops import InvalidOp, canonical_json, decode_payload
from tablespace.core.rituals import parse_start
from tablespace.sync.folder import FolderStore
from tablespace.sync.keyring import EXCHANGE_KEY_NAME
from tablespace.sync.keys import (
    ExchangeKey,
    KeyWrapError,
    open_previous_key,
    open_sealed,
    seal_previous_key,
    seal_to,
    unwrap_key,
    wrap_key,
)

MAGIC = b"TSM1"
SEAL_INFO = b"tablespace sealed to moderators v1"
LINK_INFO = b"tablespace previous moderators key v1"  # its own label: not the epoch keys' chain
REPORT_FIELDS = frozenset({"type", "group", "post", "thread", "post_author", "excerpt", "reason", "reporter",
                           "reporter_key", "at", "nonce", "sig"})
HEADER_BYTES = len(MAGIC) + 16 + 8
PAD_TO = 512
MAX_SEALED_BYTES = 32 * 1024
REPORTS_DIR = "reports"
REPORT_SUFFIX = ".tsm"
OUTBOX_DIR = "outbox"  # in the group's directory in the home: sealed reports not yet delivered
REASON_MAX = 1000
EXCERPT_MAX = 600
DECISION_MAX = limits.SUMMARY_MAX


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
    row = group.conn.execute(
        "SELECT epoch, key_id, public, recipients FROM mod_keys ORDER BY epoch DESC, key_id LIMIT 1").fetchone()
    if row is None:
        return None
    return ModKey(row[0], row[1], bytes.fromhex(row[2]), frozenset(filter(None, row[3].split(","))))


def moderators_with_keys(group: Group) -> dict[str, bytes]:
    """Current moderators who have published an exchange key: id -> key."""
    return {m: bytes.fromhex(k) for m, k in group.conn.execute(MODERATORS_WITH_KEYS)}


def _link_context(group_id: str, previous_id: str, key_id: str) -> bytes:
    return b"tablespace moderators key link\x00" + bytes.fromhex(group_id + previous_id + key_id)


def held_mod_keys(group: Group, exchange: ExchangeKey) -> dict[str, X25519PrivateKey]:
    """Every moderators' key this home can open: those wrapped for us, and the
    older ones reachable through each key's link to its predecessor."""
    rows = group.conn.execute(
        "SELECT key_id, wrapped, previous_key_id, previous, public FROM mod_keys ORDER BY epoch DESC, key_id"
    ).fetchall()
    publics = {row[0]: bytes.fromhex(row[4]) for row in rows}
    raw: dict[str, bytes] = {}
    for key_id, wrapped, _, _, _ in rows:
        stanza = json.loads(wrapped).get(group.me)
        if stanza:
            try:
                raw[key_id] = unwrap_key(bytes.fromhex(stanza), exchange.private_key)
            except KeyWrapError:
                continue
    changed = True
    while changed:  # newest first, so one pass usually walks the whole chain
        changed = False
        for key_id, _, previous_id, previous, _ in rows:
            if key_id in raw and previous_id and previous_id not in raw:
                try:
                    raw[previous_id] = open_previous_key(bytes.fromhex(previous), raw[key_id], info=LINK_INFO,
                                                         context=_link_context(group.id, previous_id, key_id))
                    changed = True
                except KeyWrapError:
                    continue
    keys = {key_id: X25519PrivateKey.from_private_bytes(secret) for key_id, secret in raw.items()}
    # A moderator could wrap the wrong key: only a private half that matches
    # the announced public one counts as held.
    return {k: v for k, v in keys.items() if v.public_key().public_bytes_raw() == publics.get(k)}


def rotate_mod_key_if_needed(group: Group, exchange: ExchangeKey) -> bool:
    """Run by each moderator's sync: a new key when the moderators changed
    since the current one was made (or there is none). Rotation is left to a
    moderator who holds the current key (so history stays readable), unless
    no current moderator does."""
    moderators = moderators_with_keys(group)
    current = current_mod_key(group)
    if group.me not in moderators or (current is not None and current.recipients == set(moderators)):
        return False
    held = held_mod_keys(group, exchange)
    if current is not None and current.key_id not in held and current.recipients & set(moderators):
        return False
    rotate_mod_key(group, exchange, held)
    return True


def rotate_mod_key(group: Group, exchange: ExchangeKey, held: Mapping[str, X25519PrivateKey] | None = None) -> ModKey:
    held = held_mod_keys(group, exchange) if held is None else held
    current = current_mod_key(group)
    secret = X25519PrivateKey.generate()
    raw = secret.private_bytes_raw()
    public = secret.public_key().public_bytes_raw()
    key_id = mod_key_id(public)
    recipients = moderators_with_keys(group)
    payload: dict[str, Any] = {
        "epoch": current.epoch + 1 if current else 0,
        "public": public.hex(),
        "wrapped": {m: wrap_key(raw, k).hex() for m, k in sorted(recipients.items())},
    }
    if current is not None and current.key_id in held:
        previous = held[current.key_id].private_bytes_raw()
        payload["previous_key"] = current.key_id
        payload["previous"] = seal_previous_key(
            previous, raw, info=LINK_INFO, context=_link_context(group.id, current.key_id, key_id)).hex()
    group.write("modkey.rotate", payload)
    return ModKey(payload["epoch"], key_id, public, frozenset(recipients))


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


# --- reports: filing ----------------------------------------------------------------


def file_report(group: Group, post_ref: str, reason: str) -> str:
    """Seal a report on a post to the moderators; returns its id. It waits in
    the home's outbox (ciphertext) until it is in the shared folder."""
    reason = reason.strip()
    if not reason:
        raise TablespaceError("say what is wrong: the moderators read it")
    if len(reason) > REASON_MAX:
        raise TablespaceError(f"a reason has at most {REASON_MAX} characters")
    if group.my_status != "active":
        raise PermissionDenied("you are not a member of this group (not admitted yet, or you left or were removed)")
    post = group.post_id(post_ref)
    thread, author, body = group.conn.execute(
        "SELECT thread_id, author, body FROM posts WHERE id = ?", (post,)).fetchone()
    record: dict[str, Any] = {
        "type": "report", "group": group.id, "post": post, "thread": thread, "post_author": author,
        "excerpt": body[:EXCERPT_MAX], "reason": reason, "reporter": group.me,
        "reporter_key": group.identity.public_key.hex(), "at": iso(now()), "nonce": os.urandom(8).hex(),
    }
    record["sig"] = group.identity.sign(_signed_part(record)).hex()
    _, sealed = seal_for_moderators(group, record)
    rid = record_id(sealed)
    outbox = group.path / OUTBOX_DIR
    outbox.mkdir(mode=0o700, exist_ok=True)
    write_atomically(outbox / f"{rid}{REPORT_SUFFIX}", sealed, mode=0o600)
    return rid  # deliver_reports takes it to the folder


def _signed_part(record: Mapping[str, Any]) -> bytes:
    return b"tablespace report v1\x00" + canonical_json({k: v for k, v in record.items() if k != "sig"})


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


def check_report(record: Mapping[str, Any], group: Group, *, filing: bool = True) -> None:
    """A report is from a member of this group, who signed it. When it is
    filed the reporter must be a current member; once in the log it stays
    readable if they later leave or are removed (`filing=False`)."""
    ids = ("post", "thread", "post_author", "reporter")
    if set(record) - REPORT_FIELDS:
        raise SealedRecordError("the report has fields a report does not have")
    if record.get("type") != "report" or record.get("group") != group.id or not all(
            isinstance(record.get(k), str) and limits.ID_RE.match(record[k]) for k in ids):
        raise SealedRecordError("not a report for this group")
    for key, most in (("reason", REASON_MAX), ("excerpt", EXCERPT_MAX), ("at", 40)):
        if not isinstance(record.get(key), str) or len(record[key]) > most:
            raise SealedRecordError(f"the report's {key} is missing or too long")
    try:
        public = bytes.fromhex(record["reporter_key"])
        signature = bytes.fromhex(record["sig"])
        parse_start(record["at"])
        _signed_part(record)  # canonical JSON of what was signed: must exist for every field
    except (KeyError, TypeError, ValueError, UnicodeError, Rejected):
        raise SealedRecordError("the report is not signed properly") from None
    if author_id_for(public) != record["reporter"] or not verify_signature(public, signature, _signed_part(record)):
        raise SealedRecordError("the report's signature does not match its reporter")
    status = group.conn.execute("SELECT status FROM members WHERE id = ?", (record["reporter"],)).fetchone()
    if status is None or (filing and status[0] != "active"):
        raise SealedRecordError("the reporter is not a member of this group")


# --- reports: receiving (moderators) ---------------------------------------------------


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
    seen = {row[0]: row[1:] for row in group.conn.execute(
        "SELECT path, size, mtime_ns, status, reason FROM sync_files WHERE path LIKE ?", (f"{REPORTS_DIR}/%",))}
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
                refused.append(Refused(path, before[3]))
            continue  # looked at already, unchanged: not read again
        try:
            data = folder.read(path, MAX_SEALED_BYTES)
        except OSError:
            continue  # being written: a later round
        rid = record_id(data)
        filed = group.conn.execute("SELECT 1 FROM mod_records WHERE record_id = ?", (rid,)).fetchone() is not None
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
                group.write("mod.record", {"key": sealed_key_id(data, group.id),
                                           "sealed": base64.b64encode(data).decode()})
            group.conn.execute(
                """INSERT OR REPLACE INTO sync_files (path, size, mtime_ns, digest, status, reason)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (path, *version, hashlib.sha256(data).hexdigest(), status, reason))
    return refused


def moderation_round(group: Group, folder: FolderStore, exchange: ExchangeKey) -> list[Refused]:
    """Each sync, as a moderator (SyncEngine checks): keep the moderators'
    key current and file new reports in the log."""
    try:
        rotate_mod_key_if_needed(group, exchange)
    except TablespaceError:
        pass  # refused by the fold (e.g. a rotation racing ours): the next round tries again
    return receive_reports(group, folder, exchange)


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
    for op_id, author, hlc, sealed, rid in group.conn.execute(
            "SELECT op_id, author, hlc, sealed, record_id FROM mod_records ORDER BY hlc, author, seq"):
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


@dataclass
class Report:
    id: str
    post: str
    thread: str
    post_author: str
    reporter: str
    reason: str
    excerpt: str  # the post's text as the reporter saw it (their word)
    created_at: datetime  # the queue's order and its response clock (see _check_against_the_log)
    received_by: str
    received_hlc: int = 0  # the filing op's clock: the order among reports filed in the same second
    written_at: datetime | None = None  # when the reporter says they wrote it (their word)
    # The post as this replica holds it, which is what counts: its author and
    # thread override the reporter's claim; None = not arrived here yet.
    post_now: str | None = None  # its text now; "" once deleted or hidden
    status: str = "open"
    decision: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    hid_post: bool = False
    notes: list[tuple[str, datetime, str]] = field(default_factory=list)

    def to_json(self, names: Mapping[str, str]) -> dict[str, Any]:
        return {
            "id": self.id, "post": self.post, "thread": self.thread,
            "post_author": names.get(self.post_author, self.post_author), "post_author_id": self.post_author,
            "reporter": names.get(self.reporter, self.reporter), "reporter_id": self.reporter,
            "reason": self.reason, "excerpt": self.excerpt, "status": self.status,
            "created_at": iso(self.created_at), "written_at": iso(self.written_at) if self.written_at else None,
            "post_now": self.post_now, "decision": self.decision,
            "decided_by": names.get(self.decided_by or "", self.decided_by),
            "decided_at": iso(self.decided_at) if self.decided_at else None, "hid_post": self.hid_post,
            "notes": [{"by": names.get(by, by), "at": iso(at), "text": text} for by, at, text in self.notes],
        }


def reports(group: Group, exchange: ExchangeKey) -> list[Report]:
    """The report queue: open reports oldest first, then resolved ones, newest decision first."""
    found: dict[str, Report] = {}
    entries, _ = open_records(group, exchange)
    for entry in entries:
        r = entry.record
        if r["type"] == "report" and entry.record_id not in found:
            found[entry.record_id] = Report(
                entry.record_id, r["post"], r["thread"], r["post_author"], r["reporter"], r["reason"],
                r["excerpt"], entry.at, entry.author, entry.hlc, written_at=parse_start(r["at"]))
            continue
        report = found.get(str(r.get("report")))
        if report is None:
            continue
        if r["type"] == "resolve" and report.status == "open":
            report.status, report.decision = "resolved", str(r.get("decision", ""))
            report.decided_by, report.decided_at = entry.author, entry.at
            report.hid_post = bool(r.get("hide"))
        elif r["type"] == "note":
            report.notes.append((entry.author, entry.at, str(r.get("text", ""))))
    queue = list(found.values())
    _check_against_the_log(group, queue)
    open_ = sorted((r for r in queue if r.status == "open"), key=lambda r: (r.created_at, r.received_hlc))
    done = sorted((r for r in queue if r.status != "open"), key=lambda r: r.decided_at or r.created_at, reverse=True)
    return open_ + done


def _check_against_the_log(group: Group, queue: list[Report]) -> None:
    """A report names a post, its author and thread, quotes it and says when
    it was written: all the reporter's word. Where the post has arrived, the
    log's author and thread stand, its text now is shown beside the quote,
    and the report's time counts from no earlier than the post itself (a
    back-dated report cannot jump the queue further); until then, from when
    a moderator filed it."""
    for report in queue:
        row = group.conn.execute("SELECT thread_id, author, body, deleted OR hidden, created_hlc FROM posts "
                                 "WHERE id = ?", (report.post,)).fetchone()
        if row is None:
            continue
        report.thread, report.post_author, body, gone, posted = row
        report.post_now = "" if gone else body
        if report.written_at is not None:
            report.created_at = min(max(report.written_at, hlc_to_datetime(posted)), report.created_at)


def find_report(group: Group, exchange: ExchangeKey, ref: str) -> Report:
    wanted = ref.strip().lower()
    if len(wanted) < 4 or any(c not in "0123456789abcdef" for c in wanted):
        raise TablespaceError(f"{ref!r} is not a report id: give at least 4 hex characters")
    matches = [r for r in reports(group, exchange) if r.id.startswith(wanted)]
    if not matches:
        raise TablespaceError(f"no report with id {ref!r}; `tablespace reports` lists them (sync first for new ones)")
    if len(matches) > 1:
        raise TablespaceError(f"report id {ref!r} is ambiguous; give more characters")
    return matches[0]


def my_exchange_key(group: Group) -> ExchangeKey:
    return ExchangeKey.load(group.path / EXCHANGE_KEY_NAME)


def write_sealed(group: Group, record: dict[str, Any]) -> str:
    """File a moderators-only record in the log; returns its record id."""
    key, sealed = seal_for_moderators(group, record)
    group.write("mod.record", {"key": key.key_id, "sealed": base64.b64encode(sealed).decode()})
    return record_id(sealed)


def _moderators_text(text: str, empty: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise TablespaceError(empty)
    if len(text) > DECISION_MAX:
        raise TablespaceError(f"{what} has at most {DECISION_MAX} characters")
    return text


def resolve_report(group: Group, exchange: ExchangeKey, ref: str, decision: str, *, hide_post: bool = False) -> None:
    """Record a decision (who and when come from the op); optionally hide the
    post for everyone. Both land in one transaction, or neither."""
    group.require_moderator()
    decision = _moderators_text(decision, "a decision is required: say what was decided and why", "a decision")
    report = find_report(group, exchange, ref)
    if report.status != "open":
        raise TablespaceError(f"report {report.id[:8]} was already resolved: {report.decision}")
    if hide_post and group.conn.execute(
            "SELECT 1 FROM posts WHERE id = ? AND deleted = 0", (report.post,)).fetchone() is None:
        raise TablespaceError("that post is already gone; resolve without --hide-post")
    with group.store.db.atomic():
        write_sealed(group, {"type": "resolve", "report": report.id, "decision": decision, "hide": hide_post})
        if hide_post:
            group.write("post.hide", {"post": report.post})


def add_note(group: Group, exchange: ExchangeKey, ref: str, text: str) -> None:
    """A moderators-only note on a report (listen, clarify: what was asked, what was said)."""
    group.require_moderator()
    text = _moderators_text(text, "the note is empty", "a note")
    report = find_report(group, exchange, ref)
    write_sealed(group, {"type": "note", "report": report.id, "text": text})


def invite_secrets(group: Group, exchange: ExchangeKey) -> dict[str, bytes]:
    """invite id -> its one-time secret, which opens join requests: sealed to
    the moderators, or (invites made before that) in the invite op itself."""
    found = {i: bytes.fromhex(s) for i, s in group.conn.execute("SELECT id, secret FROM invites WHERE secret != ''")}
    entries, _ = open_records(group, exchange)
    for e in entries:
        if e.record["type"] == "invite" and isinstance(e.record.get("secret"), str):
            try:
                found.setdefault(str(e.record.get("invite")), bytes.fromhex(e.record["secret"]))
            except ValueError:
                continue
    return found


# --- the moderation log ------------------------------------------------------------------


def document(group: Group, op_id: str, why: str, *, what: str = "") -> None:
    """Keep the reason for an open action (a role, an archive) in the sealed
    record, and what it was about when the op itself cannot say (a denied
    request names nobody in the open)."""
    if why.strip() or what:
        write_sealed(group, {"type": "why", "op": op_id, "text": why.strip()[:DECISION_MAX], "what": what[:200]})


def set_role(group: Group, member_ref: str, role: str, *, revoke: bool = False, why: str = "") -> None:
    """Grant or revoke a role, with the reason kept sealed: one transaction.
    A change of moderators renews the moderators' key at once (if we hold it),
    so nothing sealed from now on waits for a sync to leave a former one out."""
    member = group.member_id(member_ref)
    (seen,) = group.conn.execute("SELECT coalesce(max(seq), 0) FROM ops WHERE author = ?", (member,)).fetchone()
    # The member's seq we have seen bounds the change wherever their ops sort:
    # after a revoke they cannot back-date an op to before it.
    payload = {"member": member, "role": role, ("last_seq" if revoke else "since_seq"): seen}
    with group.store.db.atomic():
        op = group.write("role.revoke" if revoke else "role.grant", payload)
        document(group, op.id, why)
        if role == "moderator":
            rotate_mod_key_if_needed(group, my_exchange_key(group))


def end_timeout(group: Group, member_ref: str, *, why: str = "") -> None:
    """End a member's time-out now (the reason kept sealed)."""
    with group.store.db.atomic():
        op = group.write("member.timeout_end", {"member": group.member_id(member_ref)})
        document(group, op.id, why)


def archive_thread(group: Group, thread_ref: str, *, undo: bool = False, why: str = "") -> None:
    group.require_moderator()
    with group.store.db.atomic():
        op = group.archive(thread_ref, archived=not undo)
        document(group, op.id, why)


def moderation_log(group: Group, exchange: ExchangeKey, *, limit: int = 1000) -> list[LogEntry]:
    """Everything moderators did and why, oldest first: the open actions from
    the log, the sealed reports, decisions and notes, and the sealed reasons
    attached to open actions."""
    entries, _ = open_records(group, exchange)
    notes = {str(e.record.get("op")): e.record for e in entries if e.record["type"] == "why"}
    names = Names(group.conn)
    log = [replace(a, why=a.why or str(notes.get(a.op_id, {}).get("text", "")),
                   what=str(notes.get(a.op_id, {}).get("what") or a.what))
           for a in moderation_actions(group.conn, limit=limit, names=names)]
    seen: set[str] = set()
    for e in entries:
        r = e.record
        if r["type"] == "report" and e.record_id not in seen:
            seen.add(e.record_id)
            what = f"{names.post(r['post'])} (report {e.record_id[:8]})"
            log.append(LogEntry(e.at, r["reporter"], "reported", what, r["reason"], e.op_id, e.hlc))
        elif r["type"] == "resolve":
            hid = " (post hidden)" if r.get("hide") else ""
            log.append(LogEntry(e.at, e.author, "resolved", f"report {str(r.get('report'))[:8]}{hid}",
                                str(r.get("decision", "")), e.op_id, e.hlc))
        elif r["type"] == "note":
            log.append(LogEntry(e.at, e.author, "noted", f"report {str(r.get('report'))[:8]}",
                                str(r.get("text", "")), e.op_id, e.hlc))
    return sorted(log, key=lambda entry: entry.hlc)[-limit:]


# --- for the Moderation pane -----------------------------------------------------------------

AMBER_AFTER = timedelta(hours=24)
RED_AFTER = timedelta(hours=48)


def response_clock(report: Report, at: datetime) -> str:
    """How urgent an open report is: "ok", then "amber" after 24 h, "red" after 48 h."""
    if report.status != "open":
        return "ok"
    waited = at - report.created_at
    return "red" if waited >= RED_AFTER else "amber" if waited >= AMBER_AFTER else "ok"


@dataclass(frozen=True)
class Evidence:
    kind: str  # "fork" or "quarantined"
    who: str  # a member id (fork) or a file path (quarantined)
    detail: str


def evidence(group: Group) -> list[Evidence]:
    """What sync set aside, for moderators to look at: authors who signed two
    different ops for one seq, and files refused with their reasons."""
    found = [Evidence("fork", author, f"two different ops signed as seq {seq}; their ops from there on are set aside")
             for author, seq in group.conn.execute("SELECT author, min(seq) FROM forks GROUP BY author ORDER BY author")]
    found += [Evidence("quarantined", path, reason or "") for path, reason in group.conn.execute(
        "SELECT path, reason FROM sync_files WHERE status = 'quarantined' ORDER BY path")]
    return found
