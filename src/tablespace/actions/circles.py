"""Circles: small rooms inside the group with keys of their own
(core/circles.py). Making one wraps a new key for each of its members;
anything written in one goes out as a `circle.sealed` op that only they open."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from tablespace.core import limits, queries
from tablespace.core.circles import MAX_MEMBERS, MIN_MEMBERS, OpPlace, new_circle_key, seal_box, wrap_for
from tablespace.core.errors import Rejected, TablespaceError, UsageError
from tablespace.core.group import Group
from tablespace.core.ops import Op
from tablespace.core.refs import resolve_circle


def circle_add(group: Group, name: str, members: Iterable[str], purpose: str = "", ends: str | None = None) -> str:
    """Make a circle of `members` and us; returns its id."""
    details = _checked_details(name, purpose, ends)
    ids = sorted({group.me, *(group.member_id(m) for m in members)})
    if not MIN_MEMBERS <= len(ids) <= MAX_MEMBERS:
        raise UsageError(f"a circle has {MIN_MEMBERS} to {MAX_MEMBERS} members, you included ({len(ids)} given)")
    names = queries.member_names(group.conn)
    keys = queries.exchange_keys(group.conn, ids)
    for member, key in keys.items():
        if key is None:
            raise TablespaceError(
                f"{names.get(member, member[:8])} has no exchange key in the log yet (they have not synced since "
                "joining); try again after they have"
            )
    circle_key = new_circle_key()

    def payload(place: OpPlace) -> dict[str, Any]:
        return {
            "members": ids,
            "epoch": 0,
            "wrapped": {m: wrap_for(circle_key, bytes.fromhex(keys[m] or ""), place) for m in ids},
            **seal_box(circle_key, details, place.binding("details")),
        }

    return group.write("circle.create", payload).id


def _checked_details(name: str, purpose: str, ends: str | None) -> dict[str, Any]:
    """The sealed details as the fold checks them: members would otherwise
    see an unnamed circle."""
    details: dict[str, Any] = {"name": name.strip(), "purpose": purpose, "ends": ends}
    try:
        limits.one_line(details, "name", label="circle name", max_chars=limits.NAME_MAX * 2)
        limits.text(details, "purpose", label="purpose", max_chars=limits.SUMMARY_MAX, required=False)
    except Rejected as exc:
        raise exc.refusal.error() from None
    if ends is not None:
        try:
            details["ends"] = datetime.date.fromisoformat(ends).isoformat()
        except ValueError:
            raise UsageError(f"--ends {ends!r} is not a date: give YYYY-MM-DD") from None
    return details


def circle_id(group: Group, ref: str) -> str:
    """One of our circles, by name or id prefix."""
    return resolve_circle(group.conn, ref, group.me)


def write_in_room(group: Group, circle: str | None, kind: str, payload: dict[str, Any]) -> Op:
    """Write a content op in the group's room (`circle` None) or sealed in a circle's."""
    if circle is None:
        return group.write(kind, payload)
    epoch = queries.circle_epoch(group.conn, circle)
    key = group.store.circle_keys.key(group.conn, circle, epoch)
    if key is None:
        raise TablespaceError("you hold no key for that circle, so you cannot write in it")

    def sealed(place: OpPlace) -> dict[str, Any]:
        inner = {"kind": kind, "payload": payload}
        return {"circle": circle, "epoch": epoch, **seal_box(key, inner, place.binding("op", circle, str(epoch)))}

    return group.write("circle.sealed", sealed)
