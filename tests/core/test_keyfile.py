"""Keys at rest: a group's private keys, in the clear as before, or locked
under a passphrase (core/keyfile.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tablespace import actions
from tablespace.actions import found_group
from tablespace.core import keyfile, thread_queries
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group, Transport
from tablespace.core.home import KEY_NAME, Home
from tablespace.core.identity import Identity
from tablespace.core.keyfile import LockedKeyError
from tablespace.sync.keyring import EPOCHS_NAME, Keyring

PASSPHRASE = "correct horse battery staple"


def found(home: Home, folder: Path, passphrase: str | None) -> Group:
    with keyfile.new_keys_locked(passphrase):
        return found_group(home, "Circle", "Ada", Transport(folder=folder))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Keyring.key_files(directory)}


def ops(group: Group) -> int:
    return group.conn.execute("SELECT count(*) FROM ops").fetchone()[0]


def test_a_locked_file_round_trips_and_holds_no_key_in_the_clear(tmp_path: Path, monkeypatch) -> None:
    key = tmp_path / "g" / KEY_NAME
    Identity.generate().save(key)
    clear = key.read_bytes()
    keyfile.relock([key], PASSPHRASE)
    locked = key.read_bytes()
    assert locked.startswith(keyfile.BEGIN) and b"PRIVATE KEY" not in locked
    keyfile.forget()  # a new process: nothing unlocked
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, PASSPHRASE)
    assert keyfile.read_key_file(key) == clear


def test_a_wrong_passphrase_is_one_clear_refusal(tmp_path: Path, monkeypatch) -> None:
    key = tmp_path / "g" / KEY_NAME
    Identity.generate().save(key)
    keyfile.relock([key], PASSPHRASE)
    keyfile.forget()
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, "correct horse battery stapler")
    with pytest.raises(LockedKeyError, match="wrong passphrase"):
        Identity.load(key).private_key
    with pytest.raises(LockedKeyError, match="wrong passphrase"):
        keyfile.unlock(key.parent, "nope")
    assert not keyfile.is_unlocked(key.parent)


def test_no_passphrase_to_be_had_says_how_to_give_one(tmp_path: Path) -> None:
    key = tmp_path / "g" / KEY_NAME
    Identity.generate().save(key)
    keyfile.relock([key], PASSPHRASE)
    keyfile.forget()
    with pytest.raises(LockedKeyError, match="TABLESPACE_PASSPHRASE"):
        keyfile.read_key_file(key)


@pytest.mark.parametrize(
    "damage", ["flip a ciphertext bit", "truncate", "bad magic", "huge work factor", "not base64", "newer version"]
)
def test_a_damaged_locked_file_is_refused_with_one_line(tmp_path: Path, monkeypatch, damage: str) -> None:
    key = tmp_path / "g" / KEY_NAME
    Identity.generate().save(key)
    keyfile.relock([key], PASSPHRASE)
    keyfile.forget()
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, PASSPHRASE)
    raw = bytearray(
        base64.b64decode(b"".join(key.read_bytes().strip()[len(keyfile.BEGIN) : -len(keyfile.END)].split()))
    )
    if damage == "flip a ciphertext bit":
        raw[-1] ^= 1
    elif damage == "truncate":
        raw = raw[:30]
    elif damage == "bad magic":
        raw[0] ^= 0xFF
    elif damage == "huge work factor":
        raw[6] = 40  # would ask scrypt for terabytes
    elif damage == "newer version":
        raw[4] = 2
    body = b"!!!" if damage == "not base64" else base64.encodebytes(bytes(raw))
    key.write_bytes(keyfile.BEGIN + b"\n" + body + keyfile.END + b"\n")
    with pytest.raises(TablespaceError) as caught:
        Identity.load(key).private_key
    assert "\n" not in str(caught.value)
    assert "damaged" in str(caught.value) or "newer" in str(caught.value)


def test_a_home_without_a_passphrase_stays_as_it_was(home: Home, shared_folder: Path) -> None:
    group = found(home, shared_folder, None)
    for path in Keyring.key_files(group.path):
        assert not keyfile.is_locked(path.read_bytes())
    assert (group.path / KEY_NAME).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert (group.path / EPOCHS_NAME).read_bytes().startswith(b"{")
    group.close()
    keyfile.forget()
    again = Group.open(home)  # no passphrase anywhere: it writes as ever
    actions.post(again, "Hello", "no passphrase needed")
    Keyring.load(again.path)
    again.close()


def test_a_group_founded_locked_has_every_key_locked_and_reads_without_one(home: Home, shared_folder: Path) -> None:
    group = found(home, shared_folder, PASSPHRASE)
    actions.post(group, "Hello", "written while unlocked")
    group.close()
    for path in Keyring.key_files(group.path):
        assert keyfile.is_locked(path.read_bytes()), path
    keyfile.forget()
    again = Group.open(home)  # reading needs no key
    assert [t.title for t in thread_queries.threads(again.conn)] == ["Hello"]
    before = ops(again)
    with pytest.raises(LockedKeyError):
        actions.post(again, "Second", "no passphrase to sign with")
    assert ops(again) == before  # nothing changed
    again.close()


def test_a_locked_group_writes_and_syncs_with_the_passphrase(home: Home, shared_folder: Path, monkeypatch) -> None:
    from tablespace.actions import sync_group

    found(home, shared_folder, PASSPHRASE).close()
    keyfile.forget()
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, PASSPHRASE)
    group = Group.open(home)
    actions.post(group, "Second", "signed with the unlocked key")
    sync_group(group)
    ring = Keyring.load(group.path)
    ring.add([(5, bytes(32))])  # a new epoch key is saved locked, under the same passphrase
    assert keyfile.is_locked((group.path / EPOCHS_NAME).read_bytes())
    group.close()
    keyfile.forget()
    assert 5 in Keyring.load(group.path).epochs


def test_relock_changes_and_removes_the_passphrase(home: Home, shared_folder: Path, monkeypatch) -> None:
    group = found(home, shared_folder, None)
    files = Keyring.key_files(group.path)
    clear = snapshot(group.path)
    keyfile.relock(files, PASSPHRASE)
    assert keyfile.keys_locked(group.path)
    keyfile.forget()
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, PASSPHRASE)
    keyfile.relock(files, "a new one")
    keyfile.forget()
    with pytest.raises(LockedKeyError):  # the old passphrase no longer opens them
        keyfile.relock(files, None)
    monkeypatch.setenv(keyfile.PASSPHRASE_ENV, "a new one")
    keyfile.relock(files, None)
    assert snapshot(group.path) == clear  # in the clear again, exactly as before
    group.close()


def test_the_work_factor_is_stored_with_the_file(tmp_path: Path, monkeypatch) -> None:
    key = tmp_path / "g" / KEY_NAME
    Identity.generate().save(key)
    keyfile.relock([key], PASSPHRASE)
    ok, line = keyfile.describe(key.parent)
    assert ok and "N = 2^4" in line
    monkeypatch.setattr(keyfile, "WORK_FACTOR", 5)  # a later default still opens older files
    keyfile.forget()
    keyfile.unlock(key.parent, PASSPHRASE)
    assert keyfile.is_unlocked(key.parent)
