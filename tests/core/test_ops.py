"""Op encoding: one canonical byte form per op, and decode refuses anything else."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest

from tablespace.core import ops as ops_module
from tablespace.core.identity import Identity
from tablespace.core.ops import (
    MAX_BODY_BYTES,
    MAX_DEPTH,
    SIGNATURE_BYTES,
    InvalidOp,
    Op,
    canonical_json,
    decode_op,
    decode_payload,
    make_op,
    sign_op,
)

ALICE = Identity.generate()
MALLORY = Identity.generate()
GROUP = "ab" * 16


def make(payload=None, **kw):
    fields = dict(
        group=GROUP,
        seq=2,
        prev="cd" * 16,
        hlc=123456789,
        kind="post.reply",
        payload={"thread": "ef" * 16, "body": "Grüße, 🍞"} if payload is None else payload,
    )
    fields.update(kw)
    return sign_op(ALICE, **fields)


def fields_of(identity: Identity = ALICE, **changes):
    fields = {
        "v": 1,
        "g": GROUP,
        "a": identity.author_id,
        "s": 2,
        "p": "cd" * 16,
        "h": 5,
        "k": "post.reply",
        "d": {"body": "hi"},
        "pk": identity.public_key.hex(),
    }
    fields.update(changes)
    return fields


def wire_for(body: bytes, signer: Identity = ALICE) -> bytes:
    """A correctly signed wire op with exactly these body bytes."""
    return signer.sign(body) + body


def reason(wire: bytes) -> str:
    with pytest.raises(InvalidOp) as info:
        decode_op(wire)
    return str(info.value)


def test_make_op_builds_the_same_frozen_op_as_the_constructor():
    op = make()
    fields = {f.name: getattr(op, f.name) for f in dataclasses.fields(Op)}
    built = make_op(**fields)
    assert built == Op(**fields) == op
    assert type(built) is Op and dataclasses.asdict(built) == dataclasses.asdict(op)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.seq = 3  # type: ignore[misc]
    assert decode_op(op.to_wire()) == op and type(decode_op(op.to_wire())) is Op


# --- canonical form and ids ----------------------------------------------------


def test_body_is_canonical_json_sorted_compact_utf8():
    op = make()
    assert op.body == canonical_json(json.loads(op.body))
    assert b" " not in op.body.replace(b"Gr\xc3\xbc\xc3\x9fe, ", b"")  # no whitespace between tokens
    assert "Grüße, 🍞".encode() in op.body  # raw UTF-8, not \u escapes
    keys = list(json.loads(op.body))
    assert keys == sorted(keys)
    assert op.body.startswith(b'{"a":"' + ALICE.author_id.encode())


def test_roundtrip_preserves_every_field():
    op = make()
    back = decode_op(op.to_wire())
    assert back == op
    assert (back.group, back.author, back.seq, back.prev, back.hlc, back.kind) == (
        GROUP,
        ALICE.author_id,
        2,
        "cd" * 16,
        123456789,
        "post.reply",
    )
    assert back.payload == {"thread": "ef" * 16, "body": "Grüße, 🍞"}
    assert back.public_key == ALICE.public_key
    assert len(op.signature) == SIGNATURE_BYTES


def test_op_id_is_truncated_sha256_of_body_and_stable():
    op = make()
    assert op.id == hashlib.sha256(op.body).digest()[:16].hex()
    again = make()  # same fields, signed again
    assert again.body == op.body and again.id == op.id
    assert decode_op(op.to_wire()).id == op.id
    assert make(hlc=123456790).id != op.id


def test_payload_key_order_does_not_change_the_encoding():
    a = make(payload={"thread": "ef" * 16, "body": "x"})
    b = make(payload={"body": "x", "thread": "ef" * 16})
    assert a.body == b.body and a.id == b.id


def test_genesis_has_no_group_and_no_prev():
    op = sign_op(ALICE, group=None, seq=1, prev=None, hlc=1, kind="group.create", payload={})
    back = decode_op(op.to_wire())
    assert back.group is None and back.prev is None and back.seq == 1


@pytest.mark.parametrize(
    "value",
    [
        {"body": 'Grüße, 🍞 "quoted" \\ tab\t nl\n \u0001 \u2028', "thread": "ef" * 16},
        {"z": 1, "a": [True, False, None, -5, 2**63 - 1, 1.5, 1e-7], "m": {"b": {}, "a": []}},
        {"": "", "é": "x", "E": "y", "10": 1, "9": 2},
    ],
)
def test_the_built_once_encoder_writes_the_same_bytes_as_json_dumps(value):
    # canonical_json uses json's C encoder built once (ops._C_ENCODE); it
    # must stay byte for byte what the documented settings produce.
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    assert ops_module._C_ENCODE is not None  # CPython has the accelerator: the fast path is what runs
    assert canonical_json(value) == expected


def test_canonical_json_refuses_nan_on_the_fast_path():
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


# --- decode refuses --------------------------------------------------------------


@pytest.mark.parametrize(
    "encode",
    [
        lambda f: json.dumps(f, sort_keys=True).encode(),  # spaces after separators
        lambda f: json.dumps(f, separators=(",", ":")).encode(),  # insertion order, not sorted
        lambda f: json.dumps(f, sort_keys=True, separators=(",", ":")).encode(),  # \u escapes (ensure_ascii)
        lambda f: canonical_json(f) + b"\n",  # trailing whitespace
        lambda f: b" " + canonical_json(f),
    ],
    ids=["spaces", "unsorted", "ascii-escaped", "trailing-newline", "leading-space"],
)
def test_non_canonical_json_is_refused_even_when_correctly_signed(encode):
    fields = fields_of(d={"body": "café"})
    body = encode(fields)
    assert body != canonical_json(fields)
    assert "canonical" in reason(wire_for(body))


def test_duplicate_keys_are_not_canonical():
    body = canonical_json(fields_of()).replace(b'{"a":', b'{"a":"x","a":', 1)
    assert "canonical" in reason(wire_for(body))


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"v": 2},
    ],
    ids=["extra-field", "unknown-version"],
)
def test_wrong_fields_or_version_refused(change):
    body = canonical_json(fields_of(**change))
    assert reason(wire_for(body))


def test_missing_field_refused():
    fields = fields_of()
    del fields["h"]
    assert "wrong fields" in reason(wire_for(canonical_json(fields)))


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"s": 0}, "bad seq"),
        ({"s": True}, "bad seq"),
        ({"s": 1}, "bad prev"),  # seq 1 must have no prev
        ({"p": None}, "bad prev"),  # seq 2 must have one
        ({"h": 0}, "bad hlc"),
        ({"h": 1.5}, "bad hlc"),
        ({"k": ""}, "bad kind"),
        ({"k": "x" * 33}, "bad kind"),
        ({"d": []}, "payload is not an object"),
        ({"g": "XYZ"}, "bad group id"),
        ({"a": "AB" * 16}, "bad author id"),
        ({"pk": "zz" * 32}, "bad public key"),
        ({"pk": "ab"}, "bad public key"),
    ],
    ids=lambda v: str(v),
)
def test_malformed_field_values_refused(change, expected):
    assert expected in reason(wire_for(canonical_json(fields_of(**change))))


def test_bad_signature_refused():
    wire = bytearray(make().to_wire())
    wire[5] ^= 0x01
    assert "bad signature" in reason(bytes(wire))


def test_tampered_body_refused():
    op = make(payload={"thread": "ef" * 16, "body": "one"})
    tampered = op.signature + op.body.replace(b'"one"', b'"two"')
    assert "bad signature" in reason(tampered)


def test_signed_by_another_key_refused():
    body = canonical_json(fields_of())  # names ALICE's key
    assert "bad signature" in reason(wire_for(body, signer=MALLORY))


def test_author_id_must_match_the_key():
    body = canonical_json(fields_of(a=MALLORY.author_id))  # claims Mallory, carries Alice's key
    assert "author id does not match" in reason(wire_for(body))


def test_too_short_and_not_json_refused():
    assert reason(b"x" * SIGNATURE_BYTES) == "op too short"
    assert "not valid JSON" in reason(wire_for(b"{not json"))
    assert "not an object" in reason(wire_for(b"[1,2]"))
    assert reason(wire_for(b"\xff\xfe{}"))


def test_over_size_body_refused_on_sign_and_decode():
    with pytest.raises(InvalidOp, match="limit"):
        make(payload={"body": "x" * MAX_BODY_BYTES})
    body = canonical_json(fields_of(d={"body": "x" * MAX_BODY_BYTES}))
    assert len(body) > MAX_BODY_BYTES
    assert "size limit" in reason(wire_for(body))


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"x": value}
    return value


def test_nesting_up_to_the_limit_is_fine_one_more_is_refused():
    ok = canonical_json(fields_of(d=nested(MAX_DEPTH - 1)))
    assert decode_op(wire_for(ok)).payload == nested(MAX_DEPTH - 1)
    too_deep = canonical_json(fields_of(d=nested(MAX_DEPTH)))
    assert "nested too deeply" in reason(wire_for(too_deep))
    lists = canonical_json(fields_of(d={"x": [[[[[[1]]]]]]}))
    assert "nested too deeply" in reason(wire_for(lists))


@pytest.mark.parametrize("depth", [50, 400, 600, 900, 990, 1200, 20000])
def test_hostile_nesting_is_an_invalid_op_never_a_crash(depth):
    body = b'{"d":' * depth + b"1" + b"}" * depth
    assert reason(wire_for(body))  # InvalidOp, not RecursionError


def test_lone_surrogate_is_an_invalid_op_never_a_crash():
    body = canonical_json(fields_of(d={"body": "A"})).replace(b'"A"', b'"\\ud800"')
    assert reason(wire_for(body))  # InvalidOp, not UnicodeEncodeError


def test_a_lone_surrogates_utf8_bytes_are_not_canonical():
    """The bytes UTF-8 would give a lone surrogate (which no encoder writes)
    parse, but are no canonical form: refused, in a body or a payload alone."""
    body = canonical_json(fields_of(d={"body": "A"})).replace(b'"A"', b'"\xed\xa0\x80"')
    assert "not in canonical form" in reason(wire_for(body))
    with pytest.raises(InvalidOp, match="not in canonical form"):
        decode_payload(b'{"body":"\xed\xa0\x80"}')


def test_decoded_op_reencodes_to_the_same_wire():
    op = make()
    assert decode_op(op.to_wire()).to_wire() == op.to_wire()


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json_and_are_refused(constant):
    """Python's parser accepts them; a body holding one is not an op."""
    body = canonical_json(fields_of(d={"n": 1})).replace(b'"n":1', b'"n":' + constant, 1)
    assert constant in body
    assert "not valid JSON" in reason(wire_for(body))
    with pytest.raises(ValueError):
        canonical_json({"n": float("nan")})  # and we never write one


@pytest.mark.parametrize("field", ["s", "h"])
def test_seq_and_hlc_must_fit_sqlite_integers(field):
    """A value SQLite cannot store must be refused here, not crash an import."""
    assert "bad" in reason(wire_for(canonical_json(fields_of(**{field: 2**63}))))
