"""The weekly recap: at most ten bullets built from one week's ops.

A week runs from Monday 00:00 UTC for seven days (start inclusive, end
exclusive). Everything here reads the fold's view tables and the week's
bounds only, never the clock, and breaks every tie by id, so replicas
holding the same ops print the same recap. "Still waiting" is judged at the
week's end: a recap of a past week does not change as later replies come.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tablespace.core import member_queries
from tablespace.core.clock import datetime_to_hlc, hlc_to_datetime, iso
from tablespace.core.metrics import WIN_TAG

RECAP_TAG = "recap"
MAX_BULLETS = 10
NAMED = 3  # threads, resources or people named in one bullet; the rest are counted
QUIET_WEEK = "A quiet week: nothing was posted."


def week_of(day: date) -> tuple[datetime, datetime]:
    """The Monday-to-Monday UTC week holding `day`."""
    monday = day - timedelta(days=day.weekday())
    start = datetime.combine(monday, time(), tzinfo=UTC)
    return start, start + timedelta(days=7)


@dataclass(frozen=True)
class Recap:
    start: datetime
    end: datetime
    bullets: list[str]

    @property
    def title(self) -> str:
        return f"Recap: week of {self.start:%Y-%m-%d}"

    def markdown(self) -> str:
        return "\n".join(f"- {b}" for b in self.bullets)

    def to_json(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), "title": self.title, "bullets": self.bullets}


def _named(items: list[str], total: int) -> str:
    shown = ", ".join(items[:NAMED])
    rest = total - min(len(items), NAMED)
    return shown + (f" and {rest} more" if rest > 0 else "")


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def recap(conn: sqlite3.Connection, start: datetime, end: datetime) -> Recap:
    """The bullets for the week [start, end), of the group's room only (a
    circle's threads are its members'; the recap is the same on every
    replica and may be posted to everyone), in a fixed order: the week in
    figures, busiest threads, wins, newcomers and who welcomed them, rituals
    answered, events held, new resources, questions still waiting (a poll, a survey or an
    event is answered by votes, sealed answers or RSVPs, not replies: never waiting)."""
    w = {"lo": datetime_to_hlc(start), "hi": datetime_to_hlc(end), "win": WIN_TAG, "recap": RECAP_TAG}
    names = member_queries.member_names(conn)

    def in_week(alias: str) -> str:
        return f"{alias}.created_hlc >= :lo AND {alias}.created_hlc < :hi"

    threads, replies, people = conn.execute(
        f"""SELECT count(*) FILTER (WHERE p.id = p.thread_id), count(*) FILTER (WHERE p.id != p.thread_id),
                   count(DISTINCT p.author)
            FROM posts p INDEXED BY posts_created CROSS JOIN threads t ON t.id = p.thread_id
            WHERE p.deleted = 0 AND t.deleted = 0 AND t.circle_id IS NULL AND {in_week("p")}
              AND NOT (p.id = t.id AND t.ritual_id IS NOT NULL)
              AND t.id NOT IN (SELECT thread_id FROM thread_tags WHERE tag = :recap)""",
        w,
    ).fetchone()
    if threads + replies == 0:
        return Recap(start, end, [QUIET_WEEK])
    bullets = [
        f"{_plural(threads, 'new thread')} and {_plural(replies, 'reply', 'replies')} from {_plural(people, 'member')}."
    ]

    busiest = conn.execute(
        f"""SELECT t.id, t.title, count(*) AS n
            FROM posts p INDEXED BY posts_created CROSS JOIN threads t ON t.id = p.thread_id
            WHERE p.deleted = 0 AND t.deleted = 0 AND t.circle_id IS NULL AND {in_week("p")}
              AND t.id NOT IN (SELECT thread_id FROM thread_tags WHERE tag = :recap)
            GROUP BY t.id HAVING n > 1 ORDER BY n DESC, t.id LIMIT {NAMED}""",
        w,
    ).fetchall()
    if busiest:
        bullets.append("Busiest: " + ", ".join(f"“{title}” ({_plural(n, 'post')})" for _, title, n in busiest) + ".")

    wins = conn.execute(
        f"""SELECT p.author, t.title FROM posts p INDEXED BY posts_created CROSS JOIN threads t ON t.id = p.thread_id
            WHERE t.id IN (SELECT thread_id FROM thread_tags WHERE tag = :win) AND t.deleted = 0 AND t.circle_id IS NULL AND p.deleted = 0 AND {in_week("p")}
              AND NOT (p.id = t.id AND t.ritual_id IS NOT NULL)
            ORDER BY p.created_hlc, p.id""",
        w,
    ).fetchall()
    if wins:
        winners = sorted({names.get(a, a[:8]) for a, _ in wins})
        bullets.append(f"{_plural(len(wins), 'win')} shared, by {_named(winners, len(winners))}.")

    # Who welcomed a newcomer: the first other member to answer their intro
    # (their first thread tagged intro, as the welcome walk writes it), else
    # their first thread, within the week.
    newcomers = []
    for member, name, joined in conn.execute(
        """SELECT id, name, joined_hlc FROM members
           WHERE joined_hlc >= :lo AND joined_hlc < :hi AND joined_hlc > (SELECT min(joined_hlc) FROM members)
           ORDER BY joined_hlc, id""",
        w,
    ):
        welcomer = conn.execute(
            """SELECT p.author FROM threads t JOIN posts p ON p.thread_id = t.id
               WHERE t.author = :m AND t.deleted = 0 AND t.ritual_id IS NULL AND t.circle_id IS NULL
                 AND t.created_hlc >= :joined
                 AND t.created_hlc < :hi AND p.author != :m AND p.deleted = 0 AND p.created_hlc < :hi
                 AND t.id = (SELECT f.id FROM threads f
                             WHERE f.author = :m AND f.deleted = 0 AND f.ritual_id IS NULL
                               AND f.circle_id IS NULL AND f.created_hlc >= :joined
                             ORDER BY NOT EXISTS (SELECT 1 FROM thread_tags g
                                                  WHERE g.thread_id = f.id AND g.tag = 'intro'),
                                      f.created_hlc, f.id
                             LIMIT 1)
               ORDER BY p.created_hlc, p.id LIMIT 1""",
            {**w, "m": member, "joined": joined},
        ).fetchone()
        newcomers.append(f"{name} (welcomed by {names.get(welcomer[0], welcomer[0][:8])})" if welcomer else name)
    if newcomers:
        bullets.append(f"Welcome {_named(newcomers, len(newcomers))}.")

    rituals = conn.execute(
        f"""SELECT t.title, (SELECT count(*) FROM posts p WHERE p.thread_id = t.id AND p.id != t.id
                             AND p.deleted = 0 AND p.created_hlc < :hi)
            FROM threads t INDEXED BY threads_created
            WHERE t.ritual_id IS NOT NULL AND t.deleted = 0 AND t.circle_id IS NULL AND {in_week("t")}
            ORDER BY t.created_hlc, t.id""",
        w,
    ).fetchall()
    if rituals:
        named = [f"“{title}” ({_plural(n, 'answer')})" for title, n in rituals]
        bullets.append(f"Rituals: {_named(named, len(named))}.")

    events = conn.execute(
        """SELECT t.title, (SELECT count(*) FROM event_rsvps r WHERE r.event_id = e.id AND r.answer = 'going')
           FROM events e INDEXED BY events_at CROSS JOIN threads t ON t.id = e.id
           WHERE t.deleted = 0 AND e.at_hlc >= :lo AND e.at_hlc < :hi
           ORDER BY e.at_hlc, e.id""",
        w,
    ).fetchall()
    if events:
        named = [f"“{title}” ({going} going)" for title, going in events]
        bullets.append(f"Events held: {_named(named, len(named))}.")

    resources = [
        r[0]
        for r in conn.execute(
            f"SELECT r.title FROM resources r WHERE r.deleted = 0 AND {in_week('r')} ORDER BY r.created_hlc, r.id", w
        )
    ]
    if resources:
        bullets.append(f"New in the library: {_named([f'“{t}”' for t in resources], len(resources))}.")

    waiting = [
        r[0]
        for r in conn.execute(
            f"""SELECT t.title FROM threads t INDEXED BY threads_created
            WHERE t.deleted = 0 AND t.ritual_id IS NULL AND t.circle_id IS NULL AND {in_week("t")}
              AND t.id NOT IN (SELECT thread_id FROM thread_tags WHERE tag = :recap)
              AND t.id NOT IN (SELECT thread_id FROM polls) AND t.id NOT IN (SELECT thread_id FROM surveys)
              AND t.id NOT IN (SELECT id FROM events)
              AND NOT EXISTS (SELECT 1 FROM posts p WHERE p.thread_id = t.id AND p.author != t.author
                              AND p.deleted = 0 AND p.created_hlc < :hi)
            ORDER BY t.created_hlc, t.id""",
            w,
        )
    ]
    if waiting:
        bullets.append(f"Still waiting for an answer: {_named([f'“{t}”' for t in waiting], len(waiting))}.")
    return Recap(start, end, bullets[:MAX_BULLETS])


@dataclass(frozen=True)
class PastRecap:
    thread: str
    title: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"thread": self.thread, "title": self.title, "created_at": iso(self.created_at)}


def past_recaps(conn: sqlite3.Connection, limit: int = 12) -> list[PastRecap]:
    """Threads tagged `recap`, newest first (the Health section links them)."""
    return [
        PastRecap(r[0], r[1], hlc_to_datetime(r[2]))
        for r in conn.execute(
            """SELECT t.id, t.title, t.created_hlc FROM thread_tags tt JOIN threads t ON t.id = tt.thread_id
               WHERE tt.tag = ? AND t.deleted = 0 ORDER BY t.created_hlc DESC, t.id LIMIT ?""",
            (RECAP_TAG, limit),
        )
    ]
