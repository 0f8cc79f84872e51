"""Opening a circle's sealed op: the shortcuts the fold takes on each one
give exactly what the general forms give."""

from __future__ import annotations

import codecs
import dataclasses
import json

from hypothesis import given
from hypothesis import strategies as st

from tablespace.core import circles
from tablespace.core.circles import OpPlace, new_circle_key, open_box, place_binding, seal_box
from tablespace.core.identity import Identity
from tablespace.core.ops import sign_op, with_content

ALICE = Identity.generate()
GROUP = "ab" * 16


def test_a_place_binds_its_group_author_seq_time_and_parts_in_fixed_bytes():
    """Every box sealed so far was bound to these bytes: a change to them
    would leave every existing box unopenable."""
    author, target = "cd" * 16, "ef" * 16
    place = OpPlace(GROUP, author, 7, 123456789)
    want = f"tablespace circle v1\x00{GROUP}\x00{author}\x007\x00123456789\x00op\x00{target}\x003".encode()
    assert place_binding(GROUP, author, 7, 123456789, "op", target, "3") == want
    assert place.binding("op", target, "3") == want
    assert place.binding() == f"tablespace circle v1\x00{GROUP}\x00{author}\x007\x00123456789".encode()


def test_a_box_sealed_at_a_place_opens_with_its_binding():
    key = new_circle_key()
    place = OpPlace(GROUP, "cd" * 16, 7, 123456789)
    inner = {"kind": "post.reply", "payload": {"thread": "ef" * 16, "body": "Grüße, 🍞"}}
    sealed = seal_box(key, inner, place.binding("op", "c1", "0"))
    nonce, box = bytes.fromhex(sealed["nonce"]), bytes.fromhex(sealed["box"])
    assert open_box(key, nonce, box, place_binding(GROUP, "cd" * 16, 7, 123456789, "op", "c1", "0")) == inner
    assert open_box(key, nonce, box, place_binding(GROUP, "cd" * 16, 8, 123456789, "op", "c1", "0")) is None


def test_with_content_is_replace():
    op = sign_op(ALICE, group=GROUP, seq=2, prev="cd" * 16, hlc=99, kind="circle.sealed", payload={"circle": "x"})
    inner = with_content(op, "post.reply", {"thread": "ef" * 16, "body": "hi"})
    assert inner == dataclasses.replace(op, kind="post.reply", payload={"thread": "ef" * 16, "body": "hi"})
    assert (inner.kind, op.kind, inner.device) == ("post.reply", "circle.sealed", "")


def _loads(data: bytes) -> object:
    try:
        return ("ok", json.loads(data))
    except (ValueError, RecursionError) as exc:
        return ("error", type(exc))


def _fast(data: bytes) -> object:
    try:
        return ("ok", circles._json(data))
    except (ValueError, RecursionError) as exc:
        return ("error", type(exc))


EDGES = [
    b"{}",
    b"{",
    b'{"a": 1}',
    b'{\x00"\x00}\x00',  # UTF-16-LE without a mark
    '{"a": "b"}'.encode("utf-16-le"),
    '{"a": "b"}'.encode("utf-32-le"),
    codecs.BOM_UTF8 + b'{"a": 1}',
    b'{"a": "\xed\xa0\x80"}',  # a lone surrogate, as surrogatepass reads it
    b'{"a": "\xff"}',
    b"[1, 2]",
    b"",
]


def test_json_reads_what_json_loads_reads():
    for data in EDGES:
        assert _fast(data) == _loads(data), data


@given(st.one_of(st.binary(max_size=40), st.binary(max_size=40).map(lambda b: b"{" + b)))
def test_json_reads_any_bytes_as_json_loads(data: bytes):
    assert _fast(data) == _loads(data)
