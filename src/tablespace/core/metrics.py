"""Group health: the `metrics` figures, per week, and newcomers waiting for a reply.

The definitions are the contract's (../shared/spec/cli.md, "Definitions used by
metrics"). Where it leaves something open, this module decides, and the README
("Health") says the same:

- **The window** is the 7 days before `end`, *exclusive* of its start and
  *inclusive* of its end: an event at `t` counts when `end - 7 days < t <= end`,
  compared in whole milliseconds of the HLC (`hlc >> 16`). So an op made at the
  frozen TABLESPACE_NOW counts in the current week, an event exactly 7 days old
  belongs to the week before, and consecutive weeks never share an event.
- **members** of a window: the members whose membership covered its end, i.e.
  joined at or before it and had not left or been removed by then (time-outs
  do not matter: a timed-out member is still a member). For a window that ends
  now (or later) it is exactly the contract's "status active or timed_out".
  Membership comes from the members view, which keeps a member's latest join:
  someone who left and was re-admitted counts from their latest join.
- **weekly_active_pct** and **contributor_ratio** count only those members,
  so a member who left mid-week is in neither numerator nor denominator and
  the figures stay within 0–100 and 0–1. With no members both are 0.
- **active**: at least one op by the member, accepted by the fold, stamped in
  the window (any kind: a post, a reaction, an edit, a join-key publication).
- **contributors**: members with a non-deleted post (opening post or reply,
  any thread) in the window. A ritual prompt is not a post its author wrote
  that week, so it does not make them a contributor.
- **threads started in the window** (coverage and first reply): every
  non-deleted thread created in the window, ritual occurrences included (an
  unanswered prompt is a real gap). Its first reply is the earliest
  non-deleted post in it by anyone other than the thread's author, whenever it
  came: a late answer to an old thread still raises that week's coverage.
  The median of the reply delays is in seconds (milliseconds precision); with
  an even count it is the mean of the middle two.
- **wins**: non-deleted posts made in the window in threads that are tagged
  `win` now, minus ritual prompts (a ritual occurrence's opening post).
- Deleted posts and threads count nowhere except as the ops that made them.
- **Circles**: the group's figures count a member's ops written in a circle
  as activity (every replica holds them, sealed or opened, and counts them
  alike even where its members refused what was inside), and nothing else
  of a circle: its threads and posts are not the group's. A circle's own
  figures (`circle`, computed by its members) are the same definitions over
  the members it had at each window's end (circle_periods: from joining or
  being let in until leaving, being taken out or leaving the group), their
  ops in it, and its threads.

Everything here is a function of the op-derived view tables and the instants
passed in, so replicas holding the same ops show the same numbers. Each metric
is one SQL pass over the whole 12-week span, grouped by week in SQL.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tablespace.core.clock import SHIFT, datetime_to_hlc, hlc_to_datetime, iso
from tablespace.core.clock import now as current_time

WEEK = timedelta(days=7)
WEEK_MS = 7 * 24 * 3600 * 1000
WEEKS = 12
NEWCOMER_DAYS = 28  # a member is a newcomer for the first four weeks after joining
WIN_TAG = "win"
KEYS = ("members", "weekly_active_pct", "contributor_ratio", "median_first_reply_s", "reply_coverage", "wins")


@dataclass(frozen=True)
class HealthWeek:
    """The health figures for one window (start exclusive, end inclusive)."""

    start: datetime
    end: datetime
    members: int
    weekly_active_pct: float
    contributor_ratio: float
    median_first_reply_s: float | None
    reply_coverage: float | None
    wins: int
    # The counts behind the ratios (extra JSON keys; the contract allows them).
    active: int = 0
    contributors: int = 0
    threads_started: int = 0
    threads_answered: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "weekly_active_pct": self.weekly_active_pct,
            "contributor_ratio": self.contributor_ratio,
            "median_first_reply_s": self.median_first_reply_s,
            "reply_coverage": self.reply_coverage,
            "wins": self.wins,
            "start": iso(self.start),
            "end": iso(self.end),
            "active": self.active,
            "contributors": self.contributors,
            "threads_started": self.threads_started,
            "threads_answered": self.threads_answered,
        }


@dataclass(frozen=True)
class QuietNewcomer:
    """A newcomer whose first thread nobody else has answered yet."""

    member_id: str
    name: str
    joined_at: datetime
    thread_id: str
    title: str
    started_at: datetime
    waiting_s: float

    def to_json(self) -> dict[str, Any]:
        return {
            "member": self.member_id,
            "name": self.name,
            "joined_at": iso(self.joined_at),
            "thread": self.thread_id,
            "title": self.title,
            "started_at": iso(self.started_at),
            "waiting_s": self.waiting_s,
        }


def _ms(moment: datetime) -> int:
    return datetime_to_hlc(moment) >> SHIFT


def week_metrics(
    conn: sqlite3.Connection, end: datetime, *, now: datetime | None = None, circle: str | None = None
) -> HealthWeek:
    """The figures for the 7 days before `end` (what `tablespace metrics` prints
    with end = now). `now` (default: the clock) only decides whether the window
    is the current one, where members are read from the roster as it is."""
    return weekly_series(conn, end, weeks=1, now=now, circle=circle)[0]


def weekly_series(
    conn: sqlite3.Connection,
    end: datetime,
    weeks: int = WEEKS,
    *,
    now: datetime | None = None,
    circle: str | None = None,
) -> list[HealthWeek]:
    """The figures for `weeks` consecutive 7-day windows ending at `end`,
    oldest first: the last item is `week_metrics(conn, end)`. With `circle`,
    that circle's own figures (the module's docstring)."""
    if weeks < 1:
        return []
    end_ms = _ms(end)
    now_ms = _ms(now if now is not None else current_time())
    # Week k (0 = the latest) holds the milliseconds end_ms - (k+1)*WEEK < t <= end_ms - k*WEEK,
    # so k = (end_ms - t) // WEEK. In HLC units the whole span is [lo, hi).
    span = {
        "end": end_ms,
        "week": WEEK_MS,
        "lo": (end_ms - weeks * WEEK_MS + 1) << SHIFT,
        "hi": (end_ms + 1) << SHIFT,
        "circle": circle,  # the room whose threads count: None is the group's
    }
    week_of = f"(:end - (%s >> {SHIFT})) / :week"

    roster = _roster(conn, circle)
    members: list[set[str]] = []
    for k in range(weeks):
        at = end_ms - k * WEEK_MS
        if at >= now_ms:  # the current window: the contract's "active or timed_out" as of now
            members.append({m for m, status, _, _ in roster if status in ("active", "timed_out")})
        else:
            members.append(
                {m for m, _, joined, left in roster if joined >> SHIFT <= at and (left is None or left >> SHIFT > at)}
            )

    active: dict[int, set[str]] = defaultdict(set)
    member_of = dict(conn.execute("SELECT id, member FROM devices"))  # an added device's ops are its member's
    # A circle's op counts for the group by what every replica sees of it:
    # its sealed record passed the circle's checks (circle_activity, or
    # circle_refused where a member opened it and the fold refused what was
    # inside), whatever its members' fold made of the inner op.
    ops_in_room = (
        """SELECT {week}, author FROM ops
           WHERE hlc >= :lo AND hlc < :hi AND +state = 'accepted' AND +kind != 'circle.sealed'
           UNION SELECT {week}, author FROM circle_activity WHERE hlc >= :lo AND hlc < :hi
           UNION SELECT {week}, o.author FROM circle_refused r CROSS JOIN ops o ON o.id = r.op_id
                 WHERE o.hlc >= :lo AND o.hlc < :hi"""  # walk the hlc index
        if circle is None
        else """SELECT DISTINCT {week}, author FROM circle_activity
           WHERE circle_id = :circle AND hlc >= :lo AND hlc < :hi"""
    )
    for k, author in conn.execute(ops_in_room.format(week=week_of % "hlc"), span):
        active[k].add(member_of.get(author, author))

    contributors: dict[int, set[str]] = defaultdict(set)
    for k, author in conn.execute(
        f"""SELECT DISTINCT {week_of % "p.created_hlc"}, p.author
            FROM posts p JOIN threads t ON t.id = p.thread_id
            WHERE p.created_hlc >= :lo AND p.created_hlc < :hi AND p.deleted = 0 AND t.circle_id IS :circle
              AND NOT (p.id = t.id AND t.ritual_id IS NOT NULL)""",
        span,
    ):
        contributors[k].add(author)

    started: dict[int, int] = defaultdict(int)
    delays: dict[int, list[int]] = defaultdict(list)
    for k, created, first_reply in conn.execute(
        f"""SELECT {week_of % "t.created_hlc"}, t.created_hlc,
                   (SELECT p.created_hlc FROM posts p
                    WHERE p.thread_id = t.id AND p.author != t.author AND p.deleted = 0
                    ORDER BY p.created_hlc LIMIT 1)
            FROM threads t WHERE t.created_hlc >= :lo AND t.created_hlc < :hi AND t.deleted = 0
              AND t.circle_id IS :circle""",
        span,
    ):
        started[k] += 1
        if first_reply is not None:
            delays[k].append((first_reply >> SHIFT) - (created >> SHIFT))

    wins: dict[int, int] = dict(
        conn.execute(
            f"""SELECT {week_of % "p.created_hlc"} AS k, count(*)
            FROM thread_tags tt JOIN threads t ON t.id = tt.thread_id
            JOIN posts p ON p.thread_id = tt.thread_id
            WHERE tt.tag = '{WIN_TAG}' AND t.deleted = 0 AND t.circle_id IS :circle AND p.deleted = 0
              AND p.created_hlc >= :lo AND p.created_hlc < :hi
              AND NOT (p.id = t.id AND t.ritual_id IS NOT NULL)
            GROUP BY k""",
            span,
        )
    )

    series = []
    for k in reversed(range(weeks)):
        window_end = end - k * WEEK
        people = members[k]
        count = len(people)
        n_active = len(active[k] & people)
        n_contrib = len(contributors[k] & people)
        answered = delays[k]
        series.append(
            HealthWeek(
                start=window_end - WEEK,
                end=window_end,
                members=count,
                weekly_active_pct=100 * n_active / count if count else 0.0,
                contributor_ratio=n_contrib / count if count else 0.0,
                median_first_reply_s=statistics.median(answered) / 1000 if answered else None,
                reply_coverage=len(answered) / started[k] if started[k] else None,
                wins=wins.get(k, 0),
                active=n_active,
                contributors=n_contrib,
                threads_started=started[k],
                threads_answered=len(answered),
            )
        )
    return series


def _roster(conn: sqlite3.Connection, circle: str | None) -> list[tuple[str, str, int, int | None]]:
    """(member, status now, joined, left) of each time someone was in the
    group, or in `circle` (its periods, which end when they leave the group
    too); status is the group's, for the current window."""
    if circle is None:
        return conn.execute("SELECT id, status, joined_hlc, left_hlc FROM members").fetchall()
    return conn.execute(
        """SELECT p.member, CASE WHEN p.left_hlc IS NULL THEN m.status ELSE 'left' END, p.joined_hlc, p.left_hlc
           FROM circle_periods p JOIN members m ON m.id = p.member WHERE p.circle_id = ?""",
        (circle,),
    ).fetchall()


def quiet_newcomers(
    conn: sqlite3.Connection, now: datetime, *, within: timedelta = timedelta(days=NEWCOMER_DAYS)
) -> list[QuietNewcomer]:
    """Current members who joined in the last `within` (four weeks) and whose
    first thread since joining (not a ritual prompt, not deleted) has no
    non-deleted reply from anyone else yet; the most recently started first.
    The founder is nobody's newcomer."""
    waiting = _unanswered_firsts(conn, now, within, intro_only=False)
    return sorted(waiting, key=lambda q: (-q.started_at.timestamp(), q.member_id))


def to_welcome(
    conn: sqlite3.Connection, now: datetime, *, within: timedelta = timedelta(days=NEWCOMER_DAYS)
) -> list[QuietNewcomer]:
    """The greeters' work: newcomers (as in `quiet_newcomers`) whose intro, their
    first thread tagged `intro` (what the welcome walk's composer writes), has
    no reply from anyone else yet; the longest waiting first."""
    waiting = _unanswered_firsts(conn, now, within, intro_only=True)
    return sorted(waiting, key=lambda q: (q.started_at, q.member_id))


def _unanswered_firsts(
    conn: sqlite3.Connection, now: datetime, within: timedelta, *, intro_only: bool
) -> list[QuietNewcomer]:
    """Each newcomer's first thread since joining (or first intro) that is in
    the open group, not a ritual prompt, not deleted and unanswered by others."""
    now_hlc = datetime_to_hlc(now)
    rows = conn.execute(
        """WITH newcomers AS (
               SELECT id, name, joined_hlc FROM members
               WHERE status IN ('active', 'timed_out') AND joined_hlc >= :since
                 AND id IS NOT (SELECT value FROM settings WHERE key = 'founder')),
           firsts AS (
               SELECT t.author, t.id, t.title, min(t.created_hlc) AS created
               FROM threads t JOIN newcomers n ON n.id = t.author
               WHERE t.deleted = 0 AND t.ritual_id IS NULL AND t.circle_id IS NULL AND t.created_hlc >= n.joined_hlc
                 AND (NOT :intro_only OR EXISTS (SELECT 1 FROM thread_tags g WHERE g.thread_id = t.id AND g.tag = 'intro'))
               GROUP BY t.author)
           SELECT n.id, n.name, n.joined_hlc, f.id, f.title, f.created
           FROM firsts f JOIN newcomers n ON n.id = f.author
           WHERE NOT EXISTS (SELECT 1 FROM posts p
                             WHERE p.thread_id = f.id AND p.author != f.author AND p.deleted = 0)""",
        {"since": datetime_to_hlc(now - within), "intro_only": intro_only},
    ).fetchall()
    return [
        QuietNewcomer(
            member_id=r[0],
            name=r[1],
            joined_at=hlc_to_datetime(r[2]),
            thread_id=r[3],
            title=r[4],
            started_at=hlc_to_datetime(r[5]),
            waiting_s=max(0, (now_hlc >> SHIFT) - (r[5] >> SHIFT)) / 1000,
        )
        for r in rows
    ]


def duration(seconds: float | None, *, short: bool = False) -> str:
    """'45s', '12m', '3h 05m' ('3h' when short), '2d 4h' ('2d')."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h" if short else f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d" if short else f"{hours // 24}d {hours % 24}h"
