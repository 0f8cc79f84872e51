"""Operations: the immutable, signed facts a group is made of.

An op's body is canonical JSON (sorted keys, no spaces, UTF-8) of its fields;
its signature is Ed25519 over the body by the author's key, which the body
carries so every op verifies on its own. The op id is SHA-256 of the body,
truncated to 16 bytes. Canonical form is enforced on decode, so one op has
exactly one byte encoding and one id.

Wire form: 64-byte signature followed by the body.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from tablespace.core.identity import ID_BYTES, Identity, author_id_for, verify_signature

FORMAT_VERSION = 1
SIGNATURE_BYTES = 64
MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 6  # payloads are flat records with small lists; anything deeper is hostile
MAX_KIND_CHARS = 32


class InvalidOp(ValueError):
    """Bytes that are not a well-formed, correctly signed op."""


# One encoder built once: json.dumps with non-default arguments builds a new
# JSONEncoder per call, which was half the cost of the canonical-form check
# every imported op goes through (bench_import). Same settings, same bytes.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _no_constants(name: str) -> None:
    """NaN and Infinity are not JSON; Python's parser would take them."""
    raise ValueError(f"{name} is not allowed in an op")


_CEncoder = Callable[[Any, int], tuple[str, ...] | list[str]]


def _c_encoder() -> _CEncoder | None:
    """The C encoder `_CANONICAL.encode` builds afresh on every call (that setup
    was ~half the canonical check of an imported op, bench_import), built once
    with the same settings. No cycle check (markers=None): op payloads are
    parsed JSON or plain records, never cyclic. None without the C accelerator
    or if its signature ever changes; tests hold the two to the same bytes."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        encode: _CEncoder = make(
            None, _CANONICAL.default, json.encoder.encode_basestring, None, ":", ",", True, False, False
        )
    except TypeError:
        return None
    return encode


_C_ENCODE = _c_encoder()


def canonical_json(value: Any) -> bytes:
    return _canonical_text(value).encode()


def _canonical_text(value: Any) -> str:
    if _C_ENCODE is None:
        return _CANONICAL.encode(value)
    return "".join(_C_ENCODE(value, 0))


# Likewise one decoder: json.loads with parse_constant builds a new decoder
# (and scanner) per call, which cost as much as parsing an op body.
_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def _parse_json(data: bytes) -> Any:
    """json.loads(data, parse_constant=_no_constants), same decoding of bytes."""
    return _DECODER.decode(data.decode(json.detect_encoding(data), "surrogatepass"))


def _depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """Container nesting depth, computed without recursion and giving up as soon
    as it passes `limit` (returns limit + 1). The recursive version raised
    RecursionError on a hostile body a few hundred levels deep, which json.loads
    still accepts, instead of refusing it as an InvalidOp."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


@dataclass(frozen=True)
class Op:
    group: str | None  # None only for the genesis op, whose id *is* the group id
    author: str
    seq: int
    prev: str | None
    hlc: int
    kind: str
    payload: dict[str, Any]
    public_key: bytes
    signature: bytes = field(repr=False)
    body: bytes = field(repr=False)
    id: str
    # Set by the fold on an op signed by a member's added device: `author` is
    # then the member the device speaks for, and this the device that signed.
    device: str = field(default="", compare=False)

    @property
    def signer(self) -> str:
        """Whose chain the op is in: the signing key's id (`device`, or the
        member's own first key)."""
        return self.device or self.author

    @property
    def order_key(self) -> tuple[int, str, int]:
        """The fold's total order."""
        return (self.hlc, self.author, self.seq)

    def to_wire(self) -> bytes:
        return self.signature + self.body


def make_op(
    *,
    group: str | None,
    author: str,
    seq: int,
    prev: str | None,
    hlc: int,
    kind: str,
    payload: dict[str, Any],
    public_key: bytes,
    signature: bytes,
    body: bytes,
    id: str,
    device: str = "",
) -> Op:
    """`Op(...)` without the frozen dataclass's __init__, which sets each of the
    eleven fields through object.__setattr__: 2.2 µs an op against 0.5 µs, a
    tenth of decoding an imported op (bench_import). The result is the same
    frozen Op: equal to, and as immutable as, one built by Op(...). (Op has
    no __post_init__; if it ever gets one, call it here too.)"""
    op = _new_object(Op)
    op.__dict__.update(
        group=group,
        author=author,
        seq=seq,
        prev=prev,
        hlc=hlc,
        kind=kind,
        payload=payload,
        public_key=public_key,
        signature=signature,
        body=body,
        id=id,
    )
    if device:  # else the class's default: most ops are a first key's
        op.__dict__["device"] = device
    return op


_new_object = object.__new__


def with_content(op: Op, kind: str, payload: dict[str, Any]) -> Op:
    """`op` with another kind and payload, everything else kept (the op a
    circle's box holds, folded in its place): what dataclasses.replace gives,
    without its per-field __init__, on every sealed op a circle member folds."""
    new = _new_object(Op)
    new.__dict__.update(op.__dict__, kind=kind, payload=payload)
    return new


def op_id_for(body: bytes) -> str:
    return hashlib.sha256(body).digest()[:ID_BYTES].hex()


def sign_op(
    identity: Identity,
    *,
    group: str | None,
    seq: int,
    prev: str | None,
    hlc: int,
    kind: str,
    payload: dict[str, Any],
) -> Op:
    fields = {
        "v": FORMAT_VERSION,
        "g": group,
        "a": identity.author_id,
        "s": seq,
        "p": prev,
        "h": hlc,
        "k": kind,
        "d": payload,
        "pk": identity.public_key.hex(),
    }
    body = canonical_json(fields)
    if len(body) > MAX_BODY_BYTES:
        raise InvalidOp(f"op body is {len(body)} bytes, over the {MAX_BODY_BYTES} byte limit")
    return make_op(
        group=group,
        author=identity.author_id,
        seq=seq,
        prev=prev,
        hlc=hlc,
        kind=kind,
        payload=payload,
        public_key=identity.public_key,
        signature=identity.sign(body),
        body=body,
        id=op_id_for(body),
    )


def _expect(condition: bool, reason: str) -> None:
    if not condition:
        raise InvalidOp(reason)


def decode_op(wire: bytes, *, verify: bool = True) -> Op:
    """Parse and check one op from its wire form. Raises InvalidOp.

    `verify=False` skips only the Ed25519 check of the op's own signature, for
    ops inside a changeset whose file signature by the same key was verified.
    """
    _expect(len(wire) > SIGNATURE_BYTES, "op too short")
    signature, body = wire[:SIGNATURE_BYTES], wire[SIGNATURE_BYTES:]
    return decode_body(body, signature, verify=verify)


def decode_body(body: bytes, signature: bytes, *, verify: bool = True) -> Op:
    _expect(len(body) <= MAX_BODY_BYTES, "op body over size limit")
    fields = _canonical_object(body, MAX_DEPTH, "op body")
    _expect(set(fields) == {"v", "g", "a", "s", "p", "h", "k", "d", "pk"}, "op has wrong fields")
    _expect(fields["v"] == FORMAT_VERSION, f"unsupported op version {fields['v']!r}")
    group, author, seq, prev = fields["g"], fields["a"], fields["s"], fields["p"]
    hlc, kind, payload, pk_hex = fields["h"], fields["k"], fields["d"], fields["pk"]
    _expect(group is None or _is_id(group), "bad group id")
    _expect(_is_id(author), "bad author id")
    # SQLite integers stop at 2**63 - 1: a larger value must be refused here,
    # not crash the import that tries to store it.
    _expect(type(seq) is int and 1 <= seq < 2**63, "bad seq")
    _expect((prev is None) == (seq == 1) and (prev is None or _is_id(prev)), "bad prev hash")
    _expect(type(hlc) is int and 0 < hlc < 2**63, "bad hlc")
    check_kind(kind)
    _expect(isinstance(payload, dict), "payload is not an object")
    _expect(isinstance(pk_hex, str) and len(pk_hex) == 64, "bad public key")
    public_key, key_author = _public_key(pk_hex)
    _expect(key_author == author, "author id does not match the signing key")
    _expect(len(signature) == SIGNATURE_BYTES, "bad signature")
    if verify:
        _expect(verify_signature(public_key, signature, body), "bad signature")
    return make_op(
        group=group,
        author=author,
        seq=seq,
        prev=prev,
        hlc=hlc,
        kind=kind,
        payload=payload,
        public_key=public_key,
        signature=signature,
        body=body,
        id=op_id_for(body),
    )


def _canonical_object(data: bytes, depth: int, what: str) -> dict[str, Any]:
    """Parse a JSON object that must be in canonical form and nested at most `depth` deep.

    Canonical JSON is UTF-8 with nothing around the value, so the parse is a
    bare raw_decode (no encoding sniffing, no whitespace scans: a third of the
    parse, bench_import); whatever is left over fails the byte comparison at
    the end. Only bytes that raw_decode refuses are parsed the lenient way, to
    tell JSON that is merely not canonical from no JSON at all."""
    try:
        # Strict UTF-8: the bytes of a lone surrogate go to the lenient parse
        # below (not canonical), so the text compared at the end encodes back
        # to `data` exactly, and the check need not encode the canonical text.
        text = data.decode("utf-8")
        value = _DECODER.raw_decode(text)[0]
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        try:
            _parse_json(data)
        except (ValueError, RecursionError):
            raise InvalidOp(f"{what} is not valid JSON") from None
        raise InvalidOp(f"{what} is not in canonical form") from None
    if not isinstance(value, dict):
        raise InvalidOp(f"{what} is not an object")
    # Nesting depth cannot exceed the number of containers, so a body with at
    # most `depth` brackets (every ordinary op: the op, its payload, a tag
    # list) needs no walk; brackets inside strings only over-count.
    if data.count(b"{") + data.count(b"[") > depth:
        _expect(_depth(value, depth) <= depth, "op payload nested too deeply")
    try:
        canonical = _canonical_text(value)
    except ValueError:  # parsed, but with no canonical form: 1e999 (inf)
        raise InvalidOp(f"{what} is not in canonical form") from None
    # A lone surrogate (\ud800) in the value is in `canonical` but cannot be
    # in the strictly decoded `text`: refused here, as its encoding failed.
    _expect(canonical == text, f"{what} is not in canonical form")
    return value


def decode_payload(data: bytes) -> dict[str, Any]:
    """An op's payload ("d") on its own, for a reader that builds the rest of
    the body itself (changeset v2): held to exactly what decode_body requires
    of it inside a whole body (JSON, an object, canonical, one level less deep,
    since the op is the outer level). Raises InvalidOp."""
    return _canonical_object(data, MAX_DEPTH - 1, "op payload")


def check_kind(kind: Any) -> None:
    _expect(isinstance(kind, str) and 0 < len(kind) <= MAX_KIND_CHARS, "bad kind")


def decode_trusted(body: bytes, signature: bytes, op_id: str | None = None) -> Op:
    """Re-read an op that was fully verified when it entered the log. `op_id`:
    its id as the log holds it (saves hashing the body again in a re-fold)."""
    fields = json.loads(body)
    return make_op(
        group=fields["g"],
        author=fields["a"],
        seq=fields["s"],
        prev=fields["p"],
        hlc=fields["h"],
        kind=fields["k"],
        payload=fields["d"],
        public_key=_public_key(fields["pk"])[0],
        signature=signature,
        body=body,
        id=op_id or op_id_for(body),
    )


_ID_MATCH = re.compile(r"[0-9a-f]{%d}\Z" % (ID_BYTES * 2)).match  # noqa: UP031 - a regex reads better without {{}}


def _is_id(value: Any) -> bool:
    # A compiled regex, not a per-character generator: three ids per op made
    # this ~1M generator steps per 10k imported ops.
    return isinstance(value, str) and _ID_MATCH(value) is not None


@lru_cache(maxsize=4096)
def _public_key(pk_hex: str) -> tuple[bytes, str]:
    """(raw key, author id) for a public key in hex. Every op carries its
    author's key; a changeset holds up to thousands of ops by one author, so
    the hex decode and SHA-256 are done once per key, and the ops share one
    bytes object. Raises InvalidOp (not cached) for bad hex."""
    try:
        public_key = bytes.fromhex(pk_hex)
    except ValueError:
        raise InvalidOp("bad public key") from None
    return public_key, author_id_for(public_key)
