"""Circles (core/circles.py): their making, and the sealed ops written in them.

Every replica folds what the group may know: that a circle exists, who is
in it, the wrapped keys, and one opaque row per op written in it. A member
of the circle also opens its details and folds each inner op into the same
view tables as the group's, in the circle's room (FoldContext.circle).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from tablespace.core import limits
from tablespace.core.circles import INNER_KINDS, MAX_MEMBERS, MIN_MEMBERS, OpPlace, open_box
from tablespace.core.errors import Rejected
from tablespace.core.fold.context import FoldContext
from tablespace.core.fold.registry import HANDLERS, handles
from tablespace.core.ops import Op, canonical_json

STANZA_HEX = 160  # an 80-byte wrapped key (core/stanza.py)
BOX_MAX_HEX = 2 * (limits.BODY_MAX_BYTES * 2)  # hex of an inner op with a body at its limit, and room for JSON
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


def op_place(op: Op) -> OpPlace:
    return OpPlace(op.group or "", op.author, op.seq, op.hlc)


def _sealed_fields(payload: dict[str, Any], max_hex: int) -> tuple[bytes, bytes]:
    nonce, box = payload.get("nonce"), payload.get("box")
    if not isinstance(nonce, str) or not re.fullmatch(r"[0-9a-f]{24}", nonce):
        raise Rejected.invalid("the sealed part's nonce is not valid")
    if not isinstance(box, str) or not re.fullmatch(r"[0-9a-f]+", box) or len(box) % 2 or len(box) > max_hex:
        raise Rejected.invalid("the sealed part is not valid")
    return bytes.fromhex(nonce), bytes.fromhex(box)


@handles("circle.create")
def circle_create(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    p = op.payload
    members = p.get("members")
    if not isinstance(members, list) or not all(isinstance(m, str) and limits.ID_RE.match(m) for m in members):
        raise Rejected.invalid("a circle's members must be a list of member ids")
    if len(set(members)) != len(members) or members != sorted(members):
        raise Rejected.invalid("a circle's members must be listed once each, in order")
    if not MIN_MEMBERS <= len(members) <= MAX_MEMBERS:
        raise Rejected.invalid(f"a circle has {MIN_MEMBERS} to {MAX_MEMBERS} members, not {len(members)}")
    if op.author not in members:
        raise Rejected.invalid("whoever makes a circle is in it")
    for member in members:
        if ctx.member_status(member) != "active":
            raise Rejected.refused("everyone in a circle must be an active member of the group")
    if p.get("epoch") != 0:
        raise Rejected.invalid("a new circle starts at epoch 0")
    wrapped = p.get("wrapped")
    if (
        not isinstance(wrapped, dict)
        or sorted(wrapped) != members
        or not all(isinstance(w, str) and re.fullmatch(f"[0-9a-f]{{{STANZA_HEX}}}", w) for w in wrapped.values())
    ):
        raise Rejected.invalid("the circle key must be wrapped once for each of its members")
    nonce, box = _sealed_fields(p, max_hex=4 * (limits.NAME_MAX * 2 + limits.SUMMARY_MAX + 64))
    place = op_place(op)
    ctx.run("INSERT INTO circles (id, maker, created_hlc, epoch) VALUES (?, ?, ?, 0)", op.id, op.author, op.hlc)
    ctx.conn.executemany("INSERT INTO circle_members (circle_id, member) VALUES (?, ?)", [(op.id, m) for m in members])
    ctx.run(
        "INSERT INTO circle_epochs (circle_id, epoch, wrapped, place) VALUES (?, 0, ?, ?)",
        op.id,
        canonical_json(wrapped).decode(),
        place.binding("key"),
    )
    key = ctx.circle_key(op.id, 0)
    details = None if key is None else open_box(key, nonce, box, place.binding("details"))
    if details is not None:
        _fold_details(ctx, op.id, details)


def _fold_details(ctx: FoldContext, circle: str, details: dict[str, Any]) -> None:
    """The name, purpose and end date, which only the circle's members read.
    Ones that do not pass the checks are left out: the circle still exists
    for everyone, so its members see it unnamed rather than lose it."""
    try:
        name = limits.one_line(details, "name", label="circle name", max_chars=limits.NAME_MAX * 2)
        purpose = limits.text(details, "purpose", label="purpose", max_chars=limits.SUMMARY_MAX, required=False)
        ends = details.get("ends")
        if ends is not None and (not isinstance(ends, str) or not DATE_RE.match(ends)):
            raise Rejected.invalid("a circle's end is a date, YYYY-MM-DD")
    except Rejected:
        return
    ctx.run(
        "INSERT INTO circle_details (circle_id, name, purpose, ends) VALUES (?, ?, ?, ?)", circle, name, purpose, ends
    )


@handles("circle.sealed")
def circle_sealed(ctx: FoldContext, op: Op) -> None:
    """An op written in a circle. Outsiders check what they can see (the
    author is in the circle, the epoch is its current one) and keep an
    opaque row; a member opens it and folds the inner op in the circle's room."""
    ctx.require_active(op)
    circle = limits.ref(op.payload, "circle", label="circle")
    row = ctx.one("SELECT epoch FROM circles WHERE id = ?", circle)
    if row is None:
        raise Rejected.missing("no such circle")
    if ctx.one("SELECT 1 FROM circle_members WHERE circle_id = ? AND member = ?", circle, op.author) is None:
        raise Rejected.permission("only a circle's members write in it")
    epoch = op.payload.get("epoch")
    if epoch != row[0]:
        raise Rejected.invalid("written under a key that is not the circle's current one")
    nonce, box = _sealed_fields(op.payload, max_hex=BOX_MAX_HEX)
    key = ctx.circle_key(circle, epoch)
    if key is not None:
        _fold_inner(ctx, op, circle, open_box(key, nonce, box, op_place(op).binding("op", circle, str(epoch))))
    ctx.run(
        "INSERT INTO circle_activity (op_id, circle_id, author, hlc) VALUES (?, ?, ?, ?)",
        op.id,
        circle,
        op.author,
        op.hlc,
    )


def _fold_inner(ctx: FoldContext, op: Op, circle: str, inner: dict[str, Any] | None) -> None:
    """The op inside a circle's box, folded as its own kind in the circle's
    room; refused as it would be in the group's (before the outer op writes)."""
    if inner is None:
        raise Rejected.invalid("the sealed op does not open with the circle's key")
    kind, payload = inner.get("kind"), inner.get("payload")
    if kind not in INNER_KINDS or not isinstance(payload, dict):
        raise Rejected.invalid(f"{kind!r} cannot be written in a circle")
    ctx.circle = circle
    try:
        HANDLERS[kind](ctx, replace(op, kind=kind, payload=payload))
    finally:
        ctx.circle = None
