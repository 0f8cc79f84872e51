"""Who is in the group: invites, join requests and their answers, removal,
time-outs, roles and leaving. A moderator's action checks the role first,
so someone without it is told so (exit 3) before anything is read from the
folder or written; the fold refuses a forged one anyway."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from tablespace.core import group_queries, log_queries, member_queries
from tablespace.core.clock import from_now, iso
from tablespace.core.errors import TablespaceError
from tablespace.core.fold import invite_id_for
from tablespace.core.group import Group
from tablespace.sync.folder import FolderStore
from tablespace.sync.keyring import Keyring
from tablespace.sync.membership import JoinRequest, make_invite_code
from tablespace.sync.moderation import document
from tablespace.sync.moderator_key import rotate_mod_key_if_needed
from tablespace.sync.requests import write_answer
from tablespace.sync.roster import departure_hlc, write_grant
from tablespace.sync.sealing import my_exchange_key, write_sealed
from tablespace.sync.service import find_request, name_taken_refusal, pending_requests, requests_folder, rotate_now

MAX_INVITE_LIFETIME = timedelta(days=90)
MAX_TIMEOUT = timedelta(days=28)


# --- invites and join requests -----------------------------------------------------------


def create_invite(group: Group, expires: timedelta, uses: int) -> str:
    """Moderators: a code that lets `uses` people ask to join until `expires` from now."""
    group.require_moderator()
    if not timedelta(minutes=1) <= expires <= MAX_INVITE_LIFETIME:
        raise TablespaceError("an invite lasts between 1 minute and 90 days")
    if not 1 <= uses <= 150:
        raise TablespaceError("an invite can be used between 1 and 150 times")
    secret = os.urandom(16)
    until = from_now(expires, what="the invite's expiry")
    with group.store.db.atomic():  # the secret opens join requests: only moderators may read it
        group.write("invite.create", {"invite": invite_id_for(secret), "expires": iso(until), "uses": uses})
        write_sealed(group, {"type": "invite", "invite": invite_id_for(secret), "secret": secret.hex()})
    return make_invite_code(group.id, secret)


def join_requests(group: Group, *, pull: bool = True) -> list[JoinRequest]:
    """The join requests waiting for a moderator's decision. `pull`: fetch
    a git remote first (the app reads between its sync rounds, which pull)."""
    group.require_moderator()
    return pending_requests(group, pull=pull)


def admit(group: Group, request_ref: str) -> str:
    """Admit a join request and grant the group's keys, all or nothing;
    returns the new member's id."""
    group.require_moderator()
    folder = requests_folder(group)
    request = find_request(group, folder, request_ref)
    if request.name_taken_by is not None:
        raise TablespaceError(name_taken_refusal(group, request))
    _admit(group, folder, request, Keyring.load(group.path))
    return request.member_id


def admit_all(group: Group) -> list[JoinRequest]:
    """Admit every waiting request that can be admitted (a launch lets dozens
    in at once), oldest first; returns them. If they would not all fit under
    the group's member cap, none is admitted."""
    group.require_moderator()
    folder = requests_folder(group)
    waiting = sorted(
        (r for r in pending_requests(group) if r.problem is None and r.name_taken_by is None),
        key=lambda r: (r.created_at, r.id),
    )
    cap = group_queries.group_settings(group.conn).member_cap
    members = sum(1 for m in member_queries.members(group.conn) if m.status in ("active", "timed_out"))
    if members + len(waiting) > cap:
        raise TablespaceError(
            f"{len(waiting)} are asking, {max(0, cap - members)} places are left under the member cap ({cap}): "
            "admit some by name, or raise it with `settings --member-cap`"
        )
    keyring = Keyring.load(group.path)
    for request in waiting:
        _admit(group, folder, request, keyring)
    return waiting


def _admit(group: Group, folder: FolderStore, request: JoinRequest, keyring: Keyring) -> None:
    """The admission and the key grant, in one transaction."""
    with group.store.db.atomic():
        group.write(
            "member.add",
            {
                "member": request.member_id,
                "name": request.name,
                "public_key": request.public_key.hex(),
                "exchange_key": request.exchange_key.hex(),
                "invite": request.invite,
                "request": request.id,
            },
        )
        write_grant(group, folder, request.member_id, request.exchange_key, [(k.epoch, k.key) for k in keyring.keys])


def deny(group: Group, request_ref: str, reason: str = "") -> None:
    """Turn a request down and tell the joiner (the answer says only that;
    the reason is sealed for the moderators)."""
    group.require_moderator()
    folder = requests_folder(group)
    request = find_request(group, folder, request_ref)
    with group.store.db.atomic():
        op = group.write("request.deny", {"request": request.id})
        document(group, op.id, reason, what=f"{request.name} ({request.id[:8]})")
    # After the decision, and best-effort: a folder that refuses the file must
    # not undo it (a moderator's next sync answers it then; answer_requests).
    write_answer(folder, request, "declined", group.id)


# --- members -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Removed:
    member: str
    key_renewed: bool  # False: the folder or remote did not answer; the next sync renews it


def remove(group: Group, member_ref: str, reason: str = "") -> Removed:
    """Remove a member, then renew the group's key at once so nothing written
    afterwards is readable by them. Until the key is renewed (the next sync,
    if the folder did not answer), nothing new leaves this home."""
    group.require_moderator()
    member = group.member_id(member_ref)
    last_seq = log_queries.last_seq(group.conn, member)
    with group.store.db.atomic():  # the reason is for moderators only: sealed beside the open action
        op = group.write("member.remove", {"member": member, "last_seq": last_seq, **_device_seqs(group, member)})
        document(group, op.id, reason)
    return Removed(member, rotate_now(group))


def time_out(group: Group, member_ref: str, duration: timedelta, reason: str = "") -> None:
    """Stop a member posting, replying and reacting for `duration` (at most 28 days)."""
    group.require_moderator()
    if duration <= timedelta(0) or duration > MAX_TIMEOUT:
        raise TablespaceError("a time-out lasts from 1 minute to 28 days (e.g. 30m, 24h, 7d)")
    member = group.member_id(member_ref)
    last_seq = log_queries.last_seq(group.conn, member)
    until = from_now(duration, what="the end of the time-out")
    with group.store.db.atomic():
        op = group.write(
            "member.timeout",
            {"member": member, "until": iso(until), "last_seq": last_seq, **_device_seqs(group, member)},
        )
        document(group, op.id, reason)


def end_time_out(group: Group, member_ref: str, reason: str = "") -> None:
    """End a member's time-out now (the reason kept sealed)."""
    group.require_moderator()
    with group.store.db.atomic():
        op = group.write("member.timeout_end", {"member": group.member_id(member_ref)})
        document(group, op.id, reason)


def set_role(group: Group, member_ref: str, role: str, *, revoke: bool = False, why: str = "") -> None:
    """Grant or revoke a role, with the reason kept sealed: one transaction.
    A change of moderators renews the moderators' key at once (if we hold it),
    so nothing sealed from now on waits for a sync to leave a former one out."""
    member = group.member_id(member_ref)
    seen = log_queries.last_seq(group.conn, member)
    # The member's seq we have seen bounds the change wherever their ops sort:
    # after a revoke they cannot back-date an op to before it.
    payload = {
        "member": member,
        "role": role,
        ("last_seq" if revoke else "since_seq"): seen,
        **_device_seqs(group, member),
    }
    with group.store.db.atomic():
        op = group.write("role.revoke" if revoke else "role.grant", payload)
        document(group, op.id, why)
        if role == "moderator":
            rotate_mod_key_if_needed(group, my_exchange_key(group))


def leave(group: Group, folder: FolderStore | None = None) -> None:
    """Leave the group. If someone went and nobody has renewed the key yet,
    renew it first, while still a member: the leave is dated after their
    departure, so it could only go out under a new key, which someone who has
    left may not make; the others might never hear of it. `folder`: the
    group's own unless given (tests with a folder per replica)."""
    status = group.my_status
    if status != "active":  # a refusal (exit 1), not a permission the fold would deny
        raise TablespaceError(
            {
                None: "you are not a member yet (a moderator has not admitted you), so there is nothing to leave",
                "left": "you have already left this group",
                "removed": "you were removed from this group, so there is nothing to leave",
                "device_removed": "this device was removed; leave from a device you still have",
            }[status]
        )
    only_moderator = group.is_moderator and member_queries.moderator_count(group.conn) == 1
    if not only_moderator and departure_hlc(group, Keyring.load(group.path)) is not None:
        rotate_now(group, about_to_write=True, folder=folder)
    # our other devices' chains end where we have seen them (core/fold/devices.py)
    seqs = {chain: seq for chain, seq in _chain_heads(group).items() if chain != group.device}
    group.write("member.leave", {"device_seqs": seqs} if seqs else {})


def _device_seqs(group: Group, member: str) -> dict[str, dict[str, int]]:
    """What a removal, time-out or role change names of a member's added
    devices: the newest seq we hold of each (nothing for one who has none,
    so their ops read as before devices)."""
    seqs = log_queries.chain_seqs(group.conn, member)
    return {"device_seqs": seqs} if seqs else {}


def _chain_heads(group: Group) -> dict[str, int]:
    """Our own signing keys -> the newest seq we hold of each, once we have added a device."""
    seqs = log_queries.chain_seqs(group.conn, group.me)
    return {group.me: log_queries.last_seq(group.conn, group.me), **seqs} if seqs else {}
