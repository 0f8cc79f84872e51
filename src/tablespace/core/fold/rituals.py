"""Rituals: recurring prompts, and the thread each occurrence opens."""

from __future__ import annotations

from datetime import timedelta

from tablespace.core import limits
from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.errors import Rejected
from tablespace.core.fold.context import FoldContext
from tablespace.core.fold.ids import derived_id
from tablespace.core.fold.registry import handles
from tablespace.core.ops import Op
from tablespace.core.rituals import check_schedule, is_occurrence, parse_start


@handles("ritual.add")
def ritual_add(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "add rituals")
    p = op.payload
    name = limits.one_line(p, "name", label="ritual name", max_chars=limits.TITLE_MAX)
    prompt = limits.text(p, "prompt", label="prompt", max_chars=limits.PROMPT_MAX)
    rule = limits.one_line(p, "rrule", label="RRULE", max_chars=limits.RRULE_MAX)
    start_text = limits.one_line(p, "start", label="start", max_chars=40)
    start = parse_start(start_text)
    check_schedule(rule, start, hlc_to_datetime(op.hlc))  # the op's own time: every replica decides alike
    ctx.run(
        """INSERT INTO rituals (id, name, prompt, rrule, start, author, created_hlc)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        op.id,
        name,
        prompt,
        rule,
        iso(start),
        op.author,
        op.hlc,
    )


def _live_ritual(ctx: FoldContext, op: Op) -> tuple[str, str, str, str, str, int, str]:
    """(id, name, prompt, rrule, start, paused, author) of the ritual `op` names."""
    ritual = limits.ref(op.payload, "ritual", label="ritual")
    row = ctx.one("SELECT id, name, prompt, rrule, start, paused, author FROM rituals WHERE id = ?", ritual)
    if row is None:
        raise Rejected.missing("no such ritual")
    return row


@handles("ritual.edit")
def ritual_edit(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "edit rituals")
    ritual_id, name, prompt, rule, start, _, _ = _live_ritual(ctx, op)
    p = op.payload
    if "name" in p:
        name = limits.one_line(p, "name", label="ritual name", max_chars=limits.TITLE_MAX)
    if "prompt" in p:
        prompt = limits.text(p, "prompt", label="prompt", max_chars=limits.PROMPT_MAX)
    if "rrule" in p:
        rule = limits.one_line(p, "rrule", label="RRULE", max_chars=limits.RRULE_MAX)
    if "start" in p:
        start = iso(parse_start(limits.one_line(p, "start", label="start", max_chars=40)))
    check_schedule(rule, parse_start(start), hlc_to_datetime(op.hlc))
    ctx.run(
        "UPDATE rituals SET name = ?, prompt = ?, rrule = ?, start = ? WHERE id = ?",
        name,
        prompt,
        rule,
        start,
        ritual_id,
    )


@handles("ritual.pause")
def ritual_pause(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "pause rituals")
    ritual_id = _live_ritual(ctx, op)[0]
    paused = limits.flag(op.payload, "paused", label="paused")
    ctx.run("UPDATE rituals SET paused = ? WHERE id = ?", int(paused), ritual_id)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@handles("ritual.occur")
def ritual_occur(ctx: FoldContext, op: Op) -> None:
    """Opens the thread for one occurrence. Any member may emit it; all replicas
    derive the same thread id from (ritual, instant), so duplicates merge."""
    ctx.require_active(op)
    ritual_id, name, prompt, rule, start, paused, author = _live_ritual(ctx, op)
    at_text = limits.one_line(op.payload, "at", label="occurrence", max_chars=40)
    at = parse_start(at_text)
    if paused:
        raise Rejected.refused("the ritual is paused")
    if not is_occurrence(rule, start, at):
        raise Rejected.invalid("not an occurrence of the ritual's schedule")
    if at - timedelta(minutes=1) > hlc_to_datetime(op.hlc):
        raise Rejected.refused("occurrence is in the future")
    thread_id = derived_id("ritual.occur", ritual_id, iso(at))
    if ctx.one("SELECT 1 FROM threads WHERE id = ?", thread_id):
        return  # another member opened it first: same thread, nothing to do
    # Every replica must build the same title: no locale-dependent strftime names.
    title = f"{name} · {_DAYS[at.weekday()]} {at.day:02d} {_MONTHS[at.month - 1]} {at.year}"
    ctx.add_thread(thread_id, title, author, op.hlc, prompt, ["ritual"], ritual_id, iso(at))
