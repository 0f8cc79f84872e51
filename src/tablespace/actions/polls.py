"""Polls and surveys. A poll is a thread members vote in; a survey is a
thread of questions whose answers are sealed to the moderators' key by the
answering member's home (sync/sealing.py, as reports are), so the plaintext
is never written anywhere: not the log, the folder or any home."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tablespace.actions.circles import circle_id, write_in_room
from tablespace.core import circle_queries
from tablespace.core import polls as poll_queries
from tablespace.core.clock import iso, now
from tablespace.core.errors import TablespaceError, UsageError
from tablespace.core.group import Group
from tablespace.sync.sealing import (
    SealedRecordError,
    held_mod_keys,
    my_exchange_key,
    open_for_moderators,
    seal_for_moderators,
)

ANSWER_MAX = 1000  # characters per answer: five fit one sealed record


def _closing(closes_in: timedelta | None) -> dict[str, str]:
    if closes_in is None:
        return {}
    if closes_in <= timedelta(0):
        raise UsageError("a closing time is a duration from now, like 3d or 12h")
    return {"closes": iso(now() + closes_in)}


# --- polls ------------------------------------------------------------------------


def poll(
    group: Group,
    title: str,
    options: Sequence[str],
    *,
    multi: bool = False,
    closes_in: timedelta | None = None,
    body: str = "",
    circle: str | None = None,
) -> str:
    """Start a thread with a poll, in the group's room or one of our circles
    (by name or id); returns its id."""
    room = None if circle is None else circle_id(group, circle)
    payload: dict[str, Any] = {
        "title": title.strip(),
        "body": body,
        "options": [o.strip() for o in options],
        "multi": multi,
        **_closing(closes_in),
    }
    return write_in_room(group, room, "poll.open", payload).id


def choice_numbers(view: poll_queries.PollView, choices: Sequence[str]) -> list[int]:
    """What a member typed, each an option's number (1-based) or its exact
    text (case aside), as 0-based option numbers."""
    texts = [o.text.casefold() for o in view.options]
    numbers = []
    for choice in choices:
        typed = choice.strip()
        if typed.isdigit() and 1 <= int(typed) <= len(texts):
            numbers.append(int(typed) - 1)
        elif typed.casefold() in texts:
            numbers.append(texts.index(typed.casefold()))
        else:
            raise TablespaceError(f"the poll has no option {typed!r}: give its number (1 to {len(texts)}) or its text")
    return numbers


def vote(group: Group, poll_ref: str, choices: Sequence[str]) -> list[int]:
    """Vote (again: it replaces my vote); returns my choices, 1-based."""
    thread = group.thread_id(poll_ref)
    view = poll_queries.poll(group.conn, thread)
    if view is None:
        raise TablespaceError("that thread has no poll")
    if not choices:
        raise UsageError("name one option or more, by number or text")
    numbers = choice_numbers(view, choices)
    write_in_room(
        group, circle_queries.thread_circle(group.conn, thread), "poll.vote", {"poll": thread, "options": numbers}
    )
    return sorted(n + 1 for n in set(numbers))


# --- surveys ----------------------------------------------------------------------


def survey(group: Group, title: str, questions: Sequence[str], *, closes_in: timedelta | None = None) -> str:
    """Moderators: a thread of up to five questions; returns its id."""
    group.require_moderator()
    payload = {"title": title.strip(), "questions": [q.strip() for q in questions], **_closing(closes_in)}
    return group.write("survey.open", payload).id


def _survey_of(group: Group, survey_ref: str) -> poll_queries.SurveyView:
    view = poll_queries.survey(group.conn, group.thread_id(survey_ref), group.me)
    if view is None:
        raise TablespaceError("that thread is not a survey")
    return view


def answer(group: Group, survey_ref: str, answers: Sequence[str]) -> None:
    """Answer a survey (again: it replaces my answers), sealed to the
    moderators before it is written. Answers match the questions in order;
    fewer leave the last questions blank."""
    view = _survey_of(group, survey_ref)
    texts = [a.strip() for a in answers]
    if not any(texts):
        raise UsageError("give at least one answer (--answer TEXT, once per question)")
    if len(texts) > len(view.questions):
        raise TablespaceError(f"the survey asks {len(view.questions)} questions; you gave {len(texts)} answers")
    if any(len(t) > ANSWER_MAX for t in texts):
        raise TablespaceError(f"an answer has at most {ANSWER_MAX} characters")
    texts += [""] * (len(view.questions) - len(texts))
    record = {"type": "survey.answers", "group": group.id, "survey": view.thread, "member": group.me, "answers": texts}
    key, sealed = seal_for_moderators(group, record)
    group.write(
        "survey.answer", {"survey": view.thread, "key": key.key_id, "sealed": base64.b64encode(sealed).decode()}
    )


@dataclass(frozen=True)
class SurveyAnswers:
    member: str  # their name
    member_id: str
    at: datetime
    answers: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"member": self.member, "member_id": self.member_id, "at": iso(self.at), "answers": self.answers}


@dataclass(frozen=True)
class SurveyResults:
    survey: poll_queries.SurveyView
    answers: list[SurveyAnswers]
    unreadable: int  # sealed to a key this home does not hold, or not a member's own answers


def survey_answers(group: Group, survey_ref: str) -> SurveyResults:
    """Moderators: every member's current answers, opened in memory only."""
    group.require_moderator()
    view = _survey_of(group, survey_ref)
    held = held_mod_keys(group, my_exchange_key(group))
    opened, unreadable = [], 0
    for row in poll_queries.sealed_answers(group.conn, view.thread):
        try:
            record = open_for_moderators(base64.b64decode(row.sealed), group.id, held)
        except SealedRecordError:
            unreadable += 1
            continue
        texts = record.get("answers")
        # A member could seal a copy of someone else's answers into their own op: only their own count.
        if (
            record.get("type") != "survey.answers"
            or (record.get("group"), record.get("survey"), record.get("member")) != (group.id, view.thread, row.member)
            or not isinstance(texts, list)
            or len(texts) != len(view.questions)
            or not all(isinstance(t, str) and len(t) <= ANSWER_MAX for t in texts)
        ):
            unreadable += 1
            continue
        opened.append(SurveyAnswers(row.member_name, row.member, row.at, texts))
    return SurveyResults(view, opened, unreadable)
