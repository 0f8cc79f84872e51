"""Reading polls and surveys from the view tables (core/fold/polls.py writes them)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tablespace.core.clock import hlc_to_datetime, iso, now
from tablespace.core.rituals import parse_start


@dataclass(frozen=True)
class PollOption:
    text: str
    votes: int


@dataclass(frozen=True)
class PollView:
    thread: str
    options: list[PollOption]
    multi: bool
    closes_at: datetime | None
    mine: list[int]  # the reader's choices, 1-based as they are typed
    voters: int

    @property
    def closed(self) -> bool:
        return self.closes_at is not None and now() >= self.closes_at

    def to_json(self) -> dict[str, Any]:
        return {
            "options": [{"text": o.text, "votes": o.votes} for o in self.options],
            "multi": self.multi,
            "closes_at": iso(self.closes_at) if self.closes_at else None,
            "closed": self.closed,
            "mine": self.mine,
            "voters": self.voters,
        }


def poll(conn: sqlite3.Connection, thread_id: str, me: str | None = None) -> PollView | None:
    """The poll a thread carries, with the votes so far; None if it has none."""
    row = conn.execute("SELECT multi, closes_at FROM polls WHERE thread_id = ?", (thread_id,)).fetchone()
    if row is None:
        return None
    options = [
        PollOption(text, votes)
        for text, votes in conn.execute(
            """SELECT o.text, (SELECT count(*) FROM poll_votes v WHERE v.thread_id = o.thread_id AND v.idx = o.idx)
               FROM poll_options o WHERE o.thread_id = ? ORDER BY o.idx""",
            (thread_id,),
        )
    ]
    mine = [
        idx + 1
        for (idx,) in conn.execute(
            "SELECT idx FROM poll_votes WHERE thread_id = ? AND member = ? ORDER BY idx", (thread_id, me)
        )
    ]
    (voters,) = conn.execute(
        "SELECT count(DISTINCT member) FROM poll_votes WHERE thread_id = ?", (thread_id,)
    ).fetchone()
    return PollView(thread_id, options, bool(row[0]), parse_start(row[1]) if row[1] else None, mine, voters)


@dataclass(frozen=True)
class SurveyView:
    thread: str
    title: str
    questions: list[str]
    closes_at: datetime | None
    answered: int  # members who have answered
    mine: bool  # whether the reader has

    @property
    def closed(self) -> bool:
        return self.closes_at is not None and now() >= self.closes_at


def survey(conn: sqlite3.Connection, thread_id: str, me: str | None = None) -> SurveyView | None:
    row = conn.execute(
        """SELECT t.title, s.questions, s.closes_at FROM surveys s JOIN threads t ON t.id = s.thread_id
           WHERE s.thread_id = ? AND t.deleted = 0""",
        (thread_id,),
    ).fetchone()
    if row is None:
        return None
    answered, mine = conn.execute(
        "SELECT count(*), coalesce(sum(member = ?), 0) FROM survey_answers WHERE survey_id = ?", (me, thread_id)
    ).fetchone()
    closes = parse_start(row[2]) if row[2] else None
    return SurveyView(thread_id, row[0], json.loads(row[1]), closes, answered, bool(mine))


@dataclass(frozen=True)
class SealedAnswers:
    """One member's current answers to a survey, as the log holds them: sealed."""

    member: str
    member_name: str
    op_id: str
    at: datetime
    key_id: str
    sealed: str


def sealed_answers(conn: sqlite3.Connection, survey_id: str) -> list[SealedAnswers]:
    """Each member's current answers, oldest first."""
    return [
        SealedAnswers(member, name, op_id, hlc_to_datetime(hlc), key_id, sealed)
        for member, name, op_id, hlc, key_id, sealed in conn.execute(
            """SELECT a.member, coalesce(m.name, substr(a.member, 1, 8)), a.op_id, a.hlc, a.key_id, a.sealed
               FROM survey_answers a LEFT JOIN members m ON m.id = a.member
               WHERE a.survey_id = ? ORDER BY a.hlc, a.member""",
            (survey_id,),
        )
    ]


def bar(votes: int, total: int, width: int) -> str:
    """A result bar `width` cells wide, in eighths of a cell: the CLI and the
    app draw the same bars."""
    eighths = round(8 * width * votes / total) if total else 0
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(width)


def result_lines(view: PollView, width: int = 20) -> list[tuple[str, str, bool]]:
    """One (label, bar and count, chosen by me) per option, numbered as typed.
    A bar is the share of voters who chose the option, so with several
    choices allowed a choice everyone made fills its bar."""
    total = view.voters
    return [
        (f"{n}. {o.text}", f"{bar(o.votes, total, width)} {o.votes}", n in view.mine)
        for n, o in enumerate(view.options, 1)
    ]


def status_line(view: PollView) -> str:
    """`3 voters · one choice · closes 2026-11-30 09:00 UTC`."""
    kind = "several choices" if view.multi else "one choice"
    voters = f"{view.voters} voter{'' if view.voters == 1 else 's'}"
    if view.closes_at is None:
        when = "open"
    else:
        when = f"{'closed' if view.closed else 'closes'} {view.closes_at:%Y-%m-%d %H:%M} UTC"
    return f"{voters} · {kind} · {when}"
