"""Join requests as moderators and joiners see them in the shared folder:
which are still waiting for a decision, answering the ones that can no
longer be admitted, and a joiner reading the answer to their own."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import PurePosixPath

from tablespace.core import log_queries, member_queries
from tablespace.core.clock import datetime_to_hlc, now
from tablespace.core.group import Group
from tablespace.core.names import name_key
from tablespace.sync.folder import FolderStore
from tablespace.sync.keys import ExchangeKey
from tablespace.sync.membership import (
    ANSWER_SUFFIX,
    CODE_USED,
    GRANT_SUFFIX,
    MAX_ANSWER_BYTES,
    MAX_REQUEST_BYTES,
    REQUEST_SUFFIX,
    BadMembershipFile,
    JoinRequest,
    answer_path,
    decode_answer,
    decode_request,
    encode_answer,
    is_withdrawn,
    peek_request_invite,
    withdrawal_path,
)
from tablespace.sync.moderation import invite_secrets
from tablespace.sync.sealing import my_exchange_key

# What a joiner is told, for each answer (membership.ANSWERS).
ANSWER_WORDS = {
    "declined": "the moderators turned down your request to join this group",
    "invite used up": "your invite code was used up before a moderator could admit you: ask for a new code, "
    "then `tablespace join` again from this home",
    "invite expired": "your invite code expired before a moderator could admit you: ask for a new code, "
    "then `tablespace join` again from this home",
    "name taken": "the display name you asked for is taken in this group (names that differ only in case, width "
    "or invisible characters are one name): `tablespace join` again from this home with another --as",
    CODE_USED: "that code was already used: ask for a new one (`tablespace device add` on your other device), "
    "then `tablespace device link CODE --name NAME` again from this home",
}
# What moderators are told of a request that cannot be admitted, by its problem.
PROBLEM_NOTES = {
    "invite used up": "they are told to ask for a new code",
    "invite expired": "they are told to ask for a new code",
    "name taken": "they are told to join again with another name",
}


def undecided_requests(group: Group, folder: FolderStore) -> list[JoinRequest]:
    """Join requests in the folder that we can read, nobody has decided and
    the joiner has not withdrawn. One whose invite is used up or expired, or
    whose name a member has (`name_taken_by`), cannot be admitted: it says so
    in `problem` (and its joiner is told)."""
    decided = log_queries.decided_requests(group.conn)
    names = {key: member for member, key in member_queries.member_name_keys(group.conn)}
    invites = log_queries.invite_uses(group.conn)
    found = []
    for request in _readable_requests(group, folder, skip=decided):
        if request.member_id in names.values() or _withdrawn(folder, request, group.id):
            continue
        holder = names.get(name_key(request.name))
        problem = _invite_problem(invites.get(request.invite)) or ("name taken" if holder else None)
        found.append(replace(request, problem=problem, name_taken_by=holder))
    return sorted(found, key=lambda r: (r.created_at, r.id))


def _readable_requests(
    group: Group, folder: FolderStore, *, skip: set[str], only: set[str] | None = None
) -> Iterator[JoinRequest]:
    """The requests in the folder we hold the invite secret for, except those
    in `skip` (or only those in `only`), known by their file names (a
    request's id), so no other is read. Unreadable files are passed over:
    another moderator's invite not synced yet, or damage."""
    secrets: dict[str, bytes] | None = None  # opened only if a request is read
    for path in folder.small_files("requests", REQUEST_SUFFIX):
        name = PurePosixPath(path).stem
        if name in skip or (only is not None and name not in only):
            continue
        try:
            data = folder.read(path, MAX_REQUEST_BYTES)
            secrets = invite_secrets(group, my_exchange_key(group)) if secrets is None else secrets
            secret = secrets.get(peek_request_invite(data, group.id))
            if secret is not None:
                request = decode_request(data, group_id=group.id, secret=secret)
                if request.id not in skip:
                    yield request
        except (OSError, BadMembershipFile):
            continue


def _withdrawn(folder: FolderStore, request: JoinRequest, group_id: str) -> bool:
    try:
        data = folder.read(withdrawal_path(request.id), 1024)
    except OSError:
        return False
    return is_withdrawn(data, request, group_id=group_id)


def _invite_problem(invite: tuple[int, int, int] | None) -> str | None:
    """Why a request's invite can no longer admit anyone (the fold's own
    checks in member.add), as an answer's words; None if it still can."""
    if invite is None:
        return None
    expires_hlc, uses, used = invite
    if used >= uses:
        return "invite used up"
    if datetime_to_hlc(now()) > expires_hlc:
        return "invite expired"
    return None


def answer_requests(group: Group, folder: FolderStore) -> int:
    """A moderator's sync answers, once, each request that will not lead to
    admission, so its joiner does not wait forever: one turned down (`deny`
    answers it at once; this catches an answer it could not write) and one
    whose invite was used up or expired (they ask for a new code)."""
    answered = {PurePosixPath(p).stem for p in folder.small_files("answers", ANSWER_SUFFIX)}
    denied = log_queries.decided_requests(group.conn, decision="denied")
    unanswered = denied - answered
    due = (
        [(r, "declined") for r in _readable_requests(group, folder, skip=answered, only=unanswered)]
        if unanswered
        else []
    )
    due += [
        (r, r.problem)
        for r in undecided_requests(group, folder)
        if r.problem and r.id not in answered and not _admission_on_its_way(group, folder, r)
    ]
    told = 0
    for request, answer in due:
        if not write_answer(folder, request, answer, group.id):
            break  # the folder refused (full, read-only): a later round tells them
        told += 1
    return told


def _admission_on_its_way(group: Group, folder: FolderStore, request: JoinRequest) -> bool:
    """Whether another moderator admitted a request whose name we see taken,
    and their admission has not reached us: it may come first in the fold
    and win the name. Its key grant is in the folder, and our log holds no
    refused admission of it (once it does, the name went to someone else)."""
    if request.problem != "name taken" or not any(folder.small_files(f"keys/{request.member_id}", GRANT_SUFFIX)):
        return False
    return request.id not in refused_admissions(group)


def refused_admissions(group: Group) -> set[str]:
    """The join requests whose admission the fold refused (another moderator
    admitted someone else under the name first, by the fold's order)."""
    rows = log_queries.refused_ops_of_kind(group.conn, "member.add")
    return {request for row in rows if isinstance(request := group.store.read_op(*row).payload.get("request"), str)}


def write_answer(folder: FolderStore, request: JoinRequest, answer: str, group_id: str) -> bool:
    """Leave the answer for the joiner unless one is there; False if the folder
    refused it (a later moderator's sync tries again)."""
    path = answer_path(request.id)
    if folder.exists(path):
        return True  # write-once: the first answer stands
    try:
        folder.write_once(path, encode_answer(request, answer, group_id=group_id))
    except OSError:
        return False
    return True


def join_answer(group: Group, folder: FolderStore, exchange: ExchangeKey) -> str | None:
    """For a joiner not admitted yet: the moderators' answer, if there is one."""
    return answer_to_request(group, folder, exchange, "join_request")


def answer_to_request(group: Group, folder: FolderStore, exchange: ExchangeKey, meta_key: str) -> str | None:
    """The answer in the folder to the request this home, not admitted yet,
    made last (its id under `meta_key`), if there is one."""
    request_id = group.store.get_meta(meta_key)
    if not request_id or group.my_status is not None:
        return None
    try:
        data = folder.read(answer_path(request_id), MAX_ANSWER_BYTES)
        return decode_answer(data, group_id=group.id, request_id=request_id, exchange=exchange)
    except (OSError, BadMembershipFile):
        return None  # none yet (or a forged one: ignored, the request stands)
