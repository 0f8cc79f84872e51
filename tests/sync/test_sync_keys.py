"""Key primitives: X25519 member keys, age-style wrapping, epoch key chaining."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tablespace.core.errors import TablespaceError
from tablespace.sync.keys import (
    SEALED_PREVIOUS_BYTES,
    STANZA_BYTES,
    ExchangeKey,
    KeyWrapError,
    epoch_key_id,
    new_epoch_key,
    open_previous_key,
    seal_previous_key,
    unwrap_key,
    wrap_key,
)

BOB = ExchangeKey.generate()
CAROL = ExchangeKey.generate()


def test_wrap_round_trip() -> None:
    key = new_epoch_key()
    stanza = wrap_key(key, BOB.public_key)
    assert len(stanza) == STANZA_BYTES == 80
    assert unwrap_key(stanza, BOB.private_key) == key
    assert BOB.unwrap(stanza) == key
    assert key not in stanza
    assert wrap_key(key, BOB.public_key) != stanza  # fresh ephemeral key each time


def test_wrong_recipient_cannot_unwrap() -> None:
    stanza = wrap_key(new_epoch_key(), BOB.public_key)
    with pytest.raises(KeyWrapError, match="not wrapped for you"):
        CAROL.unwrap(stanza)


def test_every_bit_flip_in_a_stanza_is_caught() -> None:
    stanza = wrap_key(new_epoch_key(), BOB.public_key)
    for i in range(len(stanza) * 8):
        flipped = bytearray(stanza)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(KeyWrapError):
            BOB.unwrap(bytes(flipped))


@pytest.mark.parametrize("size", [0, 32, 79, 81, 200])
def test_stanza_length_is_exact(size: int) -> None:
    stanza = wrap_key(new_epoch_key(), BOB.public_key)
    with pytest.raises(KeyWrapError, match="exactly 80 bytes"):
        BOB.unwrap((stanza * 3)[:size])


def test_wrap_checks_lengths() -> None:
    with pytest.raises(KeyWrapError):
        wrap_key(b"short", BOB.public_key)
    with pytest.raises(KeyWrapError):
        wrap_key(new_epoch_key(), BOB.public_key[:31])


@pytest.mark.parametrize(
    "low_order",
    [
        bytes(32),  # zero point: shared secret is all zeros
        (1).to_bytes(32, "little"),  # the point of order 1
        bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),  # order 8
    ],
)
def test_low_order_points_are_refused(low_order: bytes) -> None:
    with pytest.raises(KeyWrapError, match="invalid"):
        wrap_key(new_epoch_key(), low_order)
    stanza = low_order + wrap_key(new_epoch_key(), BOB.public_key)[32:]
    with pytest.raises(KeyWrapError):
        BOB.unwrap(stanza)


@settings(max_examples=20, deadline=None)
@given(key=st.binary(min_size=32, max_size=32))
def test_wrap_round_trip_any_key(key: bytes) -> None:
    assert BOB.unwrap(wrap_key(key, BOB.public_key)) == key


def test_exchange_key_saves_0600_and_loads(tmp_path: Path) -> None:
    path = tmp_path / "group" / "x25519.pem"
    BOB.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = ExchangeKey.load(path)
    assert loaded.public_key == BOB.public_key
    with pytest.raises(TablespaceError, match="refusing to overwrite"):
        CAROL.save(path)


def test_exchange_key_load_errors(tmp_path: Path) -> None:
    with pytest.raises(TablespaceError, match="no exchange key"):
        ExchangeKey.load(tmp_path / "missing.pem")
    damaged = tmp_path / "damaged.pem"
    damaged.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(TablespaceError, match="unreadable"):
        ExchangeKey.load(damaged)


def test_ed25519_key_is_not_an_exchange_key(tmp_path: Path) -> None:
    from tablespace.core.identity import Identity

    path = tmp_path / "ed.pem"
    Identity.generate().save(path)
    with pytest.raises(TablespaceError, match="not an X25519 key"):
        ExchangeKey.load(path)


def test_epoch_keys_are_random_and_have_stable_ids() -> None:
    a, b = new_epoch_key(), new_epoch_key()
    assert len(a) == 32 and a != b
    assert epoch_key_id(a) == epoch_key_id(a) != epoch_key_id(b)
    assert len(epoch_key_id(a)) == 8


def test_previous_key_chain_walks_back() -> None:
    k0, k1, k2 = new_epoch_key(), new_epoch_key(), new_epoch_key()
    box1, box2 = seal_previous_key(k0, k1), seal_previous_key(k1, k2, context=b"g/2")
    assert len(box1) == SEALED_PREVIOUS_BYTES == 60
    # Holding only k2 recovers all history.
    recovered1 = open_previous_key(box2, k2, context=b"g/2")
    assert recovered1 == k1 and open_previous_key(box1, recovered1) == k0


def test_previous_key_refuses_wrong_key_context_or_damage() -> None:
    prev, new = new_epoch_key(), new_epoch_key()
    box = seal_previous_key(prev, new, context=b"group/epoch 5")
    with pytest.raises(KeyWrapError):
        open_previous_key(box, new_epoch_key(), context=b"group/epoch 5")
    with pytest.raises(KeyWrapError):
        open_previous_key(box, new, context=b"group/epoch 6")
    for i in range(len(box) * 8):
        flipped = bytearray(box)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(KeyWrapError):
            open_previous_key(bytes(flipped), new, context=b"group/epoch 5")
    with pytest.raises(KeyWrapError, match="exactly"):
        open_previous_key(box[:-1], new, context=b"group/epoch 5")
    with pytest.raises(KeyWrapError, match="exactly"):
        seal_previous_key(prev[:16], new)


# --- key needs (sync/membership.py) ---------------------------------------------


def _need(**kw):
    from tablespace.core.identity import Identity
    from tablespace.sync.membership import encode_need

    member = kw.pop("member", None) or Identity.generate()
    fields = {"group_id": "ab" * 16, "epochs": [3, 1, 3], "disowned": ["cd" * 16]}
    fields.update(kw)
    return member, encode_need(member, **fields)


def test_a_key_need_reads_back_and_the_same_need_is_the_same_file() -> None:
    from tablespace.sync.membership import decode_need, need_path

    member, data = _need()
    need = decode_need(data, group_id="ab" * 16, member=member.author_id)
    assert (need.member, need.epochs, need.disowned) == (member.author_id, [1, 3], ["cd" * 16])
    _, again = _need(member=member, epochs=[1, 3])
    assert need_path(member.author_id, again) == need_path(member.author_id, data)


def test_a_key_need_is_refused_damaged_truncated_forged_or_misplaced() -> None:
    from tablespace.core.identity import Identity
    from tablespace.sync.membership import BadMembershipFile, decode_need

    member, data = _need()
    ok = {"group_id": "ab" * 16, "member": member.author_id}
    for i in range(len(data)):
        with pytest.raises(BadMembershipFile):
            decode_need(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :], **ok)
        with pytest.raises(BadMembershipFile):
            decode_need(data[:i], **ok)
    with pytest.raises(BadMembershipFile, match="another group or by another member"):
        decode_need(data, group_id="ab" * 16, member=Identity.generate().author_id)  # put under someone else's name
    with pytest.raises(BadMembershipFile, match="another group"):
        decode_need(data, group_id="ef" * 16, member=member.author_id)


def test_a_key_need_has_one_encoding() -> None:
    """Epochs and granters strictly ascending: the same need cannot be
    written as other bytes (another file name) to be read again."""
    from tablespace.core.identity import Identity
    from tablespace.sync.membership import _NEED_HEAD, NEED_MAGIC, BadMembershipFile, decode_need

    member = Identity.generate()
    for epochs in ([3, 1], [2, 2]):
        body = _NEED_HEAD.pack(NEED_MAGIC, bytes.fromhex("ab" * 16), member.public_key, len(epochs), 0)
        body += b"".join(e.to_bytes(4, "big") for e in epochs)
        with pytest.raises(BadMembershipFile, match="ascending"):
            decode_need(body + member.sign(body), group_id="ab" * 16, member=member.author_id)


def test_a_signed_grant_that_will_not_open_says_who_signed_it() -> None:
    """Both ways a grant for us can fail to open (the key wrapped for someone
    else, or not the key its id names) raise GrantWontOpen with the header,
    so the member can disown the granter in a key need."""
    from tablespace.core.identity import Identity
    from tablespace.sync.keys import ExchangeKey, new_epoch_key
    from tablespace.sync.membership import _GRANT_ENTRY, _GRANT_HEAD, GrantWontOpen, decode_grant, encode_grant

    granter, me, other = Identity.generate(), ExchangeKey.generate(), ExchangeKey.generate()
    fields = {"group_id": "ab" * 16, "member": "cd" * 16}
    wrong_recipient = encode_grant(granter, member_exchange=other.public_key, keys=[(1, new_epoch_key())], **fields)
    good = encode_grant(granter, member_exchange=me.public_key, keys=[(1, new_epoch_key())], **fields)
    body = bytearray(good[:-64])
    key_id_at = _GRANT_HEAD.size + 4  # the first entry's key id, after its epoch
    body[key_id_at : key_id_at + 8] = bytes(8)
    wrong_id = bytes(body) + granter.sign(bytes(body))
    assert _GRANT_ENTRY.size == 4 + 8 + 80
    for data, reason in ((wrong_recipient, "does not unwrap"), (wrong_id, "key id does not match")):
        with pytest.raises(GrantWontOpen, match=reason) as info:
            decode_grant(data, group_id="ab" * 16, me="cd" * 16, exchange=me)
        assert info.value.header.granter == granter.author_id


def test_a_need_goes_under_the_next_free_name_and_never_loops(tmp_path: Path) -> None:
    import os

    from tablespace.sync.folder import FolderStore
    from tablespace.sync.membership import NEEDS_DIR, need_path
    from tablespace.sync.roster import NEED_COPIES, leave_need

    group = "ab" * 16
    member, data = _need()
    me = member.author_id
    folder = FolderStore(tmp_path, group)
    needs = tmp_path / group / NEEDS_DIR
    needs.mkdir(parents=True)
    name = [needs / need_path(me, data, copy).rsplit("/", 1)[-1] for copy in range(NEED_COPIES + 1)]
    name[0].write_bytes(b"damaged")  # other bytes at our name
    name[1].mkdir()  # a directory planted at the next
    os.symlink(tmp_path, name[2])  # and a link at the one after
    assert leave_need(folder, me, data) is True
    assert name[3].read_bytes() == data and not name[4].exists()
    assert leave_need(folder, me, data) is False  # asked already: nothing more written
    assert not name[4].exists()
    # every name taken: gives up, writes nothing past the last
    for path in name[4:NEED_COPIES]:
        path.write_bytes(b"planted")
    name[3].unlink()
    name[3].write_bytes(b"planted")
    assert leave_need(folder, me, data) is False and not name[NEED_COPIES].exists()
    # needs/ is a plain file, or cannot be read: a round that returns, not one that spins
    for path in needs.iterdir():
        path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
    needs.rmdir()
    needs.write_bytes(b"not a directory")
    assert leave_need(folder, me, data) is False
