"""Polls and surveys. Each is a thread; a poll adds its options and each
member's current vote, a survey its questions and each member's current
answers, sealed to the moderators' key by the answering member's home: the
fold keeps only the ciphertext (sync/sealing.py opens it for moderators).

A poll or survey may close: a vote or answer whose own time is at or after
the closing time is refused, so every replica judges it alike, wherever it
sorts and whenever it arrives."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from tablespace.core import limits
from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.errors import Rejected
from tablespace.core.fold.context import FoldContext
from tablespace.core.fold.moderation import sealed_record
from tablespace.core.fold.registry import handles
from tablespace.core.ops import Op
from tablespace.core.rituals import parse_start

OPTIONS_MIN, OPTIONS_MAX = 2, 10
OPTION_MAX = 200  # characters
QUESTIONS_MAX = 5
QUESTION_MAX = 500
# A poll or survey closes within a year of opening, if at all.
LONGEST_OPEN = timedelta(days=366)


def _closes(op: Op) -> datetime | None:
    """The optional closing instant: after the op, within LONGEST_OPEN."""
    if op.payload.get("closes") is None:
        return None
    closes = parse_start(limits.one_line(op.payload, "closes", label="closing time", max_chars=40))
    opened = hlc_to_datetime(op.hlc)
    if closes <= opened:
        raise Rejected.invalid("the closing time has passed already")
    if closes - opened > LONGEST_OPEN:
        raise Rejected.invalid("a poll or survey closes within a year")
    return closes


def _texts(op: Op, key: str, *, label: str, fewest: int, most: int, max_chars: int) -> list[str]:
    """A list of one-line texts (options, questions): distinct, within bounds."""
    items = op.payload.get(key)
    if not isinstance(items, list) or not fewest <= len(items) <= most:
        raise Rejected.invalid(f"give {fewest} to {most} {label}s")
    texts = [limits.one_line({key: item}, key, label=label, max_chars=max_chars) for item in items]
    if len({t.casefold() for t in texts}) != len(texts):
        raise Rejected.invalid(f"two {label}s are the same")
    return texts


def _still_open(ctx: FoldContext, op: Op, table: str, thread: str, what: str) -> None:
    row = ctx.one(f"SELECT closes_at FROM {table} WHERE thread_id = ?", thread)
    if row is None:
        raise Rejected.missing(f"no such {what}")
    ctx.live_thread(thread)
    if row[0] is not None and hlc_to_datetime(op.hlc) >= parse_start(row[0]):
        raise Rejected.refused(f"the {what} closed at {row[0]}")


# --- polls ------------------------------------------------------------------------


@handles("poll.open")
def poll_open(ctx: FoldContext, op: Op) -> None:
    """A thread with a poll: 2 to 10 options, one choice or several."""
    ctx.require_active(op)
    ctx.check_post_cap(op)
    title = limits.one_line(op.payload, "title", label="title", max_chars=limits.TITLE_MAX)
    body = limits.body(op.payload)
    options = _texts(op, "options", label="option", fewest=OPTIONS_MIN, most=OPTIONS_MAX, max_chars=OPTION_MAX)
    multi = limits.flag(op.payload, "multi", label="multi")
    closes = _closes(op)
    ctx.add_thread(op.id, title, op.author, op.hlc, body, ["poll"], None, None)
    ctx.run(
        "INSERT INTO polls (thread_id, multi, closes_at) VALUES (?, ?, ?)",
        op.id,
        int(multi),
        iso(closes) if closes else None,
    )
    ctx.conn.executemany(
        "INSERT INTO poll_options (thread_id, idx, text) VALUES (?, ?, ?)",
        [(op.id, idx, text) for idx, text in enumerate(options)],
    )


def _choices(ctx: FoldContext, poll: str, payload: dict[str, Any]) -> list[int]:
    """The options voted for (0-based), valid for this poll."""
    choices = payload.get("options")
    if not isinstance(choices, list) or not choices or not all(type(c) is int for c in choices):
        raise Rejected.invalid("a vote names one or more options by number")
    (count,) = ctx.aggregate("SELECT count(*) FROM poll_options WHERE thread_id = ?", poll)
    if len(set(choices)) != len(choices) or not all(0 <= c < count for c in choices):
        raise Rejected.invalid(f"the poll has options 1 to {count}, each chosen once")
    (multi,) = ctx.aggregate("SELECT multi FROM polls WHERE thread_id = ?", poll)
    if len(choices) > 1 and not multi:
        raise Rejected.invalid("this poll takes one choice")
    return sorted(choices)


@handles("poll.vote")
def poll_vote(ctx: FoldContext, op: Op) -> None:
    """A member's vote; a later vote of theirs replaces it (in the order)."""
    ctx.require_active(op)
    poll = limits.ref(op.payload, "poll", label="poll")
    _still_open(ctx, op, "polls", poll, "poll")
    choices = _choices(ctx, poll, op.payload)
    ctx.run("DELETE FROM poll_votes WHERE thread_id = ? AND member = ?", poll, op.author)
    ctx.conn.executemany(
        "INSERT INTO poll_votes (thread_id, member, idx, hlc) VALUES (?, ?, ?, ?)",
        [(poll, op.author, idx, op.hlc) for idx in choices],
    )


# --- surveys ----------------------------------------------------------------------


def survey_body(questions: list[str]) -> str:
    """The survey thread's opening post, built alike by every replica."""
    lines = [f"{n}. {q}" for n, q in enumerate(questions, 1)]
    return "\n".join([*lines, "", "Answers go to the moderators only, sealed: do not answer in a reply."])


@handles("survey.open")
def survey_open(ctx: FoldContext, op: Op) -> None:
    """Moderators: a thread asking up to five free-text questions."""
    ctx.require_role(op, "moderator", "start a survey")
    title = limits.one_line(op.payload, "title", label="title", max_chars=limits.TITLE_MAX)
    questions = _texts(op, "questions", label="question", fewest=1, most=QUESTIONS_MAX, max_chars=QUESTION_MAX)
    closes = _closes(op)
    ctx.add_thread(op.id, title, op.author, op.hlc, survey_body(questions), ["survey"], None, None)
    ctx.run(
        "INSERT INTO surveys (thread_id, questions, closes_at) VALUES (?, ?, ?)",
        op.id,
        json.dumps(questions, ensure_ascii=False),
        iso(closes) if closes else None,
    )


@handles("survey.answer")
def survey_answer(ctx: FoldContext, op: Op) -> None:
    """A member's answers, sealed to the moderators' key; answering again
    replaces them. Only who answered, and when, is readable here."""
    ctx.require_active(op)
    survey = limits.ref(op.payload, "survey", label="survey")
    _still_open(ctx, op, "surveys", survey, "survey")
    key_id, sealed, _ = sealed_record(ctx, op)
    ctx.run(
        """INSERT OR REPLACE INTO survey_answers (survey_id, member, op_id, hlc, key_id, sealed)
           VALUES (?, ?, ?, ?, ?, ?)""",
        survey,
        op.author,
        op.id,
        op.hlc,
        key_id,
        sealed,
    )
