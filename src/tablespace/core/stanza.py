"""Sealing bytes to one X25519 key, following age's X25519 recipient stanza.

The building block both layers need: sync wraps epoch keys and seals
messages to the moderators with it (sync/keys.py), and the fold opens the
circle keys wrapped for this member (core/circles.py), which core cannot
reach sync for.
"""

from __future__ import annotations

import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
X25519_BYTES = 32
TAG_BYTES = 16
NONCE_BYTES = 12
WRAP_INFO = b"tablespace key wrap v1"

_ZERO_NONCE = bytes(NONCE_BYTES)


class KeyWrapError(ValueError):
    """A wrapped or sealed key could not be opened: wrong key, or damaged bytes."""


def raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def hkdf(ikm: bytes, *, salt: bytes | None, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=info).derive(ikm)


def check_len(value: bytes, size: int, what: str) -> None:
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
    check_len(recipient_public, X25519_BYTES, "the recipient public key")
    ephemeral = X25519PrivateKey.generate()
    eph_pub = raw_public(ephemeral.public_key())
    shared = _shared_secret(ephemeral, recipient_public)
    key = hkdf(shared, salt=eph_pub + bytes(recipient_public), info=info)
    return eph_pub + ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, bytes(plaintext), aad or None)


def open_sealed(box: bytes, recipient_private: X25519PrivateKey, *, info: bytes = WRAP_INFO, aad: bytes = b"") -> bytes:
    """Inverse of `seal_to`. Raises KeyWrapError on any mismatch."""
    if not isinstance(box, (bytes, bytearray)) or len(box) < X25519_BYTES + TAG_BYTES:
        raise KeyWrapError("a sealed box is too short")
    eph_pub, sealed = bytes(box[:X25519_BYTES]), bytes(box[X25519_BYTES:])
    recipient_public = raw_public(recipient_private.public_key())
    shared = _shared_secret(recipient_private, eph_pub)
    key = hkdf(shared, salt=eph_pub + recipient_public, info=info)
    try:
        return ChaCha20Poly1305(key).decrypt(_ZERO_NONCE, sealed, aad or None)
    except InvalidTag:
        raise KeyWrapError("this was not sealed for you, or it is damaged") from None
