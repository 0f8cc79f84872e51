"""Who is in the group, and who can read what is written next: removal,
time-outs, leaving, and the key rotation that follows anyone going.

A new epoch key is made by a moderator, wrapped for each remaining member in
a key grant file, and announced (by id, with its recipients) in an
`epoch.rotate` op. Everything written afterwards uses the new key, so a
member who has gone cannot read it, even with their own home intact.
"""

from __future__ import annotations

from datetime import timedelta

from tablespace.core.clock import iso, now
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group
from tablespace.sync.folder import FolderStore
from tablespace.sync.keyring import EpochKey, Keyring
from tablespace.sync.keys import epoch_key_id, new_epoch_key
from tablespace.sync.membership import encode_grant, grant_path

MAX_TIMEOUT = timedelta(days=28)


def announce_first_key(group: Group, keyring: Keyring) -> None:
    """At founding: publish our exchange key and announce epoch 0."""
    group.write("member.keys", {"exchange_key": keyring.exchange.public_key.hex()})
    first = keyring.keys[0]
    group.write("epoch.rotate", {"epoch": first.epoch, "key_id": first.key_id, "recipients": [group.me]})


def remove_member(group: Group, ref: str, reason: str = "") -> None:
    member = group.member_id(ref)
    (last_seq,) = group.conn.execute("SELECT coalesce(max(seq), 0) FROM ops WHERE author = ?", (member,)).fetchone()
    group.write("member.remove", {"member": member, "last_seq": last_seq, "reason": reason.strip()})


def timeout_member(group: Group, ref: str, duration: timedelta, reason: str = "") -> None:
    if duration <= timedelta(0) or duration > MAX_TIMEOUT:
        raise TablespaceError("a time-out lasts from 1 minute to 28 days (e.g. 30m, 24h, 7d)")
    member = group.member_id(ref)
    (last_seq,) = group.conn.execute("SELECT coalesce(max(seq), 0) FROM ops WHERE author = ?", (member,)).fetchone()
    group.write("member.timeout", {"member": member, "until": iso(now() + duration), "last_seq": last_seq,
                                   "reason": reason.strip()})


def leave_group(group: Group) -> None:
    group.write("member.leave", {})


def _writing_key(group: Group, keyring: Keyring) -> tuple[EpochKey | None, str | None]:
    announced = {(r[0], r[1]): r[2] for r in group.conn.execute("SELECT epoch, key_id, recipients FROM epochs")}
    key = keyring.writable(set(announced))
    return key, (announced.get((key.epoch, key.key_id)) if key else None)


def departure_hlc(group: Group, keyring: Keyring) -> int | None:
    """When the first member who still holds the key we write under left or
    was removed (None if nobody has): a listed recipient, or anyone admitted
    after the key was made (their grant carried it). Until a moderator
    rotates, nothing we wrote after that moment may be written under it."""
    key, recipients = _writing_key(group, keyring)
    if key is None:
        return None
    (created_hlc,) = group.conn.execute(
        "SELECT created_hlc FROM epochs WHERE epoch = ? AND key_id = ?", (key.epoch, key.key_id)).fetchone()
    holders = set((recipients or "").split(",")) | {
        r[0] for r in group.conn.execute("SELECT id FROM members WHERE joined_hlc > ?", (created_hlc,))}
    gone = [r[1] for r in group.conn.execute(
        "SELECT id, left_hlc FROM members WHERE status IN ('removed', 'left')") if r[0] in holders]
    return min(gone) if gone else None


def needs_rotation(group: Group, keyring: Keyring) -> bool:
    return departure_hlc(group, keyring) is not None


def rotate_if_needed(group: Group, folder: FolderStore, keyring: Keyring) -> bool:
    if "moderator" not in group.my_roles() or not needs_rotation(group, keyring):
        return False
    rotate(group, folder, keyring)
    return True


def rotate(group: Group, folder: FolderStore, keyring: Keyring) -> int:
    """Start a new epoch: a fresh key for the members who remain, all or nothing."""
    (top,) = group.conn.execute("SELECT coalesce(max(epoch), -1) FROM epochs").fetchone()
    epoch = top + 1
    key = new_epoch_key()
    remaining = group.conn.execute(
        "SELECT id, exchange_key FROM members WHERE status = 'active' AND (exchange_key IS NOT NULL OR id = ?)",
        (group.me,),
    ).fetchall()
    with group.store.db.atomic():
        group.write("epoch.rotate", {"epoch": epoch, "key_id": epoch_key_id(key).hex(),
                                     "recipients": sorted(m for m, _ in remaining)})
        for member, exchange in remaining:
            if member == group.me or not exchange:
                continue
            grant = encode_grant(group.identity, group_id=group.id, member=member,
                                 member_exchange=bytes.fromhex(exchange), keys=[(epoch, key)])
            folder.write_once(grant_path(member, grant), grant)
        keyring.add([(epoch, key)])
    return epoch
