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
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tablespace.core.identity import read_private_key, save_private_key
from tablespace.core.stanza import (
    KEY_BYTES,
    NONCE_BYTES,
    TAG_BYTES,
    WRAP_INFO,
    X25519_BYTES,
    KeyWrapError,
    check_len,
    hkdf,
    open_sealed,
    raw_public,
    seal_to,
)

__all__ = [
    "KEY_BYTES",
    "NONCE_BYTES",
    "TAG_BYTES",
    "WRAP_INFO",
    "X25519_BYTES",
    "ExchangeKey",
    "KeyWrapError",
    "epoch_key_id",
    "new_epoch_key",
    "open_previous_key",
    "open_sealed",
    "seal_previous_key",
    "seal_to",
    "unwrap_key",
    "wrap_key",
]

STANZA_BYTES = X25519_BYTES + KEY_BYTES + TAG_BYTES  # 80
SEALED_PREVIOUS_BYTES = NONCE_BYTES + KEY_BYTES + TAG_BYTES  # 60
KEY_ID_BYTES = 8

PREVIOUS_INFO = b"tablespace previous epoch key v1"
KEY_ID_LABEL = b"tablespace epoch key id v1"


@dataclass(frozen=True)
class ExchangeKey:
    """A member's X25519 key pair for one group (receives wrapped epoch keys)."""

    private_key: X25519PrivateKey

    @classmethod
    def generate(cls) -> ExchangeKey:
        return cls(X25519PrivateKey.generate())

    @property
    def public_key(self) -> bytes:
        return raw_public(self.private_key.public_key())

    def unwrap(self, stanza: bytes) -> bytes:
        return unwrap_key(stanza, self.private_key)

    def save(self, path: Path) -> None:
        save_private_key(self.private_key, path)

    @classmethod
    def load(cls, path: Path) -> ExchangeKey:
        return cls(read_private_key(path, X25519PrivateKey, "exchange key", "X25519"))


def wrap_key(file_key: bytes, recipient_public: bytes) -> bytes:
    """Seal a 32-byte key so only the holder of `recipient_public` can open it."""
    check_len(file_key, KEY_BYTES, "the key to wrap")
    return seal_to(file_key, recipient_public)


def unwrap_key(stanza: bytes, recipient_private: X25519PrivateKey) -> bytes:
    """Open a stanza made by `wrap_key`. Raises KeyWrapError on any mismatch."""
    check_len(stanza, STANZA_BYTES, "a wrapped key stanza")
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
    check_len(prev, KEY_BYTES, "the previous epoch key")
    check_len(new, KEY_BYTES, "the new epoch key")
    nonce = os.urandom(NONCE_BYTES)
    box_key = hkdf(bytes(new), salt=None, info=info)
    return nonce + ChaCha20Poly1305(box_key).encrypt(nonce, bytes(prev), context)


def open_previous_key(sealed: bytes, new: bytes, *, context: bytes = b"", info: bytes = PREVIOUS_INFO) -> bytes:
    """Inverse of `seal_previous_key`. Raises KeyWrapError on any mismatch."""
    check_len(sealed, SEALED_PREVIOUS_BYTES, "a sealed previous key")
    check_len(new, KEY_BYTES, "the new epoch key")
    box_key = hkdf(bytes(new), salt=None, info=info)
    try:
        return ChaCha20Poly1305(box_key).decrypt(bytes(sealed[:NONCE_BYTES]), bytes(sealed[NONCE_BYTES:]), context)
    except InvalidTag:
        raise KeyWrapError("the previous epoch key does not open with this key, or is damaged") from None
