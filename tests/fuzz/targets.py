"""Fuzz targets: every parser that reads bytes from the shared folder.

Each target takes one input (bytes) and feeds it to the real parser with
real keys: a fixed world (identities, exchange key, epoch keys, invite
secret, moderators' key and a founded group) made once per process from
fixed seeds, so a file made by the real encoders today still opens in a
later run and the kept corpus stays meaningful. A parser may refuse an
input only with its documented exception (BadChangeset,
BadMembershipFile, SealedRecordError, InvalidOp); anything else that
escapes is a finding, as is a hang or unbounded memory (the fuzzer's
-timeout and -rss_limit_mb).

Two kinds of target:
- raw: the input is the whole file, as a hostile folder would hold it;
- inner (names ending in `_inner`): the input is what lies under the crypto
  (a plaintext, or an unsigned body) and the target seals or signs it with
  the world's keys first, so the fuzzer reaches the decompressor, the op and
  payload parsers and the limits behind the signatures.

`SEEDS[name]()` gives the valid inputs each corpus starts from, made by the
real encoders; `TARGETS[name](data)` runs one input.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tablespace.core.fold import invite_id_for, mod_key_id
from tablespace.core.group import Group, Transport
from tablespace.core.home import Home
from tablespace.core.identity import Identity
from tablespace.core.ops import InvalidOp, Op, canonical_json, decode_op, sign_op
from tablespace.sync import envelope, membership, sealing
from tablespace.sync.envelope import BadChangeset, decode_changeset
from tablespace.sync.keys import ExchangeKey, epoch_key_id, seal_to
from tablespace.sync.membership import BadMembershipFile, JoinRequest
from tablespace.sync.sealing import SealedRecordError, check_report, open_for_moderators

FIXED_NOW = "2026-03-02T09:00:00Z"


def _seed(label: str) -> bytes:
    return hashlib.sha256(b"tablespace fuzz world\x00" + label.encode()).digest()


@dataclass(frozen=True)
class World:
    group: Group  # founded by `author`, its only member and moderator
    author: Identity  # writes the changesets, grants keys, files reports, asks for keys
    joiner: Identity  # sends the join request, is granted keys
    exchange: ExchangeKey  # the joiner's X25519 key
    epoch_keys: dict[int, bytes | list[bytes]]
    secret: bytes  # the invite secret
    mod_key: X25519PrivateKey
    request: JoinRequest  # the joiner's request, as a moderator decoded it

    @property
    def group_id(self) -> str:
        return self.group.id

    @property
    def mod_public(self) -> bytes:
        return self.mod_key.public_key().public_bytes_raw()

    @property
    def mod_key_id(self) -> str:
        return mod_key_id(self.mod_public)


@cache
def world() -> World:
    """The fixed world, made once per process (its group in a temporary home)."""
    author = Identity(Ed25519PrivateKey.from_private_bytes(_seed("author")))
    joiner = Identity(Ed25519PrivateKey.from_private_bytes(_seed("joiner")))
    exchange = ExchangeKey(X25519PrivateKey.from_private_bytes(_seed("exchange")))
    home_dir = Path(tempfile.mkdtemp(prefix="tablespace-fuzz-"))
    atexit.register(shutil.rmtree, home_dir, ignore_errors=True)
    (home_dir / "shared").mkdir()
    group = _found(Home(home_dir / "home"), author, Transport(folder=home_dir / "shared"))
    secret = _seed("invite")[:16]
    request = JoinRequest(
        id=_seed("request")[:16].hex(),
        invite=invite_id_for(secret),
        name="Joiner",
        public_key=joiner.public_key,
        exchange_key=exchange.public_key,
        created_at=FIXED_NOW,
    )
    return World(
        group=group,
        author=author,
        joiner=joiner,
        exchange=exchange,
        epoch_keys={0: _seed("epoch 0"), 1: [_seed("epoch 1a"), _seed("epoch 1b")]},
        secret=secret,
        mod_key=X25519PrivateKey.from_private_bytes(_seed("moderators")),
        request=request,
    )


def _found(home: Home, author: Identity, transport: Transport) -> Group:
    """Group.found with `author` as the founder and a fixed clock, so the group id is the same every run."""
    saved_now, saved_generate = os.environ.get("TABLESPACE_NOW"), Identity.generate
    os.environ["TABLESPACE_NOW"] = FIXED_NOW
    Identity.generate = classmethod(lambda cls: author)  # type: ignore[method-assign]
    try:
        return Group.found(home, "Fuzz Table", "Ada", transport)
    finally:
        Identity.generate = saved_generate  # type: ignore[method-assign]
        if saved_now is None:
            os.environ.pop("TABLESPACE_NOW", None)
        else:
            os.environ["TABLESPACE_NOW"] = saved_now


# --- changesets (sync/envelope.py, core/ops.py) ---------------------------------------

# changeset_inner: mode (u8) || first seq (u64) || op count (u16) || max hlc (u64) || body.
# mode bit 0: format v1 (else v2); bit 1: the body is the compressed frame as given
# (else the plaintext, compressed here as the writer would).
_INNER_HEAD = struct.Struct(">BQHQ")


def changeset(data: bytes) -> None:
    w = world()
    try:
        envelope.peek_header(data)
        decode_changeset(data, group_id=w.group_id, epoch_keys=w.epoch_keys)
    except BadChangeset:
        pass


def changeset_inner(data: bytes) -> None:
    if len(data) < _INNER_HEAD.size:
        return
    mode, first_seq, count, max_hlc = _INNER_HEAD.unpack_from(data)
    file = _seal_changeset(mode, first_seq, count, max_hlc, data[_INNER_HEAD.size :])
    w = world()
    try:
        decode_changeset(file, group_id=w.group_id, epoch_keys=w.epoch_keys)
    except BadChangeset:
        pass


def _seal_changeset(mode: int, first_seq: int, count: int, max_hlc: int, body: bytes) -> bytes:
    w = world()
    key = w.epoch_keys[0]
    assert isinstance(key, bytes)
    v1, compressed = mode & 1, mode & 2
    if v1:
        if not compressed:
            body = zstandard.ZstdCompressor(level=envelope.COMPRESSION_LEVEL, write_content_size=True).compress(body)
        fields: dict[str, object] = dict(
            group_id=w.group_id,
            epoch=0,
            key_id=epoch_key_id(key),
            author=w.author.author_id,
            public_key=w.author.public_key,
            first_seq=first_seq,
            last_seq=(first_seq + count - 1) % 2**64,
            max_hlc=max_hlc,
        )
        return envelope.seal(fields, body, epoch_key=key, signer=w.author)
    if not compressed:
        body = envelope.compress_v2(body)
    fields = dict(
        group_id=w.group_id,
        epoch=0,
        key_id=epoch_key_id(key)[: envelope.KEY_ID_BYTES_V2],
        public_key=w.author.public_key,
        first_seq=first_seq,
        op_count=count,
        max_hlc=max_hlc,
    )
    return envelope.seal_v2(fields, body, epoch_key=key, signer=w.author)


def op_wire(data: bytes) -> None:
    """One op's wire form (signature || canonical body), as a v1 changeset carries it."""
    try:
        decode_op(data)
    except InvalidOp:
        pass


def _ops() -> list[Op]:
    """Real ops by the founder: the genesis, then a thread, a reply, a reaction and a library entry."""
    w = world()
    genesis = w.group.conn.execute("SELECT body, signature FROM ops WHERE seq = 1").fetchone()
    ops = [decode_op(bytes(genesis[1]) + bytes(genesis[0]))]
    payloads = [
        ("thread.create", {"title": "Starter feeding", "body": "Twice a day, équipe 🍞", "tags": ["bread"]}),
        ("post.reply", {"thread": ops[0].id, "body": "x" * 300}),
        ("post.react", {"post": ops[0].id, "emoji": "👍"}),
        ("library.add", {"title": "Tartine", "url": "https://example.org/t", "summary": "", "tags": []}),
        (
            "ritual.add",
            {
                "name": "Bake day",
                "prompt": "What did you bake?",
                "rrule": "FREQ=WEEKLY;BYDAY=SA",
                "start": "2026-03-07",
            },
        ),
    ]
    hlc = ops[0].hlc
    for kind, payload in payloads:
        hlc += 1 << 16
        ops.append(
            sign_op(
                w.author, group=w.group_id, seq=ops[-1].seq + 1, prev=ops[-1].id, hlc=hlc, kind=kind, payload=payload
            )
        )
    return ops


def _changeset_seeds() -> list[bytes]:
    w, ops = world(), _ops()
    seeds = []
    for epoch, key in ((0, w.epoch_keys[0]), (1, w.epoch_keys[1][1])):  # type: ignore[index]
        for part in (ops[:1], ops[:3], ops[1:], ops[3:4]):
            seeds.append(
                envelope.encode_changeset(part, group_id=w.group_id, epoch=epoch, epoch_key=key, identity=w.author)
            )
    seeds.append(_v1_file(ops[:2]))
    seeds.append(_v1_file(ops[2:]))
    return seeds


def _v1_file(ops: list[Op]) -> bytes:
    return _seal_changeset(
        1, ops[0].seq, len(ops), max(op.hlc for op in ops), envelope.frame_ops([op.to_wire() for op in ops])
    )


def _changeset_inner_seeds() -> list[bytes]:
    w, ops = world(), _ops()
    seeds = []
    for part in (ops[:1], ops[:3], ops[1:], ops[4:5]):
        max_hlc = max(op.hlc for op in part)
        plain = envelope.compact_ops(part, group_id=w.group_id, max_hlc=max_hlc)
        wires = envelope.frame_ops([op.to_wire() for op in part])
        for mode, body in ((0, plain), (2, envelope.compress_v2(plain)), (1, wires)):
            seeds.append(_INNER_HEAD.pack(mode, part[0].seq, len(part), max_hlc) + body)
    return seeds


# --- join requests, withdrawals and answers (sync/membership.py) --------------------------


def join_request(data: bytes) -> None:
    w = world()
    try:
        membership.peek_request_invite(data, w.group_id)
        membership.decode_request(data, group_id=w.group_id, secret=w.secret)
    except BadMembershipFile:
        pass


def join_request_inner(data: bytes) -> None:
    """The input is the request's plaintext: encrypted under the invite and signed by the joiner here."""
    w = world()
    head = membership.REQUEST_MAGIC + bytes.fromhex(w.group_id) + bytes.fromhex(invite_id_for(w.secret))
    nonce = bytes(12)
    key = membership._request_key(w.secret, w.group_id)
    body = head + nonce + ChaCha20Poly1305(key).encrypt(nonce, data, head)
    join_request(body + w.joiner.sign(body))


def _join_request_seeds() -> list[bytes]:
    w = world()
    return [
        membership.encode_request(
            w.joiner, w.exchange.public_key, name, group_id=w.group_id, secret=w.secret, created_at=FIXED_NOW
        )
        for name in ("Joiner", "Zoë 🌱")
    ]


def _join_request_inner_seeds() -> list[bytes]:
    w = world()
    return [
        json.dumps(
            {
                "name": name,
                "public_key": w.joiner.public_key.hex(),
                "exchange_key": w.exchange.public_key.hex(),
                "created_at": FIXED_NOW,
            }
        ).encode()
        for name in ("Joiner", "Zoë 🌱")
    ]


def withdrawal(data: bytes) -> None:
    """is_withdrawn answers yes or no; it has no refusal to raise."""
    w = world()
    membership.is_withdrawn(data, w.request, group_id=w.group_id)


def _withdrawal_seeds() -> list[bytes]:
    w = world()
    return [membership.encode_withdrawal(w.joiner, group_id=w.group_id, request_id=w.request.id)]


def join_answer(data: bytes) -> None:
    w = world()
    try:
        membership.decode_answer(data, group_id=w.group_id, request_id=w.request.id, exchange=w.exchange)
    except BadMembershipFile:
        pass


def join_answer_inner(data: bytes) -> None:
    """The input is the answer's plaintext, sealed to the joiner here."""
    w = world()
    head = membership._answer_head(w.group_id, w.request.id)
    join_answer(head + seal_to(data, w.exchange.public_key, info=membership.ANSWER_INFO, aad=head))


def _join_answer_seeds() -> list[bytes]:
    w = world()
    return [membership.encode_answer(w.request, answer, group_id=w.group_id) for answer in membership.ANSWERS]


def _join_answer_inner_seeds() -> list[bytes]:
    return [json.dumps({"answer": answer}).encode().ljust(membership.ANSWER_PAD_TO) for answer in membership.ANSWERS]


# --- key grants and key needs (sync/membership.py, read by sync/roster.py and the engine) ---

_GRANTER_KEY = slice(37, 69)  # the granter's public key in a grant's head
_NEEDER_KEY = slice(21, 53)  # the member's public key in a need's head


def key_grant(data: bytes) -> None:
    w = world()
    try:
        membership.read_grant_header(data, group_id=w.group_id, member=w.joiner.author_id)
        membership.decode_grant(data, group_id=w.group_id, me=w.joiner.author_id, exchange=w.exchange)
    except BadMembershipFile:
        pass


def key_grant_inner(data: bytes) -> None:
    """The input is a grant without its signature: the author's key goes in its head, and it is signed here."""
    w = world()
    key_grant(_signed_by(w.author, data, _GRANTER_KEY))


def key_need(data: bytes) -> None:
    w = world()
    try:
        membership.decode_need(data, group_id=w.group_id, member=w.author.author_id)
    except BadMembershipFile:
        pass


def key_need_inner(data: bytes) -> None:
    """The input is a need without its signature: the author's key goes in its head, and it is signed here."""
    w = world()
    key_need(_signed_by(w.author, data, _NEEDER_KEY))


def _signed_by(signer: Identity, body: bytes, key_at: slice) -> bytes:
    if len(body) >= key_at.stop:
        body = body[: key_at.start] + signer.public_key + body[key_at.stop :]
    return body + signer.sign(body)


def _grant_seeds() -> list[bytes]:
    w = world()
    keys = [(0, w.epoch_keys[0]), (1, w.epoch_keys[1][0]), (1, w.epoch_keys[1][1])]  # type: ignore[index]
    return [
        membership.encode_grant(
            w.author, group_id=w.group_id, member=w.joiner.author_id, member_exchange=w.exchange.public_key, keys=part
        )
        for part in (keys[:1], keys)
    ]


def _need_seeds() -> list[bytes]:
    w = world()
    return [
        membership.encode_need(w.author, group_id=w.group_id, epochs=epochs, disowned=disowned)
        for epochs, disowned in (([0], []), ([1, 2, 7], [w.joiner.author_id]))
    ]


def _unsigned(seeds: list[bytes]) -> list[bytes]:
    return [seed[: -membership.SIGNATURE_BYTES] for seed in seeds]


# --- sealed reports (sync/sealing.py) -------------------------------------------------

# report_inner: flags (u8) || plaintext. Flag bit 0: the plaintext is a JSON
# record whose "sig" is made here by its reporter (the author), so the fuzzer
# gets past the report's own signature too.


def sealed_report(data: bytes) -> None:
    w = world()
    try:
        record = open_for_moderators(data, w.group_id, {w.mod_key_id: w.mod_key})
        check_report(record, w.group)
    except SealedRecordError:
        pass


def report_inner(data: bytes) -> None:
    if not data:
        return
    plain = data[1:]
    if data[0] & 1:
        plain = _signed_record(plain)
    w = world()
    head = sealing.MAGIC + bytes.fromhex(w.group_id) + bytes.fromhex(w.mod_key_id)
    sealed_report(head + seal_to(plain, w.mod_public, info=sealing.SEAL_INFO, aad=head))


def _signed_record(plain: bytes) -> bytes:
    """The record re-signed by the author, in canonical form; the input itself if it is not one we can sign."""
    try:
        record = json.loads(plain)
        if not isinstance(record, dict):
            return plain
        record["sig"] = world().author.sign(sealing.signed_part(record)).hex()
        return canonical_json(record)
    except Exception:  # noqa: BLE001 - the harness's own step: whatever it cannot sign goes in as it is
        return plain


def _report_record() -> dict[str, Any]:
    w = world()
    post = _ops()[1].id
    record: dict[str, Any] = {
        "type": "report",
        "group": w.group_id,
        "post": post,
        "thread": post,
        "post_author": w.author.author_id,
        "excerpt": "Twice a day",
        "reason": "spam, and rude",
        "reporter": w.author.author_id,
        "reporter_key": w.author.public_key.hex(),
        "at": FIXED_NOW,
        "nonce": "00" * 8,
    }
    record["sig"] = w.author.sign(sealing.signed_part(record)).hex()
    return record


def _report_seeds() -> list[bytes]:
    w = world()
    head = sealing.MAGIC + bytes.fromhex(w.group_id) + bytes.fromhex(w.mod_key_id)
    return [head + seal_to(plain, w.mod_public, info=sealing.SEAL_INFO, aad=head) for plain in _report_plaintexts()]


def _report_plaintexts() -> list[bytes]:
    text = canonical_json(_report_record())
    decision = canonical_json({"type": "decision", "report": "ab" * 16, "decision": "resolved"})
    return [text + b" " * (-len(text) % sealing.PAD_TO), decision]


def _report_inner_seeds() -> list[bytes]:
    plain = _report_plaintexts()
    return [b"\x00" + plain[0], b"\x01" + plain[0].rstrip(b" "), b"\x00" + plain[1]]


# --- the registry -----------------------------------------------------------------

# The parsers run this many frames down in the app and in sync (a worker, the
# engine's round, the screens), so a refusal that only holds near the bottom of
# the stack (a RecursionError from JSON nested a few hundred deep) is a finding.
CALLER_DEPTH = 150


def _called_deep(target: Callable[[bytes], None]) -> Callable[[bytes], None]:
    def run(data: bytes, depth: int = CALLER_DEPTH) -> None:
        if depth:
            run(data, depth - 1)
        else:
            target(data)

    run.__name__ = target.__name__
    return run


_PARSERS: dict[str, Callable[[bytes], None]] = {
    "changeset": changeset,
    "changeset_inner": changeset_inner,
    "op_wire": op_wire,
    "join_request": join_request,
    "join_request_inner": join_request_inner,
    "withdrawal": withdrawal,
    "join_answer": join_answer,
    "join_answer_inner": join_answer_inner,
    "key_grant": key_grant,
    "key_grant_inner": key_grant_inner,
    "key_need": key_need,
    "key_need_inner": key_need_inner,
    "sealed_report": sealed_report,
    "report_inner": report_inner,
}
TARGETS: dict[str, Callable[[bytes], None]] = {name: _called_deep(parser) for name, parser in _PARSERS.items()}


def any_target(data: bytes) -> None:
    """All targets in one: the first byte picks the target (in NAMES order), the rest is its input.
    One process for the short run instead of one per target (each starts in ~2 s)."""
    if data:
        TARGETS[NAMES[data[0] % len(NAMES)]](data[1:])


NAMES = sorted(TARGETS)

SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "changeset": _changeset_seeds,
    "changeset_inner": _changeset_inner_seeds,
    "op_wire": lambda: [op.to_wire() for op in _ops()],
    "join_request": _join_request_seeds,
    "join_request_inner": _join_request_inner_seeds,
    "withdrawal": _withdrawal_seeds,
    "join_answer": _join_answer_seeds,
    "join_answer_inner": _join_answer_inner_seeds,
    "key_grant": _grant_seeds,
    "key_grant_inner": lambda: _unsigned(_grant_seeds()),
    "key_need": _need_seeds,
    "key_need_inner": lambda: _unsigned(_need_seeds()),
    "sealed_report": _report_seeds,
    "report_inner": _report_inner_seeds,
}

CORPUS = Path(__file__).parent / "corpus"
