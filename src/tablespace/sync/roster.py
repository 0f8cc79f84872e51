"""Who is in the group, and who can read what is written next: removal,
time-outs, leaving, and the key rotation that follows anyone going.

A new epoch key is made by a member who remains, wrapped for each remaining
member in a key grant file, and announced (by id, with its recipients) in an
`epoch.rotate` op. Everything written afterwards uses the new key, so a
member who has gone cannot read it, even with their own home intact.

Who renews the key (`should_rotate`): a moderator on every sync; any other
member as soon as something of theirs is held back for it, just before
leaving, or once it has waited `RENEWAL_GRACE` since they first saw it.
Moderator-only renewal froze a group whose moderators were away (nobody's
posts went out until one synced), and could
deadlock: members' held-back ops are folded locally but unseen elsewhere, so
each replica could believe the one moderator left to renew had gone (found by
tests/sync/test_sync_convergence.py). The grace period keeps a 150-member group
from renewing 150 times for one departure when a moderator is around.

Each departure gets its own epoch, in order: when two members went before
anyone rotated, the first key made leaves out only the first of them, and
carries what was written up to the second one's departure (their removal
among it, so they learn of it); the next key leaves out both.

A rotation can race an admission (another moderator's, not seen yet): the
new member is then missing from the new key's recipients. Moderators close
that gap on every sync (`grant_missing_keys`), and a member who got a key
that way counts as holding it when they go. A member a key still misses (its
grant did not open, or never came) asks for it in a key need
(`ask_for_missing_keys`), and whoever holds it answers (`answer_key_needs`).
A key whose maker left someone out on a removal the log refused later is
granted to them by its maker (`_grant_keys_we_left_out`); once that maker
is no longer current, one holder the key lists stands in for it
(`_stand_in_for_gone_makers`).
"""

from __future__ import annotations

import errno
import json
from collections.abc import Callable, Iterable
from contextlib import suppress
from datetime import timedelta
from typing import Any

from tablespace.core import log_queries, member_queries
from tablespace.core.clock import now_ms
from tablespace.core.group import Group
from tablespace.sync.folder import FolderStore, LinkInFolder
from tablespace.sync.keyring import EpochKey, Keyring
from tablespace.sync.keys import epoch_key_id, new_epoch_key
from tablespace.sync.membership import (
    GRANT_SUFFIX,
    MAX_GRANT_BYTES,
    MAX_NEED_BYTES,
    NEED_SUFFIX,
    NEEDS_DIR,
    BadMembershipFile,
    GrantHeader,
    decode_need,
    encode_grant,
    encode_need,
    grant_path,
    need_member,
    need_path,
    read_grant_header,
)

# How long a departure may wait unrenewed, from when a member first sees it,
# before that member renews the key with nothing of their own waiting for it
# (see the module docstring).
RENEWAL_GRACE = timedelta(minutes=30)
# How long after a key another member made becomes current we check that
# everyone was granted it: the maker's grant files arrive on their own.
GRANT_CHECK_DELAY = timedelta(minutes=10)
# How long a holder of a key whose maker has gone, and who is not the
# holder chosen to stand in for the maker (`_stand_in`), waits before
# granting what the key left out itself: long enough for the stand-in's
# grant, made after GRANT_CHECK_DELAY, to be in the folder by then.
STAND_IN_GRACE = timedelta(hours=2)
# Names a need may take: its own, then copies when one holds other bytes.
NEED_COPIES = 8


def announce_first_key(group: Group, keyring: Keyring) -> None:
    """At founding: publish our exchange key and announce epoch 0."""
    group.write("member.keys", {"exchange_key": keyring.exchange.public_key.hex()})
    first = keyring.keys[0]
    group.write("epoch.rotate", {"epoch": first.epoch, "key_id": first.key_id, "recipients": [group.device]})


def _writing_key(group: Group, keyring: Keyring) -> tuple[EpochKey | None, dict[tuple[int, str], set[str]]]:
    """The key we write under, and who each announced key was wrapped for when made."""
    wrapped = _recipients(group)
    return keyring.writable(set(wrapped)), wrapped


def _recipients(group: Group) -> dict[tuple[int, str], set[str]]:
    """(epoch, key id) of every announced key -> the members its announcement lists."""
    return {
        (epoch, key_id): set(recipients.split(","))
        for epoch, key_id, recipients in log_queries.epoch_recipients(group.conn)
    }


def memo_in_meta(group: Group, key: str) -> dict[str, Any]:
    """A JSON object this member keeps in meta; {} when absent, damaged, or
    in an older form that was not an object."""
    try:
        value = json.loads(group.store.get_meta(key, "") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def when_changed(group: Group, keyring: Keyring, name: str, step: Callable[[], object]) -> None:
    """Run `step`, an upkeep that follows from the log and the keys we hold
    alone, only if either changed since it last ran to the end: an idle
    round then costs two lookups, not a pass over every key and member.
    A step that raises, or returns False (part of it waits on the clock),
    stays due."""
    mark = f"{log_queries.newest_op_row(group.conn)}:{len(keyring.keys)}:{group.my_status}"
    meta = f"upkeep_{name}"
    if group.store.get_meta(meta) == mark:
        return
    if step() is False:
        return
    with group.store.db.atomic():
        group.store.set_meta(meta, mark)


def departure_hlc(group: Group, keyring: Keyring) -> int | None:
    """When the first member who may hold the key we write under left or was
    removed (None if nobody has): see `_departed_holders`."""
    gone = _departed_holders(group, keyring)
    return min(left for _, left in gone) if gone else None


def _departed_holders(group: Group, keyring: Keyring) -> list[tuple[str, int]]:
    """(id, left HLC) of each member who went and may hold the key we write
    under: a listed recipient, or anyone who went after the key was made
    (admitted later, so their admission grant carried it, or granted it late
    by `grant_missing_keys`). Until someone rotates, what we write may go out
    under it only as far as `sendable_seq` says."""
    key, wrapped = _writing_key(group, keyring)
    if key is None:
        return []
    created_hlc = log_queries.epoch_created_hlc(group.conn, key.epoch, key.key_id)
    listed = wrapped[(key.epoch, key.key_id)]
    # A member who went before the key was made was not wrapped it (the
    # rotation saw them go), unless they are listed: then the rotation had not,
    # or it was made for an earlier departure (see `rotate`).
    return [
        (member, left)
        for member, joined, left in log_queries.departed_members(group.conn)
        if member in listed or joined > created_hlc or left > created_hlc
    ]


def sendable_seq(group: Group, keyring: Keyring) -> int | None:
    """The last seq of ours that may go out under the key we write under;
    None when nobody who may hold it has gone (all of it may).

    Someone has: only what we wrote up to a departure we made ourselves (our
    removal of them, our own leave) may, so that member learns of it; after
    it, and for every departure someone else made, nothing. An op's HLC
    cannot tell whether we wrote it before or after a departure we had not
    seen yet (our clock may run behind), so none of ours is taken as earlier."""
    gone = _departed_holders(group, keyring)
    if not gone:
        return None
    cut = min(_seq_of_our_departure_op(group, member, left) for member, left in gone)
    return max(cut, _our_bare_leave(group, cut))


def _our_bare_leave(group: Group, cut: int) -> int:
    """The seq of our own leave when it is all we have left to send past
    `cut`, else 0. Having gone, we can no longer renew the key, so a leave
    waiting for a renewal could wait forever: when everyone left at once,
    the leave that would make the last moderator's own leave refused is the
    one held back, and nobody counts themselves in. A leave carries nothing
    but the fact, so it goes out under the old key."""
    if group.my_status != "left":
        return 0
    seq = log_queries.accepted_leave_seq(group.conn, group.device)
    exported = int(group.store.get_meta("exported_seq", "0") or 0)
    if seq is None or seq - 1 > max(cut, exported):
        return 0
    return seq


def _seq_of_our_departure_op(group: Group, member: str, left_hlc: int) -> int:
    """The seq of our op that made `member` (a member, or a device) go at
    `left_hlc` (our removal of them, our own leave, our removal of a device),
    or 0 if someone else made it. Our HLCs never repeat, so at most one op
    of ours has that HLC."""
    # Our member id is also our first device's: its departure is our leave,
    # or our removal of that device from another of ours.
    kinds = ("member.leave", "device.remove") if member == group.me else ("member.remove", "device.remove")
    for kind in kinds:
        row = log_queries.accepted_op_at(group.conn, group.device, left_hlc, kind)
        if row is not None:
            op = group.store.read_op(*row)
            named = {op.payload.get("member"), op.payload.get("device")}
            return op.seq if kind == "member.leave" or member in named else 0
    return 0


def has_held_back(group: Group, keyring: Keyring) -> bool:
    """Whether ops of ours wait for a new key (`sendable_seq`)."""
    cut = sendable_seq(group, keyring)
    if cut is None:
        return False
    exported = int(group.store.get_meta("exported_seq", "0") or 0)
    return log_queries.has_ops_after(group.conn, group.device, max(cut, exported))


def should_rotate(group: Group, departed: int, *, held_back: bool = False, about_to_write: bool = False) -> bool:
    """Whether we renew the key for the departure at HLC `departed` now: only
    as an active member (a rotation's author gets the key), and then as a
    moderator, with ops of our own `held_back` for a new key (or
    `about_to_write` one), or once it has waited unrenewed for the grace
    period since we first saw it."""
    if group.my_status != "active":
        return False
    if about_to_write or held_back or group.is_moderator:
        return True
    return _waited_since_first_seen(group, departed) >= RENEWAL_GRACE


def _waited_since_first_seen(group: Group, departed: int) -> timedelta:
    """How long the departure at `departed` has waited for a new key since this
    replica first saw it waiting. Counted from when we saw it, not from when it
    happened: a leave that reaches everyone hours late would otherwise have
    every member who syncs before the first renewal arrives renew at once."""
    saw = group.store.get_meta("renewal_waiting", "") or ""
    since, _, first_seen = saw.partition(" ")
    if since != str(departed):
        first_seen = str(now_ms())
        with group.store.db.atomic():
            group.store.set_meta("renewal_waiting", f"{departed} {first_seen}")
    return timedelta(milliseconds=now_ms() - int(first_seen))


def rotate_if_needed(
    group: Group, folder: FolderStore, keyring: Keyring, after: int = -1, *, about_to_write: bool = False
) -> int | None:
    """Start a new epoch if someone who may hold the key we write under has
    gone (`departure_hlc`) and it is ours to do (`should_rotate`). Returns the
    HLC of the departure rotated for, or None. A caller rotating in a loop
    passes the last one as `after`: each rotation is for a later departure,
    so the loop ends."""
    departed = departure_hlc(group, keyring)
    if (
        departed is None
        or departed <= after
        or not should_rotate(group, departed, held_back=has_held_back(group, keyring), about_to_write=about_to_write)
    ):
        return None
    rotate(group, folder, keyring, departed)
    return departed


def rotate(group: Group, folder: FolderStore, keyring: Keyring, departed: int) -> int:
    """Start a new epoch after the departure at HLC `departed`: a fresh key for
    the members who remain, all or nothing. Timed-out members remain members;
    members who went later than `departed` were still members then: they get
    the key too, and `sendable_seq` keeps what follows their own departure
    from being written under it."""
    epoch = log_queries.newest_epoch(group.conn) + 1
    key = new_epoch_key()
    remaining = log_queries.members_after_departure(group.conn, departed, group.device)
    with group.store.db.atomic():
        group.write(
            "epoch.rotate",
            {"epoch": epoch, "key_id": epoch_key_id(key).hex(), "recipients": sorted(m for m, _ in remaining)},
        )
        for member, exchange in remaining:
            if member != group.device and exchange:
                write_grant(group, folder, member, bytes.fromhex(exchange), [(epoch, key)])
        keyring.add([(epoch, key)])
    return epoch


def write_grant(
    group: Group, folder: FolderStore, member: str, exchange: bytes, keys: Iterable[tuple[int, bytes]]
) -> None:
    """Wrap `keys` for one member in a signed grant file under keys/<member>/."""
    grant = encode_grant(group.identity, group_id=group.id, member=member, member_exchange=exchange, keys=keys)
    folder.write_once(grant_path(member, grant), grant)


def grant_missing_keys(group: Group, folder: FolderStore, keyring: Keyring) -> None:
    """Grant the keys current members lack.

    A moderator grants the key we write under to every current member who has
    neither been wrapped it by a rotation nor granted it by a moderator since
    (a member admitted while someone rotated), with every other key we hold
    that they lack. The grant files are the record: every moderator sees them
    in the folder, so a key is granted once (or, by two moderators at the
    same moment, twice: harmless). A rotation's recipient list is trusted.

    Except a key another member made: everyone who holds one checks each
    current member once against the grant files in the folder, after a delay
    that lets the maker's grants arrive, and grants it to whoever has none.
    So a member who lists someone (a moderator, even) and wraps them nothing
    does not shut them out of what is written under it. A grant whose wrapped
    key is garbage goes unnoticed here; only the member can tell, and asks
    again in a key need, which everyone holding the key answers."""
    if group.my_status != "active":
        return
    steps = [_grant_current_key] if group.is_moderator else []
    for step in [
        *steps,
        _check_member_made_keys,
        _grant_keys_we_left_out_if_changed,
        _stand_in_for_gone_makers_if_changed,
        answer_key_needs,
    ]:
        # A link where keys/<member>/ belongs: nothing is written through it;
        # the step is tried again next round, when it may be a directory again.
        with suppress(LinkInFolder):
            step(group, folder, keyring)


def _grant_keys_we_left_out_if_changed(group: Group, folder: FolderStore, keyring: Keyring) -> None:
    when_changed(group, keyring, "left_out", lambda: _grant_keys_we_left_out(group, folder, keyring))


def _stand_in_for_gone_makers_if_changed(group: Group, folder: FolderStore, keyring: Keyring) -> None:
    when_changed(group, keyring, "stand_in", lambda: _stand_in_for_gone_makers(group, folder, keyring))


def ask_for_missing_keys(
    group: Group, folder: FolderStore, keyring: Keyring, unopened: Iterable[GrantHeader], lacking: dict[int, set[str]]
) -> bool:
    """Write a key need (sync/membership.py) for keys that have not reached
    us: one a grant signed for us by a member named that did not open
    (`unopened`: a wrapped key that is garbage shuts nobody out for good), or
    one of an epoch the waiting changesets of active members use (`lacking`:
    epoch -> who signed them; a stranger's planted file sets nobody asking)
    once we have seen them wait GRANT_CHECK_DELAY, for a grant that never came. The
    same need is the same bytes, written once; it stands until someone not
    disowned grants the keys. Returns whether we wrote one."""
    unopened = list(unopened)
    if not unopened and not lacking:  # the usual round
        _waited_for(group, set())  # nothing waits any more: forget when it began
        return False
    if group.my_status != "active":
        return False
    held = {(k.epoch, k.key_id) for k in keyring.keys}
    # Only grants signed by members we know: anyone can sign a grant, and a
    # stranger's must not be able to make us write need after need. (A
    # granter admitted where we cannot read yet is unknown to us too: the
    # cost of that rule, noted in docs/changeset-format.md.)
    members = member_queries.member_statuses(group.conn)
    # by signing key: a device of a member speaks for them
    status = {**{d: members.get(m) for d, m in log_queries.member_of_signer(group.conn).items()}, **members}
    unopened = [h for h in unopened if h.granter in status and any(k not in held for k in h.keys)]
    epochs = {epoch for h in unopened for epoch, key_id in h.keys if (epoch, key_id) not in held}
    announced: dict[int, set[str]] = {}
    for epoch, key_id in _recipients(group):
        announced.setdefault(epoch, set()).add(key_id)
    # An epoch we hold every announced key of is not missing: files under yet
    # another key for it are someone's unannounced (or bogus) key.
    in_use = {epoch for epoch, authors in lacking.items() if any(status.get(a) == "active" for a in authors)}
    epochs |= {
        epoch
        for epoch in _waited_for(group, in_use)
        if not announced.get(epoch) or any((epoch, k) not in held for k in announced[epoch])
    }
    if not epochs:
        return False
    need = encode_need(group.identity, group_id=group.id, epochs=epochs, disowned={h.granter for h in unopened})
    return leave_need(folder, group.device, need)


def leave_need(folder: FolderStore, me: str, need: bytes) -> bool:
    """Write our need under its name, or the next of NEED_COPIES names if
    one holds other bytes (damaged or planted). False if it is there already,
    if every name is taken, or if needs/ cannot be read (not a directory,
    no permission, a failing disk): the next round asks again."""
    for copy in range(NEED_COPIES):
        path = need_path(me, need, copy)
        try:
            if folder.read(path, MAX_NEED_BYTES) == need:
                return False  # asked already
            # other bytes there (damaged, planted): the next name
        except FileNotFoundError:
            try:
                folder.write_once(path, need)
            except LinkInFolder:
                return False  # needs/ became a link: never written through; the next round asks again
            return True
        except OSError as exc:
            if exc.errno not in _PLANTED:
                return False
    return False


# What FolderStore.read raises for a name that holds no regular file (a
# directory, a link, a pipe planted there): the need goes under the next name.
_PLANTED = {errno.EINVAL, errno.ELOOP, errno.EISDIR}


def _waited_for(group: Group, lacking: set[int]) -> set[int]:
    """The epochs in `lacking` we first saw files wait for GRANT_CHECK_DELAY
    ago or more (memo `keys_lacking`: epoch -> when first seen, by our clock)."""
    try:
        seen = {int(e): int(at) for e, at in memo_in_meta(group, "keys_lacking").items()}
    except (ValueError, TypeError):
        seen = {}
    current = {epoch: seen.get(epoch, now_ms()) for epoch in lacking}
    if current != seen:
        with group.store.db.atomic():
            group.store.set_meta("keys_lacking", json.dumps(current))
    delay = GRANT_CHECK_DELAY / timedelta(milliseconds=1)
    return {epoch for epoch, since in current.items() if now_ms() - since >= delay}


def answer_key_needs(group: Group, folder: FolderStore, keyring: Keyring) -> None:
    """Answer current members' key needs: grant each key we hold of an epoch
    a need names, if its announcement lists the member (so a member who has
    gone, or was never meant to have it, gets nothing however the race of
    files goes), unless a grant of it to them from someone the need does not
    disown, or from us, is there already. So each of us grants a key to a
    member at most once, whatever they disown; everyone holding it answers,
    as a member may have shut out the only moderator. One directory listing
    per round; a need is read until every key of it we hold is decided (memo
    `needs_seen`: its path -> keys decided; a need's name is its member and
    its hash, and the folder is write-once), then only listed; one that does
    not decode (damaged, or still arriving) is read again next round. The
    maker of a key also answers for the holders it left out (`_left_out`),
    and so does the holder standing in for a maker who has gone (`_orphans`)."""
    paths = set(folder.small_files(NEEDS_DIR, NEED_SUFFIX))
    if not paths:
        return  # the usual round
    stored = memo_in_meta(group, "needs_seen")
    before = json.dumps(stored, sort_keys=True)
    # only needs still in the folder (a rolled-back folder drops some)
    memo: dict[str, list[str]] = {
        path: decided for path, decided in stored.items() if path in paths and isinstance(decided, list)
    }
    members = dict(_members_to_grant(group))
    listed = _recipients(group)
    granters = log_queries.signing_ids(group.conn, member_queries.member_ids(group.conn))
    ours_by_member: dict[str, dict[str, EpochKey]] = {}
    left_out = {(key, member) for key, missed in _left_out(group, keyring).items() for member, _ in missed}
    # ...and as a gone maker's stand-in, once we would grant them ourselves:
    # a need does not cut the wait that lets a removal reach us first.
    memo = _stand_in_memo(group)
    left_out |= {
        (key, member)
        for key, (missed, stand_ins) in _orphans(group, keyring).items()
        for member, _ in missed
        if _stand_in_due(memo, key, member, _stand_in_wait(stand_ins, group.device))
    }
    for path in sorted(paths):
        member = need_member(path)
        if member not in members:
            continue  # not a current member (or not us to answer: our own need)
        decided = set(memo.get(path, []))
        ours = ours_by_member.get(member)
        if ours is None:  # the keys we hold that were made for them
            ours = ours_by_member[member] = {
                f"{k.epoch}:{k.key_id}": k
                for k in keyring.keys
                if member in listed.get((k.epoch, k.key_id), ()) or ((k.epoch, k.key_id), member) in left_out
            }
        if path in memo and not set(ours) - decided:
            continue
        try:
            need = decode_need(folder.read(path, MAX_NEED_BYTES), group_id=group.id, member=member)
        except (OSError, BadMembershipFile):
            # Not remembered: a need read while still arriving (a copy in
            # progress on a stick or a NAS) is whole by the next round.
            continue
        todo = {name: k for name, k in ours.items() if k.epoch in need.epochs and name not in decided}
        if todo:
            have = granted_to(group, folder, member, (granters - set(need.disowned)) | {group.device})
            missing = [(k.epoch, k.key) for k in todo.values() if (k.epoch, k.key_id) not in have]
            if missing:
                write_grant(group, folder, member, bytes.fromhex(members[member]), missing)
        memo[path] = sorted(decided | set(ours))  # the keys it does not name are decided too
    if json.dumps(memo, sort_keys=True) != before:
        with group.store.db.atomic():
            group.store.set_meta("needs_seen", json.dumps(memo, sort_keys=True))


def _grant_current_key(group: Group, folder: FolderStore, keyring: Keyring) -> None:
    key, wrapped = _writing_key(group, keyring)
    if key is None:
        return
    current = (key.epoch, key.key_id)
    granters = _moderators(group)
    for member, exchange in _members_to_grant(group):
        if member in wrapped[current]:
            continue  # the usual case: no folder reads at all
        held = {k for k, who in wrapped.items() if member in who} | granted_to(group, folder, member, granters)
        if current in held:
            continue
        write_grant(
            group,
            folder,
            member,
            bytes.fromhex(exchange),
            [(k.epoch, k.key) for k in keyring.keys if (k.epoch, k.key_id) not in held],
        )


def _moderators(group: Group) -> set[str]:
    """The moderators' signing keys (their devices' too): who signs a grant."""
    return log_queries.signing_ids(group.conn, member_queries.moderator_ids(group.conn))


def _check_member_made_keys(group: Group, folder: FolderStore, keyring: Keyring) -> None:
    """Grant each key a non-moderator made, and we hold, to the current
    members its announcement lists with no grant for it in the folder (as
    answer_key_needs: a member who has gone, though we have not seen it yet,
    gets nothing); once per (key, member)."""
    moderators = _moderators(group)
    made = {
        (epoch, key_id): creator
        for epoch, key_id, creator in log_queries.epoch_creators(group.conn)
        if creator not in moderators
    }
    ours = {(k.epoch, k.key_id): k for k in keyring.keys if (k.epoch, k.key_id) in made}
    if not ours:
        return
    memo = memo_in_meta(group, "grants_checked")
    stored = json.dumps(memo)
    listed = _recipients(group)
    # a grant signed by anyone who was a member counts (the maker's, made before they left too)
    granters = log_queries.signing_ids(group.conn, member_queries.member_ids(group.conn))
    members = _members_to_grant(group)
    grants: dict[str, set[tuple[int, str]]] = {}  # each member's grant files read once a round, not once per key
    for (epoch, key_id), key in sorted(ours.items()):
        seen = memo.setdefault(f"{epoch}:{key_id}", {"since": now_ms(), "members": []})
        if now_ms() - seen["since"] < GRANT_CHECK_DELAY / timedelta(milliseconds=1):
            continue  # the maker's grants may still be on their way
        checked = set(seen["members"])
        for member, exchange in members:
            if member == made[(epoch, key_id)] or member in checked or member not in listed[(epoch, key_id)]:
                continue
            if member not in grants:
                grants[member] = granted_to(group, folder, member, granters)
            if (epoch, key_id) not in grants[member]:
                write_grant(group, folder, member, bytes.fromhex(exchange), [(epoch, key.key)])
            checked.add(member)
        seen["members"] = sorted(checked)
    if json.dumps(memo) != stored:  # no write in the usual sync
        with group.store.db.atomic():
            group.store.set_meta("grants_checked", json.dumps(memo))


def _left_out(group: Group, keyring: Keyring) -> dict[tuple[int, str], list[tuple[str, str]]]:
    """Of each key we made and hold, the current holders it was not wrapped
    for though the log now says they were there when we made it: (id,
    exchange key) of each. Whom we left out because we had folded their
    removal, or their device's, which the log refused once an earlier op
    arrived (a removal of the remover, a step down of the moderator). Only
    the maker decides: its view of the log only grows, while a member who
    holds the key without having seen a removal the maker saw would hand it
    to someone rightly left out."""
    held = {(k.epoch, k.key_id) for k in keyring.keys}
    owed: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for epoch, key_id, created_hlc, recipients in log_queries.epochs_made_by(group.conn, group.device):
        if (epoch, key_id) not in held:
            continue
        listed = set(recipients.split(","))
        missed = [(m, x) for m, x in log_queries.holders_at(group.conn, created_hlc, group.device) if m not in listed]
        if missed:
            owed[(epoch, key_id)] = missed
    return owed


def _grant_keys_we_left_out(group: Group, folder: FolderStore, keyring: Keyring) -> None:
    """Grant each key we made to the holders it left out (`_left_out`) who
    have no grant of it in the folder; once per (key, holder). In the usual
    round nobody was left out, and no file is read."""
    owed = _left_out(group, keyring)
    if not owed:
        return
    memo = memo_in_meta(group, "left_out_granted")
    stored = json.dumps(memo, sort_keys=True)
    keys = {(k.epoch, k.key_id): k.key for k in keyring.keys}
    granters = log_queries.signing_ids(group.conn, member_queries.member_ids(group.conn))
    for (epoch, key_id), missed in sorted(owed.items()):
        done = set(memo.get(f"{epoch}:{key_id}", []))
        for member, exchange in missed:
            if member in done:
                continue
            if (epoch, key_id) not in granted_to(group, folder, member, granters):
                write_grant(group, folder, member, bytes.fromhex(exchange), [(epoch, keys[(epoch, key_id)])])
            done.add(member)
        memo[f"{epoch}:{key_id}"] = sorted(done)
    if json.dumps(memo, sort_keys=True) != stored:
        with group.store.db.atomic():
            group.store.set_meta("left_out_granted", json.dumps(memo, sort_keys=True))


def _orphans(group: Group, keyring: Keyring) -> dict[tuple[int, str], tuple[list[tuple[str, str]], list[str]]]:
    """Of each key we hold whose maker is no longer current (its member went,
    or its device was removed), the current holders it was not wrapped for
    though the log says they were there when it was made, as (id, exchange
    key), and who stand in for the maker, in turn (`_stand_ins`). The maker cannot
    grant them any more (`_left_out`), and no other rule reaches a holder a
    key does not list."""
    current = log_queries.current_signers(group.conn)
    held = {(k.epoch, k.key_id) for k in keyring.keys}
    grantable: set[str] | None = None
    orphans: dict[tuple[int, str], tuple[list[tuple[str, str]], list[str]]] = {}
    for epoch, key_id, created_hlc, maker, recipients in log_queries.epochs_with_makers(group.conn):
        if maker in current or (epoch, key_id) not in held:
            continue  # the usual key: its maker is still here to grant it
        if grantable is None:
            grantable = {m for m, _ in _members_to_grant(group)}
        listed = set(recipients.split(","))
        missed = [
            (m, x)
            for m, x in log_queries.holders_at(group.conn, created_hlc, group.device)
            if m not in listed and m in grantable
        ]
        if missed:
            orphans[(epoch, key_id)] = (missed, _stand_ins(listed, current))
    return orphans


def _stand_ins(listed: set[str], current: set[str]) -> list[str]:
    """Who grants, in a gone maker's place, what its key left out: the
    current keys the key's announcement lists, lowest id first. Every
    replica that knows the same departures picks the same order, so a
    left-out holder gets one grant, not one from each holder: the first
    stands in; each next one only after a longer wait with no grant in the
    folder (its own grant failed, or it is away). Empty when no key the
    announcement lists is current."""
    return sorted(listed & current)


def _stand_in_for_gone_makers(group: Group, folder: FolderStore, keyring: Keyring) -> bool:
    """Grant each key whose maker has gone to the holders it left out
    (`_orphans`) who have no grant of it in the folder: as its stand-in
    once GRANT_CHECK_DELAY has passed since we first saw them left out (the
    maker's own grants may be on their way, and a removal the maker had seen
    may reach us meanwhile), as any other holder only after STAND_IN_GRACE,
    so the stand-in's grant is found instead of a second one written. Once
    per (key, holder); in the usual round no file is read. Returns False
    while someone left out waits for a delay to pass (the step stays due)."""
    orphans = _orphans(group, keyring)
    memo = _stand_in_memo(group)
    stored = json.dumps(memo, sort_keys=True)
    keys = {(k.epoch, k.key_id): k.key for k in keyring.keys}
    granters: set[str] | None = None
    settled = True
    for (epoch, key_id), (missed, stand_ins) in sorted(orphans.items()):
        entry = memo.get(f"{epoch}:{key_id}")
        if not isinstance(entry, dict):  # first seen (or a damaged memo: counted afresh)
            entry = memo[f"{epoch}:{key_id}"] = {}
        wait = _stand_in_wait(stand_ins, group.device)
        for member, exchange in missed:
            if entry.get(member) is True:
                continue  # decided
            if type(entry.get(member)) is not int:
                entry[member] = now_ms()
            if not _stand_in_due(memo, (epoch, key_id), member, wait):
                settled = False
                continue
            if granters is None:
                granters = log_queries.signing_ids(group.conn, member_queries.member_ids(group.conn))
            if (epoch, key_id) not in granted_to(group, folder, member, granters):
                write_grant(group, folder, member, bytes.fromhex(exchange), [(epoch, keys[(epoch, key_id)])])
            entry[member] = True
    if json.dumps(memo, sort_keys=True) != stored:
        with group.store.db.atomic():
            group.store.set_meta("stand_in_granted", json.dumps(memo, sort_keys=True))
    return settled


def _stand_in_wait(stand_ins: list[str], device: str) -> timedelta:
    """How long `device` waits before granting what a gone maker's key left
    out: the first stand-in GRANT_CHECK_DELAY, the next STAND_IN_GRACE, the
    one after twice that, and so on (a holder the key does not list, last):
    holders back from the same absence do not all grant at once."""
    rank = stand_ins.index(device) if device in stand_ins else len(stand_ins)
    return GRANT_CHECK_DELAY if rank == 0 else STAND_IN_GRACE * rank


def _stand_in_memo(group: Group) -> dict[str, Any]:
    """Key -> holder -> when we first saw the holder left out (ms), or True once decided."""
    return memo_in_meta(group, "stand_in_granted")


def _stand_in_due(memo: dict[str, Any], key: tuple[int, str], member: str, wait: timedelta) -> bool:
    """Whether we decided to grant `member` the key, or have seen them left out for `wait`."""
    entry = memo.get(f"{key[0]}:{key[1]}")
    since = entry.get(member) if isinstance(entry, dict) else None
    return since is True or (type(since) is int and now_ms() - since >= wait / timedelta(milliseconds=1))


def _members_to_grant(group: Group) -> list[tuple[str, str]]:
    """(id, exchange key) of every other current member who can be granted a key."""
    return log_queries.members_to_grant(group.conn, group.device)


def granted_to(group: Group, folder: FolderStore, member: str, granters: set[str]) -> set[tuple[int, str]]:
    """The keys (epoch, key id) the grant files in the folder signed by one of
    `granters` give `member`. Only signed grants count, so nobody else can
    make us skip a grant."""
    keys: set[tuple[int, str]] = set()
    for path in folder.small_files(f"keys/{member}", GRANT_SUFFIX):
        try:
            header = read_grant_header(folder.read(path, MAX_GRANT_BYTES), group_id=group.id, member=member)
        except (OSError, BadMembershipFile):
            continue
        if header.granter in granters:
            keys.update(header.keys)
    return keys
