"""Invites, join requests and key grants: the files that let a new member in.

- An invite code carries the group id and a one-time secret. Only its hash
  (the invite id) and the secret travel in ops, encrypted like all ops.
- A join request is a file in the folder, encrypted under a key derived from
  the invite secret (the folder host cannot read the name) and signed by the
  joiner's new Ed25519 key (proving they hold it).
- An answer is what a joiner is told when they will not be admitted: a
  moderator turned the request down, or its invite was used up or expired
  (a moderator's sync answers those by itself). Sealed to the joiner's
  exchange key, named by the request id the joiner keeps.
- A withdrawal: a joiner who asks again from the same home withdraws the
  earlier request, signed with that request's key, so it drops out of the
  moderators' list.
- A key grant is a file a moderator writes on admission: the group's epoch
  keys, each wrapped for the new member's X25519 key, signed by the moderator.
  Anyone's grant may help the joiner read, but a member writes only under a
  key a moderator announced in the log (epoch.rotate, by key id), so a
  stranger writing to the folder cannot plant a key we would write under.
- A key need is a file a member writes when a key they should hold has not
  reached them: a grant of it did not open (its wrapped key is garbage, or
  for someone else's key), or none came. Signed by the member; it names the
  epochs and the granters whose grants did not open. Whoever holds a key of
  those epochs that was announced for the member grants it, once, unless a
  grant of it from someone not disowned is already there
  (roster.answer_key_needs).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tablespace.core.errors import TablespaceError
from tablespace.core.fold import invite_id_for
from tablespace.core.identity import ID_BYTES, Identity, author_id_for, verify_signature
from tablespace.sync.keys import (
    STANZA_BYTES,
    ExchangeKey,
    KeyWrapError,
    epoch_key_id,
    open_sealed,
    seal_to,
    wrap_key,
)

if TYPE_CHECKING:
    from _typeshed import SupportsDunderLT

# ts1-<group id>-<secret>, then a 4-hex check on codes made since it was added
# (a code without one is still accepted: it was made before).
CODE_RE = re.compile(r"^ts1-([0-9a-f]{32})-([0-9a-f]{32})(?:-([0-9a-f]{4}))?$")
REQUEST_MAGIC = b"TSJR\x01"
ANSWER_MAGIC = b"TSJA\x01"
WITHDRAW_MAGIC = b"TSJW\x01"
ANSWER_INFO = b"tablespace join answer v1"
GRANT_MAGIC = b"TSKG\x01"
NEED_MAGIC = b"TSKN\x01"
SIGNATURE_BYTES = 64
MAX_REQUEST_BYTES = 16 * 1024
MAX_GRANT_BYTES = 64 * 1024
MAX_NEED_BYTES = 16 * 1024
MAX_ANSWER_BYTES = 1024
ANSWER_PAD_TO = 64  # bytes of an answer's plaintext, whatever it says
REQUEST_SUFFIX = ".tsr"
ANSWER_SUFFIX = ".tsa"
WITHDRAW_SUFFIX = ".tsw"
GRANT_SUFFIX = ".tsk"
NEED_SUFFIX = ".tsn"
# The answer to a pairing request whose code had let in another device (sync/devices.py).
CODE_USED = "code used"
# What an answer can say (the joiner's app words it).
ANSWERS = ("declined", "invite used up", "invite expired", "name taken", CODE_USED)


class BadMembershipFile(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GrantWontOpen(BadMembershipFile):
    """A grant signed by `header.granter` for us whose wrapped keys do not
    open with our key, or are not the keys it names: garbage, or wrapped
    for someone else. What a key need disowns."""

    def __init__(self, reason: str, header: GrantHeader) -> None:
        super().__init__(reason)
        self.header = header


# --- invite codes -----------------------------------------------------------


def make_invite_code(group_id: str, secret: bytes) -> str:
    return f"ts1-{group_id}-{secret.hex()}-{_code_check(group_id, secret)}"


def _code_check(group_id: str, secret: bytes) -> str:
    return hashlib.sha256(b"tablespace invite check\x00" + bytes.fromhex(group_id) + secret).hexdigest()[:4]


def parse_invite_code(code: str) -> tuple[str, bytes]:
    match = CODE_RE.match(code.strip().lower())
    if not match:
        raise TablespaceError("that is not a tablespace invite code (it looks like ts1-…-…); ask for a new one")
    group_id, secret = match.group(1), bytes.fromhex(match.group(2))
    if match.group(3) is not None and match.group(3) != _code_check(group_id, secret):
        raise TablespaceError("that invite code has a typo in it (its check does not match); copy it again")
    return group_id, secret


# --- join requests ------------------------------------------------------------


@dataclass(frozen=True)
class JoinRequest:
    id: str
    invite: str
    name: str
    public_key: bytes
    exchange_key: bytes
    created_at: str
    problem: str | None = None  # set by pending_requests: why it cannot be admitted
    name_taken_by: str | None = None  # set by pending_requests: the member who has the name asked for

    @property
    def member_id(self) -> str:
        return author_id_for(self.public_key)


def _request_key(secret: bytes, group_id: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=bytes.fromhex(group_id), info=b"tablespace join request v1").derive(secret)


def encode_request(
    identity: Identity, exchange_public: bytes, name: str, *, group_id: str, secret: bytes, created_at: str
) -> bytes:
    head = REQUEST_MAGIC + bytes.fromhex(group_id) + bytes.fromhex(invite_id_for(secret))
    nonce = os.urandom(12)
    plain = json.dumps(
        {
            "name": name,
            "public_key": identity.public_key.hex(),
            "exchange_key": exchange_public.hex(),
            "created_at": created_at,
        }
    ).encode()
    body = head + nonce + ChaCha20Poly1305(_request_key(secret, group_id)).encrypt(nonce, plain, head)
    return body + identity.sign(body)


def request_id_for(data: bytes) -> str:
    return hashlib.sha256(data).digest()[:16].hex()


def peek_request_invite(data: bytes, group_id: str) -> str:
    """The invite id a request claims, so the reader can find the secret."""
    if len(data) > MAX_REQUEST_BYTES or len(data) < len(REQUEST_MAGIC) + 32 + 12 + 16 + SIGNATURE_BYTES:
        raise BadMembershipFile("join request has an impossible size")
    if not data.startswith(REQUEST_MAGIC):
        raise BadMembershipFile("not a join request")
    if data[5:21].hex() != group_id:
        raise BadMembershipFile("join request for another group")
    return data[21:37].hex()


def decode_request(data: bytes, *, group_id: str, secret: bytes) -> JoinRequest:
    invite = peek_request_invite(data, group_id)
    if invite != invite_id_for(secret):
        raise BadMembershipFile("join request made with another invite")
    head, rest = data[:37], data[37:-SIGNATURE_BYTES]
    nonce, ciphertext = rest[:12], rest[12:]
    try:
        fields = json.loads(ChaCha20Poly1305(_request_key(secret, group_id)).decrypt(nonce, ciphertext, head))
        public_key = bytes.fromhex(fields["public_key"])
        exchange_key = bytes.fromhex(fields["exchange_key"])
        name, created_at = str(fields["name"]), str(fields["created_at"])
    except (InvalidTag, ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested deep
        raise BadMembershipFile("join request does not decrypt with its invite (damaged or forged)") from None
    if len(public_key) != 32 or len(exchange_key) != 32:
        raise BadMembershipFile("join request holds malformed keys")
    if not verify_signature(public_key, data[-SIGNATURE_BYTES:], data[:-SIGNATURE_BYTES]):
        raise BadMembershipFile("join request signature does not verify")
    return JoinRequest(request_id_for(data), invite, name, public_key, exchange_key, created_at)


# --- key grants ---------------------------------------------------------------

_GRANT_HEAD = struct.Struct(">5s16s16s32sH")
_GRANT_ENTRY = struct.Struct(f">I8s{STANZA_BYTES}s")


@dataclass(frozen=True)
class Grant:
    granter: str  # author id of the signer, derived from their key
    member: str
    keys: list[tuple[int, bytes]]  # (epoch, key); an epoch may appear twice


def encode_grant(
    granter: Identity, *, group_id: str, member: str, member_exchange: bytes, keys: Iterable[tuple[int, bytes]]
) -> bytes:
    entries = sorted(set(keys))
    body = _GRANT_HEAD.pack(
        GRANT_MAGIC, bytes.fromhex(group_id), bytes.fromhex(member), granter.public_key, len(entries)
    )
    for epoch, key in entries:
        body += _GRANT_ENTRY.pack(epoch, epoch_key_id(key), wrap_key(key, member_exchange))
    return body + granter.sign(body)


@dataclass(frozen=True)
class GrantHeader:
    """What anyone can check of a grant without the member's key: who signed
    it, and which keys (epoch, key id) it wraps for the member."""

    granter: str
    keys: list[tuple[int, str]]


def _signed_head(data: bytes, head: struct.Struct, magic: bytes, limit: int, what: str) -> tuple[Any, ...]:
    """The fixed-size head of a signed key file (after the magic), once its size and magic check out."""
    if not head.size + SIGNATURE_BYTES <= len(data) <= limit:
        raise BadMembershipFile(f"{what} has an impossible size")
    fields = head.unpack_from(data)
    if fields[0] != magic:
        raise BadMembershipFile(f"not a {what}")
    return fields[1:]


def read_grant_header(data: bytes, *, group_id: str, member: str) -> GrantHeader:
    """Check a grant's size, layout and signature; raises BadMembershipFile."""
    group, for_member, granter_pk, count = _signed_head(data, _GRANT_HEAD, GRANT_MAGIC, MAX_GRANT_BYTES, "key grant")
    if len(data) != _GRANT_HEAD.size + count * _GRANT_ENTRY.size + SIGNATURE_BYTES:
        raise BadMembershipFile("key grant length does not match its entries")
    if group.hex() != group_id or for_member.hex() != member:
        raise BadMembershipFile("key grant for another group or member")
    if not verify_signature(granter_pk, data[-SIGNATURE_BYTES:], data[:-SIGNATURE_BYTES]):
        raise BadMembershipFile("key grant signature does not verify")
    entries = [_GRANT_ENTRY.unpack_from(data, _GRANT_HEAD.size + i * _GRANT_ENTRY.size) for i in range(count)]
    return GrantHeader(author_id_for(granter_pk), [(epoch, key_id.hex()) for epoch, key_id, _ in entries])


def decode_grant(data: bytes, *, group_id: str, me: str, exchange: ExchangeKey) -> Grant:
    header = read_grant_header(data, group_id=group_id, member=me)
    keys: list[tuple[int, bytes]] = []
    for i, (epoch, key_id) in enumerate(header.keys):
        _, _, stanza = _GRANT_ENTRY.unpack_from(data, _GRANT_HEAD.size + i * _GRANT_ENTRY.size)
        try:
            key = exchange.unwrap(stanza)
        except KeyWrapError:
            raise GrantWontOpen("key grant does not unwrap with our key", header) from None
        if epoch_key_id(key).hex() != key_id:
            raise GrantWontOpen("key grant's key id does not match its key", header)
        keys.append((epoch, key))
    return Grant(header.granter, me, keys)


def grant_path(member: str, data: bytes) -> str:
    return f"keys/{member}/{hashlib.sha256(data).hexdigest()[:16]}{GRANT_SUFFIX}"


# --- key needs ----------------------------------------------------------------

# magic, group, member's public key, epochs named, granters disowned; then a
# u32 per epoch, an author id per granter, and the signature.
_NEED_HEAD = struct.Struct(">5s16s32sHH")
_EPOCH = struct.Struct(">I")


@dataclass(frozen=True)
class KeyNeed:
    """Epochs named, not key ids: a member who cannot read the log under a key
    cannot read its announcement either, only its epoch (a changeset header's).
    Any key of those epochs may go to any current member."""

    member: str  # author id of the signer, derived from their key
    epochs: list[int]  # whose keys the member lacks
    disowned: list[str]  # granters whose grants of them did not open


def encode_need(member: Identity, *, group_id: str, epochs: Iterable[int], disowned: Iterable[str]) -> bytes:
    """The same need twice is the same bytes (the same file): no time, no nonce."""
    wanted, granters = sorted(set(epochs)), sorted(set(disowned))
    body = _NEED_HEAD.pack(NEED_MAGIC, bytes.fromhex(group_id), member.public_key, len(wanted), len(granters))
    body += b"".join(_EPOCH.pack(epoch) for epoch in wanted)
    body += b"".join(bytes.fromhex(granter) for granter in granters)
    return body + member.sign(body)


def decode_need(data: bytes, *, group_id: str, member: str) -> KeyNeed:
    """Check a key need's size, layout and signature by `member`; raises BadMembershipFile."""
    group, public_key, epoch_count, granter_count = _signed_head(
        data, _NEED_HEAD, NEED_MAGIC, MAX_NEED_BYTES, "key need"
    )
    if len(data) != _NEED_HEAD.size + epoch_count * _EPOCH.size + granter_count * ID_BYTES + SIGNATURE_BYTES:
        raise BadMembershipFile("key need length does not match its entries")
    if group.hex() != group_id or author_id_for(public_key) != member:
        raise BadMembershipFile("key need for another group or by another member")
    if not verify_signature(public_key, data[-SIGNATURE_BYTES:], data[:-SIGNATURE_BYTES]):
        raise BadMembershipFile("key need signature does not verify")
    at = _NEED_HEAD.size
    epochs = [_EPOCH.unpack_from(data, at + i * _EPOCH.size)[0] for i in range(epoch_count)]
    at += epoch_count * _EPOCH.size
    disowned = [data[at + i * ID_BYTES : at + (i + 1) * ID_BYTES].hex() for i in range(granter_count)]
    if not (_ascending(epochs) and _ascending(disowned)):
        raise BadMembershipFile("key need lists are not in ascending order")  # one need, one encoding
    return KeyNeed(member, epochs, disowned)


def _ascending(items: Sequence[SupportsDunderLT[Any]]) -> bool:
    return all(a < b for a, b in zip(items, items[1:], strict=False))


NEEDS_DIR = "needs"  # one flat directory: a round lists it once, not a directory per member


def need_path(member: str, data: bytes, copy: int = 0) -> str:
    """Named by its hash; `copy` > 0 when that name holds other bytes (damaged or planted)."""
    return f"{NEEDS_DIR}/{member}-{hashlib.sha256(data).hexdigest()[:16]}{f'-{copy}' if copy else ''}{NEED_SUFFIX}"


def need_member(path: str) -> str:
    """Whose need a path under NEEDS_DIR claims to be (decode_need checks it)."""
    return path.rsplit("/", 1)[-1].split("-", 1)[0]


def request_path(data: bytes) -> str:
    return f"requests/{request_id_for(data)}{REQUEST_SUFFIX}"


# --- answers and withdrawals --------------------------------------------------------


def answer_path(request_id: str) -> str:
    return f"answers/{request_id}{ANSWER_SUFFIX}"


def withdrawal_path(request_id: str) -> str:
    return f"requests/{request_id}{WITHDRAW_SUFFIX}"


def _answer_head(group_id: str, request_id: str) -> bytes:
    return ANSWER_MAGIC + bytes.fromhex(group_id) + bytes.fromhex(request_id)


def encode_answer(request: JoinRequest, answer: str, *, group_id: str) -> bytes:
    """An answer to `request`, readable only by its joiner."""
    if answer not in ANSWERS:
        raise ValueError(f"not an answer: {answer!r}")
    head = _answer_head(group_id, request.id)
    # One size for every answer: the folder host must not tell "declined" by its length.
    plain = json.dumps({"answer": answer}).encode().ljust(ANSWER_PAD_TO)
    return head + seal_to(plain, request.exchange_key, info=ANSWER_INFO, aad=head)


def decode_answer(data: bytes, *, group_id: str, request_id: str, exchange: ExchangeKey) -> str:
    """The answer to our request; raises BadMembershipFile."""
    head = _answer_head(group_id, request_id)
    if len(data) > MAX_ANSWER_BYTES or not data.startswith(head):
        raise BadMembershipFile("not an answer to our join request")
    try:
        answer = json.loads(open_sealed(data[len(head) :], exchange.private_key, info=ANSWER_INFO, aad=head))["answer"]
    except (KeyWrapError, ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested deep
        raise BadMembershipFile("the answer to our join request does not open (damaged or forged)") from None
    if not isinstance(answer, str) or answer not in ANSWERS:
        raise BadMembershipFile("the answer to our join request says something we do not know")
    return answer


def _withdraw_body(group_id: str, request_id: str) -> bytes:
    return WITHDRAW_MAGIC + bytes.fromhex(group_id) + bytes.fromhex(request_id)


def encode_withdrawal(identity: Identity, *, group_id: str, request_id: str) -> bytes:
    """Withdraw our own request: signed with the key the request carries."""
    body = _withdraw_body(group_id, request_id)
    return body + identity.sign(body)


def is_withdrawn(data: bytes, request: JoinRequest, *, group_id: str) -> bool:
    body = _withdraw_body(group_id, request.id)
    return (
        len(data) == len(body) + SIGNATURE_BYTES
        and data.startswith(body)
        and verify_signature(request.public_key, data[len(body) :], body)
    )
