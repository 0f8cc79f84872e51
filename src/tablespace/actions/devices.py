"""A member's devices: pairing a new one with a code, listing them, and
taking one away (a lost or stolen laptop). One person, several keys: see
core/fold/devices.py for what the log holds, sync/devices.py for pairing."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import timedelta
from secrets import token_bytes

from tablespace.core import log_queries, member_queries
from tablespace.core.clock import from_now, iso, now
from tablespace.core.errors import PermissionDenied, TablespaceError
from tablespace.core.group import LINKING_META, Group, Transport, check_display_name
from tablespace.core.home import Home
from tablespace.sync.circle_keys import renew_my_circle_keys
from tablespace.sync.devices import (
    PAIRING_REQUEST_META,
    make_pairing_code,
    pairing_request_path,
    parse_pairing_code,
    remember_code,
)
from tablespace.sync.folder import FolderStore
from tablespace.sync.git import CLONE_DIR, GitRemote
from tablespace.sync.keyring import Keyring
from tablespace.sync.membership import encode_request, request_id_for
from tablespace.sync.moderator_key import rotate_mod_key_if_needed
from tablespace.sync.sealing import my_exchange_key
from tablespace.sync.service import folder_for, reachable, rotate_now

PAIRING_LIFETIME = timedelta(hours=1)


def add_device(group: Group, name: str | None = None) -> str:
    """A one-time code (an hour, single use) for pairing another device with
    this one; this device's next sync lets the new one in. `name`: what to
    call this device in the list, if it has no name yet."""
    if group.my_status != "active":
        raise PermissionDenied("only a current member can add a device")
    if name is not None:
        name = check_display_name(name)
    secret = token_bytes(16)
    expires = from_now(PAIRING_LIFETIME, what="the pairing code's expiry")
    remember_code(group, secret, int(expires.timestamp() * 1000), name)
    return make_pairing_code(group.id, secret)


def link_device(home: Home, code: str, name: str, transport: Transport) -> Group:
    """On the new device's home: its own keys and replica of the group, and
    a pairing request in the folder for the device that made `code`. All or
    nothing: a failure leaves no replica behind."""
    group_id, secret = parse_pairing_code(code)
    name = check_display_name(name)
    transport = reachable(transport, "nothing was linked")
    if (home.groups_dir / group_id).exists():
        return _link_again(home, group_id, secret, name)
    clone: GitRemote | None = None
    if transport.folder is None:
        home.ensure()
        clone = GitRemote.staged(transport.git or "", home.path, group_id)
    folder = clone.store() if clone else FolderStore(transport.folder, group_id)  # type: ignore[arg-type]
    try:
        folder.check(expect_existing=False)
        if not folder.group_dir.is_dir():
            raise TablespaceError(
                "that folder or remote holds no sign of the group yet: check the path, "
                "or sync the device that made the code first"
            )
        group = Group.create_replica(home, group_id, transport)
    except BaseException:
        if clone:
            clone.discard()
        raise
    try:
        if clone:
            clone.move_to(group.path / CLONE_DIR)
            folder = clone.store()
        keyring = Keyring.create(group.path, first_epoch_key=False)
        group.store.set_meta(LINKING_META, "1")  # what this home waits for: another device, not a moderator
        data = encode_request(
            group.identity, keyring.exchange.public_key, name, group_id=group_id, secret=secret, created_at=iso(now())
        )
        folder.write_once(pairing_request_path(data), data)
        group.store.set_meta(PAIRING_REQUEST_META, request_id_for(data))  # to find the answer, if it is refused
        if clone:
            clone.publish()
    except BaseException as exc:
        group.close()
        shutil.rmtree(group.path, ignore_errors=True)
        if isinstance(exc, OSError):
            raise TablespaceError(
                f"could not leave the pairing request in {folder.root}: {exc}; nothing was linked"
            ) from None
        raise
    return group


def _link_again(home: Home, group_id: str, secret: bytes, name: str) -> Group:
    """A home linked already but not let in yet (its code expired while the
    other device was off): a fresh request with the keys it has, for the new
    code. Only the home that made a code can approve it, so a new code is the
    way past an old one nobody will use."""
    group = Group.open(home, group_id)
    try:
        if group.my_status is not None:
            raise TablespaceError(
                f"this home already has that group ({group.path}); use another --home to link another device"
            )
        _request_again(group, secret, name)
    except BaseException:
        group.close()
        raise
    return group


def relink_device(group: Group, code: str, name: str) -> None:
    """On a home waiting for its member's other device (the app's Devices
    screen): a fresh request for a new pairing `code`, as `device link CODE`
    run again on this home does."""
    group_id, secret = parse_pairing_code(code)
    name = check_display_name(name)
    if group_id != group.id:
        raise TablespaceError("that pairing code is for another group; make one on a device of yours in this group")
    if not group.waiting_for_my_device:
        raise TablespaceError("this device is not waiting to be let in: it has nothing to link again")
    _request_again(group, secret, name)


def _request_again(group: Group, secret: bytes, name: str) -> None:
    """A pairing request for `secret` with the keys this home has, in its folder."""
    try:
        keyring = Keyring.load(group.path)
        folder = folder_for(group)
        data = encode_request(
            group.identity, keyring.exchange.public_key, name, group_id=group.id, secret=secret, created_at=iso(now())
        )
        folder.write_once(pairing_request_path(data), data)
        group.store.set_meta(PAIRING_REQUEST_META, request_id_for(data))  # an answer to the old one no longer counts
        if group.transport.git:
            GitRemote.for_group(group).publish()
    except OSError as exc:
        raise TablespaceError(f"could not leave the pairing request: {exc}; nothing changed") from None


def my_devices(group: Group) -> list[member_queries.DeviceView]:
    return member_queries.devices(group.conn, group.me, group.device)


@dataclass(frozen=True)
class DeviceRemoved:
    device: str
    # False: the folder or remote did not answer, or (not a moderator) the
    # renewal waits for the first sync with something new to send
    key_renewed: bool


def remove_device(group: Group, device_ref: str) -> DeviceRemoved:
    """Take one of my devices away: nothing it signs after what this device
    has seen of it counts, and my circles' keys (and, as a moderator, the
    moderators' key) are renewed at once without it. The group's key is
    renewed now by a moderator, else before anything written afterwards
    leaves this home (sync/roster.py), so it reads nothing written afterwards."""
    device = _my_device(group, device_ref)
    if device == group.device:
        raise TablespaceError("this is the device you are on: remove it from another of your devices")
    group.write("device.remove", {"device": device, "last_seq": log_queries.last_seq(group.conn, device)})
    if group.is_moderator:  # the moderators' key too: it opens the reports
        try:
            rotate_mod_key_if_needed(group, my_exchange_key(group))
        except TablespaceError:
            pass  # refused (a rotation racing ours): a moderator's next sync renews it
    try:
        renew_my_circle_keys(group)
    except TablespaceError:
        pass  # a circle member has no exchange key yet: the next write in the circle renews its key
    return DeviceRemoved(device, rotate_now(group))


def _my_device(group: Group, ref: str) -> str:
    wanted = ref.strip().lower()
    matches = [d.id for d in my_devices(group) if d.id.startswith(wanted) or d.name.lower() == wanted]
    if len(matches) != 1:
        raise TablespaceError(
            f"no device of yours is {ref!r}; `tablespace devices` lists them"
            if not matches
            else f"{ref!r} names {len(matches)} of your devices; give more of its id"
        )
    return matches[0]
