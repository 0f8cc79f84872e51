"""Founding a group and joining one: the two actions that make a group's
directory in the home, all or nothing."""

from __future__ import annotations

import os
import shutil
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from tablespace.core import keyfile, log_queries
from tablespace.core.clock import iso, now
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group, Transport, check_display_name
from tablespace.core.home import GroupEntry, Home
from tablespace.core.identity import Identity
from tablespace.sync.folder import FolderStore
from tablespace.sync.git import CLONE_DIR, GitRemote
from tablespace.sync.keyring import Keyring
from tablespace.sync.membership import (
    GRANT_SUFFIX,
    encode_request,
    encode_withdrawal,
    parse_invite_code,
    request_id_for,
    request_path,
    withdrawal_path,
)
from tablespace.sync.moderator_key import rotate_mod_key
from tablespace.sync.requests import join_answer
from tablespace.sync.roster import announce_first_key
from tablespace.sync.service import reachable


class Joined(NamedTuple):
    group: Group  # our replica, empty until a moderator admits us and we sync
    request_id: str  # the join request left in the folder


def found_group(
    home: Home, name: str, display_name: str, transport: Transport, *, purpose: str = "", passphrase: str | None = None
) -> Group:
    """Found a group with us as its first member and moderator. `passphrase`:
    our keys are locked under it from their first write (see _new_keys)."""
    with _new_keys(passphrase):
        transport = reachable(transport, "nothing was created")
        group = Group.found(home, name, display_name, transport, purpose=purpose)
        keyring = Keyring.create(group.path, first_epoch_key=True)
        announce_first_key(group, keyring)
        rotate_mod_key(group, keyring.exchange)  # the moderators' key: reports can be sealed from the start
        return group


def join_group(
    home: Home, code: str, display_name: str, transport: Transport, *, passphrase: str | None = None
) -> Joined:
    """Create our replica of the group and leave a join request in its folder;
    `passphrase` locks our new keys as in `found_group`."""
    with _new_keys(passphrase):
        return _join_group(home, code, display_name, transport)


def _join_group(home: Home, code: str, display_name: str, transport: Transport) -> Joined:
    """All or nothing: if any step fails, an earlier unadmitted attempt from
    this home is put back as it was (see _set_aside_unadmitted_replica)."""
    group_id, secret = parse_invite_code(code)
    display_name = check_display_name(display_name)
    transport = reachable(transport, "nothing was joined")
    clone: GitRemote | None = None
    if transport.folder is None:  # a git remote: clone into the home first, moved into place below
        home.ensure()
        clone = GitRemote.staged(transport.git or "", home.path, group_id)
    folder = clone.store() if clone else FolderStore(transport.folder, group_id)  # type: ignore[arg-type]
    earlier: _Earlier | None = None
    try:
        folder.check(expect_existing=False)
        if not folder.group_dir.is_dir():
            where = clone.shown_url if clone else transport.folder
            raise TablespaceError(
                f"{where} holds no sign of that group yet: check the path, or ask a moderator to sync first"
            )
        earlier = _set_aside_unadmitted_replica(home, group_id, folder)  # only now: this join can go ahead
        group = Group.create_replica(home, group_id, transport)
    except BaseException:
        if clone:
            clone.discard()
        _put_back(earlier, home, group_id)
        raise
    try:
        if clone:
            clone.move_to(group.path / CLONE_DIR)
            folder = clone.store()
        keyring = Keyring.create(group.path, first_epoch_key=False)
        data = encode_request(
            group.identity,
            keyring.exchange.public_key,
            display_name.strip(),
            group_id=group_id,
            secret=secret,
            created_at=iso(now()),
        )
        group.store.set_meta("join_request", request_id_for(data))  # to find the moderators' answer
        if earlier is not None and earlier.request_id:
            # Withdrawn first: should the new request fail to go in, there is
            # no live request left for an identity that no longer exists.
            folder.write_once(
                withdrawal_path(earlier.request_id),
                encode_withdrawal(earlier.identity, group_id=group_id, request_id=earlier.request_id),
            )
        folder.write_once(request_path(data), data)
        if clone:
            clone.publish()  # the request must reach the remote now: nobody would see it otherwise
    except BaseException as exc:
        group.close()
        shutil.rmtree(group.path, ignore_errors=True)
        _put_back(earlier, home, group_id)
        if isinstance(exc, OSError):
            raise TablespaceError(
                f"could not leave the join request in {folder.root}: {exc.strerror or exc}; nothing was joined"
            ) from None
        raise
    return Joined(group, request_id_for(data))


def _new_keys(passphrase: str | None) -> AbstractContextManager[None]:
    """Key files made in this block are locked under `passphrase`; None
    leaves it to an enclosing `keyfile.new_keys_locked` (in the clear without one)."""
    return keyfile.new_keys_locked(passphrase) if passphrase is not None else nullcontext()


@dataclass(frozen=True)
class _Earlier:
    """An earlier, unadmitted attempt to join, moved aside while a new one is made."""

    aside: Path
    identity: Identity
    request_id: str | None


def _set_aside_unadmitted_replica(home: Home, group_id: str, folder: FolderStore) -> _Earlier | None:
    """Joining again (a mistyped name, a used-up invite) replaces an earlier
    attempt that was never admitted: its directory is moved to
    `<home>/replaced/` (never deleted), and join_group withdraws its request
    (signed with its key, so moderators no longer list it). A replica whose
    member was admitted, here or (not yet synced) in the folder, is never
    touched."""
    path = home.groups_dir / group_id
    if not path.is_dir():
        return None
    group = Group(home, GroupEntry(group_id, group_id[:8], path))
    try:
        admitted = (
            group.my_status is not None
            or log_queries.has_ops_by(group.conn, group.device)
            or (any(folder.small_files(f"keys/{group.device}", GRANT_SUFFIX)) and not _lost_the_name(group, folder))
        )
        if admitted:
            raise TablespaceError(
                f"this home is already a member of that group ({path}): run `tablespace sync`; "
                "use another --home to join twice"
            )
        identity, request_id = group.identity, group.store.get_meta("join_request")
        identity.private_key  # noqa: B018 - read now: identities load their key lazily, and the file moves
    finally:
        group.close()
    aside = home.path / "replaced" / f"{group_id}-{now().strftime('%Y%m%dT%H%M%SZ')}-{os.urandom(4).hex()}"
    aside.parent.mkdir(mode=0o700, exist_ok=True)
    os.replace(path, aside)
    return _Earlier(aside, identity, request_id)


def _lost_the_name(group: Group, folder: FolderStore) -> bool:
    """Whether a moderator admitted us (a key grant came) but the fold gave
    the name to someone admitted first, and a moderator told us so: this
    attempt will never be a member, and joining again replaces it."""
    return join_answer(group, folder, Keyring.load(group.path).exchange) == "name taken"


def _put_back(earlier: _Earlier | None, home: Home, group_id: str) -> None:
    """A join that failed restores the attempt it had moved aside."""
    path = home.groups_dir / group_id
    if earlier is not None and not path.exists():
        os.replace(earlier.aside, path)
