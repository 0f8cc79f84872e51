"""What the fuzzers found, each kept as the input that found it (also in
the corpus, so every short run replays it), with the refusal it now gets."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from tablespace.sync import membership
from tablespace.sync.keys import seal_to
from tests.fuzz.fuzzing import CORPUS, file_name
from tests.fuzz.targets import CALLER_DEPTH, TARGETS, world

# A join request or an answer whose JSON is nested deeper than Python's
# parser recurses: json.loads raised RecursionError, which escaped both
# parsers (a moderator's sync, or a joiner's app, ended in an internal error).
DEEP_REQUEST = b"[" * 5000
DEEP_ANSWER = b"[" * 935  # an answer is at most 1024 bytes: this nests as deep as one can


def _nested(depth: int, call):
    return call() if depth == 0 else _nested(depth - 1, call)


def test_a_join_request_nested_too_deep_is_refused() -> None:
    w = world()
    head = membership.REQUEST_MAGIC + bytes.fromhex(w.group_id) + bytes.fromhex(w.request.invite)
    nonce = bytes(12)
    body = head + nonce + ChaCha20Poly1305(membership._request_key(w.secret, w.group_id)).encrypt(
        nonce, DEEP_REQUEST, head)
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
        _nested(CALLER_DEPTH, lambda: membership.decode_answer(data, group_id=w.group_id, request_id=w.request.id,
                                                                exchange=w.exchange))


@pytest.mark.parametrize(("target", "data"), [("join_request_inner", DEEP_REQUEST),
                                              ("join_answer_inner", DEEP_ANSWER)], ids=["request", "answer"])
def test_the_inputs_that_found_them_are_in_the_corpus(target: str, data: bytes) -> None:
    assert (CORPUS / target / file_name(data)).read_bytes() == data
    TARGETS[target](data)
