"""The materializer: folds one op at a time into the view tables.

Ops arrive here in the total order (hlc, author, seq), so the view tables
always hold the state "just before this op"; every permission and validity
check reads that state. A handler validates first and writes after, raising
Rejected (before writing anything) when the op is not allowed at this point.

The handlers live by domain (content, membership, moderation, rituals), each
registered for its op kinds in one registry (registry.py); this module runs
the checks every op passes and dispatches to its handler.
"""

from __future__ import annotations

from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.errors import Refusal, Rejected
from tablespace.core.fold import circles, content, devices, events, membership, moderation, polls, rituals
from tablespace.core.fold.context import WEEK_MS, FoldContext
from tablespace.core.fold.ids import derived_id, invite_id_for, mod_key_id, record_id
from tablespace.core.fold.membership import ROLES
from tablespace.core.fold.moderation import MODERATORS_WITH_KEYS
from tablespace.core.fold.registry import HANDLERS, handles
from tablespace.core.fold.text_edits import EDITS, seal_if_deleted_text, text_edit_rows
from tablespace.core.ops import Op

__all__ = [
    "EDITS",
    "HANDLERS",
    "MODERATORS_WITH_KEYS",
    "ROLES",
    "WEEK_MS",
    "FoldContext",
    "apply_op",
    "derived_id",
    "handles",
    "invite_id_for",
    "mod_key_id",
    "record_id",
    "text_edit_rows",
]
_DOMAINS = (circles, content, devices, events, membership, moderation, polls, rituals)  # imported for their handlers


def apply_op(ctx: FoldContext, op: Op) -> Refusal | None:
    """Fold one op. Returns None if accepted, else why it was refused."""
    kind = op.kind
    handler = HANDLERS.get(kind)
    devices.note_device_op(ctx, op)
    content = kind in CONTENT_KINDS
    try:
        if handler is None:
            raise Rejected.invalid(f"unknown kind {kind!r}")
        if kind != "group.create" and op.group != ctx.group_id:
            raise Rejected.invalid("op belongs to another group")
        if op.prev is not None and not ctx.after_previous(op):
            raise Rejected.backdated()
        fork = ctx.forks.get(op.author)
        if fork is not None and op.seq >= fork:
            raise Rejected.fork(fork)
        cutoff = ctx.cutoffs.get(op.author)
        if cutoff is not None and op.seq > cutoff:
            raise Rejected.device_removed() if devices.was_removed(ctx, op.author) else Rejected.gone()
        if content and ctx.timeouts and (until := ctx.time_out_holding(op)) is not None:
            raise Rejected.timed_out(iso(hlc_to_datetime(until)))
        # Chains, forks and cut-offs above are the signing key's; everything
        # from here on sees the person (core/fold/devices.py).
        as_member = devices.as_member(ctx, op)
        if content and as_member.device:  # a member's first key: every time-out names its seq
            devices.check_time_out_reaches(ctx, as_member)
        handler(ctx, as_member)
    except Rejected as exc:
        seal_if_deleted_text(ctx, op)
        return exc.refusal
    finally:
        if kind not in KEEPS_MEMBERS:
            ctx.forget_members()
        folded = ctx.folded
        if folded.get(op.author, 0) < op.seq:
            folded[op.author] = op.seq
    return None


# What a timed-out member cannot do until the time-out ends.
CONTENT_KINDS = frozenset(
    {
        "thread.start",
        "post.reply",
        "post.edit",
        "post.react",
        "post.unreact",
        "thread.tag",
        "library.add",
        "library.edit",
        "ritual.occur",
        "event.add",
        "event.rsvp",
        "poll.open",
        "poll.vote",
        "survey.answer",
        "circle.create",
        "circle.sealed",
        "circle.invite",
    }
)
# Kinds whose handlers never write the members table, so FoldContext's
# membership cache survives them. Any other kind (member.*, group.create, an
# unknown one) clears it: add a kind here only if its handler leaves members alone.
KEEPS_MEMBERS = CONTENT_KINDS | frozenset(
    {
        "post.delete",
        "thread.pin",
        "library.remove",
        "ritual.add",
        "ritual.edit",
        "ritual.pause",
        "ritual.remove",
        "ritual.skip",
        "quiet.start",
        "quiet.end",
        "invite.create",
        "request.deny",
        "group.edit",
        "epoch.rotate",
        "role.grant",
        "role.revoke",
        "post.hide",
        "thread.archive",
        "mod.record",
        "modkey.rotate",
        "survey.open",
        "circle.rekey",
        "circle.remove",
        "circle.leave",
    }
)
