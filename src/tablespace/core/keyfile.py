"""Key files at rest, optionally locked with a passphrase.

A group's private keys (identity.pem, exchange.pem, epochs.json) are written
either as before, in the clear (mode 0600), or, once the member chose a
passphrase, locked: encrypted with a key derived from the passphrase by
scrypt, as age's passphrase mode does. The file says which it is, so a home
without a passphrase keeps working unchanged and nothing is migrated.

A locked file (docs/changeset-format.md, "Key files at rest") is text:

    -----BEGIN TABLESPACE LOCKED KEY-----
    base64 of: magic "TSLK" | version 1 | kdf 1 (scrypt) | log2 N | salt (16) | nonce (12) | ciphertext+tag
    -----END TABLESPACE LOCKED KEY-----

with everything before the ciphertext as ChaCha20-Poly1305's associated data.

The passphrase is asked for only when a locked key is read (reading a group
needs no key). Once it opened one key of a group's directory, the derived
key is kept in this process for that directory, so the other keys open
without asking again and a rewritten epochs.json is locked under the same
salt; `forgetting()` ends that at the end of a command.
"""

from __future__ import annotations

import base64
import binascii
import os
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tablespace.core.errors import TablespaceError
from tablespace.core.files import write_atomically
from tablespace.core.home import KEY_NAME

PASSPHRASE_ENV = "TABLESPACE_PASSPHRASE"

BEGIN = b"-----BEGIN TABLESPACE LOCKED KEY-----"
END = b"-----END TABLESPACE LOCKED KEY-----"
MAGIC = b"TSLK"
VERSION = 1
KDF_SCRYPT = 1
SALT_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = len(MAGIC) + 3 + SALT_BYTES + NONCE_BYTES  # 35
SALT_LABEL = b"tablespace key file v1 scrypt "  # prefixed to the random salt, as age does

# scrypt's cost, as log2 of N (r = 8, p = 1): 2**18 needs 256 MiB and about
# a second, age's default. Tests lower it. A file asking for more than the
# maximum is refused as damaged rather than allowed to take gigabytes.
WORK_FACTOR = 18
MAX_WORK_FACTOR = 20
SCRYPT_R = 8
SCRYPT_P = 1


class LockedKeyError(TablespaceError):
    """A locked key could not be opened: no passphrase to be had, or a wrong one."""


@dataclass(frozen=True)
class _Secret:
    """A passphrase, derived: what opens (and locks) a directory's key files."""

    work_factor: int
    salt: bytes
    key: bytes


_unlocked: dict[Path, _Secret] = {}
_asker: Callable[[str], str] | None = None
_new_keys_passphrase: str | None = None


# --- the format -----------------------------------------------------------------


def is_locked(data: bytes) -> bool:
    return data.lstrip().startswith(BEGIN)


def _derive(passphrase: str, salt: bytes, work_factor: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    normal = unicodedata.normalize("NFC", passphrase).encode()  # the same words typed on any keyboard
    return Scrypt(salt=SALT_LABEL + salt, length=32, n=2**work_factor, r=SCRYPT_R, p=SCRYPT_P).derive(normal)


def _new_secret(passphrase: str) -> _Secret:
    salt = os.urandom(SALT_BYTES)
    return _Secret(WORK_FACTOR, salt, _derive(passphrase, salt, WORK_FACTOR))


def _seal(data: bytes, secret: _Secret) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    header = MAGIC + bytes([VERSION, KDF_SCRYPT, secret.work_factor]) + secret.salt + os.urandom(NONCE_BYTES)
    sealed = header + ChaCha20Poly1305(secret.key).encrypt(header[-NONCE_BYTES:], data, header)
    body = base64.encodebytes(sealed)  # lines of 76 characters
    return BEGIN + b"\n" + body + END + b"\n"


@dataclass(frozen=True)
class _Parsed:
    work_factor: int
    salt: bytes
    header: bytes
    ciphertext: bytes


def _parse(blob: bytes, path: Path) -> _Parsed:
    damaged = TablespaceError(f"the locked key file {path} is damaged; restore it from a backup")
    text = blob.strip()
    if not (text.startswith(BEGIN) and text.endswith(END)):
        raise damaged
    try:
        raw = base64.b64decode(b"".join(text[len(BEGIN) : -len(END)].split()), validate=True)
    except (binascii.Error, ValueError):
        raise damaged from None
    if len(raw) < HEADER_BYTES + TAG_BYTES or not raw.startswith(MAGIC):
        raise damaged
    version, kdf, work_factor = raw[len(MAGIC) : len(MAGIC) + 3]
    if version != VERSION or kdf != KDF_SCRYPT:
        raise TablespaceError(
            f"the locked key file {path} is of a newer kind (version {version}); update tablespace to open it"
        )
    if not 1 <= work_factor <= MAX_WORK_FACTOR:
        raise damaged
    salt = raw[len(MAGIC) + 3 : len(MAGIC) + 3 + SALT_BYTES]
    return _Parsed(work_factor, salt, raw[:HEADER_BYTES], raw[HEADER_BYTES:])


def _open(parsed: _Parsed, secret: _Secret) -> bytes | None:
    """The plaintext, or None if `secret` does not open it."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    try:
        return ChaCha20Poly1305(secret.key).decrypt(parsed.header[-NONCE_BYTES:], parsed.ciphertext, parsed.header)
    except InvalidTag:
        return None


# --- reading and writing key files ---------------------------------------------------


def read_key_file(path: Path) -> bytes:
    """A key file's contents in the clear, asking for the passphrase if it is
    locked and its directory was not unlocked yet. FileNotFoundError if absent."""
    return _read(path, None)


def _read(path: Path, passphrase: str | None) -> bytes:
    data = path.read_bytes()
    if not is_locked(data):
        return data
    parsed = _parse(data, path)
    secret = _unlocked.get(path.parent)
    if secret is not None and (secret.salt, secret.work_factor) == (parsed.salt, parsed.work_factor):
        opened = _open(parsed, secret)
        if opened is None:
            raise TablespaceError(
                f"the locked key file {path} is damaged (the passphrase opens the other keys); restore it from a backup"
            )
        return opened
    if passphrase is None:
        passphrase = _obtain_passphrase(path.parent)
    secret = _Secret(parsed.work_factor, parsed.salt, _derive(passphrase, parsed.salt, parsed.work_factor))
    opened = _open(parsed, secret)
    if opened is None:
        raise LockedKeyError(
            f"wrong passphrase for the keys in {path.parent} (or {path.name} is damaged); nothing was changed"
        )
    _unlocked[path.parent] = secret
    return opened


def for_disk(path: Path, data: bytes) -> bytes:
    """What to write for the key file `path` holding `data`: locked when its
    directory's keys are (or new keys are being made under a passphrase),
    else `data` as it is."""
    directory = path.parent
    if _new_keys_passphrase is not None and not (directory / KEY_NAME).exists():
        _unlocked[directory] = _new_secret(_new_keys_passphrase)  # the directory's first key
    elif not keys_locked(directory):
        return data
    elif directory not in _unlocked:
        read_key_file(directory / KEY_NAME)  # asks for, and checks, the passphrase
    return _seal(data, _unlocked[directory])


def keys_locked(directory: Path) -> bool:
    """Are this group directory's keys under a passphrase? (The identity key
    is locked last and opened first, so it speaks for the directory.)"""
    try:
        with open(directory / KEY_NAME, "rb") as f:
            return is_locked(f.read(len(BEGIN) + 16))
    except FileNotFoundError:
        return False


def is_unlocked(directory: Path) -> bool:
    return directory in _unlocked


def unlock(directory: Path, passphrase: str) -> None:
    """Check `passphrase` against the directory's identity key and keep it
    for this process (the app asks once, at start). LockedKeyError if wrong."""
    _unlocked.pop(directory, None)
    _read(directory / KEY_NAME, passphrase)


def relock(paths: list[Path], passphrase: str | None) -> None:
    """Rewrite a directory's key files under a new passphrase, or in the clear
    (None). Every file is read first (so a wrong current passphrase changes
    nothing), the identity key is written last when locking and first when
    unlocking, so it always speaks for the whole directory."""
    present = [p for p in paths if p.exists()]
    if not present:
        return
    directory = present[0].parent
    contents = {p: read_key_file(p) for p in present}
    if passphrase is None:
        order = sorted(present, key=lambda p: p.name != KEY_NAME)
        _unlocked.pop(directory, None)
        for path in order:
            write_atomically(path, contents[path], mode=0o600)
        return
    secret = _new_secret(passphrase)
    for path in sorted(present, key=lambda p: p.name == KEY_NAME):
        write_atomically(path, _seal(contents[path], secret), mode=0o600)
    _unlocked[directory] = secret


# --- where a passphrase comes from ------------------------------------------------------


def _obtain_passphrase(directory: Path) -> str:
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env is not None:
        return from_env
    if _asker is not None:
        return _asker(f"Passphrase for the keys in {directory}")
    raise LockedKeyError(
        f"the keys in {directory} are locked with a passphrase: run this in a terminal, or set {PASSPHRASE_ENV}"
    )


def set_asker(asker: Callable[[str], str] | None) -> None:
    """How the front end asks a person (given a prompt); None: nobody to ask."""
    global _asker
    _asker = asker


@contextmanager
def new_keys_locked(passphrase: str | None) -> Iterator[None]:
    """Key files made inside this block (a group founded or joined) are
    locked under `passphrase` from their first write; None: in the clear."""
    global _new_keys_passphrase
    saved, _new_keys_passphrase = _new_keys_passphrase, passphrase
    try:
        yield
    finally:
        _new_keys_passphrase = saved


@contextmanager
def forgetting() -> Iterator[None]:
    """Forget every unlocked directory when the block ends (one command)."""
    try:
        yield
    finally:
        forget()


def forget() -> None:
    """Drop every derived key this process holds."""
    _unlocked.clear()


def check_new_passphrase(passphrase: str) -> str:
    if not passphrase:
        raise TablespaceError("a passphrase cannot be empty")
    return passphrase


def describe(directory: Path) -> tuple[bool, str]:
    """For `doctor`: how the directory's keys are kept at rest (False: a
    locked key file that does not parse)."""
    if not keys_locked(directory):
        return (
            True,
            "keys are not locked with a passphrase: a copy of this home can sign as you "
            "(`tablespace passphrase set` locks them)",
        )
    try:
        parsed = _parse((directory / KEY_NAME).read_bytes(), directory / KEY_NAME)
    except TablespaceError as exc:
        return False, str(exc)
    return True, f"keys are locked with a passphrase (scrypt, N = 2^{parsed.work_factor})"
