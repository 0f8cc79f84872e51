"""What the fuzzers found, each kept as the input that found it (also in
the corpus, so every short run replays it), with the refusal it now gets."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tablespace.core.ops import InvalidOp, decode_body
from tablespace.sync import membership
from tablespace.sync.keys import seal_to
from tests.fuzz.fuzzing import CORPUS, file_name
from tests.fuzz.targets import CALLER_DEPTH, TARGETS, world

# A join request or an answer whose JSON is nested deeper than Python's
# parser recurses: json.loads raised RecursionError, which escaped both
# parsers (a moderator's sync, or a joiner's app, ended in an internal error).
DEEP_REQUEST = b"[" * 5000
DEEP_ANSWER = b"[" * 935  # an answer is at most 1024 bytes: this nests as deep as one can
# The op (signature, then body) the op parser's fuzzer found 1e999 in.
OP_WIRE_INFINITY = bytes.fromhex(
    "332760b4f78e3f4567d016fee9804aba8e0f44a411a0b60f067de6ed40887009c6a37d022d39adc440e3069f5d3970f4aa4e"
    "9166d454c8876f7d59c354e140057b2261223a22306466396139313839633539306137333232393232326665666332316430"
    "3362222c2264223a7b22656d6f6a69223a22f09f918d222c22706f7374223a22613933623932626164363236303964376531"
    "3037663336653366346136636630227d2c2267223a2261393362393266616436323630396437653130376633366533663461"
    "37636630222c2268223a313136313538373538393145323139363630382c226b223a22706f73742e7265616374222c227022"
    "3a22653832366639646366376464383432656535633031306364383726643666323964222c22706b223a2266373866636161"
    "3964353736356561323363633865353963386131336537323963313136383339616232373837643432383234393436366362"
    "31616331353266222c2273223a342c2276223a317d"
)


# An op body holding a number too big for a float (1e999) parsed as inf,
# which has no JSON form: the canonical check raised ValueError, not
# InvalidOp, so one signed op in a changeset ended every reader's sync.
INFINITE_BODY = b'{"a":"' + b"0" * 32 + b'","d":{"n":1e999},"k":"post.react","p":"' + b"0" * 64 + b'","s":1,"v":1}'


def _nested(depth: int, call):
    return call() if depth == 0 else _nested(depth - 1, call)


def test_a_join_request_nested_too_deep_is_refused() -> None:
    w = world()
    head = membership.REQUEST_MAGIC + bytes.fromhex(w.group_id) + bytes.fromhex(w.request.invite)
    nonce = bytes(12)
    body = (
        head
        + nonce
        + ChaCha20Poly1305(membership._request_key(w.secret, w.group_id)).encrypt(nonce, DEEP_REQUEST, head)
    )
    with pytest.raises(membership.BadMembershipFile, match="does not decrypt"):
        membership.decode_request(body + w.joiner.sign(body), group_id=w.group_id, secret=w.secret)


def test_an_answer_nested_as_deep_as_it_fits_is_refused_far_down_the_stack() -> None:
    # In the app the answer is read well down a worker's stack: there 935
    # levels were past the recursion limit.
    w = world()
    head = membership._answer_head(w.group_id, w.request.id)
    data = head + seal_to(DEEP_ANSWER, w.exchange.public_key, info=membership.ANSWER_INFO, aad=head)
    assert len(data) <= membership.MAX_ANSWER_BYTES
    with pytest.raises(membership.BadMembershipFile, match="does not open"):
        _nested(
            CALLER_DEPTH,
            lambda: membership.decode_answer(data, group_id=w.group_id, request_id=w.request.id, exchange=w.exchange),
        )


def test_a_number_too_big_for_a_float_is_refused_not_a_crash() -> None:
    with pytest.raises(InvalidOp, match="not in canonical form"):
        decode_body(INFINITE_BODY, bytes(64), verify=False)


@pytest.mark.parametrize(
    ("target", "data"),
    [("join_request_inner", DEEP_REQUEST), ("join_answer_inner", DEEP_ANSWER), ("op_wire", OP_WIRE_INFINITY)],
    ids=["request", "answer", "op"],
)
def test_the_inputs_that_found_them_are_in_the_corpus(target: str, data: bytes) -> None:
    assert (CORPUS / target / file_name(data)).read_bytes() == data
    TARGETS[target](data)
