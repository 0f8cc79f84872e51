"""Pairing a new device with a member's existing one, through the folder.

- `device add` on a device the member has makes a one-time pairing code
  (the group id and a random secret, `tsd1-…`), kept in that home only with
  its expiry: no op, nobody else learns it.
- `device link CODE` on the new device's home makes its keys and leaves a
  pairing request under `devices/` in the folder: the same sealed, signed
  file as a join request (sync/membership.py), under a key derived from the
  pairing secret, so the folder host reads neither the name nor the keys.
- The existing device's next sync (`approve_pairings`) finds the request its
  code opens, certifies the new key in a `device.add` op and grants it every
  group key it holds (a grant file under keys/<device>/) and a new key for
  each of the member's circles that reaches it too (sync/circle_keys.py),
  all in one transaction, and marks the code used: it lets in one device.
  Until the code expires, a request made with it again is refused with a
  sealed answer (answers/, as a join request's) that the waiting home's
  sync reads (`pairing_answer`), so it does not wait forever.
- Every sync of a device grants the member's other devices the keys older
  than them that reached it only after the pairing (`supply_my_devices`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from tablespace.core import log_queries, member_queries
from tablespace.core.clock import now_ms
from tablespace.core.errors import TablespaceError
from tablespace.core.fold import invite_id_for
from tablespace.core.group import Group
from tablespace.core.log_queries import Sibling
from tablespace.sync.circle_keys import renew_my_circle_keys
from tablespace.sync.folder import FolderStore
from tablespace.sync.keyring import Keyring
from tablespace.sync.keys import ExchangeKey
from tablespace.sync.membership import (
    CODE_USED,
    MAX_REQUEST_BYTES,
    REQUEST_SUFFIX,
    BadMembershipFile,
    JoinRequest,
    answer_path,
    decode_request,
    peek_request_invite,
    request_id_for,
)
from tablespace.sync.requests import answer_to_request, write_answer
from tablespace.sync.roster import granted_to, memo_in_meta, write_grant

DEVICES_DIR = "devices"
PAIRING_META = "pairing_codes"  # invite id of each code -> {"secret", "expires_ms", "name", "used"}
PAIRING_REQUEST_META = "pairing_request"  # on a waiting home: the id of its newest pairing request
PAIRED_META = "devices_paired"  # each device this home paired -> [exchange key, HLC of its device.add]
SUPPLIED_META = "devices_supplied"  # each other device of ours -> the keys decided for it ("epoch:key id")
CODE_RE = re.compile(r"^tsd1-([0-9a-f]{32})-([0-9a-f]{32})-([0-9a-f]{4})$")


def make_pairing_code(group_id: str, secret: bytes) -> str:
    return f"tsd1-{group_id}-{secret.hex()}-{_code_check(group_id, secret)}"


def _code_check(group_id: str, secret: bytes) -> str:
    return hashlib.sha256(b"tablespace pairing check\x00" + bytes.fromhex(group_id) + secret).hexdigest()[:4]


def parse_pairing_code(code: str) -> tuple[str, bytes]:
    match = CODE_RE.match(code.strip().lower())
    if not match:
        raise TablespaceError(
            "that is not a device pairing code (it looks like tsd1-…); run `tablespace device add` on your other device"
        )
    group_id, secret = match.group(1), bytes.fromhex(match.group(2))
    if match.group(3) != _code_check(group_id, secret):
        raise TablespaceError("that pairing code has a typo in it (its check does not match); copy it again")
    return group_id, secret


def pairing_request_path(data: bytes) -> str:
    return f"{DEVICES_DIR}/{request_id_for(data)}{REQUEST_SUFFIX}"


def remember_code(group: Group, secret: bytes, expires_ms: int, this_name: str | None) -> None:
    codes = pending_codes(group)
    codes[invite_id_for(secret)] = {"secret": secret.hex(), "expires_ms": expires_ms, "name": this_name}
    with group.store.db.atomic():
        group.store.set_meta(PAIRING_META, json.dumps(codes, sort_keys=True))


def pending_codes(group: Group) -> dict[str, dict[str, object]]:
    """This home's pairing codes until they expire, used ones too (marked
    "used": a request made with one again is refused); expired ones until
    the next round forgets them (a request made with one is passed over)."""
    try:
        codes = json.loads(group.store.get_meta(PAIRING_META, "") or "{}")
    except ValueError:
        return {}
    return codes if isinstance(codes, dict) else {}


@dataclass(frozen=True)
class Pairings:
    approved: int = 0  # new devices let in
    # requests made with a code another request had used (two homes linked
    # with one code), refused and told so this round: a code is single use
    refused: int = 0


def approve_pairings(group: Group, folder: FolderStore, keyring: Keyring) -> Pairings:
    """Certify each new device whose pairing request one of our unexpired
    codes opens, and grant it every group key we hold. A code lets in one
    device: of several requests made with it, the first (by the time it
    says it was made, then its id) wins and the others, then or until the
    code expires, are refused, each home told so once (`_refuse`). Only as an active member: a device of someone who has gone adds nothing."""
    codes = pending_codes(group)
    if not codes or group.my_status != "active":
        return Pairings()
    live = {code: entry for code, entry in codes.items() if int(str(entry.get("expires_ms", 0))) > now_ms()}
    approved = refused = 0
    for request, code in _requests(folder, group.id, live):
        if request.member_id in log_queries.member_of_signer(group.conn) or member_queries.member_status(
            group.conn, request.member_id
        ):
            continue  # paired already (another round, or a copy of the request)
        entry = live[code]
        if entry.get("used"):  # another home's request used this code first
            refused += _refuse(folder, request, group.id)
            continue
        payload = {
            "device": request.member_id,
            "public_key": request.public_key.hex(),
            "exchange_key": request.exchange_key.hex(),
            "name": request.name,
        }
        if isinstance(entry.get("name"), str):
            payload["this_name"] = str(entry["name"])
        with group.store.db.atomic():  # the certificate, its keys and the used code, all or nothing
            op = group.write("device.add", payload)
            _remember_paired(group, request.member_id, request.exchange_key.hex(), op.hlc)
            write_grant(
                group, folder, request.member_id, request.exchange_key, [(k.epoch, k.key) for k in keyring.keys]
            )
            live[code] = {**entry, "used": True}
            group.store.set_meta(PAIRING_META, json.dumps(live, sort_keys=True))
            renew_my_circle_keys(group)  # carrying every earlier key, for the new device too
        approved += 1
    if live != codes and not approved:  # codes that expired are forgotten
        with group.store.db.atomic():
            group.store.set_meta(PAIRING_META, json.dumps(live, sort_keys=True))
    return Pairings(approved, refused)


def _refuse(folder: FolderStore, request: JoinRequest, group_id: str) -> int:
    """Tell a request's home, once, that its code had let in another device:
    1 if this round wrote the answer, else 0 (written before, or the folder
    refused it and a later round tries again)."""
    if folder.exists(answer_path(request.id)):
        return 0
    return 1 if write_answer(folder, request, CODE_USED, group_id) else 0


def pairing_answer(group: Group, folder: FolderStore, exchange: ExchangeKey) -> str | None:
    """On a home waiting for its member's other device: the answer to its
    newest pairing request, if that device refused it ("code used")."""
    return answer_to_request(group, folder, exchange, PAIRING_REQUEST_META)


def supply_my_devices(group: Group, folder: FolderStore, keyring: Keyring, siblings: list[Sibling]) -> None:
    """Grant each other device of ours, not removed, every group key we hold
    that was made before it was added and that it has no grant of: what its
    pairing would have carried had we held the key then (it reached us
    later: a key made while we had not synced). Also once our member has
    gone, so a device paired meanwhile can read the removal written under
    it. Only keys older than the device: a newer one its maker did not wrap
    for it may have left it out on a removal we have not seen. Except, once
    our member has gone, for a device we paired that the log refused (the
    removal named none of its pairing): no rotation lists it and nobody can
    remove it, so only we can hand it the keys, up to the one that carries
    our removal. Once per (device, key); in the usual round no file is read.
    `siblings`: the round's `log_queries.sibling_devices`."""
    others = _my_other_devices(group, siblings)
    if not others:
        return  # the usual member: one device
    refused = set()
    if group.my_status in ("removed", "left"):
        refused = {d for d, _, _ in others} - {d for d, _, _ in siblings}
    made = log_queries.epochs_created(group.conn)
    held = {(k.epoch, k.key_id): k for k in keyring.keys if (k.epoch, k.key_id) in made}
    listed = {(epoch, key_id): set(who.split(",")) for epoch, key_id, who in log_queries.epoch_recipients(group.conn)}
    memo = memo_in_meta(group, SUPPLIED_META)
    before = json.dumps(memo, sort_keys=True)
    granters = log_queries.signing_ids(group.conn, member_queries.member_ids(group.conn))
    for device, exchange, added_hlc in others:
        decided = set(memo.get(device, []))
        owed = {
            f"{epoch}:{key_id}": k
            for (epoch, key_id), k in held.items()
            if (made[(epoch, key_id)] < added_hlc or device in refused) and device not in listed[(epoch, key_id)]
        }
        todo = {name: k for name, k in owed.items() if name not in decided}
        if not todo:
            continue
        have = granted_to(group, folder, device, granters)
        missing = [(k.epoch, k.key) for k in todo.values() if (k.epoch, k.key_id) not in have]
        if missing:
            write_grant(group, folder, device, bytes.fromhex(exchange), missing)
        memo[device] = sorted(decided | set(todo))
    if json.dumps(memo, sort_keys=True) != before:
        with group.store.db.atomic():
            group.store.set_meta(SUPPLIED_META, json.dumps(memo, sort_keys=True))


def _my_other_devices(group: Group, siblings: list[Sibling]) -> list[Sibling]:
    """(id, exchange key, added HLC) of our member's other devices the log
    holds, not removed, and of those this home paired, which the log may
    have refused since (our member was removed before the others saw the
    pairing): the same person's, who must still read of the removal."""
    found = {d: (d, x, at) for d, x, at in siblings}
    removed = log_queries.removed_devices(group.conn)
    for device, (exchange, at) in _paired(group).items():
        if device not in found and device not in removed:
            found[device] = (device, exchange, at)
    return sorted(found.values())


def _remember_paired(group: Group, device: str, exchange: str, hlc: int) -> None:
    paired = {d: [x, at] for d, (x, at) in _paired(group).items()}
    paired[device] = [exchange, hlc]
    group.store.set_meta(PAIRED_META, json.dumps(paired, sort_keys=True))


def _paired(group: Group) -> dict[str, tuple[str, int]]:
    """The devices this home paired: id -> (exchange key, HLC of its device.add)."""
    try:
        stored = json.loads(group.store.get_meta(PAIRED_META, "") or "{}")
        return {str(d): (str(x), int(at)) for d, (x, at) in stored.items()}
    except (ValueError, TypeError, AttributeError):
        return {}


def _requests(folder: FolderStore, group_id: str, codes: dict[str, dict[str, object]]) -> list[tuple[JoinRequest, str]]:
    """(request, the code that opens it) of every pairing request in the
    folder one of `codes` opens; damaged or foreign files are passed over."""
    found = []
    for path in folder.small_files(DEVICES_DIR, REQUEST_SUFFIX):
        try:
            data = folder.read(path, MAX_REQUEST_BYTES)
            code = peek_request_invite(data, group_id)
            entry = codes.get(code)
            if entry is None:
                continue
            request = decode_request(data, group_id=group_id, secret=bytes.fromhex(str(entry["secret"])))
        except (OSError, BadMembershipFile, ValueError):
            continue
        if PurePosixPath(path).stem == request.id:
            found.append((request, code))
    return sorted(found, key=lambda pair: (pair[0].created_at, pair[0].id))
