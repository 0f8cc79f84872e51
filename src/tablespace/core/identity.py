"""A member's signing identity for one group: an Ed25519 key kept in the home.

The author id is derived from the public key and is never taken on trust from
anything else.

`cryptography` (20-40 ms to import) is imported only where a key is parsed,
made or used: opening a group to read it (the app's first frame) needs no
key at all, since the group's database records our own author id; the key is
parsed at the first signature and checked against that id then.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tablespace.core.errors import TablespaceError
from tablespace.core.files import write_atomically
from tablespace.core.keyfile import for_disk, read_key_file

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ID_BYTES = 16


def author_id_for(public_key: bytes) -> str:
    """First 16 bytes of SHA-256 of the raw Ed25519 public key, as hex."""
    return hashlib.sha256(public_key).digest()[:ID_BYTES].hex()


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 atomically; refuse to overwrite a key."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        raise TablespaceError(f"refusing to overwrite existing key file {path}")
    write_atomically(path, data, mode=0o600)


def save_private_key(key: Any, path: Path) -> None:
    """Any `cryptography` private key, as PKCS#8 PEM, mode 0600; locked if its
    directory's keys are under a passphrase (core/keyfile.py)."""
    from cryptography.hazmat.primitives import serialization

    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private_file(path, for_disk(path, pem))


def read_private_key(path: Path, expected: type, label: str, kind: str) -> Any:
    """Parse a PEM key file of the expected type, with one clear error if not."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(read_key_file(path), password=None)
    except FileNotFoundError:
        raise TablespaceError(f"no {label} at {path}; run `tablespace doctor`") from None
    except (ValueError, TypeError):
        raise TablespaceError(f"{label} at {path} is unreadable or damaged") from None
    if not isinstance(key, expected):
        raise TablespaceError(f"{label} at {path} is not an {kind} key")
    return key


class Identity:
    def __init__(
        self,
        private_key: Ed25519PrivateKey | None = None,
        *,
        path: Path | None = None,
        expected_author: str | None = None,
    ) -> None:
        """A key in hand, or (from `load`) a key file parsed on first use and
        required then to be `expected_author`'s."""
        if private_key is None and path is None:
            raise ValueError("Identity needs a private key or a key file")
        self._private_key = private_key
        self._path = path
        self._expected_author = expected_author

    @classmethod
    def generate(cls) -> Identity:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path, *, expected_author: str | None = None) -> Identity:
        if not path.is_file():
            raise TablespaceError(f"no identity key at {path}; run `tablespace doctor`")
        return cls(path=path, expected_author=expected_author)

    @property
    def private_key(self) -> Ed25519PrivateKey:
        if self._private_key is None:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            assert self._path is not None
            key = read_private_key(self._path, Ed25519PrivateKey, "identity key", "Ed25519")
            self._private_key = key
            if self._expected_author and self.author_id != self._expected_author:
                raise TablespaceError(f"the identity key at {self._path} is not this group's member key")
        return self._private_key

    @cached_property  # asked for on every op we sign
    def public_key(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @cached_property
    def author_id(self) -> str:
        return author_id_for(self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def save(self, path: Path) -> None:
        save_private_key(self.private_key, path)


def verify_signature(public_key: bytes, signature: bytes, data: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True
