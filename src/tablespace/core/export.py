"""The whole readable group as JSON or Markdown, for backup or for leaving:
settings, members, threads, the library, rituals, events, polls and the
surveys' questions. Survey answers stay out: they are sealed to the
moderators and no home keeps them readable."""

from __future__ import annotations

import sqlite3
from typing import Any

from tablespace.core import (
    calendar_queries,
    group_queries,
    member_queries,
    post_queries,
    resource_queries,
    thread_queries,
)
from tablespace.core.clock import iso, now
from tablespace.core.events import duration_text
from tablespace.core.polls import PollView, SurveyView
from tablespace.core.post_queries import ThreadDetail


def export_json(conn: sqlite3.Connection) -> dict[str, Any]:
    settings = group_queries.settings(conn)
    summaries = sorted(thread_queries.threads(conn), key=lambda t: (t.created_at, t.id))
    details = [(post_queries.thread(conn, t.id), t.author) for t in summaries]
    return {
        "group": {k: settings.get(k, "") for k in ("name", "purpose", "conduct", "rules", "created_at")},
        "settings": group_queries.group_settings(conn).to_json(),
        "exported_at": iso(now()),
        "members": [m.to_json() for m in member_queries.members(conn)],
        "threads": [detail.to_json() | {"author": author} for detail, author in details],
        "library": [r.to_json() for r in resource_queries.resources(conn)],
        "rituals": [r.to_json() for r in calendar_queries.rituals(conn, now())],
        "events": [
            e.to_json() | {"tz": e.tz, "duration": duration_text(e.minutes), "author": e.author}
            for e in calendar_queries.events(conn, now(), past=True)
        ],
        "polls": [_poll(d, d.poll) for d, _ in details if d.poll is not None],
        "surveys": [_survey(d, d.survey) for d, _ in details if d.survey is not None],
    }


def _poll(detail: ThreadDetail, poll: PollView) -> dict[str, Any]:
    """A poll's options and counts: the exporter's own choices are no part of the group's record."""
    shown = poll.to_json()
    return {"thread": detail.id, "title": detail.title} | {
        k: shown[k] for k in ("options", "multi", "closes_at", "voters")
    }


def _survey(detail: ThreadDetail, survey: SurveyView) -> dict[str, Any]:
    return {
        "thread": detail.id,
        "title": detail.title,
        "questions": survey.questions,
        "closes_at": iso(survey.closes_at) if survey.closes_at else None,
        "answered": survey.answered,
    }


def export_markdown(conn: sqlite3.Connection) -> str:
    data = export_json(conn)
    group = data["group"]
    out = [f"# {group['name']}", ""]
    if group["purpose"]:
        out += [group["purpose"], ""]
    out += [f"_Exported {data['exported_at']}_", ""]
    if group["conduct"]:
        out += ["## Code of conduct", "", group["conduct"].rstrip(), ""]
    if group["rules"]:
        out += ["## House rules", "", group["rules"].rstrip(), ""]
    out += _settings_markdown(data["settings"])
    out += ["## Members", ""]
    out += [f"- {m['name']} ({', '.join(m['roles']) or 'member'}, {m['status']})" for m in data["members"]]
    out += ["", "## Threads", ""]
    for thread in data["threads"]:
        tags = " ".join(f"#{t}" for t in thread["tags"])
        out += [f"### {thread['title']}" + (f"  {tags}" if tags else ""), ""]
        for post in thread["posts"]:
            edited = " (edited)" if post["edited"] else ""
            out += [f"**{post['author']}** · {post['created_at']}{edited}", ""]
            if post["body"].strip():
                out += [post["body"].rstrip(), ""]
            if post["reactions"]:
                out += ["  ".join(f"{e} {n}" for e, n in post["reactions"].items()), ""]
    out += ["## Library", ""]
    for r in data["library"]:
        tags = " ".join(f"#{t}" for t in r["tags"])
        out += [f"- [{r['title']}]({r['url']}) — {r['summary']} {tags} (added by {r['added_by']})".rstrip()]
    out += ["", "## Rituals", ""]
    for r in data["rituals"]:
        out += [f"- **{r['name']}** ({r['rrule']}, {r['tz']}): {r['prompt']}"]
    out += _events_markdown(data["events"])
    out += _polls_markdown(data["polls"], data["surveys"])
    return "\n".join(out).rstrip() + "\n"


def _settings_markdown(settings: dict[str, Any]) -> list[str]:
    cap = settings["post_cap"] or "none"
    out = ["## Settings", "", f"- Time zone: {settings['tz']}", f"- Member cap: {settings['member_cap']}"]
    out += [f"- Posts per member per week: {cap}"]
    if settings["welcome"]:
        out += ["", "### Welcome", "", settings["welcome"].rstrip()]
    if settings["intro_template"]:
        out += ["", "### Intro template", "", settings["intro_template"].rstrip()]
    return [*out, ""]


def _events_markdown(events: list[dict[str, Any]]) -> list[str]:
    out = ["", "## Events", ""]
    for e in events:
        where = f", {e['where']}" if e["where"] else ""
        answers = "; ".join(f"{k}: {', '.join(e[k])}" for k in ("going", "maybe", "declined") if e[k])
        out += [
            f"- **{e['title']}** {e['at']} ({e['tz']}, {e['duration']}){where}" + (f" — {answers}" if answers else "")
        ]
    return out


def _polls_markdown(polls: list[dict[str, Any]], surveys: list[dict[str, Any]]) -> list[str]:
    out = ["", "## Polls", ""]
    for p in polls:
        kind = "several choices" if p["multi"] else "one choice"
        out += [f"- **{p['title']}** ({kind}, {p['voters']} voted)"]
        out += [f"  - {o['text']}: {o['votes']}" for o in p["options"]]
    out += ["", "## Surveys", "", "_The answers are sealed to the moderators and not exported._", ""]
    for s in surveys:
        out += [f"- **{s['title']}** ({s['answered']} answered)"]
        out += [f"  {n}. {q}" for n, q in enumerate(s["questions"], 1)]
    return out
