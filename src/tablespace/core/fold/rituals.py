"""Rituals: recurring prompts, and the thread each occurrence opens; quiet
spells, in which no occurrence opens."""

from __future__ import annotations

from datetime import datetime, timedelta

from tablespace.core import limits
from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.errors import Rejected
from tablespace.core.fold.context import FoldContext
from tablespace.core.fold.ids import derived_id
from tablespace.core.fold.registry import handles
from tablespace.core.ops import Op
from tablespace.core.rituals import (
    UTC_NAME,
    Closed,
    check_schedule,
    closed_because,
    in_zone,
    is_occurrence,
    parse_local_start,
    parse_start,
    start_text,
    zone_field,
)


def _zone_of(op: Op) -> str | None:
    """The zone the op names, or None if it names none."""
    return zone_field(op.payload) if "tz" in op.payload else None


def _group_zone(ctx: FoldContext) -> str:
    row = ctx.one("SELECT value FROM settings WHERE key = 'tz'")
    return str(row[0]) if row else UTC_NAME


def _instant(op: Op, key: str, label: str) -> datetime:
    return parse_start(limits.one_line(op.payload, key, label=label, max_chars=40))


def _require_keeper(ctx: FoldContext, op: Op, action: str) -> None:
    """The group's rituals are its moderators' to keep; a circle's, any of
    its members' (circle.sealed has checked the author is one)."""
    if ctx.circle is None:
        ctx.require_role(op, "moderator", action)
    else:
        ctx.require_active(op)


@handles("ritual.add")
def ritual_add(ctx: FoldContext, op: Op) -> None:
    _require_keeper(ctx, op, "add rituals")
    p = op.payload
    name = limits.one_line(p, "name", label="ritual name", max_chars=limits.TITLE_MAX)
    prompt = limits.text(p, "prompt", label="prompt", max_chars=limits.PROMPT_MAX)
    rule = limits.one_line(p, "rrule", label="RRULE", max_chars=limits.RRULE_MAX)
    # No zone given: the group's at this point of the order (UTC before a group had one).
    zone_name = _zone_of(op) or _group_zone(ctx)
    start = parse_local_start(limits.one_line(p, "start", label="start", max_chars=40), zone_name)
    check_schedule(rule, start, hlc_to_datetime(op.hlc))  # the op's own time: every replica decides alike
    ctx.run(
        """INSERT INTO rituals (id, name, prompt, rrule, start, tz, author, created_hlc, circle_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        op.id,
        name,
        prompt,
        rule,
        start_text(start),
        zone_name,
        op.author,
        op.hlc,
        ctx.circle,
    )


def _live_ritual(ctx: FoldContext, op: Op) -> tuple[str, str, str, str, str, str, int, str | None, str]:
    """(id, name, prompt, rrule, start, tz, paused, paused_until, author) of
    the ritual `op` names, in the room being folded: a ritual belongs to one
    room, as a thread does."""
    ritual = limits.ref(op.payload, "ritual", label="ritual")
    row = ctx.one(
        """SELECT id, name, prompt, rrule, start, tz, paused, paused_until, author FROM rituals
           WHERE id = ? AND circle_id IS ?""",
        ritual,
        ctx.circle,
    )
    if row is None:
        raise Rejected.missing("no such ritual")
    return row


@handles("ritual.edit")
def ritual_edit(ctx: FoldContext, op: Op) -> None:
    _require_keeper(ctx, op, "edit rituals")
    ritual_id, name, prompt, rule, start, zone_name, *_ = _live_ritual(ctx, op)
    p = op.payload
    if "name" in p:
        name = limits.one_line(p, "name", label="ritual name", max_chars=limits.TITLE_MAX)
    if "prompt" in p:
        prompt = limits.text(p, "prompt", label="prompt", max_chars=limits.PROMPT_MAX)
    if "rrule" in p:
        rule = limits.one_line(p, "rrule", label="RRULE", max_chars=limits.RRULE_MAX)
    new_zone = _zone_of(op) or zone_name
    if "start" in p:
        start = start_text(parse_local_start(limits.one_line(p, "start", label="start", max_chars=40), new_zone))
    elif new_zone != zone_name:  # keeps its time of day on the new zone's clock
        start = in_zone(start, zone_name, new_zone)
    check_schedule(rule, parse_local_start(start, new_zone), hlc_to_datetime(op.hlc))
    ctx.run(
        "UPDATE rituals SET name = ?, prompt = ?, rrule = ?, start = ?, tz = ? WHERE id = ?",
        name,
        prompt,
        rule,
        start,
        new_zone,
        ritual_id,
    )


@handles("ritual.pause")
def ritual_pause(ctx: FoldContext, op: Op) -> None:
    """Pauses (until an instant, or until resumed) or resumes a ritual."""
    _require_keeper(ctx, op, "pause rituals")
    ritual_id = _live_ritual(ctx, op)[0]
    paused = limits.flag(op.payload, "paused", label="paused")
    until = iso(_instant(op, "until", "end of the pause")) if paused and "until" in op.payload else None
    ctx.run("UPDATE rituals SET paused = ?, paused_until = ? WHERE id = ?", int(paused), until, ritual_id)


@handles("ritual.remove")
def ritual_remove(ctx: FoldContext, op: Op) -> None:
    """No occurrence opens after it; the threads of earlier ones stay."""
    _require_keeper(ctx, op, "remove rituals")
    ritual_id = _live_ritual(ctx, op)[0]
    ctx.run("DELETE FROM ritual_skips WHERE ritual_id = ?", ritual_id)
    ctx.run("DELETE FROM rituals WHERE id = ?", ritual_id)


@handles("ritual.skip")
def ritual_skip(ctx: FoldContext, op: Op) -> None:
    """Skips one occurrence (or, with skipped false, takes the skip back)."""
    _require_keeper(ctx, op, "skip a ritual's occurrence")
    ritual_id, _, _, rule, start, zone_name, *_ = _live_ritual(ctx, op)
    at = _instant(op, "at", "occurrence")
    if not is_occurrence(rule, start, at, zone_name):
        raise Rejected.invalid("not an occurrence of the ritual's schedule")
    if limits.flag(op.payload, "skipped", label="skipped"):
        ctx.run("INSERT OR IGNORE INTO ritual_skips (ritual_id, at) VALUES (?, ?)", ritual_id, iso(at))
    else:
        ctx.run("DELETE FROM ritual_skips WHERE ritual_id = ? AND at = ?", ritual_id, iso(at))


# A quiet spell may be set this far ahead, and last this long at most.
QUIET_AHEAD = timedelta(days=2 * 366)
QUIET_LONGEST = timedelta(days=366)


@handles("quiet.start")
def quiet_start(ctx: FoldContext, op: Op) -> None:
    """A quiet spell [from, until): no ritual opens inside it."""
    ctx.require_role(op, "moderator", "set a quiet spell")
    begins = _instant(op, "from", "start of the quiet spell")
    ends = _instant(op, "until", "end of the quiet spell")
    reason = (
        limits.one_line(op.payload, "reason", label="reason", max_chars=limits.TITLE_MAX)
        if op.payload.get("reason")
        else ""
    )
    if ends <= begins:
        raise Rejected.invalid("a quiet spell ends after it starts")
    if ends - begins > QUIET_LONGEST:
        raise Rejected.invalid("a quiet spell lasts at most a year")
    if begins > hlc_to_datetime(op.hlc) + QUIET_AHEAD:
        raise Rejected.invalid("a quiet spell starts within two years")
    ctx.run(
        "INSERT INTO quiet_spells (id, starts, ends, reason, author, created_hlc) VALUES (?, ?, ?, ?, ?, ?)",
        op.id,
        iso(begins),
        iso(ends),
        reason,
        op.author,
        op.hlc,
    )


@handles("quiet.end")
def quiet_end(ctx: FoldContext, op: Op) -> None:
    """Ends the quiet spell under way at the op's time, and calls off any set
    to start later; spells already over stay as they were."""
    ctx.require_role(op, "moderator", "end a quiet spell")
    at = iso(hlc_to_datetime(op.hlc))
    if ctx.one("SELECT 1 FROM quiet_spells WHERE ends > ?", at) is None:
        raise Rejected.refused("there is no quiet spell to end")
    ctx.run("DELETE FROM quiet_spells WHERE starts >= ?", at)
    ctx.run("UPDATE quiet_spells SET ends = ? WHERE ends > ?", at, at)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _why_closed(ctx: FoldContext, ritual_id: str, at: datetime, paused: int, paused_until: str | None) -> Closed | None:
    stamp = iso(at)
    skipped = {at} if ctx.one("SELECT 1 FROM ritual_skips WHERE ritual_id = ? AND at = ?", ritual_id, stamp) else set()
    spell = ctx.one("SELECT starts, ends FROM quiet_spells WHERE starts <= ? AND ends > ? LIMIT 1", stamp, stamp)
    quiet = [(parse_start(spell[0]), parse_start(spell[1]))] if spell else []
    until = parse_start(paused_until) if paused_until else None
    return closed_because(at, paused=bool(paused), paused_until=until, skipped=skipped, quiet=quiet)


@handles("ritual.occur")
def ritual_occur(ctx: FoldContext, op: Op) -> None:
    """Opens the thread for one occurrence. Any member may emit it; all replicas
    derive the same thread id from (ritual, instant), so duplicates merge."""
    ctx.require_active(op)
    ritual_id, name, prompt, rule, start, zone_name, paused, paused_until, author = _live_ritual(ctx, op)
    at = _instant(op, "at", "occurrence")
    why = _why_closed(ctx, ritual_id, at, paused, paused_until)
    if why:
        raise Rejected.refused(why)
    if not is_occurrence(rule, start, at, zone_name):
        raise Rejected.invalid("not an occurrence of the ritual's schedule")
    if at - timedelta(minutes=1) > hlc_to_datetime(op.hlc):
        raise Rejected.refused("occurrence is in the future")
    thread_id = derived_id("ritual.occur", ritual_id, iso(at))
    if ctx.one("SELECT 1 FROM threads WHERE id = ?", thread_id):
        return  # another member opened it first: same thread, nothing to do
    # Every replica must build the same title: no locale-dependent strftime names.
    # The date is the one on the ritual's own clock.
    local = parse_local_start(iso(at), zone_name)
    title = f"{name} · {_DAYS[local.weekday()]} {local.day:02d} {_MONTHS[local.month - 1]} {local.year}"
    ctx.add_thread(thread_id, title, author, op.hlc, prompt, ["ritual"], ritual_id, iso(at))
