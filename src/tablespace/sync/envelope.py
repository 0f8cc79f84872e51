"""The changeset envelope: one author's consecutive ops, compressed, encrypted, signed.

A changeset file is what members put in the shared folder, which is untrusted
storage: any file may be truncated, bit-flipped, forged, renamed or hostile.
The layout (documented byte by byte in docs/changeset-format.md):

    header (v2: 96 bytes, v1: 128 bytes; the AEAD associated data)
    ciphertext (ChaCha20-Poly1305 of a zstd frame of the ops)
    signature (64 bytes, Ed25519 by the author over header || ciphertext)

`encode_changeset` writes format v2: each op is carried in a compact form that
leaves out what the header already says (author, public key, group, format
version, seq, and prev after the first op), compressed with a zstd dictionary
shipped in this package. The reader rebuilds every op's canonical body byte for
byte, so op ids and op signatures are exactly those of `core.ops`.
`decode_changeset` reads v2 and the legacy v1 (full op wires, no dictionary),
dispatching on the version byte.

`decode_changeset` checks, in this order and before trusting anything further:
size limits, header syntax, author id == SHA-256(public key)[:16], signature,
group, epoch key, decryption, bounded decompression, framing limits, and then
every op (its canonical form, author, group, seq run, chain, max HLC). Every
failure is a `BadChangeset` whose reason is one short line for the quarantine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tablespace.core.identity import ID_BYTES, Identity, author_id_for, verify_signature
from tablespace.core.ops import (
    MAX_BODY_BYTES,
    SIGNATURE_BYTES,
    InvalidOp,
    Op,
    check_kind,
    decode_op,
    decode_payload,
    make_op,
    op_id_for,
)
from tablespace.sync.keys import KEY_BYTES, epoch_key_id

# --- format ------------------------------------------------------------------

MAGIC = b"TSCF"
VERSION = 2  # what encode_changeset writes
READABLE_VERSIONS = (1, 2)
SUFFIX = ".tsc"
PUBLIC_KEY_BYTES = 32
TAG_BYTES = 16
NONCE = bytes(12)  # every file has its own key (random salt), so a fixed nonce never repeats

# v1 (legacy): magic, version, reserved(3), group, epoch, key id, author, public key,
# first seq, last seq, max hlc, salt, body length. Big-endian, no padding.
_HEADER_V1 = struct.Struct(">4sB3s16sI8s16s32sQQQ16sI")
HEADER_BYTES_V1 = _HEADER_V1.size  # 128
SALT_BYTES_V1 = 16
KDF_INFO_V1 = b"tablespace changeset v1"
_KDF_CONTEXT_V1 = slice(8, 52)  # header bytes: group id, epoch, key id, author id

# v2: magic, version, dictionary id, group, epoch, key id, public key, first seq,
# op count, max hlc, salt. The author id is not stored (it is SHA-256 of the key)
# and neither is the body length (it is what lies between header and signature).
_HEADER_V2 = struct.Struct(">4sBB16sI4s32sQHQ12s")
HEADER_BYTES_V2 = _HEADER_V2.size  # 92
SALT_BYTES_V2 = 12
KEY_ID_BYTES_V2 = 4  # the first 4 bytes of epoch_key_id(): only tells held keys apart
KDF_INFO_V2 = b"tablespace changeset v2"
_KDF_CONTEXT_V2 = slice(6, 62)  # header bytes: group id, epoch, key id, public key

# zstd dictionaries by the id a v2 header carries: (file in this package, its SHA-256).
# An id is never reused for other bytes; a new dictionary gets a new id.
DICTIONARY_ID = 1  # what the writer uses
DICTIONARIES: dict[int, tuple[str, str]] = {
    1: ("changeset-dict-1.zdict", "2d1efb5bca1843b1e4ace7fdde566a4061058c1dffaada778a9bb43091bf52ea"),
}
ZSTD_FORMAT_V2 = zstandard.FORMAT_ZSTD1_MAGICLESS  # v2 frames omit zstd's 4-byte magic
_OP_FORMAT = 1  # core.ops format carried by v2 (its "v" field)
GENESIS_FLAG = 0x01  # v2 plaintext flags: the first op is the group's genesis (no "g")

# --- limits (a reader refuses anything beyond these; a writer splits below them) --

MAX_FILE_BYTES = 8 * 1024 * 1024  # whole file on disk
MAX_PLAINTEXT_BYTES = 32 * 1024 * 1024  # decompressed body
MAX_OPS_PER_FILE = 4096  # bounds per-file CPU: each op is parsed, hashed and checked
MAX_OP_WIRE_BYTES = SIGNATURE_BYTES + MAX_BODY_BYTES  # one framed op
MAX_WINDOW_BYTES = 8 * 1024 * 1024  # zstd decoder window; level 3 uses at most 2 MiB
MAX_KIND_BYTES = 255  # v2: u8 length (core.ops allows 32 characters, <= 128 bytes)
MIN_FILE_BYTES = HEADER_BYTES_V2 + TAG_BYTES + SIGNATURE_BYTES  # the smallest version's minimum
MIN_FILE_BYTES_V1 = HEADER_BYTES_V1 + TAG_BYTES + SIGNATURE_BYTES
COMPRESSION_LEVEL = 3  # v1 writer (tests)
COMPRESSION_LEVEL_V2 = 19  # most files are a few hundred bytes: ~0.1 ms each at level 19

_U16 = 2**16
_U32 = 2**32
_U64 = 2**64
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


class BadChangeset(Exception):
    """A changeset file that must not be imported. `reason` is shown to users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownEpoch(BadChangeset):
    """Signed and well-formed, but under an epoch key we do not hold (yet): hold the file.
    `author`: who signed it (a stranger can sign a file too)."""

    def __init__(self, reason: str, epoch: int, author: str) -> None:
        super().__init__(reason)
        self.epoch = epoch
        self.author = author


class ChangesetTooLarge(ValueError):
    """Raised by the writer: these ops do not fit one file; split them."""


@dataclass(frozen=True)
class Header:
    version: int
    group_id: str  # 32 hex
    epoch: int
    key_id: bytes  # epoch_key_id() of the epoch key the body is encrypted under (v2: its first 4 bytes)
    author: str  # 32 hex; verified against (v2: computed from) public_key before a Header is returned
    public_key: bytes  # raw Ed25519
    first_seq: int
    last_seq: int
    max_hlc: int
    salt: bytes
    body_length: int  # ciphertext bytes including the 16-byte tag
    file_hash: str  # SHA-256 of the whole file, hex (names and duplicate detection)
    dictionary: int  # v2: zstd dictionary id; v1: 0 (none)

    @property
    def op_count(self) -> int:
        return self.last_seq - self.first_seq + 1

    @property
    def header_bytes(self) -> int:
        return HEADER_BYTES_V1 if self.version == 1 else HEADER_BYTES_V2


@dataclass(frozen=True)
class Changeset(Header):
    ops: list[Op]


def changeset_name(header: Header) -> str:
    """The file's relative path in the folder. Unique per content; never trusted on read."""
    return f"{header.author}/{header.first_seq:08d}-{header.last_seq:08d}-{header.file_hash[:16]}{SUFFIX}"


# --- the zstd dictionary -----------------------------------------------------

_dict_lock = threading.Lock()
_dicts: dict[int, zstandard.ZstdCompressionDict] = {}
_cdicts: dict[tuple[int, int], zstandard.ZstdCompressionDict] = {}
_local = threading.local()  # zstd contexts are not thread-safe: one per thread
SMALL_BODY_BYTES = 64 * 1024  # bodies up to this use COMPRESSION_LEVEL_V2, bigger ones BIG_BODY_LEVEL
BIG_BODY_LEVEL = 3


def dictionary_bytes(dict_id: int) -> bytes:
    """The shipped dictionary's bytes, checked against the hash this module pins."""
    name, sha = DICTIONARIES[dict_id]
    data = resources.files("tablespace.sync").joinpath(name).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha:
        raise RuntimeError(f"changeset dictionary {name} is damaged (SHA-256 mismatch); reinstall tablespace")
    return data


def _dictionary(dict_id: int) -> zstandard.ZstdCompressionDict:
    with _dict_lock:
        loaded = _dicts.get(dict_id)
        if loaded is None:
            loaded = zstandard.ZstdCompressionDict(dictionary_bytes(dict_id), dict_type=zstandard.DICT_TYPE_FULLDICT)
            _dicts[dict_id] = loaded
        return loaded


def _v2_params(level: int, dict_size: int) -> zstandard.ZstdCompressionParameters:
    # Parameters for a small input *with this dictionary*: without dict_size, zstd
    # picks a window that cannot reach most of the dictionary.
    return zstandard.ZstdCompressionParameters.from_level(
        level,
        source_size=4096,
        dict_size=dict_size,
        format=ZSTD_FORMAT_V2,
        write_content_size=1,
        write_checksum=0,
        write_dict_id=0,
    )


def _compressor(dict_id: int, level: int) -> zstandard.ZstdCompressor:
    cache: dict[tuple[int, int], zstandard.ZstdCompressor] = _local.__dict__.setdefault("cctx", {})
    cctx = cache.get((dict_id, level))
    if cctx is None:
        with _dict_lock:
            cdict = _cdicts.get((dict_id, level))
            if cdict is None:
                # A digested dictionary per level: loading one costs ~7 ms, using it ~0.1 ms.
                raw = dictionary_bytes(dict_id)
                cdict = zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_FULLDICT)
                cdict.precompute_compress(compression_params=_v2_params(level, len(raw)))
                _cdicts[(dict_id, level)] = cdict
        cctx = cache[(dict_id, level)] = zstandard.ZstdCompressor(
            dict_data=cdict, compression_params=_v2_params(level, len(cdict))
        )
    return cctx


def _decompressor(dict_id: int) -> zstandard.ZstdDecompressor:
    cache: dict[int, zstandard.ZstdDecompressor] = _local.__dict__.setdefault("dctx", {})
    dctx = cache.get(dict_id)
    if dctx is None:
        dctx = cache[dict_id] = zstandard.ZstdDecompressor(
            dict_data=_dictionary(dict_id), max_window_size=MAX_WINDOW_BYTES, format=ZSTD_FORMAT_V2
        )
    return dctx


def compress_v2(plaintext: bytes, *, dict_id: int = DICTIONARY_ID, level: int | None = None) -> bytes:
    """One magicless zstd frame with the dictionary, content size declared, no checksum, no dict id."""
    if level is None:
        level = COMPRESSION_LEVEL_V2 if len(plaintext) <= SMALL_BODY_BYTES else BIG_BODY_LEVEL
    return _compressor(dict_id, level).compress(plaintext)


# --- v2 compact ops ------------------------------------------------------------
#
# plaintext = flags (u8) || prev of the first op (16, only if first_seq > 1) || records
# record    = signature (64) || varint(max_hlc - hlc) || u8 len || kind (UTF-8)
#             || varint len || payload (the op's "d" exactly as in its canonical body)


def _varint(n: int) -> bytes:
    """Unsigned LEB128."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(buf: bytes, pos: int, what: str, seq: int) -> tuple[int, int]:
    """Unsigned LEB128, at most 64 bits (10 bytes), minimal encoding (one value, one encoding)."""
    value = shift = 0
    end = min(pos + 10, len(buf))
    for i in range(pos, end):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            if (byte == 0 and i > pos) or value >= _U64:
                raise _fail(f"op at seq {seq} has a badly encoded {what}")
            return value, i + 1
        shift += 7
    if end < pos + 10:
        raise _fail(f"body ends inside op at seq {seq}")
    raise _fail(f"op at seq {seq} has a badly encoded {what}")


def rebuild_body(
    *,
    author: str,
    public_key_hex: str,
    group: str | None,
    seq: int,
    prev: str | None,
    hlc: int,
    kind_json: bytes,
    payload: bytes,
) -> bytes:
    """The canonical body (core.ops) from its parts: sorted keys a,d,g,h,k,p,pk,s,v, no spaces."""
    return _assemble_body(_body_frame(author, public_key_hex, group), seq, prev, hlc, kind_json, payload)


BodyFrame = tuple[bytes, bytes, bytes]
_BODY_END = b',"v":' + str(_OP_FORMAT).encode() + b"}"


def _body_frame(author: str, public_key_hex: str, group: str | None) -> BodyFrame:
    """The bytes of a body that all of one file's ops share, encoded once per file."""
    return (
        b'{"a":"' + author.encode() + b'","d":',
        b',"g":' + (b"null" if group is None else b'"' + group.encode() + b'"') + b',"h":',
        b',"pk":"' + public_key_hex.encode() + b'","s":',
    )


def _assemble_body(frame: BodyFrame, seq: int, prev: str | None, hlc: int, kind_json: bytes, payload: bytes) -> bytes:
    start, middle, key = frame
    return b"".join(
        (
            start,
            payload,
            middle,
            str(hlc).encode(),
            b',"k":',
            kind_json,
            b',"p":',
            b"null" if prev is None else b'"' + prev.encode() + b'"',
            key,
            str(seq).encode(),
            _BODY_END,
        )
    )


@lru_cache(maxsize=64)  # a handful of kinds, one per op
def _kind_json(kind: str) -> bytes:
    return json.dumps(kind, ensure_ascii=False).encode()


def pack_record(signature: bytes, hlc_back: int, kind: bytes, payload: bytes) -> bytes:
    """One v2 op record (also used by tests to build hostile files)."""
    return signature + _varint(hlc_back) + bytes([len(kind)]) + kind + _varint(len(payload)) + payload


def compact_ops(ops: list[Op], *, group_id: str, max_hlc: int) -> bytes:
    """The v2 plaintext for one author's consecutive ops. Raises ValueError for an op
    whose body the reader would not rebuild byte for byte (never for core.ops' ops)."""
    first = ops[0]
    genesis = first.group is None
    parts = [bytes([GENESIS_FLAG if genesis else 0])]
    if first.seq > 1:
        parts.append(bytes.fromhex(first.prev or ""))
    pk_hex = first.public_key.hex()
    for i, op in enumerate(ops):
        kind = op.kind.encode()
        payload = json.dumps(op.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        body = rebuild_body(
            author=op.author,
            public_key_hex=pk_hex,
            group=None if (genesis and i == 0) else group_id,
            seq=op.seq,
            prev=op.prev,
            hlc=op.hlc,
            kind_json=_kind_json(op.kind),
            payload=payload,
        )
        if body != op.body:
            raise ValueError(f"op {op.id} is not in the canonical form changeset v2 rebuilds")
        if not 0 < len(kind) <= MAX_KIND_BYTES:
            raise ValueError(f"op {op.id} has a kind of {len(kind)} bytes")
        parts.append(pack_record(op.signature, max_hlc - op.hlc, kind, payload))
    return b"".join(parts)


def expand_ops(plaintext: bytes, header: Header) -> list[Op]:
    """Rebuild each op of a v2 plaintext: its canonical body, id and fields.

    Accepts exactly the ops decode_op would accept from the rebuilt bodies:
    the header vouches for author, key and group (the author id is computed
    from the key), the framing for seq, prev (each op's is the id of the one
    before) and hlc, and the rest of the body is written canonically here;
    kind and payload get core.ops' own checks. So the per-op checks a v1 file
    needs (_check_op) hold by construction. Parsing the payload alone, not
    the whole body again, halves the JSON work of an import (bench_import)."""
    buf, end, count = plaintext, len(plaintext), header.op_count
    if end < 1:
        raise _fail("body is empty")
    flags = buf[0]
    if flags & ~GENESIS_FLAG:
        raise _fail("body has unknown flags")
    genesis = bool(flags & GENESIS_FLAG)
    if genesis and header.first_seq != 1:
        raise _fail("only the op at seq 1 can be a genesis op")
    pos, prev = 1, None
    if header.first_seq > 1:
        if end < pos + ID_BYTES:
            raise _fail("body ends inside the first op's prev")
        prev = buf[pos : pos + ID_BYTES].hex()
        pos += ID_BYTES
    author, public_key, group_id, max_hlc = header.author, header.public_key, header.group_id, header.max_hlc
    frames = {group: _body_frame(author, public_key.hex(), group) for group in (group_id, None)}
    ops: list[Op] = []
    kinds: dict[bytes, tuple[str, bytes]] = {}  # kind bytes -> (checked kind, its JSON)
    newest_seen = False
    seq = header.first_seq - 1
    while pos < end:
        seq += 1
        if len(ops) == count:
            raise _fail(f"body holds more ops than the header's {count}")
        if end - pos < SIGNATURE_BYTES:
            raise _fail(f"body ends inside op at seq {seq}")
        signature = buf[pos : pos + SIGNATURE_BYTES]
        hlc_back, pos = _read_varint(buf, pos + SIGNATURE_BYTES, "hlc", seq)
        if hlc_back >= max_hlc:
            raise _fail(f"op at seq {seq} has an invalid hlc")
        newest_seen = newest_seen or hlc_back == 0
        if pos >= end:
            raise _fail(f"body ends inside op at seq {seq}")
        kind_len = buf[pos]
        if not 0 < kind_len <= end - pos - 1:
            raise _fail(f"op at seq {seq} has an invalid kind length")
        start = pos + 1 + kind_len
        # A length of one or two bytes (under 16 KiB: nearly every payload) is
        # read inline, saving a call per op; anything else, _read_varint.
        payload_len = buf[start] if start < end else 0x80
        if payload_len < 0x80:
            start += 1
        elif start + 1 < end and 0 < buf[start + 1] < 0x80:
            payload_len = (payload_len & 0x7F) | buf[start + 1] << 7
            start += 2
        else:
            payload_len, start = _read_varint(buf, start, "payload length", seq)
        if payload_len > MAX_BODY_BYTES:
            raise _fail(f"op at seq {seq} has an invalid length ({payload_len} bytes)")
        if start + payload_len > end:
            raise _fail(f"body ends inside op at seq {seq}")
        payload_bytes = buf[start : start + payload_len]
        group = None if genesis and not ops else group_id
        hlc = max_hlc - hlc_back
        kind_bytes = buf[pos + 1 : pos + 1 + kind_len]
        known = kinds.get(kind_bytes)
        try:
            if known is None:  # a kind not seen yet in this file (a handful per file)
                kind = kind_bytes.decode()
                check_kind(kind)
                known = kinds[kind_bytes] = (kind, _kind_json(kind))
            payload = decode_payload(payload_bytes)
        except (InvalidOp, ValueError, RecursionError, TypeError):
            # core raises InvalidOp; the others are defence against payload edge cases
            raise _fail(f"op at seq {seq} is invalid") from None
        kind, kind_json = known
        body = _assemble_body(frames[group], seq, prev, hlc, kind_json, payload_bytes)
        if len(body) > MAX_BODY_BYTES:
            raise _fail(f"op at seq {seq} has an invalid length ({len(body)} bytes)")
        op_id = op_id_for(body)
        if group is None and op_id != group_id:
            raise _fail(f"op at seq {seq} belongs to another group")
        ops.append(
            make_op(
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
                id=op_id,
            )
        )
        prev, pos = op_id, start + payload_len
    if len(ops) != count:
        raise _fail(f"body holds {len(ops)} ops, header says {count}")
    if not newest_seen:
        raise _fail("ops' newest hlc does not match the header")
    return ops


# --- writing -----------------------------------------------------------------


def pack_header(
    *,
    group_id: str,
    epoch: int,
    key_id: bytes,
    author: str,
    public_key: bytes,
    first_seq: int,
    last_seq: int,
    max_hlc: int,
    salt: bytes,
    body_length: int,
    version: int = 1,
) -> bytes:
    """A v1 header (legacy)."""
    return _HEADER_V1.pack(
        MAGIC,
        version,
        bytes(3),
        bytes.fromhex(group_id),
        epoch,
        key_id,
        bytes.fromhex(author),
        public_key,
        first_seq,
        last_seq,
        max_hlc,
        salt,
        body_length,
    )


def pack_header_v2(
    *,
    group_id: str,
    epoch: int,
    key_id: bytes,
    public_key: bytes,
    first_seq: int,
    op_count: int,
    max_hlc: int,
    salt: bytes,
    dictionary: int = DICTIONARY_ID,
    version: int = 2,
) -> bytes:
    return _HEADER_V2.pack(
        MAGIC,
        version,
        dictionary,
        bytes.fromhex(group_id),
        epoch,
        key_id[:KEY_ID_BYTES_V2],
        public_key,
        first_seq,
        op_count,
        max_hlc,
        salt,
    )


def file_key(epoch_key: bytes, header_bytes: bytes, salt: bytes) -> bytes:
    """Per-file AEAD key: HKDF-SHA256(epoch key, salt, label || header context).

    The context is group, epoch, key id and author id (v1) or public key (v2);
    the version is read from the header bytes."""
    if header_bytes[4] == 1:
        info = KDF_INFO_V1 + header_bytes[_KDF_CONTEXT_V1]
    else:
        info = KDF_INFO_V2 + header_bytes[_KDF_CONTEXT_V2]
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(epoch_key)


def decrypt_body(data: bytes, epoch_key: bytes) -> bytes:
    """Decrypt a file's body without any other check (benchmark floors, tools).

    Raises InvalidTag on a wrong key or damage; use decode_changeset for real reading."""
    size = HEADER_BYTES_V1 if data[4] == 1 else HEADER_BYTES_V2
    head = data[:size]
    salt = head[108:124] if data[4] == 1 else head[-SALT_BYTES_V2:]
    return ChaCha20Poly1305(file_key(epoch_key, head, salt)).decrypt(NONCE, data[size:-SIGNATURE_BYTES], head)


def frame_ops(wires: list[bytes]) -> bytes:
    """The v1 body: u32 length || wire per op."""
    return b"".join(len(w).to_bytes(4, "big") + w for w in wires)


def seal(header_fields: dict[str, object], compressed: bytes, *, epoch_key: bytes, signer: Identity) -> bytes:
    """A v1 file: encrypt an already-compressed body under a fresh salt and sign it.

    v1 is only read now; this stays so tests can build v1 files, hostile or not."""
    salt = os.urandom(SALT_BYTES_V1)
    header = pack_header(**header_fields, salt=salt, body_length=len(compressed) + TAG_BYTES)  # type: ignore[arg-type]
    ciphertext = ChaCha20Poly1305(file_key(epoch_key, header, salt)).encrypt(NONCE, compressed, header)
    return header + ciphertext + signer.sign(header + ciphertext)


def seal_v2(header_fields: dict[str, object], compressed: bytes, *, epoch_key: bytes, signer: Identity) -> bytes:
    """A v2 file: encrypt an already-compressed body under a fresh salt and sign it.

    `header_fields` are pack_header_v2's arguments but the salt. Split out of
    encode_changeset so tests can build hostile-but-valid files."""
    salt = os.urandom(SALT_BYTES_V2)
    header = pack_header_v2(**header_fields, salt=salt)  # type: ignore[arg-type]
    ciphertext = ChaCha20Poly1305(file_key(epoch_key, header, salt)).encrypt(NONCE, compressed, header)
    return header + ciphertext + signer.sign(header + ciphertext)


def encode_changeset(ops: list[Op], *, group_id: str, epoch: int, epoch_key: bytes, identity: Identity) -> bytes:
    """One v2 file for `identity`'s consecutive ops. Raises ValueError on misuse,
    ChangesetTooLarge if the ops must be split over several files."""
    _check_writable(ops, group_id=group_id, epoch=epoch, epoch_key=epoch_key, identity=identity)
    max_hlc = max(op.hlc for op in ops)
    plaintext = compact_ops(ops, group_id=group_id, max_hlc=max_hlc)
    if len(plaintext) > MAX_PLAINTEXT_BYTES:
        raise ChangesetTooLarge(f"{len(ops)} ops are {len(plaintext)} bytes, over {MAX_PLAINTEXT_BYTES}")
    fields = dict(
        group_id=group_id,
        epoch=epoch,
        key_id=epoch_key_id(epoch_key)[:KEY_ID_BYTES_V2],
        public_key=identity.public_key,
        first_seq=ops[0].seq,
        op_count=len(ops),
        max_hlc=max_hlc,
    )
    data = seal_v2(fields, compress_v2(plaintext), epoch_key=epoch_key, signer=identity)
    if len(data) > MAX_FILE_BYTES:
        raise ChangesetTooLarge(f"{len(ops)} ops make a {len(data)} byte file, over {MAX_FILE_BYTES}")
    return data


def _check_writable(ops: list[Op], *, group_id: str, epoch: int, epoch_key: bytes, identity: Identity) -> None:
    if not ops:
        raise ValueError("a changeset needs at least one op")
    if len(ops) > MAX_OPS_PER_FILE:
        raise ChangesetTooLarge(f"{len(ops)} ops, over the {MAX_OPS_PER_FILE} per file limit")
    if not _HEX_ID.match(group_id):
        raise ValueError("group_id must be 32 lowercase hex characters")
    if not 0 <= epoch < _U32:
        raise ValueError("epoch must fit in 32 bits")
    if len(epoch_key) != KEY_BYTES:
        raise ValueError(f"epoch key must be {KEY_BYTES} bytes")
    for i, op in enumerate(ops):
        if op.author != identity.author_id or op.public_key != identity.public_key:
            raise ValueError(f"op {op.id} is not by this identity")
        if op.seq != ops[0].seq + i or (i and op.prev != ops[i - 1].id):
            raise ValueError("ops must be one author's consecutive, chained ops")
        if not _in_group(op, group_id) or (op.group is None and i):
            raise ValueError(f"op {op.id} belongs to another group")
        if not (0 < op.seq < _U64 and 0 < op.hlc < _U64):
            raise ValueError(f"op {op.id} has a seq or hlc outside 64 bits")


def _in_group(op: Op, group_id: str) -> bool:
    # The genesis op has no group field: its own id *is* the group id.
    return op.group == group_id or (op.group is None and op.seq == 1 and op.id == group_id)


# --- reading -----------------------------------------------------------------


def _fail(reason: str) -> BadChangeset:
    return BadChangeset(reason)


def _check_size(data: bytes) -> None:
    if len(data) > MAX_FILE_BYTES:
        raise _fail(f"file is {len(data)} bytes, over the {MAX_FILE_BYTES} byte limit")
    if len(data) < MIN_FILE_BYTES:
        raise _fail(f"file is too short ({len(data)} bytes) to be a changeset")


def _parse_header(data: bytes) -> Header:
    if data[:4] != MAGIC:
        raise _fail("not a tablespace changeset (bad magic bytes)")
    version = data[4]
    if version == 1:
        return _parse_header_v1(data)
    if version == 2:
        return _parse_header_v2(data)
    raise _fail(f"unsupported changeset format version {version}")


def _parse_header_v1(data: bytes) -> Header:
    if len(data) < MIN_FILE_BYTES_V1:
        raise _fail(f"file is too short ({len(data)} bytes) to be a changeset")
    (
        _magic,
        version,
        reserved,
        group,
        epoch,
        key_id,
        author,
        public_key,
        first_seq,
        last_seq,
        max_hlc,
        salt,
        body_length,
    ) = _HEADER_V1.unpack_from(data)
    if reserved != bytes(3):
        raise _fail("reserved header bytes are not zero")
    if body_length != len(data) - HEADER_BYTES_V1 - SIGNATURE_BYTES:
        raise _fail("file length does not match its header (truncated or padded)")
    _check_seqs(first_seq, last_seq, max_hlc)
    return Header(
        version=version,
        group_id=group.hex(),
        epoch=epoch,
        key_id=key_id,
        author=author.hex(),
        public_key=public_key,
        first_seq=first_seq,
        last_seq=last_seq,
        max_hlc=max_hlc,
        salt=salt,
        body_length=body_length,
        file_hash=hashlib.sha256(data).hexdigest(),
        dictionary=0,
    )


def _parse_header_v2(data: bytes) -> Header:
    (_magic, version, dictionary, group, epoch, key_id, public_key, first_seq, op_count, max_hlc, salt) = (
        _HEADER_V2.unpack_from(data)
    )
    if dictionary not in DICTIONARIES:
        raise _fail(f"unknown compression dictionary {dictionary}")
    if op_count == 0:
        raise _fail("header has an invalid seq range")
    last_seq = first_seq + op_count - 1
    _check_seqs(first_seq, last_seq, max_hlc)
    return Header(
        version=version,
        group_id=group.hex(),
        epoch=epoch,
        key_id=key_id,
        # v2 carries no author id to check: the key is the author.
        author=author_id_for(public_key),
        public_key=public_key,
        first_seq=first_seq,
        last_seq=last_seq,
        max_hlc=max_hlc,
        salt=salt,
        body_length=len(data) - HEADER_BYTES_V2 - SIGNATURE_BYTES,
        file_hash=hashlib.sha256(data).hexdigest(),
        dictionary=dictionary,
    )


def _check_seqs(first_seq: int, last_seq: int, max_hlc: int) -> None:
    if not 1 <= first_seq <= last_seq or last_seq >= 2**63:  # SQLite integers are signed 64-bit
        raise _fail("header has an invalid seq range")
    if last_seq - first_seq >= MAX_OPS_PER_FILE:
        raise _fail(f"header claims over {MAX_OPS_PER_FILE} ops")
    if not 0 < max_hlc < 2**63:
        raise _fail("header has an invalid hlc")


def peek_header(data: bytes) -> Header:
    """Parse the header and verify the author's signature, without decrypting.

    Enough to name, quarantine or fork-check a file we cannot (yet) read.
    """
    data = bytes(data)
    _check_size(data)
    header = _parse_header(data)
    # v1: the header's author id is only a claim; the key decides who wrote this.
    # (v2 computes the id from the key, so this holds by construction.)
    if author_id_for(header.public_key) != header.author:
        raise _fail("author id does not match the signing key (forged author)")
    signed, signature = data[:-SIGNATURE_BYTES], data[-SIGNATURE_BYTES:]
    if not verify_signature(header.public_key, signature, signed):
        raise _fail("signature does not verify (file damaged or forged)")
    return header


def decode_changeset(data: bytes, *, group_id: str, epoch_keys: Mapping[int, bytes | Sequence[bytes]]) -> Changeset:
    """Verify, decrypt and parse one changeset file (v1 or v2). Raises BadChangeset (or UnknownEpoch)."""
    data = bytes(data)
    header = peek_header(data)
    if header.group_id != group_id:
        raise _fail(f"changeset belongs to another group ({header.group_id[:8]}…)")
    epoch_key = _epoch_key_for(header, epoch_keys)
    plaintext = _decompress(_decrypt(data, header, epoch_key), header.dictionary)
    if header.version == 1:
        ops = _v1_ops(_unframe(plaintext, header.op_count), header)
    else:
        ops = expand_ops(plaintext, header)
    return Changeset(**{f: getattr(header, f) for f in Header.__dataclass_fields__}, ops=ops)


def _epoch_key_for(header: Header, epoch_keys: Mapping[int, bytes | Sequence[bytes]]) -> bytes:
    held = epoch_keys.get(header.epoch)
    if held is None:
        raise UnknownEpoch(
            f"encrypted for epoch {header.epoch}, whose key we do not have yet", header.epoch, header.author
        )
    # Two moderators rotating at once give one epoch two keys: the key id says which.
    for key in [held] if isinstance(held, bytes) else held:
        if epoch_key_id(key)[: len(header.key_id)] == header.key_id:  # v2 keeps 4 of the 8 bytes
            return key
    raise UnknownEpoch(
        f"encrypted under a different key for epoch {header.epoch} than the one we hold", header.epoch, header.author
    )


def _decrypt(data: bytes, header: Header, epoch_key: bytes) -> bytes:
    size = header.header_bytes
    header_bytes = data[:size]
    ciphertext = data[size:-SIGNATURE_BYTES]
    key = file_key(epoch_key, header_bytes, header.salt)
    try:
        return ChaCha20Poly1305(key).decrypt(NONCE, ciphertext, header_bytes)
    except InvalidTag:
        raise _fail("body does not decrypt with the epoch key") from None


def _decompress(compressed: bytes, dictionary: int = 0) -> bytes:
    """One zstd frame that declares its size up front; refuse before allocating if too big.

    v1 (dictionary 0): a standard frame, no dictionary. v2: a magicless frame
    decompressed with the header's dictionary, which it must not name itself."""
    fmt = zstandard.FORMAT_ZSTD1 if dictionary == 0 else ZSTD_FORMAT_V2
    try:
        params = zstandard.get_frame_parameters(compressed, format=fmt)
    except zstandard.ZstdError:
        raise _fail("body is not a zstd frame") from None
    if params.content_size == zstandard.CONTENTSIZE_UNKNOWN:
        raise _fail("compressed body does not declare its size")
    if params.content_size > MAX_PLAINTEXT_BYTES:
        raise _fail(f"body would decompress past the {MAX_PLAINTEXT_BYTES} byte limit")
    if params.window_size > MAX_WINDOW_BYTES:
        raise _fail("compressed body asks for too large a decoder window")
    if params.dict_id != 0:
        raise _fail("compressed body names a dictionary (the header does that)")
    # decompress() allocates exactly the declared size and fails if the frame
    # would produce more (or less), so a lying size cannot grow the buffer.
    if dictionary == 0:
        decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_BYTES)
    else:
        decompressor = _decompressor(dictionary)
    try:
        return decompressor.decompress(compressed, allow_extra_data=False)
    except zstandard.ZstdError:
        raise _fail("compressed body is corrupt or lies about its size") from None


def _unframe(plaintext: bytes, expected: int) -> list[bytes]:
    wires: list[bytes] = []
    view, pos, end = memoryview(plaintext), 0, len(plaintext)
    while pos < end:
        if len(wires) == expected:
            raise _fail(f"body holds more ops than the header's {expected}")
        if end - pos < 4:
            raise _fail("body ends inside an op length")
        size = int.from_bytes(view[pos : pos + 4], "big")
        if not SIGNATURE_BYTES < size <= MAX_OP_WIRE_BYTES:
            raise _fail(f"op {len(wires) + 1} has an invalid length ({size} bytes)")
        if pos + 4 + size > end:
            raise _fail("body ends inside an op")
        wires.append(bytes(view[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    if len(wires) != expected:
        raise _fail(f"body holds {len(wires)} ops, header says {expected}")
    return wires


def _v1_ops(wires: list[bytes], header: Header) -> list[Op]:
    """The ops of a v1 file: full wires, each checked against the header and its neighbour."""
    ops: list[Op] = []
    for i, wire in enumerate(wires):
        seq = header.first_seq + i
        try:
            # The file's signature (checked first) is by this same key and covers
            # every byte of the op, so re-verifying each op's own signature would
            # only cost time (~0.2 ms per op).
            op = decode_op(wire, verify=False)
        except (InvalidOp, ValueError, RecursionError, TypeError):
            # core raises InvalidOp; the others are defence against payload edge cases
            raise _fail(f"op at seq {seq} is invalid") from None
        _check_op(op, seq, header, ops[-1] if ops else None)
        ops.append(op)
    if max(op.hlc for op in ops) != header.max_hlc:
        raise _fail("ops' newest hlc does not match the header")
    return ops


def _check_op(op: Op, seq: int, header: Header, previous: Op | None) -> None:
    if op.author != header.author or op.public_key != header.public_key:
        raise _fail(f"op at seq {seq} is by another author than the file")
    if op.seq != seq:
        raise _fail(f"ops are not consecutive (expected seq {seq}, found {op.seq})")
    if previous is not None and op.prev != previous.id:
        raise _fail(f"op at seq {seq} does not chain to the op before it")
    if not _in_group(op, header.group_id):
        raise _fail(f"op at seq {seq} belongs to another group")
