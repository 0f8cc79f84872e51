"""Renewing the moderators' key when the moderators change.

A moderator starts a new key whenever the moderators' devices differ from the
current key's recipients: the new private half is wrapped for each device of
each current moderator, and the previous one is boxed under it, so whoever
holds the newest key can open every older record. A moderator who is gone,
or a device removed, keeps what it could already read, and nothing after; a
moderator's new device reads every record through the links. (The key's
use: sync/sealing.py.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tablespace.core import log_queries
from tablespace.core.fold import mod_key_id
from tablespace.core.group import Group
from tablespace.sync.keys import ExchangeKey, seal_previous_key, wrap_key
from tablespace.sync.sealing import LINK_INFO, ModKey, current_mod_key, held_mod_keys, link_context


def moderators_with_keys(group: Group) -> dict[str, bytes]:
    """Current moderators' devices that have published an exchange key:
    signing key id -> key."""
    return {m: bytes.fromhex(k) for m, k in log_queries.moderators_with_keys(group.conn)}


def rotate_mod_key_if_needed(group: Group, exchange: ExchangeKey) -> bool:
    """Run by each moderator's sync: a new key when the moderators changed
    since the current one was made (or there is none). Rotation is left to a
    moderator who holds the current key (so history stays readable), unless
    no current moderator does."""
    moderators = moderators_with_keys(group)
    current = current_mod_key(group)
    if group.device not in moderators or (current is not None and current.recipients == set(moderators)):
        return False
    held = held_mod_keys(group, exchange)
    if current is not None and current.key_id not in held and current.recipients & set(moderators):
        return False
    rotate_mod_key(group, exchange, held)
    return True


def rotate_mod_key(group: Group, exchange: ExchangeKey, held: Mapping[str, X25519PrivateKey] | None = None) -> ModKey:
    held = held_mod_keys(group, exchange) if held is None else held
    current = current_mod_key(group)
    secret = X25519PrivateKey.generate()
    raw = secret.private_bytes_raw()
    public = secret.public_key().public_bytes_raw()
    key_id = mod_key_id(public)
    recipients = moderators_with_keys(group)
    payload: dict[str, Any] = {
        "epoch": current.epoch + 1 if current else 0,
        "public": public.hex(),
        "wrapped": {m: wrap_key(raw, k).hex() for m, k in sorted(recipients.items())},
    }
    if current is not None and current.key_id in held:
        previous = held[current.key_id].private_bytes_raw()
        payload["previous_key"] = current.key_id
        payload["previous"] = seal_previous_key(
            previous, raw, info=LINK_INFO, context=link_context(group.id, current.key_id, key_id)
        ).hex()
    group.write("modkey.rotate", payload)
    return ModKey(payload["epoch"], key_id, public, frozenset(recipients))
