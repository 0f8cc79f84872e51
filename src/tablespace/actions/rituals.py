"""Rituals: recurring prompts, and opening the thread of each occurrence
that came due; quiet spells, in which none opens."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from tablespace.actions.circles import circle_id, write_in_room
from tablespace.core import calendar_queries, circle_queries, group_queries, post_queries
from tablespace.core.clock import iso, now
from tablespace.core.errors import TablespaceError, checked_before_writing
from tablespace.core.fold import derived_id
from tablespace.core.group import Group
from tablespace.core.keyfile import LockedKeyError
from tablespace.core.rituals import check_zone, occurrences_after, occurrences_between, parse_local_start, zone

# Rituals whose occurrence passed more than this long ago are not opened late.
RITUAL_CATCH_UP = timedelta(days=3)


def chosen_zone(group: Group, tz: str | None) -> str:
    """`tz` checked as the fold checks it, or the group's zone when none is given."""
    if not tz:
        return group_queries.group_settings(group.conn).tz
    with checked_before_writing():
        return check_zone(tz.strip())


def _today_in(zone_name: str) -> str:
    return now().astimezone(zone(zone_name)).date().isoformat()


def ritual_add(
    group: Group,
    name: str,
    prompt: str,
    rrule: str,
    start: str | None = None,
    tz: str | None = None,
    circle: str | None = None,
) -> str:
    """Moderators: add a recurring prompt; returns its id. `start` is a day
    (YYYY-MM-DD, at 09:00 on the ritual's clock), a local date and time, or an
    instant; today by default. `tz` is an IANA zone; the group's by default.
    In one of our circles (by name or id) any of its members adds one, and
    its occurrences open sealed in the circle."""
    room = None if circle is None else circle_id(group, circle)
    payload: dict[str, Any] = {"name": name.strip(), "prompt": prompt, "rrule": rrule.strip()}
    zone_name = chosen_zone(group, tz)
    if tz:
        payload["tz"] = zone_name
    payload["start"] = (start or _today_in(zone_name)).strip()
    return write_in_room(group, room, "ritual.add", payload).id


def _write_on_ritual(group: Group, ritual: str, kind: str, payload: dict[str, Any]) -> None:
    """An op on a ritual, written in the ritual's room (sealed in its circle)."""
    write_in_room(group, circle_queries.ritual_circle(group.conn, ritual), kind, {"ritual": ritual, **payload})


def ritual_edit(
    group: Group,
    ritual_ref: str,
    *,
    name: str | None = None,
    prompt: str | None = None,
    rrule: str | None = None,
    start: str | None = None,
    tz: str | None = None,
) -> None:
    """Moderators: change a ritual; None leaves a part as it is. A new zone
    with no new start keeps the ritual's time of day on the new clock."""
    if tz is not None:
        with checked_before_writing():
            tz = check_zone(tz.strip())
    given = {
        "name": name.strip() if name is not None else None,
        "prompt": prompt,
        "rrule": rrule.strip() if rrule is not None else None,
        "start": start.strip() if start is not None else None,
        "tz": tz,
    }
    payload: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if not payload:
        raise TablespaceError("nothing to change: give --name, --prompt, --rrule, --start or --tz")
    _write_on_ritual(group, group.ritual_id(ritual_ref), "ritual.edit", payload)


def ritual_pause(group: Group, ritual_ref: str, paused: bool = True, until: str | None = None) -> None:
    """Moderators: pause a ritual (until the start of `until`, a day on its
    clock, or an instant; else until resumed), or resume it."""
    ritual = _ritual(group, ritual_ref)
    payload: dict[str, Any] = {"paused": paused}
    if until is not None:
        moment = local_moment(until, ritual.tz)
        if moment <= now():
            raise TablespaceError(f"the pause would end at {iso(moment)}, which has passed")
        payload["until"] = iso(moment)
    _write_on_ritual(group, ritual.id, "ritual.pause", payload)


def ritual_resume(group: Group, ritual_ref: str) -> None:
    ritual_pause(group, ritual_ref, paused=False)


def ritual_remove(group: Group, ritual_ref: str) -> None:
    """Moderators: no occurrence opens any more; the threads of earlier ones stay."""
    _write_on_ritual(group, group.ritual_id(ritual_ref), "ritual.remove", {})


def ritual_skip(group: Group, ritual_ref: str, at: str | None = None, undo: bool = False) -> datetime:
    """Moderators: skip one occurrence (the next one that would open, or the
    first on the day or at the instant `at`), or take a skip back. Returns
    the occurrence's instant."""
    ritual = _ritual(group, ritual_ref)
    moment = _occurrence(ritual, at, skipped=undo)
    _write_on_ritual(group, ritual.id, "ritual.skip", {"at": iso(moment), "skipped": not undo})
    return moment


def _ritual(group: Group, ritual_ref: str) -> calendar_queries.RitualView:
    ritual_id = group.ritual_id(ritual_ref)
    found = next((r for r in calendar_queries.rituals(group.conn, now()) if r.id == ritual_id), None)
    if found is None:
        raise TablespaceError("no such ritual")
    return found


def _occurrence(ritual: calendar_queries.RitualView, at: str | None, *, skipped: bool) -> datetime:
    """The occurrence `at` names (a day on the ritual's clock, or an instant),
    or the next one that would open (with `skipped`, the next skipped one)."""
    if at is None:
        moments = occurrences_after(ritual.rrule, ritual.start, now(), ritual.tz)
        found = next((m for m in moments if (m in ritual.skipped) == skipped), None)
        if found is None:
            raise TablespaceError("no skipped occurrence to take back" if skipped else "no occurrence coming")
        return found
    since = local_moment(at, ritual.tz)
    until = since + timedelta(days=1, seconds=-1) if _is_day(at) else since
    found = next(iter(occurrences_between(ritual.rrule, ritual.start, since, until, ritual.tz)), None)
    if found is None:
        raise TablespaceError(f"{ritual.name} has no occurrence {'on' if _is_day(at) else 'at'} {at.strip()}")
    return found


def _is_day(text: str) -> bool:
    return len(text.strip()) == 10


def local_moment(text: str, zone_name: str) -> datetime:
    """A day (its start, midnight on the clock of `zone_name`), a local date
    and time there, or an instant with an offset, as an aware datetime."""
    text = text.strip()
    if _is_day(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise TablespaceError(f"{text!r} is not a date (use YYYY-MM-DD)") from None
        text = datetime.combine(day, time(0)).isoformat()
    with checked_before_writing():
        return parse_local_start(text, zone_name)


def quiet(group: Group, since: str, until: str, reason: str = "") -> str:
    """Moderators: a quiet spell for the whole group from the start of day
    `since` to the start of day `until` (on the group's clock; instants are
    taken as they are): no ritual opens inside it. Returns its id."""
    zone_name = group_queries.group_settings(group.conn).tz
    begins, ends = local_moment(since, zone_name), local_moment(until, zone_name)
    if ends <= begins:
        raise TablespaceError("a quiet spell ends after it starts: --until is the day things start again")
    payload: dict[str, Any] = {"from": iso(begins), "until": iso(ends)}
    if reason.strip():
        payload["reason"] = reason.strip()
    return group.write("quiet.start", payload).id


def quiet_end(group: Group) -> None:
    """Moderators: end the quiet spell under way now (and call off any set for later)."""
    group.write("quiet.end", {})


def open_due_rituals(group: Group) -> list[str]:
    """Open the threads of ritual occurrences that have come due (recent
    ones only); returns their ids. Every replica derives the same thread id,
    so two members doing this at once merge into one thread."""
    opened: list[str] = []
    moment = now()
    for ritual in calendar_queries.rituals(group.conn, moment - RITUAL_CATCH_UP):
        for at in occurrences_between(ritual.rrule, ritual.start, moment - RITUAL_CATCH_UP, moment, ritual.tz):
            if ritual.closed_because(at):
                continue
            thread = derived_id("ritual.occur", ritual.id, iso(at))
            if post_queries.thread_ever_existed(group.conn, thread):
                continue
            try:
                _write_on_ritual(group, ritual.id, "ritual.occur", {"at": iso(at)})
            except LockedKeyError:
                raise  # not a refusal: asking again for each ritual would not help
            except TablespaceError:
                return opened  # we may not write now (timed out, not admitted): others will open it
            opened.append(thread)
    return opened
