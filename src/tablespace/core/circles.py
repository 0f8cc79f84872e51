"""Circles: small rooms inside the group, with keys of their own.

A `circle.create` op names the circle's members in the clear (moderators may
see who is in a circle, docs/security.md) and carries its key wrapped for
each of them, with the name, purpose and end date sealed under that key.
Content written in a circle is one `circle.sealed` op whose box holds the
inner op (its kind and payload) under the circle key.

Every box and every wrapped key is bound to the op that carries it (group,
author, seq and time: `OpPlace` as it is written, the fold's `op_binding`
as it is read), so none can be lifted into another op or another circle.
The op id cannot serve: it is the hash of the body that holds the box.

The fold opens what this member can with `CircleKeys`: the key is unwrapped
from the log with the member's exchange key in the home, and kept in memory
only, never in the database or the folder. Which circle ops a replica can
read therefore depends only on the op set and the keys its home holds.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tablespace.core.ops import canonical_json

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

CIRCLE_KEY_BYTES = 32
BOX_NONCE_BYTES = 12
MIN_MEMBERS = 2
MAX_MEMBERS = 12
WRAP_INFO = b"tablespace circle key wrap v1"
_PLACE_LABEL = b"tablespace circle v1"
# What may be written inside a circle in this version: the group's content
# ops on its own threads, its rituals (their occurrences open its threads)
# and its polls.
INNER_KINDS = frozenset(
    {
        "thread.start",
        "post.reply",
        "post.edit",
        "post.delete",
        "post.react",
        "post.unreact",
        "thread.tag",
        "ritual.add",
        "ritual.edit",
        "ritual.pause",
        "ritual.remove",
        "ritual.skip",
        "ritual.occur",
        "poll.open",
        "poll.vote",
    }
)


@dataclass(frozen=True)
class OpPlace:
    """Where an op sits before it is signed: what its boxes are bound to."""

    group: str
    author: str
    seq: int
    hlc: int

    def binding(self, *parts: str) -> bytes:
        return place_binding(self.group, self.author, self.seq, self.hlc, *parts)


def place_binding(group: str, author: str, seq: int, hlc: int, *parts: str) -> bytes:
    """What OpPlace(group, author, seq, hlc).binding(*parts) gives, without
    making the OpPlace: the fold binds every sealed op it opens."""
    return b"%s\x00%s" % (_PLACE_LABEL, "\x00".join((group, author, str(seq), str(hlc), *parts)).encode())


def end_day(ends: str | None) -> date | None:
    """A circle's last day, from the end date its details carry; None if it
    has none or the date is not a real one (the fold checks its form only)."""
    if ends is None:
        return None
    try:
        return date.fromisoformat(ends)
    except ValueError:
        return None


def has_ended(ends: str | None, today: date) -> bool:
    """Whether a circle ending on `ends` has ended by `today`. The end date
    is a label the fold carries; whether it has passed is the reader's clock's
    to say, so the fold stays a function of the op set."""
    last = end_day(ends)
    return last is not None and last < today


def day_words(day: date, today: date) -> str:
    """`12 Mar`, with the year when it is not this one: `12 Mar 2026`."""
    words = f"{day.day} {day:%b}"
    return words if day.year == today.year else f"{words} {day.year}"


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

    try:
        value = _json(_cipher(key).decrypt(nonce, box, aad))
    except (InvalidTag, ValueError, RecursionError):  # JSON nested past the parser's depth
        return None
    return value if isinstance(value, dict) else None


def _json(data: bytes) -> Any:
    """json.loads(data), which first guesses the bytes' encoding in Python
    (json.detect_encoding): a box that starts with "{" and a byte other than
    zero is UTF-8 to that guess, so it is decoded as such straight away."""
    if data[:1] == b"{" and data[1:2] != b"\x00":
        return json.loads(data.decode("utf-8", "surrogatepass"))
    return json.loads(data)


@functools.lru_cache(maxsize=64)
def _cipher(key: bytes) -> ChaCha20Poly1305:
    """One cipher per circle key: a circle's ops are opened one after another
    under the same few keys, and setting a cipher up costs as much as opening
    a short box. The keys are held in memory anyway (CircleKeys)."""
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    return ChaCha20Poly1305(key)


def wrap_for(key: bytes, member_public: bytes, place: OpPlace) -> str:
    """The circle key wrapped for one member (hex), bound to the op carrying it."""
    from tablespace.core.stanza import seal_to

    return seal_to(key, member_public, info=WRAP_INFO, aad=place.binding("key")).hex()


def seal_prev_keys(key: bytes, held: dict[int, list[bytes]], aad: bytes) -> dict[str, str]:
    """The keys of earlier epochs, sealed under a circle's new key: whoever is
    given the new key reads the circle's history with them."""
    keys = [[epoch, k.hex()] for epoch in sorted(held) for k in sorted(held[epoch])]
    return seal_box(key, {"keys": keys}, aad)


def _prev_keys(value: dict[str, Any] | None) -> list[tuple[int, bytes]]:
    """(epoch, key) pairs of an opened prev box; ones that are not keys are left out."""
    found: list[tuple[int, bytes]] = []
    items = value.get("keys") if value is not None else None
    for item in items if isinstance(items, list) else []:
        if (
            isinstance(item, list)
            and len(item) == 2
            and type(item[0]) is int
            and isinstance(item[1], str)
            and len(item[1]) == 2 * CIRCLE_KEY_BYTES
        ):
            try:
                found.append((item[0], bytes.fromhex(item[1])))
            except ValueError:
                continue
    return found


class CircleKeys:
    """The circle keys this member holds: unwrapped with the exchange key at
    `exchange_path` from the keys the fold filed (circle_epochs), and those
    earlier keys each new one carries (its prev box). Kept in memory only; a
    replica without that file (a bare store) holds none.

    Keys learned stay known across re-folds: a member let into a circle
    learns its earlier keys at the invite, and the re-fold that follows
    opens what was written under them (Store.refold)."""

    def __init__(self, exchange_path: Path) -> None:
        self.exchange_path = exchange_path
        self._private: X25519PrivateKey | None = None
        self._me: str | None = None
        self._unwrapped: dict[bytes, bytes | None] = {}  # a key row's place -> its key for us
        self._known: dict[tuple[str, int], set[bytes]] = {}

    def me(self, conn: sqlite3.Connection) -> str | None:
        if self._me is None:
            row = conn.execute("SELECT value FROM meta WHERE key = 'me'").fetchone()
            self._me = None if row is None else str(row[0])
        return self._me

    def holder(self, conn: sqlite3.Connection) -> str | None:
        """Whose wrapped key we open: our signing key's (a member's added
        device has its own exchange key: core/fold/devices.py), else ours."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'device'").fetchone()
        return str(row[0]) if row else self.me(conn)

    def forget_me(self) -> None:
        """We became a member through a device certificate (Group.take_up_device)."""
        self._me = None
        self._unwrapped.clear()
        self._known.clear()

    def keys(self, conn: sqlite3.Connection, circle: str, epoch: int) -> list[bytes]:
        """Every key of `circle` at `epoch` we hold (two members may have made one each)."""
        for (key_op,) in conn.execute(
            "SELECT key_op FROM circle_epochs WHERE circle_id = ? AND epoch = ?", (circle, epoch)
        ).fetchall():
            self.learn(conn, circle, key_op)
        return sorted(self._known.get((circle, epoch), ()))

    def held(self, conn: sqlite3.Connection, circle: str) -> dict[int, list[bytes]]:
        """Every key of `circle` we hold, by epoch: what a new key carries on."""
        for (key_op,) in conn.execute("SELECT key_op FROM circle_epochs WHERE circle_id = ?", (circle,)).fetchall():
            self.learn(conn, circle, key_op)
        return {epoch: sorted(keys) for (c, epoch), keys in sorted(self._known.items()) if c == circle}

    def learn_epochs(self, conn: sqlite3.Connection, circle: str, key_op: str) -> set[int]:
        """learn(), and the epochs of `circle` at which we hold a key we did not before."""
        before = {epoch: len(keys) for (c, epoch), keys in self._known.items() if c == circle}
        self.learn(conn, circle, key_op)
        return {epoch for (c, epoch), keys in self._known.items() if c == circle and len(keys) > before.get(epoch, 0)}

    def learn(self, conn: sqlite3.Connection, circle: str, key_op: str) -> bytes | None:
        """The key made by `key_op` if it was wrapped for us, and the earlier
        keys it carries; None if it was not wrapped for us."""
        row = conn.execute(
            "SELECT epoch, wrapped, place, prev FROM circle_epochs WHERE circle_id = ? AND key_op = ?",
            (circle, key_op),
        ).fetchone()
        if row is None:
            return None
        epoch, wrapped, place, prev = row[0], row[1], bytes(row[2]), row[3]
        if place not in self._unwrapped:
            self._unwrapped[place] = key = self._unwrap(conn, wrapped, place)
            if key is not None:
                self._known.setdefault((circle, epoch), set()).add(key)
                if prev:
                    sealed = json.loads(prev)
                    opened = open_box(
                        key, bytes.fromhex(sealed["nonce"]), bytes.fromhex(sealed["box"]), sealed_prev_aad(place)
                    )
                    for old_epoch, old_key in _prev_keys(opened):
                        self._known.setdefault((circle, old_epoch), set()).add(old_key)
        return self._unwrapped[place]

    def _unwrap(self, conn: sqlite3.Connection, wrapped: str, place: bytes) -> bytes | None:
        holder = self.holder(conn)
        stanza = json.loads(wrapped).get(holder) if holder is not None else None
        private = self._exchange_key()
        if stanza is None or private is None:
            return None
        from tablespace.core.stanza import KeyWrapError, open_sealed

        try:
            key = open_sealed(bytes.fromhex(stanza), private, info=WRAP_INFO, aad=place)
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


def sealed_prev_aad(key_place: bytes) -> bytes:
    """What a prev box is bound to: the wrapped keys' binding of its op, and that it is the prev box."""
    return key_place + b"\x00prev"
