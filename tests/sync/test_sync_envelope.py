"""The changeset envelope against a hostile folder: every failure is a BadChangeset."""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import time

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tablespace.core.identity import Identity
from tablespace.core.ops import SIGNATURE_BYTES, Op, sign_op
from tablespace.sync import envelope
from tablespace.sync.envelope import (
    HEADER_BYTES,
    MAX_FILE_BYTES,
    BadChangeset,
    Changeset,
    ChangesetTooLarge,
    UnknownEpoch,
    changeset_name,
    decode_changeset,
    encode_changeset,
    frame_ops,
    peek_header,
    seal,
)
from tablespace.sync.keys import epoch_key_id, new_epoch_key

GROUP = "a1" * 16
OTHER_GROUP = "b2" * 16
EPOCH = 3
KEY = bytes(range(32))
KEYS = {EPOCH: KEY}
BASE_HLC = 1_700_000_000_000 << 16
CANARY = "CANARY-sourdough-42"

ALICE = Identity.generate()
MALLORY = Identity.generate()


def make_ops(
    who: Identity, n: int, *, group: str | None = GROUP, first: int = 1, payload: dict | None = None
) -> list[Op]:
    ops: list[Op] = []
    prev = None if first == 1 else "00" * 16
    for seq in range(first, first + n):
        op = sign_op(who, group=group, seq=seq, prev=prev, hlc=BASE_HLC + seq, kind="post",
                     payload=payload if payload is not None else {"body": f"post {seq}"})
        ops.append(op)
        prev = op.id
    return ops


def encode(ops: list[Op], who: Identity = ALICE, **kw: object) -> bytes:
    args: dict = dict(group_id=GROUP, epoch=EPOCH, epoch_key=KEY, identity=who)
    args.update(kw)
    return encode_changeset(ops, **args)


def decode(data: bytes, **kw: object) -> Changeset:
    args: dict = dict(group_id=GROUP, epoch_keys=KEYS)
    args.update(kw)
    return decode_changeset(data, **args)


def forge(
    plaintext: bytes | None = None,
    *,
    compressed: bytes | None = None,
    signer: Identity = ALICE,
    ops: list[Op] | None = None,
    **overrides: object,
) -> bytes:
    """A correctly encrypted, correctly signed file with whatever header and body we like."""
    if compressed is None:
        if plaintext is None:
            plaintext = frame_ops([op.to_wire() for op in ops or []])
        compressed = zstandard.ZstdCompressor().compress(plaintext)
    fields: dict = dict(group_id=GROUP, epoch=EPOCH, key_id=epoch_key_id(KEY), author=signer.author_id,
                        public_key=signer.public_key, first_seq=1, last_seq=1, max_hlc=BASE_HLC + 1)
    if ops:
        fields.update(first_seq=ops[0].seq, last_seq=ops[-1].seq, max_hlc=max(o.hlc for o in ops))
    fields.update(overrides)
    return seal(fields, compressed, epoch_key=KEY, signer=signer)


def rejected(data: bytes, match: str | None = None, **kw: object) -> BadChangeset:
    with pytest.raises(BadChangeset, match=match) as info:
        decode(data, **kw)
    return info.value


@pytest.fixture(scope="module")
def small() -> bytes:
    return encode(make_ops(ALICE, 2))


# --- round trip --------------------------------------------------------------


def test_round_trip_keeps_ops_and_header() -> None:
    ops = make_ops(ALICE, 5)
    cs = decode(encode(ops))
    assert [o.to_wire() for o in cs.ops] == [o.to_wire() for o in ops]
    assert (cs.group_id, cs.epoch, cs.author, cs.public_key) == (GROUP, EPOCH, ALICE.author_id, ALICE.public_key)
    assert (cs.first_seq, cs.last_seq, cs.max_hlc, cs.op_count) == (1, 5, BASE_HLC + 5, 5)


def test_genesis_op_without_group_field_round_trips() -> None:
    genesis = sign_op(ALICE, group=None, seq=1, prev=None, hlc=BASE_HLC, kind="genesis", payload={"name": "x"})
    post = sign_op(ALICE, group=genesis.id, seq=2, prev=genesis.id, hlc=BASE_HLC + 1, kind="post", payload={})
    data = encode([genesis, post], group_id=genesis.id)
    assert [o.id for o in decode(data, group_id=genesis.id).ops] == [genesis.id, post.id]
    # ...but a group-less op is only accepted as *this* group's genesis.
    with pytest.raises(ValueError):
        encode([genesis, post])
    rejected(forge(ops=[genesis], group_id=GROUP, max_hlc=BASE_HLC), "another group")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 6),
    first=st.integers(1, 10**9),
    bodies=st.lists(st.text(max_size=200), min_size=6, max_size=6),
)
def test_round_trip_random_ops(n: int, first: int, bodies: list[str]) -> None:
    prev = None if first == 1 else "ef" * 16
    ops = []
    for i in range(n):
        op = sign_op(ALICE, group=GROUP, seq=first + i, prev=prev, hlc=BASE_HLC + (i * 7919) % 5,
                     kind="post", payload={"body": bodies[i], "n": i})
        ops.append(op)
        prev = op.id
    data = encode(ops)
    assert [o.id for o in decode(data).ops] == [o.id for o in ops]


def test_each_encoding_is_fresh_but_names_are_content_addressed() -> None:
    ops = make_ops(ALICE, 3)
    one, two = encode(ops), encode(ops)
    assert one != two  # fresh salt per file
    h1, h2 = peek_header(one), peek_header(two)
    assert changeset_name(h1) != changeset_name(h2)
    assert changeset_name(h1) == changeset_name(peek_header(bytes(one)))
    assert changeset_name(h1).startswith(f"{ALICE.author_id}/00000001-00000003-")
    assert changeset_name(h1).endswith(".tsc")
    assert len(changeset_name(h1).rsplit("-", 1)[1]) == len("0123456789abcdef.tsc")


def test_peek_header_needs_no_keys(small: bytes) -> None:
    header = peek_header(small)
    assert header.author == ALICE.author_id and header.epoch == EPOCH and header.body_length > 0
    with pytest.raises(UnknownEpoch):
        decode(small, epoch_keys={})


def test_encoder_refuses_misuse() -> None:
    ops = make_ops(ALICE, 3)
    with pytest.raises(ValueError):
        encode([])
    with pytest.raises(ValueError):
        encode(ops, who=MALLORY)  # not the author
    with pytest.raises(ValueError):
        encode([ops[0], ops[2]])  # gap
    with pytest.raises(ValueError):
        encode(ops, epoch_key=b"short")
    with pytest.raises(ValueError):
        encode(ops, group_id="NOT-HEX")


# --- truncation and bit flips ------------------------------------------------


def test_truncation_at_every_offset(small: bytes) -> None:
    for cut in range(len(small)):
        rejected(small[:cut])
    rejected(small + b"\0")


def test_every_bit_flip_is_rejected(small: bytes) -> None:
    # Every bit of header, body and signature (a 2-op file is ~0.6 KB, ~5k flips).
    for i in range(len(small) * 8):
        flipped = bytearray(small)
        flipped[i // 8] ^= 1 << (i % 8)
        with pytest.raises(BadChangeset):
            decode(bytes(flipped))


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_damage_is_rejected(data: st.DataObject) -> None:
    original = encode(make_ops(ALICE, 2))
    pos = data.draw(st.integers(0, len(original) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != original[pos]))
    damaged = bytearray(original)
    damaged[pos] = value
    with pytest.raises(BadChangeset):
        decode(bytes(damaged))


@settings(max_examples=60, deadline=None)
@given(junk=st.binary(max_size=600))
def test_random_bytes_are_rejected(junk: bytes) -> None:
    with pytest.raises(BadChangeset):
        decode(junk)
    with pytest.raises(BadChangeset):
        decode(envelope.MAGIC + bytes([1]) + junk)


# --- forgery, group and epoch ------------------------------------------------


def test_header_author_not_matching_key_is_forged() -> None:
    # Claims Alice, carries and signs with Mallory's key; ops re-signed by Mallory.
    ops = make_ops(MALLORY, 2)
    data = forge(ops=ops, signer=MALLORY, author=ALICE.author_id)
    rejected(data, "forged author")


def test_header_with_victims_key_but_attackers_signature() -> None:
    ops = make_ops(MALLORY, 2)
    data = forge(ops=ops, signer=MALLORY, author=ALICE.author_id, public_key=ALICE.public_key)
    rejected(data, "signature does not verify")


def test_attacker_cannot_wrap_someone_elses_ops() -> None:
    # Mallory signs a file of her own, containing Alice's genuine ops.
    rejected(forge(ops=make_ops(ALICE, 2), signer=MALLORY), "another author")


def test_ops_claiming_another_author_but_signed_by_file_author() -> None:
    # Ops whose body says author = Alice but whose signature is Mallory's.
    victim_ops = make_ops(ALICE, 1)
    body = victim_ops[0].body
    wire = MALLORY.sign(body) + body
    rejected(forge(frame_ops([wire]), signer=MALLORY), "another author")


def test_wrong_group(small: bytes) -> None:
    rejected(small, "another group", group_id=OTHER_GROUP)
    # Ops of another group, in a file that claims ours.
    rejected(forge(ops=make_ops(ALICE, 2, group=OTHER_GROUP)), "another group")


def test_unknown_epoch_is_distinct_and_names_the_epoch(small: bytes) -> None:
    with pytest.raises(UnknownEpoch) as info:
        decode(small, epoch_keys={EPOCH + 1: KEY})
    assert info.value.epoch == EPOCH and "epoch 3" in info.value.reason


def test_a_different_key_for_the_same_epoch_is_unknown_not_damaged(small: bytes) -> None:
    with pytest.raises(UnknownEpoch):
        decode(small, epoch_keys={EPOCH: new_epoch_key()})


def test_right_key_id_but_body_under_other_key_is_bad() -> None:
    # Only a malicious author can do this (the file is signed): quarantine, don't hold.
    compressed = zstandard.ZstdCompressor().compress(frame_ops([o.to_wire() for o in make_ops(ALICE, 1)]))
    fields = dict(group_id=GROUP, epoch=EPOCH, key_id=epoch_key_id(KEY), author=ALICE.author_id,
                  public_key=ALICE.public_key, first_seq=1, last_seq=1, max_hlc=BASE_HLC + 1)
    data = seal(fields, compressed, epoch_key=new_epoch_key(), signer=ALICE)
    rejected(data, "does not decrypt")


def test_reused_header_with_swapped_body_fails(small: bytes) -> None:
    other = encode(make_ops(ALICE, 2))
    spliced = small[:HEADER_BYTES] + other[HEADER_BYTES:]
    rejected(spliced)


# --- size limits, bombs, hostile payloads --------------------------------------


def test_oversize_file_rejected_before_parsing() -> None:
    start = time.perf_counter()
    rejected(b"\0" * (MAX_FILE_BYTES + 1), "over the")
    assert time.perf_counter() - start < 0.5


def test_writer_raises_too_large_so_exporter_can_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envelope, "MAX_OPS_PER_FILE", 3)
    with pytest.raises(ChangesetTooLarge):
        encode(make_ops(ALICE, 4))
    monkeypatch.setattr(envelope, "MAX_PLAINTEXT_BYTES", 100)
    with pytest.raises(ChangesetTooLarge):
        encode(make_ops(ALICE, 2))


def _zeros_frame(total: int, declared: int | None) -> bytes:
    """A zstd frame of `total` zeros, compressed in streaming mode (no big buffers)."""
    buf = io.BytesIO()
    kwargs = {"size": declared} if declared is not None else {}
    cctx = zstandard.ZstdCompressor(level=1, write_content_size=declared is not None)
    chunk = bytes(1 << 20)
    with cctx.stream_writer(buf, closefd=False, **kwargs) as writer:
        for _ in range(total // len(chunk)):
            writer.write(chunk)
    return buf.getvalue()


@pytest.fixture(scope="module")
def gib_bomb() -> bytes:
    return _zeros_frame(1 << 30, declared=1 << 30)


def _assert_fast_and_small(data: bytes, match: str) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    rejected(data, match)
    assert time.perf_counter() - start < 1.0
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kib < 100 * 1024


def test_decompression_bomb_declaring_its_size(gib_bomb: bytes) -> None:
    assert len(gib_bomb) < 64 * 1024  # 1 GiB of zeros, validly encrypted and signed below
    _assert_fast_and_small(forge(compressed=gib_bomb), "limit")


def test_decompression_bomb_lying_about_its_size(gib_bomb: bytes) -> None:
    # Frame header byte 4 = 0x80: 4-byte content size at offset 6 (after the window byte).
    assert gib_bomb[4] == 0x80
    liar = gib_bomb[:6] + (1 << 20).to_bytes(4, "little") + gib_bomb[10:]
    assert zstandard.get_frame_parameters(liar).content_size == 1 << 20
    _assert_fast_and_small(forge(compressed=liar), "lies about its size")


def test_decompression_bomb_without_declared_size() -> None:
    silent = _zeros_frame(64 << 20, declared=None)
    _assert_fast_and_small(forge(compressed=silent), "does not declare")


def test_trailing_data_after_the_frame() -> None:
    frame = zstandard.ZstdCompressor().compress(frame_ops([o.to_wire() for o in make_ops(ALICE, 1)]))
    rejected(forge(compressed=frame + frame), "corrupt")
    rejected(forge(compressed=b"not zstd at all"), "not a zstd frame")


def test_deeply_nested_payload() -> None:
    nested: dict = {}
    cursor = nested
    for _ in range(50):
        cursor["x"] = {}
        cursor = cursor["x"]
    ops = [sign_op(ALICE, group=GROUP, seq=1, prev=None, hlc=BASE_HLC + 1, kind="post", payload=nested)]
    rejected(forge(ops=ops), "seq 1 is invalid")


def test_pathologically_deep_json_body() -> None:
    body = b"[" * 200_000 + b"]" * 200_000
    body = body[: 250 * 1024]
    rejected(forge(frame_ops([ALICE.sign(body) + body])), "invalid")


def test_huge_op_is_rejected_by_framing() -> None:
    big = b"{" + b" " * (300 * 1024) + b"}"
    rejected(forge(frame_ops([ALICE.sign(big) + big])), "invalid length")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"a":"' + b"1" * 100 + b'"}',
        b'{"d":{"n":' + b"9" * 6000 + b"}}",  # int beyond Python's str-digits limit
        b'{"d":{"s":"\\ud800"}}',  # lone surrogate: valid JSON, not encodable as UTF-8
        b'{"d":NaN}',
        b"\xff\xfe not utf-8",
    ],
)
def test_malformed_op_bodies(payload: bytes) -> None:
    rejected(forge(frame_ops([ALICE.sign(payload) + payload])), "invalid")


def test_too_many_ops_claimed_by_header() -> None:
    too_many = envelope.MAX_OPS_PER_FILE + 1
    rejected(forge(ops=make_ops(ALICE, 1), last_seq=too_many), "over")


def test_body_with_more_or_fewer_ops_than_header() -> None:
    ops = make_ops(ALICE, 3)
    rejected(forge(ops=ops, last_seq=2, max_hlc=BASE_HLC + 2), "more ops")
    rejected(forge(ops=ops[:2], last_seq=3), "holds 2 ops")


def test_framing_damage() -> None:
    wire = make_ops(ALICE, 1)[0].to_wire()
    rejected(forge(frame_ops([wire])[:-1]), "ends inside an op")
    rejected(forge(frame_ops([wire]) + b"\0\0"), "more ops")
    rejected(forge(b"\0\0\0\x10" + wire[:16]), "invalid length")
    rejected(forge(b""), "0 ops")


def test_seqs_not_consecutive() -> None:
    ops = make_ops(ALICE, 4)
    gap = [ops[0], ops[1], ops[3]]
    rejected(forge(ops=gap, last_seq=3), "not consecutive")
    rejected(forge(ops=ops[:2], first_seq=2, last_seq=3), "not consecutive")


def test_ops_that_do_not_chain() -> None:
    one = make_ops(ALICE, 2)
    two = make_ops(ALICE, 2, payload={"body": "fork"})
    rejected(forge(ops=[one[0], two[1]]), "chain")


def test_header_hlc_must_match_ops() -> None:
    rejected(forge(ops=make_ops(ALICE, 2), max_hlc=BASE_HLC + 99), "hlc")


# --- confidentiality -----------------------------------------------------------


def test_folder_bytes_hold_no_plaintext() -> None:
    ops = make_ops(ALICE, 4, payload={"body": CANARY * 3, "title": CANARY})
    data = encode(ops)
    canary = CANARY.encode()
    plaintext = frame_ops([o.to_wire() for o in ops])
    for needle in (
        canary,
        zstandard.ZstdCompressor().compress(canary),
        zstandard.ZstdCompressor().compress(plaintext)[8:40],
        ops[0].body[:32],
        ops[0].signature,
    ):
        assert needle not in data
    # Nor is the canary hiding in an encoding a host might try.
    assert canary.hex().encode() not in data and CANARY.encode("utf-16-le") not in data


# --- layering ----------------------------------------------------------------


def test_sync_never_imports_textual() -> None:
    code = (
        "import sys, tablespace.sync.envelope, tablespace.sync.keys; "
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'tablespace.tui'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_header_layout_is_fixed() -> None:
    assert HEADER_BYTES == 128 and SIGNATURE_BYTES == 64
    data = encode(make_ops(ALICE, 1))
    assert data[:4] == b"TSCF" and data[4] == 1 and data[5:8] == b"\0\0\0"
    assert data[8:24].hex() == GROUP and int.from_bytes(data[24:28], "big") == EPOCH
    assert data[28:36] == epoch_key_id(KEY) and data[36:52].hex() == ALICE.author_id
    assert data[52:84] == ALICE.public_key
    assert int.from_bytes(data[124:128], "big") == len(data) - HEADER_BYTES - SIGNATURE_BYTES
