"""The group and its members: founding and settings, invites and join
requests, admissions, keys, roles, removals, leaving and time-outs."""

from __future__ import annotations

import re
from typing import Any, Literal, overload

from tablespace.core import limits
from tablespace.core.clock import datetime_to_hlc, hlc_to_datetime, iso
from tablespace.core.errors import Rejected
from tablespace.core.fold.context import FoldContext
from tablespace.core.fold.ids import invite_id_for
from tablespace.core.fold.registry import handles
from tablespace.core.identity import author_id_for
from tablespace.core.names import NO_VISIBLE_CHARACTERS, name_key
from tablespace.core.ops import Op
from tablespace.core.rituals import parse_start, zone_field

ROLES = ("moderator", "greeter", "note-taker", "curator")
MAX_TIMEOUT_MS = 28 * 24 * 3600 * 1000
POST_CAP_MAX = 1000
# "Cap at ~150 until moderation scales": admissions stop at the cap.


def display_name(ctx: FoldContext, payload: dict[str, Any], field: str, member: str) -> tuple[str, str]:
    """A display name for `member` and its key (core/names.py). Refused when
    another member has that name: anyone ever admitted, including those who
    left or were removed, since their posts still show it and a newcomer
    must not pass as them."""
    name = limits.one_line(payload, field, label="display name", max_chars=limits.NAME_MAX)
    key = name_key(name)
    if not key:
        raise Rejected.invalid(NO_VISIBLE_CHARACTERS)
    holder = ctx.one("SELECT name FROM members WHERE name_key = ? AND id != ?", key, member)
    if holder is not None:
        raise Rejected.conflict(
            f"the display name is taken in this group ({name!r} is the same name as {holder[0]!r}, a member's)"
        )
    return name, key


@handles("group.create")
def group_create(ctx: FoldContext, op: Op) -> None:
    if op.id != ctx.group_id or op.group is not None or op.seq != 1:
        raise Rejected.invalid("not this group's genesis")
    p = op.payload
    name = limits.one_line(p, "name", label="group name", max_chars=limits.NAME_MAX * 2)
    purpose = limits.text(p, "purpose", label="purpose", max_chars=limits.SUMMARY_MAX, required=False)
    rules = limits.text(p, "rules", label="house rules", max_chars=limits.RULES_MAX, required=False)
    founder, founder_key = display_name(ctx, p, "founder_name", op.author)
    ctx.conn.executemany(
        "INSERT INTO settings (key, value) VALUES (?, ?)",
        [
            ("name", name),
            ("purpose", purpose),
            ("rules", rules),
            ("founder", op.author),
            ("created_at", iso(hlc_to_datetime(op.hlc))),
        ],
    )
    ctx.run(
        "INSERT INTO members (id, name, name_key, status, public_key, joined_hlc) VALUES (?, ?, ?, 'active', ?, ?)",
        op.author,
        founder,
        founder_key,
        op.public_key.hex(),
        op.hlc,
    )
    ctx.run("INSERT INTO roles (member_id, role) VALUES (?, 'moderator')", op.author)


@handles("group.edit")
def group_edit(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "change the group's settings")
    p = op.payload
    changes: list[tuple[str, str]] = []
    if "name" in p:
        changes.append(("name", limits.one_line(p, "name", label="group name", max_chars=limits.NAME_MAX * 2)))
    if "purpose" in p:
        changes.append(
            ("purpose", limits.text(p, "purpose", label="purpose", max_chars=limits.SUMMARY_MAX, required=False))
        )
    if "rules" in p:
        changes.append(
            ("rules", limits.text(p, "rules", label="house rules", max_chars=limits.RULES_MAX, required=False))
        )
    if "conduct" in p:
        changes.append(
            ("conduct", limits.text(p, "conduct", label="code of conduct", max_chars=limits.RULES_MAX, required=False))
        )
    if "post_cap" in p:
        cap = p["post_cap"]
        if type(cap) is not int or not 0 <= cap <= POST_CAP_MAX:
            raise Rejected.invalid(f"the weekly post cap is a whole number from 0 (none) to {POST_CAP_MAX}")
        changes.append(("post_cap", str(cap)))
        ctx._post_cap = None
    if "tz" in p:
        changes.append(("tz", zone_field(p)))
    if "member_cap" in p:
        cap = p["member_cap"]
        if type(cap) is not int or not 1 <= cap <= limits.MEMBER_CAP_MAX:
            raise Rejected.invalid(f"the member cap is a whole number from 1 to {limits.MEMBER_CAP_MAX}")
        changes.append(("member_cap", str(cap)))
    changes.extend(_onboarding_changes(ctx, p))
    if not changes:
        raise Rejected.invalid("nothing to change")
    ctx.conn.executemany("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", changes)


def _onboarding_changes(ctx: FoldContext, p: dict[str, Any]) -> list[tuple[str, str]]:
    """The parts of the onboarding walk moderators write: the welcome, the
    intro template and the first win (a live resource of the library, or ""
    for none)."""
    changes = []
    if "welcome" in p:
        changes.append(
            ("welcome", limits.text(p, "welcome", label="welcome", max_chars=limits.RULES_MAX, required=False))
        )
    if "intro_template" in p:
        template = limits.text(p, "intro_template", label="intro template", max_chars=limits.RULES_MAX, required=False)
        changes.append(("intro_template", template))
    if "first_win" in p:
        first_win = p["first_win"]
        if first_win != "":
            first_win = limits.ref(p, "first_win", label="first win")
            ctx.live_resource(first_win)
        changes.append(("first_win", first_win))
    return changes


def _check_member_cap(ctx: FoldContext) -> None:
    """Admissions stop at the group's size cap, counted over current members."""
    row = ctx.one("SELECT value FROM settings WHERE key = 'member_cap'")
    cap = int(row[0]) if row else limits.MEMBER_CAP_DEFAULT
    (count,) = ctx.aggregate("SELECT count(*) FROM members WHERE status IN ('active', 'timed_out')")
    if count >= cap:
        raise Rejected.refused(
            f"the group is at its member cap ({count} of {cap}): a moderator can raise it with `settings --member-cap`"
        )


@overload
def hex_key(payload: dict[str, Any], key: str, *, label: str, required: Literal[True] = True) -> str: ...
@overload
def hex_key(payload: dict[str, Any], key: str, *, label: str, required: bool) -> str | None: ...
def hex_key(payload: dict[str, Any], key: str, *, label: str, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    # Checked before decoding: bytes.fromhex raised ValueError on a hostile
    # payload, which escaped the fold and aborted the whole ingest.
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise Rejected.invalid(f"the {label} is not a valid key")
    return value.lower()


@handles("invite.create")
def invite_create(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "invite people")
    p = op.payload
    invite = limits.ref(p, "invite", label="invite")
    # The secret opens join requests, so it now travels sealed to the
    # moderators (sync/sealing.py); early invites carried it here.
    secret = p.get("secret", "")
    if secret and (
        not isinstance(secret, str)
        or not re.fullmatch(r"[0-9a-f]{32}", secret)
        or invite_id_for(bytes.fromhex(secret)) != invite
    ):
        raise Rejected.invalid("the invite's secret does not match its id")
    expires = datetime_to_hlc(parse_start(limits.one_line(p, "expires", label="expiry", max_chars=40)))
    uses = p.get("uses")
    if type(uses) is not int or not 1 <= uses <= 150:
        raise Rejected.invalid("an invite can be used between 1 and 150 times")
    if ctx.one("SELECT 1 FROM invites WHERE id = ?", invite):
        raise Rejected.conflict("that invite already exists")
    ctx.run(
        "INSERT INTO invites (id, secret, expires_hlc, uses, created_by) VALUES (?, ?, ?, ?, ?)",
        invite,
        secret,
        expires,
        uses,
        op.author,
    )


def _undecided(ctx: FoldContext, request: str) -> None:
    if ctx.one("SELECT 1 FROM join_decisions WHERE request = ?", request):
        raise Rejected.conflict("that join request has already been decided")


@handles("member.add")
def member_add(ctx: FoldContext, op: Op) -> None:
    """Admit a member: directly (a moderator adding someone they know), or on
    a join request made with one of the group's invites."""
    ctx.require_role(op, "moderator", "add members")
    p = op.payload
    member = limits.ref(p, "member", label="member")
    key_hex = hex_key(p, "public_key", label="member's public key")
    if author_id_for(bytes.fromhex(key_hex)) != member:
        raise Rejected.invalid("the member's public key does not match their id")
    exchange = hex_key(p, "exchange_key", label="member's exchange key", required=False)
    status = ctx.member_status(member)
    if status in ("active", "timed_out"):
        raise Rejected.conflict("already a member")
    name, key = display_name(ctx, p, "name", member)
    invite = p.get("invite")
    request = p.get("request")
    if invite is not None:
        invite = limits.ref(p, "invite", label="invite")
        row = ctx.one("SELECT expires_hlc, uses, used FROM invites WHERE id = ?", invite)
        if row is None:
            raise Rejected.missing("no such invite")
        if op.hlc > row[0]:
            raise Rejected.refused("the invite has expired")
        if row[2] >= row[1]:
            raise Rejected.refused("the invite has been used up")
    if request is not None:
        request = limits.ref(p, "request", label="join request")
        _undecided(ctx, request)
    _check_member_cap(ctx)
    if invite is not None:
        ctx.run("UPDATE invites SET used = used + 1 WHERE id = ?", invite)
    if request is not None:
        ctx.run(
            """INSERT INTO join_decisions (request, decision, member, decided_by, decided_hlc)
                   VALUES (?, 'admitted', ?, ?, ?)""",
            request,
            member,
            op.author,
            op.hlc,
        )
    ctx.run(
        """INSERT OR REPLACE INTO members (id, name, name_key, status, public_key, joined_hlc, exchange_key)
           VALUES (?, ?, ?, 'active', ?, ?, ?)""",
        member,
        name,
        key,
        key_hex,
        op.hlc,
        exchange,
    )


@handles("request.deny")
def request_deny(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "decide join requests")
    request = limits.ref(op.payload, "request", label="join request")
    reason = limits.text(op.payload, "reason", label="reason", max_chars=limits.SUMMARY_MAX, required=False)
    _undecided(ctx, request)
    ctx.run(
        """INSERT INTO join_decisions (request, decision, reason, decided_by, decided_hlc)
               VALUES (?, 'denied', ?, ?, ?)""",
        request,
        reason,
        op.author,
        op.hlc,
    )


@handles("member.keys")
def member_keys(ctx: FoldContext, op: Op) -> None:
    """A member publishes the X25519 key epoch keys are wrapped for."""
    ctx.require_active(op)
    exchange = hex_key(op.payload, "exchange_key", label="exchange key")
    ctx.run("UPDATE members SET exchange_key = ? WHERE id = ?", exchange, op.author)


def _leave(ctx: FoldContext, member: str, status: str, seqs: dict[str, int], hlc: int) -> None:
    """`seqs`: the last seq that counts of each of the member's chains (their
    first key's and their devices': FoldContext.chain_seqs)."""
    ctx.run(
        "UPDATE members SET status = ?, last_seq = ?, left_hlc = ?, timeout_until_hlc = NULL WHERE id = ?",
        status,
        seqs.get(member),
        hlc,
        member,
    )
    ctx.run("DELETE FROM roles WHERE member_id = ?", member)
    ctx.leave_circles(member, hlc)  # and every circle: theirs get new keys
    for chain, last_seq in sorted(seqs.items()):
        ctx.cut_off(chain, last_seq)


@handles("member.remove")
def member_remove(ctx: FoldContext, op: Op) -> None:
    """Removal names the member's last seq that counts (what the moderator had
    seen of them), so a back-dated clock cannot slip later ops in."""
    ctx.require_role(op, "moderator", "remove members")
    member = limits.ref(op.payload, "member", label="member")
    last_seq = op.payload.get("last_seq")
    if type(last_seq) is not int or last_seq < 0:
        raise Rejected.invalid("the removal must name the member's last seq")
    limits.text(op.payload, "reason", label="reason", max_chars=limits.SUMMARY_MAX, required=False)
    if member == op.author:
        raise Rejected.refused("to go yourself, leave the group")
    if ctx.member_status(member) != "active":
        raise Rejected.refused("not a current member")
    if ctx.is_last_moderator(member):
        raise Rejected.refused("a group needs at least one moderator")
    _leave(ctx, member, "removed", ctx.chain_seqs(op, member, {member: last_seq}), op.hlc)


@handles("member.leave")
def member_leave(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    if ctx.is_last_moderator(op.author):
        raise Rejected.refused("a group needs at least one moderator: make someone else a moderator first")
    _leave(ctx, op.author, "left", ctx.chain_seqs(op, op.author, {op.signer: op.seq}), op.hlc)


@handles("member.timeout")
def member_timeout(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "time members out")
    member = limits.ref(op.payload, "member", label="member")
    until = datetime_to_hlc(
        parse_start(limits.one_line(op.payload, "until", label="end of the time-out", max_chars=40))
    )
    limits.text(op.payload, "reason", label="reason", max_chars=limits.SUMMARY_MAX, required=False)
    if member == op.author:
        raise Rejected.refused("moderators cannot time themselves out")
    if ctx.member_status(member) != "active":
        raise Rejected.refused("not a current member")
    last_seq = op.payload.get("last_seq")
    if type(last_seq) is not int or last_seq < 0:
        raise Rejected.invalid("the time-out must name the member's last seq")
    span = (until >> 16) - (op.hlc >> 16)
    if span <= 0:
        raise Rejected.invalid("a time-out must end in the future")
    if span > MAX_TIMEOUT_MS + 60_000:
        raise Rejected.invalid("a time-out lasts at most 28 days")
    ctx.run("UPDATE members SET timeout_until_hlc = ? WHERE id = ?", until, member)
    for chain, seq in sorted(ctx.chain_seqs(op, member, {member: last_seq}).items()):
        ctx.time_out(chain, seq, until)


@handles("member.timeout_end")
def member_timeout_end(ctx: FoldContext, op: Op) -> None:
    """A moderator ends a time-out early: every window of it still open at
    this op now closes here. Ops dated up to this op keep the verdict they
    had, so nothing already folded changes (no re-fold)."""
    ctx.require_role(op, "moderator", "end time-outs")
    member = limits.ref(op.payload, "member", label="member")
    row = ctx.one("SELECT status, timeout_until_hlc FROM members WHERE id = ?", member)
    if row is None or row[0] != "active" or not row[1] or row[1] <= op.hlc:
        raise Rejected.refused("that member is not timed out")
    for chain in ctx.member_chains(member):  # time-outs are kept per signing key
        ctx.end_time_outs(chain, op.hlc)
    ctx.run("UPDATE members SET timeout_until_hlc = NULL WHERE id = ?", member)


@handles("epoch.rotate")
def epoch_rotate(ctx: FoldContext, op: Op) -> None:
    """A member announces a new epoch key (by id; the key itself travels only
    wrapped) and who it was wrapped for. Any active member may: after a
    departure, whoever has something to send renews the key (sync/roster.py).
    Not someone who has gone, even with an op signed before they went and
    dated after: they would hold a key the others write under. The maker must
    be among the recipients, so their own departure renews it; and the epoch
    is at most one past the newest, so nobody can use up the numbers."""
    status, _, _ = ctx.require_active(op)
    if status != "active":  # require_active let in an op signed before they went
        raise Rejected.permission("someone who has gone cannot renew the group's key")
    epoch = op.payload.get("epoch")
    (newest,) = ctx.aggregate("SELECT coalesce(max(epoch), -1) FROM epochs")
    if type(epoch) is not int or not 0 <= epoch <= newest + 1:
        raise Rejected.invalid("bad epoch number: the next key is the newest epoch's successor")
    key_id = op.payload.get("key_id")
    if not isinstance(key_id, str) or not re.fullmatch(r"[0-9a-f]{16}", key_id):
        raise Rejected.invalid("bad key id")
    recipients = op.payload.get("recipients")
    if (
        not isinstance(recipients, list)
        or len(recipients) > 1000
        or not all(isinstance(r, str) and limits.ID_RE.match(r) for r in recipients)
    ):
        raise Rejected.invalid("bad recipient list")
    if op.signer not in recipients:
        raise Rejected.invalid("the key's maker must be among its recipients")
    ctx.run(
        """INSERT OR IGNORE INTO epochs (epoch, key_id, created_hlc, created_by, recipients)
               VALUES (?, ?, ?, ?, ?)""",
        epoch,
        key_id,
        op.hlc,
        op.signer,  # the key that made it: its maker holds it already
        ",".join(sorted(set(recipients))),
    )


@handles("member.profile")
def member_profile(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    name, key = display_name(ctx, op.payload, "name", op.author)
    ctx.run("UPDATE members SET name = ?, name_key = ? WHERE id = ?", name, key, op.author)


def _role_change(ctx: FoldContext, op: Op) -> tuple[str, str]:
    ctx.require_role(op, "moderator", "change roles")
    member = limits.ref(op.payload, "member", label="member")
    role = op.payload.get("role")
    if role not in ROLES:
        raise Rejected.invalid(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if ctx.member_status(member) not in ("active", "timed_out"):
        raise Rejected.refused("not a current member")
    return member, role


@handles("role.grant")
def role_grant(ctx: FoldContext, op: Op) -> None:
    member, role = _role_change(ctx, op)
    if ctx.has_role(member, role):
        raise Rejected.conflict(f"already a {role}")
    since = _member_seq(op.payload, "since_seq")
    if since is not None:
        for chain, seq in sorted(ctx.chain_seqs(op, member, {member: since}).items()):
            ctx.close_role_window(chain, role, seq)
    ctx.run("INSERT INTO roles (member_id, role) VALUES (?, ?)", member, role)


def _member_seq(payload: dict[str, Any], key: str) -> int | None:
    """A seq of the member's the moderator had seen (optional: early ops lack it)."""
    value = payload.get(key)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < 2**63:
        raise Rejected.invalid(f"bad {key}")
    return value


@handles("role.revoke")
def role_revoke(ctx: FoldContext, op: Op) -> None:
    member, role = _role_change(ctx, op)
    if not ctx.has_role(member, role):
        raise Rejected.refused(f"not a {role}")
    if role == "moderator" and ctx.is_last_moderator(member):
        raise Rejected.refused("a group needs at least one moderator")
    last_seq = _member_seq(op.payload, "last_seq")
    ctx.run("DELETE FROM roles WHERE member_id = ? AND role = ?", member, role)
    if last_seq is not None:
        for chain, seq in sorted(ctx.chain_seqs(op, member, {member: last_seq}).items()):
            ctx.open_role_window(chain, role, seq)
