"""A member's signing identity for one group: an Ed25519 key kept in the home.

The author id is derived from the public key and is never taken on trust from
anything else.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tablespace.core.errors import TablespaceError

ID_BYTES = 16


def author_id_for(public_key: bytes) -> str:
    """First 16 bytes of SHA-256 of the raw Ed25519 public key, as hex."""
    return hashlib.sha256(public_key).digest()[:ID_BYTES].hex()


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 atomically; refuse to overwrite a key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if path.exists():
        tmp.unlink()
        raise TablespaceError(f"refusing to overwrite existing key file {path}")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Identity:
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> "Identity":
        return cls(Ed25519PrivateKey.generate())

    @cached_property  # asked for on every op we sign
    def public_key(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @cached_property
    def author_id(self) -> str:
        return author_id_for(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def save(self, path: Path) -> None:
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private_file(path, pem)

    @classmethod
    def load(cls, path: Path) -> "Identity":
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            raise TablespaceError(f"no identity key at {path}; run `tablespace doctor`") from None
        except (ValueError, TypeError):
            raise TablespaceError(f"identity key at {path} is unreadable or damaged") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise TablespaceError(f"identity key at {path} is not an Ed25519 key")
        return cls(key)


def verify_signature(public_key: bytes, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True
