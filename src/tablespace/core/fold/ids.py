"""Names every replica computes alike from what ops carry."""

from __future__ import annotations

import hashlib


def derived_id(*parts: str) -> str:
    """An id every replica computes alike, for things created by more than one op."""
    return hashlib.sha256("\x1f".join(parts).encode()).digest()[:16].hex()


def invite_id_for(secret: bytes) -> str:
    """The public name of an invite: a hash of its one-time secret."""
    return hashlib.sha256(b"tablespace invite\x00" + secret).digest()[:16].hex()


def mod_key_id(public: bytes) -> str:
    """A moderators' key's public name: a hash of its public half."""
    return hashlib.sha256(b"tablespace moderators key\x00" + public).digest()[:8].hex()


def record_id(data: bytes) -> str:
    """A sealed record's public name: the hash of its bytes (a report's id)."""
    return hashlib.sha256(data).digest()[:16].hex()
