"""What moderators do, with what only they may read: reports and their
queue, decisions, notes, roles, time-outs, archives and the moderation log.

Reports, decisions, notes and the reasons for open actions are sealed to the
moderators' key (sync/sealing.py, renewed by sync/moderator_key.py); a
report reaches the moderators through the shared folder (sync/delivery.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from tablespace.core import circle_queries, folder_queries, limits, log_queries, post_queries
from tablespace.core.clock import hlc_to_datetime, iso, now
from tablespace.core.errors import PermissionDenied, TablespaceError
from tablespace.core.group import Group
from tablespace.core.identity import author_id_for
from tablespace.core.modlog import LogEntry, Names, moderation_actions
from tablespace.core.rituals import parse_start
from tablespace.sync.delivery import put_in_outbox
from tablespace.sync.keys import ExchangeKey
from tablespace.sync.report_replies import seal_reply
from tablespace.sync.sealing import (
    EXCERPT_MAX,
    REASON_MAX,
    open_records,
    seal_for_moderators,
    signed_part,
    write_sealed,
)

DECISION_MAX = limits.SUMMARY_MAX


# --- reports: filing ----------------------------------------------------------------


def file_report(group: Group, post_ref: str, reason: str) -> str:
    """Seal a report on a post to the moderators; returns its id. It waits in
    the home's outbox (ciphertext) until it is in the shared folder."""
    reason = reason.strip()
    if not reason:
        raise TablespaceError("say what is wrong: the moderators read it")
    if len(reason) > REASON_MAX:
        raise TablespaceError(f"a reason has at most {REASON_MAX} characters")
    if group.my_status != "active":
        raise PermissionDenied("you are not a member of this group (not admitted yet, or you left or were removed)")
    post = group.post_id(post_ref)
    thread, author, body = post_queries.post_as_written(group.conn, post)
    record: dict[str, Any] = {
        "type": "report",
        "group": group.id,
        "post": post,
        "thread": thread,
        "post_author": author,
        "excerpt": body[:EXCERPT_MAX],
        "reason": reason,
        "reporter": group.me,
        "reporter_key": group.identity.public_key.hex(),
        "at": iso(now()),
        "nonce": os.urandom(8).hex(),
    }
    record["sig"] = group.identity.sign(signed_part(record)).hex()
    _, sealed = seal_for_moderators(group, record)
    report_id = put_in_outbox(group, sealed)  # deliver_reports takes it to the folder
    group.remember_report(report_id, post, thread)
    return report_id


# --- the report queue (moderators) ------------------------------------------------------


@dataclass
class Report:
    id: str
    post: str
    thread: str
    post_author: str
    reporter: str
    reason: str
    excerpt: str  # the post's text as the reporter saw it (their word)
    created_at: datetime  # the queue's order and its response clock (see _check_against_the_log)
    received_by: str
    received_hlc: int = 0  # the filing op's clock: the order among reports filed in the same second
    written_at: datetime | None = None  # when the reporter says they wrote it (their word)
    reporter_device: str = ""  # the signing key it was filed with: where a word back is sealed to
    # The post as this replica holds it, which is what counts: its author and
    # thread override the reporter's claim; None = not arrived here yet.
    post_now: str | None = None  # its text now; "" once deleted or hidden
    status: str = "open"
    decision: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    hid_post: bool = False
    told: str | None = None  # what the moderators chose to tell the reporter
    # The circle the post was written in, as the log says, or None (the
    # group's room); a moderator outside it reads only the excerpt.
    circle: str | None = None
    notes: list[tuple[str, datetime, str]] = field(default_factory=list)

    def to_json(self, names: Mapping[str, str]) -> dict[str, Any]:
        return {
            "id": self.id,
            "post": self.post,
            "thread": self.thread,
            "post_author": names.get(self.post_author, self.post_author),
            "post_author_id": self.post_author,
            "reporter": names.get(self.reporter, self.reporter),
            "reporter_id": self.reporter,
            "reason": self.reason,
            "excerpt": self.excerpt,
            "status": self.status,
            "created_at": iso(self.created_at),
            "written_at": iso(self.written_at) if self.written_at else None,
            "post_now": self.post_now,
            "decision": self.decision,
            "decided_by": names.get(self.decided_by or "", self.decided_by),
            "decided_at": iso(self.decided_at) if self.decided_at else None,
            "hid_post": self.hid_post,
            "told": self.told,
            "circle": self.circle,
            "notes": [{"by": names.get(by, by), "at": iso(at), "text": text} for by, at, text in self.notes],
        }


def reports(group: Group, exchange: ExchangeKey) -> list[Report]:
    """The report queue: open reports oldest first, then resolved ones, newest decision first."""
    found: dict[str, Report] = {}
    entries, _ = open_records(group, exchange)
    for entry in entries:
        r = entry.record
        if r["type"] == "report" and entry.record_id not in found:
            found[entry.record_id] = Report(
                entry.record_id,
                r["post"],
                r["thread"],
                r["post_author"],
                r["reporter"],
                r["reason"],
                r["excerpt"],
                entry.at,
                entry.author,
                entry.hlc,
                written_at=parse_start(r["at"]),
                reporter_device=author_id_for(bytes.fromhex(r["reporter_key"])),
            )
            continue
        report = found.get(str(r.get("report")))
        if report is None:
            continue
        if r["type"] == "resolve" and report.status == "open":
            report.status, report.decision = "resolved", str(r.get("decision", ""))
            report.decided_by, report.decided_at = entry.author, entry.at
            report.hid_post = bool(r.get("hide"))
            report.told = r["told"] if isinstance(r.get("told"), str) else None
        elif r["type"] == "note":
            report.notes.append((entry.author, entry.at, str(r.get("text", ""))))
    queue = list(found.values())
    _check_against_the_log(group, queue)
    open_ = sorted((r for r in queue if r.status == "open"), key=lambda r: (r.created_at, r.received_hlc))
    done = sorted((r for r in queue if r.status != "open"), key=lambda r: r.decided_at or r.created_at, reverse=True)
    return open_ + done


def _check_against_the_log(group: Group, queue: list[Report]) -> None:
    """A report names a post, its author and thread, quotes it and says when
    it was written: all the reporter's word. Where the post has arrived, the
    log's author and thread stand, its text now is shown beside the quote,
    and the report's time counts from no earlier than the post itself (a
    back-dated report cannot jump the queue further); until then, from when
    a moderator filed it. A post written in a circle this moderator is not
    in never arrives as text, but the log still names its author, time and
    circle."""
    for report in queue:
        in_circle = circle_queries.circle_op(group.conn, report.post)
        row = post_queries.post_as_held(group.conn, report.post)
        if in_circle is not None:
            report.circle, report.post_author, posted = in_circle
        if row is not None:
            report.thread, report.post_author, body, gone, posted = row
            report.post_now = "" if gone else body
        elif in_circle is None:
            continue
        if report.written_at is not None:
            report.created_at = min(max(report.written_at, hlc_to_datetime(posted)), report.created_at)


def find_report(group: Group, exchange: ExchangeKey, ref: str) -> Report:
    wanted = ref.strip().lower()
    if len(wanted) < 4 or any(c not in "0123456789abcdef" for c in wanted):
        raise TablespaceError(f"{ref!r} is not a report id: give at least 4 hex characters")
    matches = [r for r in reports(group, exchange) if r.id.startswith(wanted)]
    if not matches:
        raise TablespaceError(f"no report with id {ref!r}; `tablespace reports` lists them (sync first for new ones)")
    if len(matches) > 1:
        raise TablespaceError(f"report id {ref!r} is ambiguous; give more characters")
    return matches[0]


def _moderators_text(text: str, empty: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise TablespaceError(empty)
    if len(text) > DECISION_MAX:
        raise TablespaceError(f"{what} has at most {DECISION_MAX} characters")
    return text


def resolve_report(
    group: Group,
    exchange: ExchangeKey,
    ref: str,
    decision: str,
    *,
    hide_post: bool = False,
    tell_reporter: str | None = None,
) -> None:
    """Record a decision (who and when come from the op); optionally hide the
    post for everyone, and tell the reporter a word of it (`tell_reporter`,
    sealed to the device they reported from). All lands in one transaction,
    or none of it."""
    group.require_moderator()
    decision = _moderators_text(decision, "a decision is required: say what was decided and why", "a decision")
    report = find_report(group, exchange, ref)
    if report.status != "open":
        raise TablespaceError(f"report {report.id[:8]} was already resolved: {report.decision}")
    if hide_post and not _can_hide(group, report.post):
        raise TablespaceError("that post is already gone; resolve without --hide-post")
    record: dict[str, Any] = {"type": "resolve", "report": report.id, "decision": decision, "hide": hide_post}
    reply = None
    if tell_reporter is not None:
        record["told"] = _moderators_text(tell_reporter, "say what to tell the reporter", "a word to the reporter")
        reply = seal_reply(group, report.id, report.reporter_device, record["told"])
    with group.store.db.atomic():
        write_sealed(group, record, handled=report.id, reply=reply)
        if hide_post:
            group.write("post.hide", {"post": report.post})


def _can_hide(group: Group, post: str) -> bool:
    """Whether the post is there to hide: held here, or written in a circle
    this moderator is not in (its members' replicas hide it, core/fold/moderation.py)."""
    if post_queries.post_as_held(group.conn, post) is not None:
        return post_queries.post_exists(group.conn, post)
    return circle_queries.circle_op(group.conn, post) is not None


def add_note(group: Group, exchange: ExchangeKey, ref: str, text: str) -> None:
    """A moderators-only note on a report (listen, clarify: what was asked, what was said)."""
    group.require_moderator()
    text = _moderators_text(text, "the note is empty", "a note")
    report = find_report(group, exchange, ref)
    write_sealed(group, {"type": "note", "report": report.id, "text": text})


def invite_secrets(group: Group, exchange: ExchangeKey) -> dict[str, bytes]:
    """invite id -> its one-time secret, which opens join requests: sealed to
    the moderators, or (invites made before that) in the invite op itself."""
    found = {i: bytes.fromhex(s) for i, s in log_queries.invite_secrets_in_the_open(group.conn)}
    entries, _ = open_records(group, exchange)
    for e in entries:
        if e.record["type"] == "invite" and isinstance(e.record.get("secret"), str):
            try:
                found.setdefault(str(e.record.get("invite")), bytes.fromhex(e.record["secret"]))
            except ValueError:
                continue
    return found


# --- the moderation log ------------------------------------------------------------------


def document(group: Group, op_id: str, why: str, *, what: str = "") -> None:
    """Keep the reason for an open action (a role, an archive) in the sealed
    record, and what it was about when the op itself cannot say (a denied
    request names nobody in the open)."""
    if why.strip() or what:
        write_sealed(group, {"type": "why", "op": op_id, "text": why.strip()[:DECISION_MAX], "what": what[:200]})


def moderation_log(group: Group, exchange: ExchangeKey, *, limit: int = 1000) -> list[LogEntry]:
    """Everything moderators did and why, oldest first: the open actions from
    the log, the sealed reports, decisions and notes, and the sealed reasons
    attached to open actions."""
    entries, _ = open_records(group, exchange)
    notes = {str(e.record.get("op")): e.record for e in entries if e.record["type"] == "why"}
    names = Names(group.conn)
    log = [
        replace(
            a,
            why=a.why or str(notes.get(a.op_id, {}).get("text", "")),
            what=str(notes.get(a.op_id, {}).get("what") or a.what),
        )
        for a in moderation_actions(group.conn, limit=limit, names=names)
    ]
    seen: set[str] = set()
    for e in entries:
        r = e.record
        if r["type"] == "report" and e.record_id not in seen:
            seen.add(e.record_id)
            what = f"{names.post(r['post'])} (report {e.record_id[:8]})"
            log.append(LogEntry(e.at, r["reporter"], "reported", what, r["reason"], e.op_id, e.hlc))
        elif r["type"] == "resolve":
            hid = " (post hidden)" if r.get("hide") else ""
            log.append(
                LogEntry(
                    e.at,
                    e.author,
                    "resolved",
                    f"report {str(r.get('report'))[:8]}{hid}",
                    str(r.get("decision", "")),
                    e.op_id,
                    e.hlc,
                )
            )
        elif r["type"] == "note":
            log.append(
                LogEntry(
                    e.at,
                    e.author,
                    "noted",
                    f"report {str(r.get('report'))[:8]}",
                    str(r.get("text", "")),
                    e.op_id,
                    e.hlc,
                )
            )
    return sorted(log, key=lambda entry: entry.hlc)[-limit:]


# --- for the Moderation pane -----------------------------------------------------------------

AMBER_AFTER = timedelta(hours=24)
RED_AFTER = timedelta(hours=48)


def response_clock(report: Report, at: datetime) -> str:
    """How urgent an open report is: "ok", then "amber" after 24 h, "red" after 48 h."""
    if report.status != "open":
        return "ok"
    waited = at - report.created_at
    return "red" if waited >= RED_AFTER else "amber" if waited >= AMBER_AFTER else "ok"


@dataclass(frozen=True)
class Evidence:
    kind: str  # "fork" or "quarantined"
    who: str  # a member id (fork) or a file path (quarantined)
    detail: str


def evidence(group: Group) -> list[Evidence]:
    """What sync set aside, for moderators to look at: authors who signed two
    different ops for one seq, and files refused with their reasons."""
    found = [
        Evidence("fork", author, f"two different ops signed as seq {seq}; their ops from there on are set aside")
        for author, seq in log_queries.first_forks(group.conn)
    ]
    found += [
        Evidence("quarantined", path, reason or "") for path, reason in folder_queries.quarantined_files(group.conn)
    ]
    return found
