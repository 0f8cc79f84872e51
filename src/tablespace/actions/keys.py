"""A passphrase on this member's keys in their home: set, change, remove.
Locking and unlocking the files is core/keyfile.py; which files hold our
keys is the keyring's to say."""

from __future__ import annotations

from collections.abc import Callable

from tablespace.core import keyfile
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group
from tablespace.core.home import KEY_NAME
from tablespace.sync.keyring import Keyring

# A new passphrase is asked for only once the keys are known to open: so a
# wrong current one is said before anyone types a new one twice.
NewPassphrase = Callable[[], str]


def lock_keys(group: Group, new_passphrase: NewPassphrase) -> None:
    if keyfile.keys_locked(group.path):
        raise TablespaceError("this group's keys are already locked; `tablespace passphrase change` changes it")
    keyfile.relock(Keyring.key_files(group.path), new_passphrase())


def change_passphrase(group: Group, new_passphrase: NewPassphrase) -> None:
    _open_locked_keys(group)
    keyfile.relock(Keyring.key_files(group.path), new_passphrase())


def unlock_keys_for_good(group: Group) -> None:
    """Keep the keys in the clear again (mode 0600)."""
    _open_locked_keys(group)
    keyfile.relock(Keyring.key_files(group.path), None)


def _open_locked_keys(group: Group) -> None:
    """Refuse unless the keys are locked; then open them (asking for the
    current passphrase first, before any new one)."""
    if not keyfile.keys_locked(group.path):
        raise TablespaceError("this group's keys are not locked; `tablespace passphrase set` locks them")
    keyfile.read_key_file(group.path / KEY_NAME)
