"""What the application layer asks of sync: reaching the group's folder or
git remote, a sync round, join requests waiting in the folder, renewing the
group's key at once, and the folder checks `doctor` runs."""

from __future__ import annotations

from collections.abc import Iterator

from tablespace.core import group_queries, member_queries
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group, Transport
from tablespace.sync.engine import QUARANTINE_DIR, SyncEngine, SyncReport
from tablespace.sync.folder import OUTBOX, FolderStore, SyncUnavailable
from tablespace.sync.git import GitRemote, absolute_url, redact
from tablespace.sync.keyring import Keyring
from tablespace.sync.membership import (
    JoinRequest,
)
from tablespace.sync.requests import undecided_requests
from tablespace.sync.syncthing import conflict_copy_checks
from tablespace.sync.watched import running_watch


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
    """For `doctor`: the group's folder or git remote, links in it, what
    Syncthing keeps of conflicts there, and the quarantine."""
    yield _check_transport(group)
    yield from _check_links(group)
    if group.transport.folder is not None:
        yield from conflict_copy_checks(group.transport.folder)
    # As the last sync left them: a file that later arrived whole is imported,
    # not counted (one gone from the folder since is, until the next sync).
    quarantined = group_queries.quarantined_count(group.conn)
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
    """The round's engine; handed what a watch running in this process saw
    change in the folder, if one runs (sync/watched.py)."""
    return SyncEngine(group, folder_for(group), Keyring.load(group.path), seen=running_watch(group.path))


def run_round(group: Group) -> SyncReport:
    """One round: import, export; over git, pull first and push after."""
    if not group.transport.git:
        return engine_for(group).run()
    keyring = Keyring.load(group.path)  # before the pull: locked keys that do not open change nothing
    remote = GitRemote.for_group(group)
    folder = remote.pull()
    # Unpushed commits (what `admit` or an interrupted round left in the
    # tree, committed by pull) go out with this round's: our reports must
    # wait for a push with nothing else of ours.
    # Packing works as in a folder: the clone shares the removal of a small
    # file of ours that a pack of ours holds (GitRemote._packed_away).
    engine = SyncEngine(group, folder, keyring, send_reports=not remote.ahead())
    report = engine.run()
    remote.publish()
    return report


def pending_requests(group: Group, *, pull: bool = True) -> list[JoinRequest]:
    """Join requests waiting for a decision (see sync/requests.py); `pull`
    as in folder_for."""
    return undecided_requests(group, requests_folder(group, pull=pull))


def requests_folder(group: Group, *, pull: bool = True) -> FolderStore:
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


def name_taken_refusal(group: Group, request: JoinRequest) -> str:
    """Why a request cannot be admitted under its name, and what to do instead."""
    holder = member_queries.member_names(group.conn).get(request.name_taken_by or "", "a member")
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
