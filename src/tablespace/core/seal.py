"""Deleted text, sealed in the op log.

The log keeps every op (a re-fold must give the same views, and our own ops
may have to be written to the folder again), so a deleted post's text cannot
simply be dropped from it. Instead the store seals the bodies of the ops that
carry it (the op that wrote the post and every edit of it) once the post is
deleted: encrypted under a key derived from this member's identity key, which
is in the home, never in the database. The views blank the text and the
search index is purged (Store), so the database holds it nowhere readable;
a re-fold or an export opens the seal. Whoever holds the home's keys can read
the shared folder's copy anyway: this keeps the text exactly as well as the
folder does, no worse.

A sealed body: MAGIC, a 12-byte random nonce, then ChaCha20-Poly1305 of the
body with the op id as associated data (a seal cannot be moved to another op).
An op body is JSON and starts with "{", so the leading zero byte is unambiguous.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from tablespace.core.errors import TablespaceError
from tablespace.core.identity import Identity

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

MAGIC = b"\x00sealed1"
NONCE_BYTES = 12
_KEY_LABEL = b"tablespace: deleted text in the op log, v1"


def is_sealed(body: bytes) -> bool:
    return body[:1] == MAGIC[:1]


def unsealed_sql(column: str) -> str:
    """is_sealed's test as SQL: `column` holds a body not sealed yet."""
    return f"substr({column}, 1, 1) != x'{MAGIC[:1].hex()}'"


class LogSeal:
    """Seals and opens op bodies with the key of the identity at `key_path`,
    read on first use (reading a group needs no key: identity.py)."""

    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path
        self._aead: ChaCha20Poly1305 | None = None

    def _cipher(self) -> ChaCha20Poly1305:
        if self._aead is None:
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            secret = Identity.load(self.key_path).private_key.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_LABEL).derive(secret)
            self._aead = ChaCha20Poly1305(key)
        return self._aead

    def seal(self, op_id: str, body: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return MAGIC + nonce + self._cipher().encrypt(nonce, body, op_id.encode())

    def open(self, op_id: str, sealed: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        start = len(MAGIC) + NONCE_BYTES
        if not sealed.startswith(MAGIC) or len(sealed) < start:
            raise TablespaceError(f"op {op_id} in the log is damaged (an unknown kind of sealed text)")
        try:
            return self._cipher().decrypt(sealed[len(MAGIC) : start], sealed[start:], op_id.encode())
        except InvalidTag:
            raise TablespaceError(
                f"the deleted text of op {op_id} does not open with the identity key at {self.key_path}: "
                "the key or the database has been replaced or damaged"
            ) from None
