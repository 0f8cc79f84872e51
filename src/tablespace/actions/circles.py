"""Circles: small rooms inside the group with keys of their own
(core/circles.py). Making one wraps a new key for each device of its members
(sync/circle_keys.py);
anything written in one goes out as a `circle.sealed` op that only they open.

Whoever lets someone in makes a new key for everyone then in the circle,
carrying the earlier keys (the newcomer reads the history). After someone
leaves or is removed, from the circle or the group, the next member to write
in it makes a new key first (`renew_key_if_needed`): the one who left holds
every key up to then, and a moderator outside the circle, who may remove
someone from it, holds none to renew."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from tablespace.core import circle_queries, limits, member_queries
from tablespace.core.circles import MAX_MEMBERS, MIN_MEMBERS, OpPlace, new_circle_key, seal_box, wrap_for
from tablespace.core.clock import today
from tablespace.core.errors import TablespaceError, UsageError, checked_before_writing
from tablespace.core.group import Group
from tablespace.core.ops import Op
from tablespace.core.refs import resolve_any_circle, resolve_circle
from tablespace.sync.circle_keys import exchange_keys, renew_key_if_needed, write_key_op


def circle_add(group: Group, name: str, members: Iterable[str], purpose: str = "", ends: str | None = None) -> str:
    """Make a circle of `members` and us; returns its id."""
    return _make_circle(group, _checked_details(name, purpose, ends), [group.member_id(m) for m in members])


def _make_circle(group: Group, details: dict[str, Any], members: Iterable[str]) -> str:
    ids = sorted({group.me, *members})
    if not MIN_MEMBERS <= len(ids) <= MAX_MEMBERS:
        raise UsageError(f"a circle has {MIN_MEMBERS} to {MAX_MEMBERS} members, you included ({len(ids)} given)")
    keys = exchange_keys(group, ids)
    circle_key = new_circle_key()

    def payload(place: OpPlace) -> dict[str, Any]:
        return {
            "members": ids,
            "epoch": 0,
            "wrapped": {k: wrap_for(circle_key, keys[k], place) for k in sorted(keys)},
            **seal_box(circle_key, details, place.binding("details")),
        }

    return group.write("circle.create", payload).id


def _checked_details(name: str, purpose: str, ends: str | None) -> dict[str, Any]:
    """The sealed details as the fold checks them: members would otherwise
    see an unnamed circle."""
    details: dict[str, Any] = {"name": name.strip(), "purpose": purpose, "ends": ends}
    with checked_before_writing():
        limits.one_line(details, "name", label="circle name", max_chars=limits.NAME_MAX * 2)
        limits.text(details, "purpose", label="purpose", max_chars=limits.SUMMARY_MAX, required=False)
    if ends is not None:
        details["ends"] = _checked_end(ends)
    return details


def _checked_end(ends: str) -> str:
    """A circle's last day, refused if it has passed on our clock: a circle
    would be made ended. Today is its last day, so it is taken."""
    try:
        day = datetime.date.fromisoformat(ends.strip())
    except ValueError:
        raise UsageError(f"--ends {ends!r} is not a date: give YYYY-MM-DD") from None
    if day < today():
        raise TablespaceError(f"the end date {day.isoformat()} has passed: give today or a later day as YYYY-MM-DD")
    return day.isoformat()


def circle_invite(group: Group, circle_ref: str, member_ref: str) -> None:
    """Let a member of the group into one of our circles."""
    circle = circle_id(group, circle_ref)
    member = group.member_id(member_ref)
    with group.store.db.atomic():
        renew_key_if_needed(group, circle)  # the newcomer's key must not reach anyone who went
        members = circle_queries.circle_member_ids(group.conn, circle)
        if member in members:
            raise TablespaceError("they are in that circle already")
        write_key_op(group, "circle.invite", circle, [*members, member], {"member": member})


def circle_remove(group: Group, circle_ref: str, member_ref: str) -> None:
    """As the circle's maker or a moderator, take someone out of a circle;
    as a member of it, make its new key at once."""
    circle = _any_circle(group, circle_ref)
    member = group.member_id(member_ref)
    if member == group.me:
        raise UsageError("to go yourself, use `tablespace circle leave`")
    with group.store.db.atomic():
        group.write("circle.remove", {"circle": circle, "member": member})
        if group.me in circle_queries.circle_member_ids(group.conn, circle):
            renew_key_if_needed(group, circle)


def circle_leave(group: Group, circle_ref: str) -> None:
    """Leave one of our circles; the others make its next key without us."""
    group.write("circle.leave", {"circle": circle_id(group, circle_ref)})


def _any_circle(group: Group, ref: str) -> str:
    """One of our circles by name or id prefix, or (for a moderator, who sees
    every circle's members but not its name) any circle by id prefix."""
    try:
        return circle_id(group, ref)
    except TablespaceError:
        if not group.is_moderator:
            raise
    return resolve_any_circle(group.conn, ref)


def all_circles(group: Group) -> list[circle_queries.CircleOverview]:
    """Moderators: every circle in the group, with what the fold shows of it
    to everyone (members, size, activity), and no name or content unless we
    are in it. Someone a circle holds may need taking out of it (`circle_remove`
    names a circle we are not in by its id)."""
    group.require_moderator()
    return circle_queries.all_circles(group.conn, group.me)


def circle_id(group: Group, ref: str) -> str:
    """One of our circles, by name or id prefix."""
    return resolve_circle(group.conn, ref, group.me)


def write_in_room(group: Group, circle: str | None, kind: str, payload: dict[str, Any]) -> Op:
    """Write a content op in the group's room (`circle` None) or sealed in a
    circle's, under a new key first if someone has gone from it."""
    if circle is None:
        return group.write(kind, payload)
    with group.store.db.atomic():
        renew_key_if_needed(group, circle)
        key_op, epoch = circle_queries.circle_current_key(group.conn, circle)
        key = group.store.circle_keys.learn(group.conn, circle, key_op)
        if key is None:
            raise TablespaceError("you hold no key for that circle, so you cannot write in it")

        def sealed(place: OpPlace) -> dict[str, Any]:
            inner = {"kind": kind, "payload": payload}
            return {"circle": circle, "epoch": epoch, **seal_box(key, inner, place.binding("op", circle, str(epoch)))}

        return group.write("circle.sealed", sealed)


def dm(group: Group, member_ref: str, body: str) -> str:
    """A direct message: in our two-person conversation with `member` (made
    on first use), its one thread; returns the thread's id."""
    member = group.member_id(member_ref)
    if member == group.me:
        raise UsageError("a direct message goes to someone else")
    with group.store.db.atomic():
        circle = _direct_circle(group, member)
        thread = circle_queries.direct_thread(group.conn, circle)
        if thread is not None:
            write_in_room(group, circle, "post.reply", {"thread": thread, "body": body})
            return thread
        names = member_queries.member_names(group.conn)
        title = f"{names.get(group.me, 'me')} and {names.get(member, member[:8])}"
        return write_in_room(group, circle, "thread.start", {"title": title, "body": body, "tags": []}).id


def _direct_circle(group: Group, member: str) -> str:
    """Our direct conversation with `member`, made if there is none."""
    for direct in circle_queries.dms(group.conn, group.me):
        if direct.with_member == member:
            return direct.id
    names = member_queries.member_names(group.conn)
    details = {"name": f"{names.get(group.me, 'me')} and {names.get(member, member[:8])}", "purpose": "", "ends": None}
    return _make_circle(group, {**details, "dm": True}, [member])
