"""The changeset envelope: one author's consecutive ops, compressed, encrypted, signed.

A changeset file is what members put in the shared folder, which is untrusted
storage: any file may be truncated, bit-flipped, forged, renamed or hostile.
The layout (documented byte by byte in docs/changeset-format.md):

    header (128 bytes, the AEAD associated data)
    ciphertext (ChaCha20-Poly1305 of a zstd frame of length-prefixed op wires)
    signature (64 bytes, Ed25519 by the author over header || ciphertext)

`decode_changeset` checks, in this order and before trusting anything further:
size limits, header syntax, author id == SHA-256(public key)[:16], signature,
group, epoch key, decryption, bounded decompression, framing limits, and then
every op (its own signature, author, group, seq run, chain, max HLC). Every
failure is a `BadChangeset` whose reason is one short line for the quarantine.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from dataclasses import dataclass
from typing import Mapping, Sequence

import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tablespace.core.identity import ID_BYTES, Identity, author_id_for, verify_signature
from tablespace.core.ops import MAX_BODY_BYTES, SIGNATURE_BYTES, InvalidOp, Op, decode_op
from tablespace.sync.keys import KEY_BYTES, KEY_ID_BYTES, epoch_key_id

# --- format ------------------------------------------------------------------

MAGIC = b"TSCF"
VERSION = 1
SUFFIX = ".tsc"
# magic, version, reserved(3), group, epoch, key id, author, public key,
# first seq, last seq, max hlc, salt, body length. Big-endian, no padding.
_HEADER = struct.Struct(">4sB3s16sI8s16s32sQQQ16sI")
HEADER_BYTES = _HEADER.size  # 128
PUBLIC_KEY_BYTES = 32
SALT_BYTES = 16
TAG_BYTES = 16
NONCE = bytes(12)  # every file has its own key (random salt), so a fixed nonce never repeats
KDF_INFO = b"tablespace changeset v1"
_KDF_CONTEXT = slice(8, 52)  # header bytes: group id, epoch, key id, author id

# --- limits (a reader refuses anything beyond these; a writer splits below them) --

MAX_FILE_BYTES = 8 * 1024 * 1024  # whole file on disk
MAX_PLAINTEXT_BYTES = 32 * 1024 * 1024  # decompressed framed ops
MAX_OPS_PER_FILE = 4096  # bounds per-file CPU: each op is an Ed25519 verify (~0.15 ms)
MAX_OP_WIRE_BYTES = SIGNATURE_BYTES + MAX_BODY_BYTES  # one framed op
MAX_WINDOW_BYTES = 8 * 1024 * 1024  # zstd decoder window; level 3 uses at most 2 MiB
MIN_FILE_BYTES = HEADER_BYTES + TAG_BYTES + SIGNATURE_BYTES
COMPRESSION_LEVEL = 3

_U32 = 2**32
_U64 = 2**64
_HEX_ID = re.compile(r"^[0-9a-f]{32}$")


class BadChangeset(Exception):
    """A changeset file that must not be imported. `reason` is shown to users."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownEpoch(BadChangeset):
    """Signed and well-formed, but under an epoch key we do not hold (yet): hold the file."""

    def __init__(self, reason: str, epoch: int) -> None:
        super().__init__(reason)
        self.epoch = epoch


class ChangesetTooLarge(ValueError):
    """Raised by the writer: these ops do not fit one file; split them."""


@dataclass(frozen=True)
class Header:
    version: int
    group_id: str  # 32 hex
    epoch: int
    key_id: bytes  # epoch_key_id() of the epoch key the body is encrypted under
    author: str  # 32 hex; verified against public_key before a Header is returned
    public_key: bytes  # raw Ed25519
    first_seq: int
    last_seq: int
    max_hlc: int
    salt: bytes
    body_length: int  # ciphertext bytes including the 16-byte tag
    file_hash: str  # SHA-256 of the whole file, hex (names and duplicate detection)

    @property
    def op_count(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True)
class Changeset(Header):
    ops: list[Op]


def changeset_name(header: Header) -> str:
    """The file's relative path in the folder. Unique per content; never trusted on read."""
    return f"{header.author}/{header.first_seq:08d}-{header.last_seq:08d}-{header.file_hash[:16]}{SUFFIX}"


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
    version: int = VERSION,
) -> bytes:
    return _HEADER.pack(
        MAGIC, version, bytes(3), bytes.fromhex(group_id), epoch, key_id,
        bytes.fromhex(author), public_key, first_seq, last_seq, max_hlc, salt, body_length,
    )


def file_key(epoch_key: bytes, header_bytes: bytes, salt: bytes) -> bytes:
    """Per-file AEAD key: HKDF-SHA256(epoch key, salt, label || group, epoch, key id, author)."""
    info = KDF_INFO + header_bytes[_KDF_CONTEXT]
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(epoch_key)


def frame_ops(wires: list[bytes]) -> bytes:
    return b"".join(len(w).to_bytes(4, "big") + w for w in wires)


def seal(
    header_fields: dict[str, object], compressed: bytes, *, epoch_key: bytes, signer: Identity
) -> bytes:
    """Encrypt an already-compressed body under a fresh salt and sign the file.

    Split out of encode_changeset so tests can build hostile-but-valid files.
    """
    salt = os.urandom(SALT_BYTES)
    header = pack_header(**header_fields, salt=salt, body_length=len(compressed) + TAG_BYTES)  # type: ignore[arg-type]
    ciphertext = ChaCha20Poly1305(file_key(epoch_key, header, salt)).encrypt(NONCE, compressed, header)
    return header + ciphertext + signer.sign(header + ciphertext)


def encode_changeset(
    ops: list[Op], *, group_id: str, epoch: int, epoch_key: bytes, identity: Identity
) -> bytes:
    """One file for `identity`'s consecutive ops. Raises ValueError on misuse,
    ChangesetTooLarge if the ops must be split over several files."""
    _check_writable(ops, group_id=group_id, epoch=epoch, epoch_key=epoch_key, identity=identity)
    plaintext = frame_ops([op.to_wire() for op in ops])
    if len(plaintext) > MAX_PLAINTEXT_BYTES:
        raise ChangesetTooLarge(f"{len(ops)} ops are {len(plaintext)} bytes, over {MAX_PLAINTEXT_BYTES}")
    compressed = zstandard.ZstdCompressor(level=COMPRESSION_LEVEL, write_content_size=True).compress(plaintext)
    fields = dict(
        group_id=group_id, epoch=epoch, key_id=epoch_key_id(epoch_key), author=identity.author_id,
        public_key=identity.public_key, first_seq=ops[0].seq, last_seq=ops[-1].seq,
        max_hlc=max(op.hlc for op in ops),
    )
    data = seal(fields, compressed, epoch_key=epoch_key, signer=identity)
    if len(data) > MAX_FILE_BYTES:
        raise ChangesetTooLarge(f"{len(ops)} ops make a {len(data)} byte file, over {MAX_FILE_BYTES}")
    return data


def _check_writable(
    ops: list[Op], *, group_id: str, epoch: int, epoch_key: bytes, identity: Identity
) -> None:
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
        if op.author != identity.author_id:
            raise ValueError(f"op {op.id} is not by this identity")
        if op.seq != ops[0].seq + i or (i and op.prev != ops[i - 1].id):
            raise ValueError("ops must be one author's consecutive, chained ops")
        if not _in_group(op, group_id):
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
    (magic, version, reserved, group, epoch, key_id, author, public_key,
     first_seq, last_seq, max_hlc, salt, body_length) = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise _fail("not a tablespace changeset (bad magic bytes)")
    if version != VERSION:
        raise _fail(f"unsupported changeset format version {version}")
    if reserved != bytes(3):
        raise _fail("reserved header bytes are not zero")
    if body_length != len(data) - HEADER_BYTES - SIGNATURE_BYTES:
        raise _fail("file length does not match its header (truncated or padded)")
    if not 1 <= first_seq <= last_seq:
        raise _fail("header has an invalid seq range")
    if last_seq - first_seq >= MAX_OPS_PER_FILE:
        raise _fail(f"header claims over {MAX_OPS_PER_FILE} ops")
    if max_hlc == 0:
        raise _fail("header has an invalid hlc")
    return Header(
        version=version, group_id=group.hex(), epoch=epoch, key_id=key_id, author=author.hex(),
        public_key=public_key, first_seq=first_seq, last_seq=last_seq, max_hlc=max_hlc,
        salt=salt, body_length=body_length, file_hash=hashlib.sha256(data).hexdigest(),
    )


def peek_header(data: bytes) -> Header:
    """Parse the header and verify the author's signature, without decrypting.

    Enough to name, quarantine or fork-check a file we cannot (yet) read.
    """
    data = bytes(data)
    _check_size(data)
    header = _parse_header(data)
    # The header's author id is only a claim; the key decides who wrote this.
    if author_id_for(header.public_key) != header.author:
        raise _fail("author id does not match the signing key (forged author)")
    signed, signature = data[:-SIGNATURE_BYTES], data[-SIGNATURE_BYTES:]
    if not verify_signature(header.public_key, signature, signed):
        raise _fail("signature does not verify (file damaged or forged)")
    return header


def decode_changeset(data: bytes, *, group_id: str,
                     epoch_keys: Mapping[int, bytes | Sequence[bytes]]) -> Changeset:
    """Verify, decrypt and parse one changeset file. Raises BadChangeset (or UnknownEpoch)."""
    data = bytes(data)
    header = peek_header(data)
    if header.group_id != group_id:
        raise _fail(f"changeset belongs to another group ({header.group_id[:8]}…)")
    epoch_key = _epoch_key_for(header, epoch_keys)
    compressed = _decrypt(data, header, epoch_key)
    plaintext = _decompress(compressed)
    ops = _decode_ops(_unframe(plaintext, header.op_count), header)
    return Changeset(**{f: getattr(header, f) for f in Header.__dataclass_fields__}, ops=ops)


def _epoch_key_for(header: Header, epoch_keys: Mapping[int, bytes | Sequence[bytes]]) -> bytes:
    held = epoch_keys.get(header.epoch)
    if held is None:
        raise UnknownEpoch(f"encrypted for epoch {header.epoch}, whose key we do not have yet", header.epoch)
    # Two moderators rotating at once give one epoch two keys: the key id says which.
    for key in [held] if isinstance(held, bytes) else held:
        if epoch_key_id(key) == header.key_id:
            return key
    raise UnknownEpoch(f"encrypted under a different key for epoch {header.epoch} than the one we hold", header.epoch)


def _decrypt(data: bytes, header: Header, epoch_key: bytes) -> bytes:
    header_bytes = data[:HEADER_BYTES]
    ciphertext = data[HEADER_BYTES:-SIGNATURE_BYTES]
    key = file_key(epoch_key, header_bytes, header.salt)
    try:
        return ChaCha20Poly1305(key).decrypt(NONCE, ciphertext, header_bytes)
    except InvalidTag:
        raise _fail("body does not decrypt with the epoch key") from None


def _decompress(compressed: bytes) -> bytes:
    """One zstd frame that declares its size up front; refuse before allocating if too big."""
    try:
        params = zstandard.get_frame_parameters(compressed)
    except zstandard.ZstdError:
        raise _fail("body is not a zstd frame") from None
    if params.content_size == zstandard.CONTENTSIZE_UNKNOWN:
        raise _fail("compressed body does not declare its size")
    if params.content_size > MAX_PLAINTEXT_BYTES:
        raise _fail(f"body would decompress past the {MAX_PLAINTEXT_BYTES} byte limit")
    if params.window_size > MAX_WINDOW_BYTES:
        raise _fail("compressed body asks for too large a decoder window")
    # decompress() allocates exactly the declared size and fails if the frame
    # would produce more (or less), so a lying size cannot grow the buffer.
    decompressor = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW_BYTES)
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


def _decode_ops(wires: list[bytes], header: Header) -> list[Op]:
    ops: list[Op] = []
    for i, wire in enumerate(wires):
        seq = header.first_seq + i
        try:
            # The file's signature (checked first) is by this same key and
            # covers every byte of the op, so re-verifying each op's own
            # signature would only cost time (~0.2 ms per op).
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
