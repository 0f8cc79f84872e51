"""Key primitives for sync: X25519 member keys, key wrapping, epoch keys.

No policy lives here (who gets which key, when to rotate); only the
cryptographic building blocks and loading/saving a member's X25519 key.

* A member-in-group has an X25519 key pair next to their Ed25519 identity,
  saved 0600 as PEM PKCS8.
* `wrap_key` seals a 32-byte key to one member, following age's X25519
  recipient stanza (ephemeral X25519, HKDF-SHA256 with salt = eph_pub ||
  recipient_pub, ChaCha20-Poly1305 with a zero nonce). The stanza is
  `eph_pub (32) || ciphertext+tag (48)`, exactly 80 bytes.
* `seal_previous_key` boxes epoch N-1's key under epoch N's, so whoever holds
  the current key can walk back through history (Keybase team keys).

See docs/changeset-format.md for the byte layouts.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tablespace.core.identity import read_private_key, save_private_key

KEY_BYTES = 32  # epoch keys and every key we wrap
X25519_BYTES = 32
TAG_BYTES = 16
NONCE_BYTES = 12
STANZA_BYTES = X25519_BYTES + KEY_BYTES + TAG_BYTES  # 80
SEALED_PREVIOUS_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES  # 60
KEY_ID_BYTES = 8

WRAP_INFO = b"tablespace key wrap v1"
PREVIOUS_INFO = b"tablespace previous epoch key v1"
KEY_ID_LABEL = b"tablespace epoch key id v1"

_ZERO_NONCE = bytes(NONCE_BYTES)


class KeyWrapError(ValueError):
    """A wrapped or sealed key could not be opened: wrong key, or damaged bytes."""


@dataclass(frozen=True)
class ExchangeKey:
    """A member's X25519 key pair for one group (receives wrapped epoch keys)."""

    private_key: X25519PrivateKey

    @classmethod
    def generate(cls) -> ExchangeKey:
        return cls(X25519PrivateKey.generate())

    @property
    def public_key(self) -> bytes:
        return _raw_public(self.private_key.public_key())

    def unwrap(self, stanza: bytes) -> bytes:
        return unwrap_key(stanza, self.private_key)

    def save(self, path: Path) -> None:
        save_private_key(self.private_key, path)

    @classmethod
    def load(cls, path: Path) -> ExchangeKey:
        return cls(read_private_key(path, X25519PrivateKey, "exchange key", "X25519"))


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _hkdf(ikm: bytes, *, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(ikm)


def _check_len(value: bytes, size: int, what: str) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != size:
        raise KeyWrapError(f"{what} must be exactly {size} bytes")


def _shared_secret(private: X25519PrivateKey, peer_public: bytes) -> bytes:
    try:
        shared = private.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError:  # OpenSSL refuses low-order points itself
        raise KeyWrapError("key exchange failed: the public key is invalid") from None
    # A low-order peer key gives an all-zero secret that anyone can compute.
    if hmac.compare_digest(shared, bytes(X25519_BYTES)):
        raise KeyWrapError("key exchange failed: the public key is invalid")
    return shared


def seal_to(plaintext: bytes, recipient_public: bytes, *, info: bytes = WRAP_INFO, aad: bytes = b"") -> bytes:
    """Encrypt for the holder of one X25519 key: `eph_pub (32) || ciphertext+tag`.

    A fresh ephemeral key per message makes the derived key single-use, so the
    zero nonce is safe (as in age). `info` separates uses (key wrapping,
    messages to the moderators); `aad` binds the box to its context.
    """
    _check_len(recipient_public, X25519_BYTES, "the recipient public key")
    ephemeral = X25519PrivateKey.generate()
    eph_pub = _raw_public(ephemeral.public_key())
    shared = _shared_secret(ephemeral, recipient_public)
    key = _hkdf(shared, salt=eph_pub + bytes(recipient_public), info=info)
    return eph_pub + ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, bytes(plaintext), aad or None)


def open_sealed(box: bytes, recipient_private: X25519PrivateKey, *, info: bytes = WRAP_INFO, aad: bytes = b"") -> bytes:
    """Inverse of `seal_to`. Raises KeyWrapError on any mismatch."""
    if not isinstance(box, (bytes, bytearray)) or len(box) < X25519_BYTES + TAG_BYTES:
        raise KeyWrapError("a sealed box is too short")
    eph_pub, sealed = bytes(box[:X25519_BYTES]), bytes(box[X25519_BYTES:])
    recipient_public = _raw_public(recipient_private.public_key())
    shared = _shared_secret(recipient_private, eph_pub)
    key = _hkdf(shared, salt=eph_pub + recipient_public, info=info)
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, sealed, aad or None)
    except InvalidTag:
        raise KeyWrapError("this was not sealed for you, or it is damaged") from None


def wrap_key(file_key: bytes, recipient_public: bytes) -> bytes:
    """Seal a 32-byte key so only the holder of `recipient_public` can open it."""
    _check_len(file_key, KEY_BYTES, "the key to wrap")
    return seal_to(file_key, recipient_public)


def unwrap_key(stanza: bytes, recipient_private: X25519PrivateKey) -> bytes:
    """Open a stanza made by `wrap_key`. Raises KeyWrapError on any mismatch."""
    _check_len(stanza, STANZA_BYTES, "a wrapped key stanza")
    try:
        return open_sealed(stanza, recipient_private)
    except KeyWrapError:
        raise KeyWrapError("this key was not wrapped for you, or the stanza is damaged") from None


def new_epoch_key() -> bytes:
    return os.urandom(KEY_BYTES)


def epoch_key_id(epoch_key: bytes) -> bytes:
    """A short public fingerprint of an epoch key (one-way; reveals nothing usable).

    Changeset headers carry it so a reader can tell "I hold a different key for
    this epoch" (e.g. two moderators rotated at once) from a damaged file.
    """
    return hashlib.sha256(KEY_ID_LABEL + epoch_key).digest()[:KEY_ID_BYTES]


def seal_previous_key(prev: bytes, new: bytes, *, context: bytes = b"", info: bytes = PREVIOUS_INFO) -> bytes:
    """Box the previous epoch key under the new one: nonce (12) || ciphertext+tag (48).

    `context` (e.g. group id and the two epoch numbers) is authenticated, so a
    box cannot be replayed as the link between two other epochs.
    """
    _check_len(prev, KEY_BYTES, "the previous epoch key")
    _check_len(new, KEY_BYTES, "the new epoch key")
    nonce = os.urandom(NONCE_BYTES)
    box_key = _hkdf(bytes(new), salt=None, info=info)
    return nonce + ChaCha20Poly1305(box_key).encrypt(nonce, bytes(prev), context)


def open_previous_key(sealed: bytes, new: bytes, *, context: bytes = b"", info: bytes = PREVIOUS_INFO) -> bytes:
    """Inverse of `seal_previous_key`. Raises KeyWrapError on any mismatch."""
    _check_len(sealed, SEALED_PREVIOUS_BYTES, "a sealed previous key")
    _check_len(new, KEY_BYTES, "the new epoch key")
    box_key = _hkdf(bytes(new), salt=None, info=info)
    try:
        return ChaCha20Poly1305(box_key).decrypt(bytes(sealed[:NONCE_BYTES]), bytes(sealed[NONCE_BYTES:]), context)
    except InvalidTag:
        raise KeyWrapError("the previous epoch key does not open with this key, or is damaged") from None
