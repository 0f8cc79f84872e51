"""Circles: small rooms inside the group, with keys of their own.

A `circle.create` op names the circle's members in the clear (moderators may
see who is in a circle, docs/security.md) and carries its key wrapped for
each of them, with the name, purpose and end date sealed under that key.
Content written in a circle is one `circle.sealed` op whose box holds the
inner op (its kind and payload) under the circle key.

Every box and every wrapped key is bound to the op that carries it (group,
author, seq and time: `op_place`), so none can be lifted into another op or
another circle. The op id cannot serve: it is the hash of the body that
holds the box.

The fold opens what this member can with `CircleKeys`: the key is unwrapped
from the log with the member's exchange key in the home, and kept in memory
only, never in the database or the folder. Which circle ops a replica can
read therefore depends only on the op set and the keys its home holds.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tablespace.core.ops import canonical_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

CIRCLE_KEY_BYTES = 32
BOX_NONCE_BYTES = 12
MIN_MEMBERS = 2
MAX_MEMBERS = 12
WRAP_INFO = b"tablespace circle key wrap v1"
_PLACE_LABEL = b"tablespace circle v1"
# What may be written inside a circle in this version: the group's content
# ops on its own threads.
INNER_KINDS = frozenset(
    {"thread.start", "post.reply", "post.edit", "post.delete", "post.react", "post.unreact", "thread.tag"}
)


@dataclass(frozen=True)
class OpPlace:
    """Where an op sits before it is signed: what its boxes are bound to."""

    group: str
    author: str
    seq: int
    hlc: int

    def binding(self, *parts: str) -> bytes:
        fields = [self.group, self.author, str(self.seq), str(self.hlc), *parts]
        return _PLACE_LABEL + b"\x00" + "\x00".join(fields).encode()


def new_circle_key() -> bytes:
    return os.urandom(CIRCLE_KEY_BYTES)


def seal_box(key: bytes, value: dict[str, Any], aad: bytes) -> dict[str, str]:
    """`value` as canonical JSON under `key`: {"nonce", "box"} in hex."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    nonce = os.urandom(BOX_NONCE_BYTES)
    return {"nonce": nonce.hex(), "box": ChaCha20Poly1305(key).encrypt(nonce, canonical_json(value), aad).hex()}


def open_box(key: bytes, nonce: bytes, box: bytes, aad: bytes) -> dict[str, Any] | None:
    """The JSON object sealed by `seal_box`, or None if it does not open or is not one."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    try:
        value = json.loads(ChaCha20Poly1305(key).decrypt(nonce, box, aad))
    except (InvalidTag, ValueError, RecursionError):  # JSON nested past the parser's depth
        return None
    return value if isinstance(value, dict) else None


def wrap_for(key: bytes, member_public: bytes, place: OpPlace) -> str:
    """The circle key wrapped for one member (hex), bound to the op carrying it."""
    from tablespace.core.stanza import seal_to

    return seal_to(key, member_public, info=WRAP_INFO, aad=place.binding("key")).hex()


class CircleKeys:
    """The circle keys this member holds, unwrapped on first use from the
    wrapped keys the fold filed (circle_epochs) with the exchange key at
    `exchange_path`; a replica without that file (a bare store) holds none."""

    def __init__(self, exchange_path: Path) -> None:
        self.exchange_path = exchange_path
        self._private: X25519PrivateKey | None = None
        self._keys: dict[tuple[str, int], bytes | None] = {}

    def key(self, conn: sqlite3.Connection, circle: str, epoch: int) -> bytes | None:
        """The key of `circle` at `epoch`, or None if it was not wrapped for us."""
        try:
            return self._keys[(circle, epoch)]
        except KeyError:
            self._keys[(circle, epoch)] = found = self._unwrap(conn, circle, epoch)
            return found

    def _unwrap(self, conn: sqlite3.Connection, circle: str, epoch: int) -> bytes | None:
        me = conn.execute("SELECT value FROM meta WHERE key = 'me'").fetchone()
        row = conn.execute(
            "SELECT wrapped, place FROM circle_epochs WHERE circle_id = ? AND epoch = ?", (circle, epoch)
        ).fetchone()
        if me is None or row is None:
            return None
        stanza = json.loads(row[0]).get(me[0])
        private = self._exchange_key()
        if stanza is None or private is None:
            return None
        from tablespace.core.stanza import KeyWrapError, open_sealed

        try:
            key = open_sealed(bytes.fromhex(stanza), private, info=WRAP_INFO, aad=bytes(row[1]))
        except (KeyWrapError, ValueError):
            return None
        return key if len(key) == CIRCLE_KEY_BYTES else None

    def _exchange_key(self) -> X25519PrivateKey | None:
        if self._private is None:
            if not self.exchange_path.exists():
                return None
            from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

            from tablespace.core.identity import read_private_key

            self._private = read_private_key(self.exchange_path, X25519PrivateKey, "exchange key", "X25519")
        return self._private
