"""Giving out circle keys (core/circles.py): each is wrapped for every
device of every member of the circle that has published an exchange key, so
a member reads a circle from each of their devices.

A new key is made when the devices the current key reached differ from the
circle members' devices now (circle_queries.circle_needs_new_key): someone went, a
device was removed, or one was added. It carries the earlier keys its maker
holds, sealed under it, so whoever it reaches reads the circle's history.
Whoever writes in the circle renews it first, and so does every member's
sync: the member who made someone go may hold no key of the circle.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tablespace.core import circle_queries, member_queries
from tablespace.core.circles import OpPlace, new_circle_key, seal_prev_keys, sealed_prev_aad, wrap_for
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group


def exchange_keys(group: Group, members: Iterable[str]) -> dict[str, bytes]:
    """Signing key -> exchange key of every device of `members` a circle key
    is wrapped for; refused if one of them has published none yet."""
    members = sorted(set(members))
    holders = circle_queries.circle_holders(group.conn, members)
    reached = {member for member, _ in holders.values()}
    names = member_queries.member_names(group.conn)
    for member in members:
        if member not in reached:
            raise TablespaceError(
                f"{names.get(member, member[:8])} has no exchange key in the log yet (they have not synced since "
                "joining); try again after they have"
            )
    return {key: bytes.fromhex(exchange) for key, (_, exchange) in holders.items()}


def write_key_op(
    group: Group, kind: str, circle: str, members: Iterable[str], extra: dict[str, Any] | None = None
) -> None:
    """Write `kind` (circle.invite or circle.rekey) with a new key wrapped for
    the devices of `members`, the earlier keys we hold sealed under it."""
    held = group.store.circle_keys.held(group.conn, circle)
    if not held:
        raise TablespaceError("you hold no key for that circle, so you cannot give one out")
    keys = exchange_keys(group, members)
    epoch = circle_queries.circle_current_key(group.conn, circle)[1] + 1
    key = new_circle_key()

    def payload(place: OpPlace) -> dict[str, Any]:
        bound = place.binding("key")
        return {
            "circle": circle,
            **(extra or {}),
            "epoch": epoch,
            "wrapped": {k: wrap_for(key, keys[k], place) for k in sorted(keys)},
            **seal_prev_keys(key, held, sealed_prev_aad(bound)),
        }

    group.write(kind, payload)


def renew_key_if_needed(group: Group, circle: str) -> bool:
    """A new key for the circle if its devices changed since the current one
    (circle_queries.circle_needs_new_key); returns whether one was made."""
    if not circle_queries.circle_needs_new_key(group.conn, circle):
        return False
    write_key_op(group, "circle.rekey", circle, circle_queries.circle_member_ids(group.conn, circle))
    return True


def renew_my_circle_keys(group: Group) -> int:
    """A new key for each of my circles whose devices changed: after one of
    my devices was added or removed (an added device reads them, the key
    carrying the earlier ones; a removed one reads nothing written after),
    and on every sync, for a departure whose author held no key of the
    circle to renew it with (a moderator outside it removing someone from
    the group). A circle we hold no key for is left to its other members;
    returns how many were renewed."""
    renewed = 0
    for circle in circle_queries.circles_of(group.conn, group.me):
        if group.store.circle_keys.held(group.conn, circle):
            renewed += renew_key_if_needed(group, circle)
    return renewed


def renew_stale_circle_keys(group: Group) -> int:
    """On a sync, as an active member: `renew_my_circle_keys`, each circle on
    its own (one whose member has published no exchange key yet waits for
    them and holds back none of the others); returns how many were renewed."""
    if group.my_status != "active":
        return 0
    renewed = 0
    for circle in circle_queries.circles_of(group.conn, group.me):
        if not group.store.circle_keys.held(group.conn, circle):
            continue
        try:
            with group.store.db.atomic():
                renewed += renew_key_if_needed(group, circle)
        except TablespaceError:
            continue
    return renewed
