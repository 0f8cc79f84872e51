"""Circles (core/circles.py): their making, who is in them, their keys, and
the sealed ops written in them.

Every replica folds what the group may know: that a circle exists, who is
in it, the wrapped keys, and one opaque row per op written in it. A member
of the circle also opens its details and folds each inner op into the same
view tables as the group's, in the circle's room (FoldContext.circle).

Keys: every op that makes one (circle.create, circle.invite, circle.rekey)
wraps it for everyone in the circle once it is folded, at least (by signing
key: each device of theirs its author knew of); the newest
such op in the fold order holds the key written under next (`circles.key_op`).
Two members renewing at once both succeed (one epoch, two keys; any opens
what was written under it), so nothing written under either is lost. A key
op that wraps for someone who has meanwhile gone (a departure it had not
seen) is accepted too: the circle then still needs a new key
(circle_queries.circle_needs_new_key), which the next member to
write in it makes first.
"""

from __future__ import annotations

import re
from typing import Any

from tablespace.core import limits
from tablespace.core.circles import (
    BOX_NONCE_BYTES,
    INNER_KINDS,
    MAX_MEMBERS,
    MIN_MEMBERS,
    open_box,
    place_binding,
)
from tablespace.core.errors import Refusal, Rejected
from tablespace.core.fold.context import FoldContext
from tablespace.core.fold.devices import MAX_DEVICES, as_member
from tablespace.core.fold.registry import HANDLERS, handles
from tablespace.core.fold.text_edits import seal_if_deleted_text
from tablespace.core.ops import Op, canonical_json, with_content

STANZA_HEX = 160  # an 80-byte wrapped key (core/stanza.py)
BOX_MAX_HEX = 2 * (limits.BODY_MAX_BYTES * 2)  # hex of an inner op with a body at its limit, and room for JSON
DETAILS_MAX_HEX = 4 * (limits.NAME_MAX * 2 + limits.SUMMARY_MAX + 64)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")


def op_binding(op: Op, *parts: str) -> bytes:
    """What a box or wrapped key in `op` is bound to: its place in the
    signing chain (group, signer, seq, time) and `parts`, as the writer's
    OpPlace bound it. The one spelling the fold uses; it makes no OpPlace,
    since every sealed op it opens is bound."""
    return place_binding(op.group or "", op.signer, op.seq, op.hlc, *parts)


def _sealed_fields(payload: dict[str, Any], max_hex: int) -> tuple[bytes, bytes]:
    nonce, box = payload.get("nonce"), payload.get("box")
    opened = _lower_hex(nonce) if isinstance(nonce, str) and len(nonce) == 2 * BOX_NONCE_BYTES else None
    if opened is None:
        raise Rejected.invalid("the sealed part's nonce is not valid")
    sealed = _lower_hex(box) if isinstance(box, str) and 0 < len(box) <= max_hex else None
    if sealed is None:
        raise Rejected.invalid("the sealed part is not valid")
    return opened, sealed


def _lower_hex(text: str) -> bytes | None:
    """The bytes `text` spells in lower-case hex, two digits a byte, or None.
    Read, then spelled again to compare: several times quicker than a regular
    expression over a box as long as a post, on every sealed op of a sync."""
    try:
        data = bytes.fromhex(text)
    except ValueError:
        return None
    return data if data.hex() == text else None


PREV_MAX_HEX = 2 * 64 * 1024  # the earlier keys a new key carries on
KEY_EPOCH_MAX = 1_000_000


def _members(ctx: FoldContext, circle: str) -> set[str]:
    state = ctx.circle_state(circle)
    return set() if state is None else set(state.members)


def _circle_of(ctx: FoldContext, op: Op) -> tuple[str, str, int]:
    """(id, maker, newest epoch) of the circle an op names."""
    circle = limits.ref(op.payload, "circle", label="circle")
    state = ctx.circle_state(circle)
    if state is None:
        raise Rejected.missing("no such circle")
    return circle, state.maker, state.newest


def _join(ctx: FoldContext, circle: str, members: list[str], hlc: int) -> None:
    """Members come into a circle: now (circle_members) and from when (circle_periods)."""
    ctx.forget_circles()
    for member in members:
        ctx.unbatched("INSERT INTO circle_members (circle_id, member) VALUES (?, ?)", circle, member)
        ctx.unbatched(
            "INSERT OR IGNORE INTO circle_periods (circle_id, member, joined_hlc) VALUES (?, ?, ?)", circle, member, hlc
        )


def _require_in_circle(ctx: FoldContext, op: Op, circle: str, action: str) -> None:
    state = ctx.circle_state(circle)
    if state is None or op.author not in state.members:
        raise Rejected.permission(f"only a circle's members {action}")


def _wrapped_keys(ctx: FoldContext, p: dict[str, Any], must_cover: set[str]) -> dict[str, str]:
    """The key op's wrapped keys, by signing key: at least one for each member
    it must reach (and perhaps for some who went meanwhile, unseen by its
    author). Which devices of a member it reaches is left to its author: one
    added meanwhile is reached by the next key (circle_queries.circle_needs_new_key)."""
    wrapped = p.get("wrapped")
    if (
        not isinstance(wrapped, dict)
        or len(wrapped) > 2 * MAX_MEMBERS * MAX_DEVICES
        or not all(isinstance(m, str) and limits.ID_RE.match(m) for m in wrapped)
        or not all(isinstance(w, str) and re.fullmatch(f"[0-9a-f]{{{STANZA_HEX}}}", w) for w in wrapped.values())
    ):
        raise Rejected.invalid("the circle key must be wrapped once for each of its members")
    if not must_cover <= _reached(ctx, wrapped):
        raise Rejected.invalid("the circle's new key must be wrapped for everyone in it")
    return wrapped


def _reached(ctx: FoldContext, wrapped: dict[str, str]) -> set[str]:
    """The members whose signing keys (first or added) a key is wrapped for."""
    return {ctx.member_of_device(key) or key for key in wrapped}


def _file_key(ctx: FoldContext, op: Op, circle: str, epoch: int, wrapped: dict[str, str], prev: str | None) -> None:
    ctx.run(
        "INSERT INTO circle_epochs (circle_id, key_op, epoch, wrapped, place, prev) VALUES (?, ?, ?, ?, ?, ?)",
        circle,
        op.id,
        epoch,
        canonical_json(wrapped).decode(),
        op_binding(op, "key"),
        prev,
    )
    ctx.run("UPDATE circles SET key_op = ?, epoch = ? WHERE id = ?", op.id, epoch, circle)
    ctx.forget_circles()


def _new_key(ctx: FoldContext, op: Op, circle: str, newest: int, must_cover: set[str]) -> None:
    """Check and file the key a circle.invite or circle.rekey makes, with the
    earlier keys it carries sealed under it."""
    epoch = op.payload.get("epoch")
    if type(epoch) is not int or not 1 <= epoch <= min(newest + 1, KEY_EPOCH_MAX):
        raise Rejected.invalid("bad epoch number: a new key's is at most the newest epoch's successor")
    wrapped = _wrapped_keys(ctx, op.payload, must_cover)
    nonce, box = _sealed_fields(op.payload, max_hex=PREV_MAX_HEX)
    _file_key(ctx, op, circle, epoch, wrapped, canonical_json({"nonce": nonce.hex(), "box": box.hex()}).decode())
    if ctx.circle_keys is not None:
        gained = ctx.circle_keys.learn_epochs(ctx.conn, circle, op.id)  # and the earlier keys it carries
        ctx.forget_circles()
        if gained and ctx.reads_circle(circle) and _unread_under(ctx, circle, gained):
            ctx.reopen.add(circle)  # they open at their place in the order, as on a replica that held the key


def _unread_under(ctx: FoldContext, circle: str, epochs: set[int]) -> bool:
    """Whether this member folded something of the circle sealed under one
    of `epochs` without opening it, a key of theirs having just arrived: its
    details (under the first key), or ops written in it."""
    if 0 in epochs and ctx.one("SELECT 1 FROM circle_details WHERE circle_id = ?", circle) is None:
        return True  # a device its maker had not seen yet folded it unnamed
    marks = ", ".join("?" * len(epochs))
    return (
        ctx.one(
            f"SELECT 1 FROM circle_activity WHERE circle_id = ? AND opened = 0 AND epoch IN ({marks})",
            circle,
            *sorted(epochs),
        )
        is not None
    )


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
    wrapped = _wrapped_keys(ctx, p, set(members))
    if _reached(ctx, wrapped) != set(members):
        raise Rejected.invalid("the circle key must be wrapped once for each of its members")
    _sealed_fields(p, max_hex=DETAILS_MAX_HEX)
    ctx.run(
        "INSERT INTO circles (id, maker, created_hlc, epoch, key_op) VALUES (?, ?, ?, 0, ?)",
        op.id,
        op.author,
        op.hlc,
        op.id,
    )
    _join(ctx, op.id, members, op.hlc)
    _file_key(ctx, op, op.id, 0, wrapped, None)
    open_details(ctx, op)


def open_details(ctx: FoldContext, op: Op) -> None:
    """Fold a circle's details from its circle.create op, if a key held opens
    them (at its making, or again when a key arrives late: Store.reopen_circles)."""
    nonce, box = _sealed_fields(op.payload, max_hex=DETAILS_MAX_HEX)
    for key in ctx.circle_keys_for(op.id, 0):
        details = open_box(key, nonce, box, op_binding(op, "details"))
        if details is not None:
            _fold_details(ctx, op.id, details)
            break


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
        "INSERT INTO circle_details (circle_id, name, purpose, ends, dm) VALUES (?, ?, ?, ?, ?)",
        circle,
        name,
        purpose,
        ends,
        int(details.get("dm") is True),
    )


@handles("circle.invite")
def circle_invite(ctx: FoldContext, op: Op) -> None:
    """A member lets another member of the group in, with a new key wrapped
    for everyone in the circle then, which carries the earlier keys: the
    newcomer reads the circle's history."""
    ctx.require_active(op)
    circle, _, newest = _circle_of(ctx, op)
    _require_in_circle(ctx, op, circle, "invite others in")
    member = limits.ref(op.payload, "member", label="member")
    members = _members(ctx, circle)
    if member in members:
        raise Rejected.refused("already in that circle")
    if ctx.member_status(member) != "active":
        raise Rejected.refused("only an active member of the group can join a circle")
    if len(members) >= MAX_MEMBERS:
        raise Rejected.refused(f"a circle has at most {MAX_MEMBERS} members")
    _new_key(ctx, op, circle, newest, members | {member})
    _join(ctx, circle, [member], op.hlc)
    if member == (ctx.circle_keys.me(ctx.conn) if ctx.circle_keys is not None else None):
        _read_history(ctx, circle)


def _read_history(ctx: FoldContext, circle: str) -> None:
    """We were just let in: what was written before is read when the circle
    is folded again (Store.reopen_circles), knowing that we end up in it."""
    if circle in ctx.joined_circles:
        return
    unnamed = ctx.one("SELECT 1 FROM circle_details WHERE circle_id = ?", circle) is None
    unread = ctx.one("SELECT 1 FROM circle_activity WHERE circle_id = ? AND opened = 0", circle) is not None
    if unnamed or unread:
        ctx.reopen.add(circle)


@handles("circle.rekey")
def circle_rekey(ctx: FoldContext, op: Op) -> None:
    """A member renews the key after someone went: wrapped for everyone still
    in the circle, and carrying the earlier keys for whoever joins later."""
    ctx.require_active(op)
    circle, _, newest = _circle_of(ctx, op)
    _require_in_circle(ctx, op, circle, "renew its key")
    _new_key(ctx, op, circle, newest, _members(ctx, circle))


@handles("circle.remove")
def circle_remove(ctx: FoldContext, op: Op) -> None:
    """The circle's maker (while in it) or a group moderator takes someone out."""
    ctx.require_active(op)
    circle, maker, _ = _circle_of(ctx, op)
    member = limits.ref(op.payload, "member", label="member")
    members = _members(ctx, circle)
    maker_in_it = op.author == maker and maker in members
    if not maker_in_it and not ctx.holds_role(op, "moderator"):
        raise Rejected.permission("only the circle's maker or a moderator removes someone from it")
    if member == op.author:
        raise Rejected.refused("to go yourself, leave the circle")
    if member not in members:
        raise Rejected.refused("not in that circle")
    ctx.leave_circles(member, op.hlc, circle)


@handles("circle.leave")
def circle_leave(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    circle, _, _ = _circle_of(ctx, op)
    _require_in_circle(ctx, op, circle, "leave it")
    ctx.leave_circles(op.author, op.hlc, circle)


@handles("circle.sealed")
def circle_sealed(ctx: FoldContext, op: Op) -> None:
    """An op written in a circle. Outsiders check what they can see (the
    author is in the circle, the epoch is one of its keys') and keep an
    opaque row; a member opens it and folds the inner op in the circle's room.
    An epoch older than the newest is accepted: its writer had not seen the
    new key yet, and nobody who has gone reads it here (reads_circle).
    A member who holds no key that opens it keeps it unopened, as an
    outsider does: its key may reach them later, inside a newer key (_new_key)."""
    ctx.require_active(op)
    circle, _, newest = _circle_of(ctx, op)
    _require_in_circle(ctx, op, circle, "write in it")
    epoch = op.payload.get("epoch")
    if type(epoch) is not int or not 0 <= epoch <= newest:
        raise Rejected.invalid("written under a key the circle does not have")
    _fold_sealed(ctx, op, circle, epoch)


def _fold_sealed(ctx: FoldContext, op: Op, circle: str, epoch: int) -> None:
    """Open and fold a sealed op that passed its circle's checks, and note
    it: as activity in the circle (opened or not), or, if its inner op is
    refused, among the refused (circle_refused) for a key that may arrive
    later (Store.reopen_circles). The note is all such an op writes."""
    try:
        opened = _open_and_fold(ctx, op, circle, epoch)
    except Rejected:
        ctx.unbatched("INSERT INTO circle_refused (op_id, circle_id, epoch) VALUES (?, ?, ?)", op.id, circle, epoch)
        raise
    ctx.unbatched(
        "INSERT INTO circle_activity (op_id, circle_id, author, hlc, opened, epoch) VALUES (?, ?, ?, ?, ?, ?)",
        op.id,
        circle,
        op.author,
        op.hlc,
        int(opened),
        epoch,
    )


def _open_and_fold(ctx: FoldContext, op: Op, circle: str, epoch: int) -> bool:
    """Open a sealed op with the keys this member reads the circle with and
    fold the inner op; False if none opens it."""
    nonce, box = _sealed_fields(op.payload, max_hex=BOX_MAX_HEX)
    keys = ctx.circle_keys_for(circle, epoch)
    if not keys:  # an outsider's every sealed op: nothing to open it with
        return False
    aad = op_binding(op, "op", circle, str(epoch))
    for key in keys:
        inner = open_box(key, nonce, box, aad)
        if inner is not None:
            _fold_inner(ctx, op, circle, inner)
            return True
    return False


# --- a key that arrives late -------------------------------------------------------------
# A key reaching a member after ops sealed under it were folded (let into a
# circle with its history, or a key carried on by a newer one) opens them
# where they sort. Store.reopen_circles folds only that circle's room again,
# in order, with the views as they are now: the same as a fold from nothing
# if nothing an inner op reads has changed since the first of them, which is
# so when every op folded since is of one of these kinds. They write neither
# the members' states and names, roles, devices, settings, quiet spells nor
# hidden posts, and no room but their own (a circle's room is its own).
LEAVES_CIRCLE_READS_ALONE = INNER_KINDS | frozenset(
    {
        "thread.pin",
        "library.add",
        "library.edit",
        "library.remove",
        "survey.open",
        "survey.answer",
        "event.add",
        "event.rsvp",
        "invite.create",
        "request.deny",
        "member.keys",
        "epoch.rotate",
        "mod.record",
        "modkey.rotate",
        "circle.create",
        "circle.invite",
        "circle.rekey",
        "circle.remove",
        "circle.leave",
        "circle.sealed",
    }
)
# A circle's room: the tables its inner ops write, each with how its rows
# are found from the circle's threads (?1: the circle id).
_ROOM_THREADS = "SELECT id FROM threads WHERE circle_id = ?1"
_ROOM_POSTS = f"SELECT id FROM posts WHERE thread_id IN ({_ROOM_THREADS})"
_ROOM = (
    ("reactions", f"post_id IN ({_ROOM_POSTS})"),
    ("mentions", f"post_id IN ({_ROOM_POSTS})"),
    ("posts", f"thread_id IN ({_ROOM_THREADS})"),
    ("thread_tags", f"thread_id IN ({_ROOM_THREADS})"),
    ("poll_votes", f"thread_id IN ({_ROOM_THREADS})"),
    ("poll_options", f"thread_id IN ({_ROOM_THREADS})"),
    ("polls", f"thread_id IN ({_ROOM_THREADS})"),
    ("ritual_skips", "ritual_id IN (SELECT id FROM rituals WHERE circle_id = ?1)"),
    ("rituals", "circle_id = ?1"),
    ("threads", "circle_id = ?1"),
    ("circle_details", "circle_id = ?1"),
)


def clear_room(ctx: FoldContext, circle: str) -> None:
    """Take out everything folded in a circle's room (its details too),
    before its ops are folded again (Store.reopen_circles)."""
    for table, where in _ROOM:
        ctx.run(f"DELETE FROM {table} WHERE {where}", circle)


def reopen_sealed(ctx: FoldContext, op: Op) -> Refusal | None:
    """A sealed op that passed its circle's checks when it was folded (its
    row is in circle_activity or circle_refused), folded again at its place
    in the order: a key changes none of those checks, only what it opens.
    Returns why it is refused now, if it is."""
    op = as_member(ctx, op)
    circle, epoch = op.payload["circle"], op.payload["epoch"]
    ctx.unbatched("DELETE FROM circle_activity WHERE op_id = ?", op.id)
    ctx.unbatched("DELETE FROM circle_refused WHERE op_id = ?", op.id)
    try:
        _fold_sealed(ctx, op, circle, epoch)
    except Rejected as exc:
        seal_if_deleted_text(ctx, op)
        return exc.refusal
    return None


def _fold_inner(ctx: FoldContext, op: Op, circle: str, inner: dict[str, Any]) -> None:
    """The op inside a circle's box, folded as its own kind in the circle's
    room; refused as it would be in the group's (before the outer op writes)."""
    kind, payload = inner.get("kind"), inner.get("payload")
    if kind not in INNER_KINDS or not isinstance(payload, dict):
        raise Rejected.invalid(f"{kind!r} cannot be written in a circle")
    ctx.circle = circle
    try:
        HANDLERS[kind](ctx, with_content(op, kind, payload))
    finally:
        ctx.circle = None
