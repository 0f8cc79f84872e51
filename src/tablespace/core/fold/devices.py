"""A member's devices: one person, several signing keys.

A member's id is their first key's; each further device has its own
Ed25519 key (its id derived from it, as an author id is) and its own op
chain, certified by a `device.add` op that one of the member's accepted
devices signs. The fold maps every op a device signs to its member once,
before the op's handler runs (`as_member`), so everything that asks who
wrote an op sees the person. Chains, forks and cut-offs stay per signing
key (`Op.signer`): two devices writing at once never fork.

`device.remove` names the device's last accepted seq, as a member's
removal does, so nothing it signs after that counts wherever it sorts.
Whether a removal stands when two devices remove each other is decided
from the op set, not the order (device_removals.py).
"""

from __future__ import annotations

from typing import Any

from tablespace.core import limits
from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.errors import Rejected
from tablespace.core.fold.context import FoldContext
from tablespace.core.fold.device_removals import KINDS, Standing, standing_removals
from tablespace.core.fold.membership import hex_key
from tablespace.core.fold.registry import handles
from tablespace.core.identity import author_id_for
from tablespace.core.ops import Op, decode_trusted, make_op

MAX_DEVICES = 16
FIRST_DEVICE_NAME = "first device"


def as_member(ctx: FoldContext, op: Op) -> Op:
    """`op` as its member's: author = the member, device = the signer, for an
    op an added device signed; any other op as it is. A device the fold does
    not know (yet) is a stranger, refused as any non-member is."""
    member = ctx.member_of_device(op.author)
    if member is None:
        return op
    return make_op(
        group=op.group,
        author=member,
        seq=op.seq,
        prev=op.prev,
        hlc=op.hlc,
        kind=op.kind,
        payload=op.payload,
        public_key=op.public_key,
        signature=op.signature,
        body=op.body,
        id=op.id,
        device=op.author,
    )


def check_time_out_reaches(ctx: FoldContext, op: Op) -> None:
    """A time-out holds every device of its member. One that named a device
    (`device_seqs`) holds it by its own window, which spares what the
    moderator had seen (apply_op); any other device it holds from where it
    sorts until it ends, as a removal cuts off a device it does not name."""
    if not op.device:
        return  # a member's first key: every time-out names its seq
    row = ctx.membership(op.author)
    until = row[2] if row else None
    if not until or op.hlc >= until:
        return
    if any(w.until == until for w in ctx.timeouts.get(op.device, ())):
        return  # named: its window decided already
    raise Rejected.timed_out(iso(hlc_to_datetime(until)))


def was_removed(ctx: FoldContext, signer: str) -> bool:
    """Whether `signer` is a device its member took away (not a member who
    went), wherever its removal sorts."""
    return signer in ctx.removed_devices or ctx.device_status(signer) == "removed"


def note_device_op(ctx: FoldContext, op: Op) -> None:
    """Keep a certificate or removal this pass folds, and decide which
    removals stand with it. A refold decides each with every op in the log.
    Otherwise each is decided from the device ops folded so far (the log up
    to the fold head, and this pass's up to this op), and when this op
    changes the verdict of a removal folded before it, or the cut of a
    device removed already, the store folds again from the start. Any other
    device op folds on: most cannot change anything (another member's
    certificate, say), so a removal that does not stand costs nothing later."""
    if op.kind not in KINDS:
        return
    if not ctx.check_log:
        ctx.device_ops[op.id] = op
        return
    known = _device_ops(ctx)  # without `op`: it sorts after the fold head
    before = ctx.standing if ctx.standing is not None else standing_removals(known)
    ctx.device_ops[op.id] = op
    ctx.standing = standing_removals([*known, op])
    if _changes_what_was_folded(ctx, before, ctx.standing, op):
        ctx.needs_refold = True


def _changes_what_was_folded(ctx: FoldContext, before: Standing, after: Standing, op: Op) -> bool:
    """Whether `op`, turning `before` into `after`, changes a removal folded
    before it: whether it stands (unknown ones stand, as removal_stands has
    it), or the cut of the device it removed."""
    others = (before.stands.keys() | after.stands.keys()) - {op.id}
    if any(before.stands.get(i, True) != after.stands.get(i, True) for i in others):
        return True
    moved = {d for d in before.lowest.keys() | after.lowest.keys() if before.lowest.get(d) != after.lowest.get(d)}
    return not moved.isdisjoint(ctx.removed_devices)


def removal_stands(ctx: FoldContext, op: Op) -> bool:
    """Whether the removal `op` stands against the member's other removals
    (device_removals.py), from the certificates and removals known."""
    return _standing(ctx).stands.get(op.id, True)


def _standing(ctx: FoldContext) -> Standing:
    """What the removals known decide: note_device_op's for the op being
    folded; in a refold, whose log holds every op, one answer for the pass."""
    if ctx.standing is None:
        ctx.standing = standing_removals(_device_ops(ctx))
    return ctx.standing


def _device_ops(ctx: FoldContext) -> list[Op]:
    """The certificates and removals folded so far (held ones aside, as the
    fold leaves them), and this pass's; in a refold, every one in the log."""
    marks = ", ".join("?" * len(KINDS))
    if ctx.check_log:
        rows = ctx.conn.execute(
            f"SELECT id, signature, body FROM ops WHERE kind IN ({marks}) AND state IN ('accepted', 'rejected') "
            "AND (hlc, author, seq) <= (?, ?, ?)",
            (*KINDS, *(ctx.head or (-1, "", 0))),
        )
    else:
        rows = ctx.conn.execute(
            f"SELECT id, signature, body FROM ops WHERE kind IN ({marks}) AND state != 'held'", KINDS
        )
    ops = {op_id: decode_trusted(bytes(body), bytes(sig), op_id) for op_id, sig, body in rows}
    ops.update(ctx.device_ops)
    return list(ops.values())


def _device_name(payload: dict[str, Any], field: str) -> str:
    return limits.one_line(payload, field, label="device name", max_chars=limits.NAME_MAX)


@handles("device.add")
def device_add(ctx: FoldContext, op: Op) -> None:
    """A member certifies a new device of theirs: its signing key (whose id
    it gets), its exchange key (group and circle keys are wrapped for it) and
    a name. Only the member's own devices may; the new key must be nobody's."""
    status, _, _ = ctx.require_active(op)
    if status != "active":
        raise Rejected.permission("a device of someone who has gone cannot add devices")
    p = op.payload
    device = limits.ref(p, "device", label="device")
    public_key = hex_key(p, "public_key", label="device's public key")
    if author_id_for(bytes.fromhex(public_key)) != device:
        raise Rejected.invalid("the device's public key does not match its id")
    exchange = hex_key(p, "exchange_key", label="device's exchange key")
    name = _device_name(p, "name")
    if ctx.one("SELECT 1 FROM members WHERE id = ?", device) or ctx.one("SELECT 1 FROM devices WHERE id = ?", device):
        raise Rejected.conflict("that key is already a member's or a device's")
    (count,) = ctx.aggregate("SELECT count(*) FROM devices WHERE member = ? AND status = 'active'", op.author)
    if count >= MAX_DEVICES:
        raise Rejected.refused(f"a member can have at most {MAX_DEVICES} devices")
    if count == 0:
        # The member's first key becomes a device row of its own once there
        # are two, so both can be listed, named and removed alike.
        first = ctx.one("SELECT public_key, exchange_key, joined_hlc FROM members WHERE id = ?", op.author)
        assert first is not None  # require_active found the member
        this_name = _device_name(p, "this_name") if "this_name" in p else FIRST_DEVICE_NAME
        _insert(ctx, op.author, op.author, this_name, first[0], first[1], first[2])
    _insert(ctx, device, op.author, name, public_key, exchange, op.hlc)
    ctx.forget_devices()


def _insert(
    ctx: FoldContext, device: str, member: str, name: str, public_key: str, exchange: str | None, hlc: int
) -> None:
    ctx.run(
        """INSERT INTO devices (id, member, name, public_key, exchange_key, added_hlc)
           VALUES (?, ?, ?, ?, ?, ?)""",
        device,
        member,
        name,
        public_key,
        exchange,
        hlc,
    )


@handles("device.remove")
def device_remove(ctx: FoldContext, op: Op) -> None:
    """A member takes a device of theirs away, naming its last seq that
    counts (what this device had seen of it): its later ops are refused
    wherever they sort, and whoever renews the group's keys next leaves it
    out (sync/roster.py). Not the member's last device."""
    ctx.require_active(op)
    if not removal_stands(ctx, op):
        # Its device was removed by a removal that stands, naming a seq of
        # its before this one: refused wherever it sorts.
        raise Rejected.device_removed()
    device = limits.ref(op.payload, "device", label="device")
    last_seq = op.payload.get("last_seq")
    if type(last_seq) is not int or not 0 <= last_seq < 2**63:
        raise Rejected.invalid("the removal must name the device's last seq")
    if device == op.signer:
        # A removal that cut off its own op would undo itself on the next fold.
        raise Rejected.refused("a device cannot remove itself: remove it from another of the member's devices")
    row = ctx.one("SELECT member, status FROM devices WHERE id = ?", device)
    if row is None or row[0] != op.author:
        raise Rejected.permission("only a member's own devices can remove one of theirs")
    if row[1] != "active":
        raise Rejected.refused("that device has been removed already")
    (count,) = ctx.aggregate("SELECT count(*) FROM devices WHERE member = ? AND status = 'active'", op.author)
    if count <= 1:
        raise Rejected.refused("a member's last device cannot be removed")
    # Another removal of it that stands may name a lower seq: the lowest counts.
    cut = min(last_seq, _standing(ctx).lowest.get(device, last_seq))
    ctx.run(
        "UPDATE devices SET status = 'removed', last_seq = ?, removed_hlc = ? WHERE id = ?",
        cut,
        op.hlc,
        device,
    )
    ctx.cut_off(device, cut)
    ctx.removed_devices.add(device)
    ctx.forget_devices()
