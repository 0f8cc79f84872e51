"""Sync-aware entry points for the CLI and the TUI: founding a group with its
first epoch key, invites and admissions, and running a sync round."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from tablespace.core import queries
from tablespace.core.clock import from_now, iso, now
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group, Transport, check_display_name
from tablespace.core.home import Home
from tablespace.core.identity import Identity
from tablespace.sync.engine import QUARANTINE_DIR, SyncEngine, SyncReport
from tablespace.sync.folder import FolderStore, SyncUnavailable  # noqa: F401 (re-exported)
from tablespace.sync.git import CLONE_DIR, OUTBOX, GitRemote, absolute_url, redact
from tablespace.sync.keyring import Keyring
from tablespace.sync.membership import (
    GRANT_SUFFIX,
    JoinRequest,
    encode_request,
    encode_withdrawal,
    invite_id_for,
    make_invite_code,
    parse_invite_code,
    request_id_for,
    request_path,
    withdrawal_path,
)
from tablespace.sync.moderation import document
from tablespace.sync.requests import join_answer, undecided_requests, write_answer
from tablespace.sync.roster import write_grant
from tablespace.sync.sealing import write_sealed

MAX_INVITE_LIFETIME = timedelta(days=90)


def found_group(home: Home, name: str, display_name: str, transport: Transport, *, purpose: str = "") -> Group:
    transport = reachable(transport, "nothing was created")
    group = Group.found(home, name, display_name, transport, purpose=purpose)
    from tablespace.sync.moderator_key import rotate_mod_key
    from tablespace.sync.roster import announce_first_key

    keyring = Keyring.create(group.path, first_epoch_key=True)
    announce_first_key(group, keyring)
    rotate_mod_key(group, keyring.exchange)  # the moderators' key: reports can be sealed from the start
    return group


def reachable(transport: Transport, outcome: str) -> Transport:
    """Before anything is made in the home: a git remote must answer (a
    folder was checked when the transport was chosen). Local paths are made
    absolute, since git later runs inside the clone."""
    if not transport.git:
        return transport
    url = absolute_url(transport.git)
    GitRemote.probe(url, outcome)
    return Transport(git=url)


def sync_checks(group: Group) -> Iterator[tuple[bool, str]]:
    """For `doctor`: the group's folder or git remote, links in it, and the quarantine."""
    yield _check_transport(group)
    yield from _check_links(group)
    # As the last sync left them: a file that later arrived whole is imported,
    # not counted (one gone from the folder since is, until the next sync).
    quarantined = queries.quarantined_count(group.conn)
    yield (
        True,
        f"{quarantined} file(s) in the folder quarantined, copies kept in {group.path / QUARANTINE_DIR}"
        + (" (damaged or forged; `tablespace sync` lists them, the rest syncs)" if quarantined else ""),
    )


def _check_transport(group: Group) -> tuple[bool, str]:
    """Can the group's folder or git remote be reached? Reads only: a remote
    is asked for its branches (`git ls-remote`); nothing is fetched, written
    or pushed."""
    transport = group.transport
    try:
        if transport.git:
            GitRemote.probe(transport.git, "check the URL, your network and credentials, then `tablespace sync`")
            return True, f"git remote {redact(transport.git)} is reachable"
        synced_before = group.store.get_meta("last_sync") is not None
        FolderStore(transport.folder, group.id).check(expect_existing=synced_before)  # type: ignore[arg-type]
        return True, f"shared folder {transport.folder} is reachable"
    except SyncUnavailable as exc:
        return False, str(exc).replace(OUTBOX, "mount or reconnect it, then `tablespace sync`")


def _check_links(group: Group) -> Iterator[tuple[bool, str]]:
    """Links (or files) where a directory of the group belongs in the folder
    or our clone: never followed, and what goes there waits. Reads only."""
    try:
        folder = folder_for(group, pull=False)
        for _ in folder.list():
            pass
    except (SyncUnavailable, OSError):
        return  # unreachable: said by the transport check
    for path, what in sorted(folder.links.items()):
        yield (
            False,
            (
                f"{path} in the shared folder {folder.root} is {what} where a directory belongs: never "
                "followed, nothing is read or written through it; fix: make it a real directory again"
            ),
        )
    if not folder.links:
        yield True, "no links in the shared folder: nothing outside it is read or written"


def folder_for(group: Group, *, pull: bool = True) -> FolderStore:
    """Where the group's files are. For a git remote: the working tree of our
    clone, freshly pulled unless `pull` is False (the app reads it between
    its sync rounds, which pull; a fetch there would stall the screen).
    Files written there (e.g. `admit`'s key grant) are committed and pushed
    by the next `sync_group`."""
    transport = group.transport
    if transport.folder is None:
        remote = GitRemote.for_group(group)
        return remote.pull() if pull else remote.store()
    return FolderStore(transport.folder, group.id)


def engine_for(group: Group) -> SyncEngine:
    return SyncEngine(group, folder_for(group), Keyring.load(group.path))


def sync_group(group: Group, *, open_rituals: bool = True) -> SyncReport:
    """One round: open due rituals (unless told not to: a member who may not
    write still syncs), import, export; over git, pull first and push after."""
    if open_rituals:
        group.open_due_rituals()
    if not group.transport.git:
        return engine_for(group).run()
    keyring = Keyring.load(group.path)  # before the pull: locked keys that do not open change nothing
    remote = GitRemote.for_group(group)
    folder = remote.pull()
    # Unpushed commits (what `admit` or an interrupted round left in the
    # tree, committed by pull) go out with this round's: our reports must
    # wait for a push with nothing else of ours.
    engine = SyncEngine(group, folder, keyring, send_reports=not remote.ahead())
    report = engine.run()
    remote.publish()
    return report


# --- invites and admission ----------------------------------------------------------


def create_invite(group: Group, expires: timedelta, uses: int) -> str:
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


def join_group(home: Home, code: str, display_name: str, transport: Transport) -> tuple[Group, str]:
    """Create our replica of the group and leave a join request in its folder.
    All or nothing: if any step fails, an earlier unadmitted attempt from this
    home is put back as it was (see _set_aside_unadmitted_replica)."""
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
        import shutil

        shutil.rmtree(group.path, ignore_errors=True)
        _put_back(earlier, home, group_id)
        if isinstance(exc, OSError):
            raise TablespaceError(
                f"could not leave the join request in {folder.root}: {exc.strerror or exc}; nothing was joined"
            ) from None
        raise
    return group, request_id_for(data)


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
    from tablespace.core.home import GroupEntry

    group = Group(home, GroupEntry(group_id, group_id[:8], path))
    try:
        admitted = (
            group.my_status is not None
            or queries.has_ops_by(group.conn, group.me)
            or (any(folder.small_files(f"keys/{group.me}", GRANT_SUFFIX)) and not _lost_the_name(group, folder))
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


def pending_requests(group: Group, *, pull: bool = True) -> list[JoinRequest]:
    """Join requests waiting for a decision (see sync/requests.py); `pull`
    as in folder_for."""
    return undecided_requests(group, _requests_folder(group, pull=pull))


def _requests_folder(group: Group, *, pull: bool = True) -> FolderStore:
    """The folder, checked, to read join requests from: if it cannot be
    reached, say that is what it was needed for (nothing of ours waits)."""
    try:
        folder = folder_for(group, pull=pull)
        folder.check(expect_existing=False)
    except SyncUnavailable as exc:
        raise SyncUnavailable(str(exc).replace(OUTBOX, "join requests are read from there")) from None
    return folder


def find_request(group: Group, folder: FolderStore, ref: str) -> JoinRequest:
    wanted = ref.strip().lower()
    if len(wanted) < 4:
        raise TablespaceError(f"{ref!r} is not a request id: give at least 4 hex characters")
    matches = [r for r in undecided_requests(group, folder) if r.id.startswith(wanted)]
    if not matches:
        raise TablespaceError(f"no pending join request with id {ref!r}; `tablespace requests` lists them")
    if len(matches) > 1:
        raise TablespaceError(f"request id {ref!r} is ambiguous; give more characters")
    return matches[0]


def admit(group: Group, ref: str) -> str:
    """Admit a request: a member.add op and a key grant, all or nothing."""
    folder = _requests_folder(group)
    request = find_request(group, folder, ref)
    if request.name_taken_by is not None:
        raise TablespaceError(name_taken_refusal(group, request))
    keyring = Keyring.load(group.path)
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
    return request.member_id


def name_taken_refusal(group: Group, request: JoinRequest) -> str:
    """Why a request cannot be admitted under its name, and what to do instead."""
    holder = queries.member_names(group.conn).get(request.name_taken_by or "", "a member")
    return (
        f"cannot admit {request.name!r}: the display name is taken in this group ({holder!r} has it); "
        f"they are told to join again with another name when you sync, or turn it down with "
        f"`tablespace deny {request.id[:8]} --reason ...`; nothing was changed"
    )


def rotate_now(group: Group, *, about_to_write: bool = False, folder: FolderStore | None = None) -> bool:
    """After a removal, or before writing something that must not be readable
    by someone who went (`about_to_write`): start the new key epoch now if
    the folder or remote is reachable; otherwise the next sync does it, and
    until then nothing written after the departure leaves this home (see
    SyncEngine.export). `folder`: the group's own unless given (tests)."""
    try:
        folder = folder or folder_for(group)
        folder.check(expect_existing=False)
    except SyncUnavailable:
        return False
    folder.prepare()
    engine = SyncEngine(group, folder, Keyring.load(group.path))
    listing = {f.path: f for f in folder.list()}
    # What others wrote first, as a sync does: a departure we have not seen
    # yet decides what of ours may go out under the key we hold.
    engine.catch_up(listing, SyncReport())
    # The removal itself goes out under the old key, so the member learns of it;
    # everything after the rotation is written under the new one.
    engine.export(listing)
    return engine.rotate_as_needed(listing, SyncReport(), about_to_write=about_to_write)


def leave(group: Group, folder: FolderStore | None = None) -> None:
    """Leave the group. If someone went and nobody has renewed the key yet,
    renew it first, while still a member: the leave is dated after their
    departure, so it could only go out under a new key, which someone who has
    left may not make; the others might never hear of it."""
    from tablespace.sync.roster import departure_hlc, leave_group

    status = group.my_status
    if status != "active":  # a refusal (exit 1), not a permission the fold would deny
        raise TablespaceError(
            {
                None: "you are not a member yet (a moderator has not admitted you), so there is nothing to leave",
                "left": "you have already left this group",
                "removed": "you were removed from this group, so there is nothing to leave",
            }[status]
        )
    moderators = queries.moderator_count(group.conn)
    if (
        not (group.is_moderator and moderators == 1) and departure_hlc(group, Keyring.load(group.path)) is not None
    ):  # else nothing to renew, no folder
        rotate_now(group, about_to_write=True, folder=folder)
    leave_group(group)


def deny(group: Group, ref: str, reason: str) -> None:
    """Turn a request down and tell the joiner (the answer says only that;
    the reason is sealed for the moderators)."""
    folder = _requests_folder(group)
    request = find_request(group, folder, ref)
    with group.store.db.atomic():
        op = group.write("request.deny", {"request": request.id})
        document(group, op.id, reason, what=f"{request.name} ({request.id[:8]})")
    # After the decision, and best-effort: a folder that refuses the file must
    # not undo it (a moderator's next sync answers it then; answer_requests).
    write_answer(folder, request, "declined", group.id)
