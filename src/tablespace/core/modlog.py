"""The public half of the moderation log: what moderators did in the open
(admissions, removals, time-outs, roles, hidden posts, archived threads,
settings), read back from the accepted ops in log order.

The other half, sealed to the moderators (reports, decisions, notes and the
reasons given for actions), is merged in by sync/moderation.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.member_queries import member_names
from tablespace.core.ops import decode_trusted


@dataclass(frozen=True)
class LogEntry:
    at: datetime
    by: str  # member id
    action: str  # a short verb phrase: "removed", "timed out", "resolved a report"
    what: str  # the target, in words
    why: str = ""  # the reason or decision given, if any
    op_id: str = ""
    hlc: int = 0  # the op's place in the log: the log's order

    def to_json(self, names: Mapping[str, str]) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "by": names.get(self.by, self.by),
            "by_id": self.by,
            "action": self.action,
            "what": self.what,
            "why": self.why,
            "op": self.op_id,
        }


class Names:
    """Members and threads in words, for the log (looked up as needed)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.members = member_names(conn)

    def member(self, member_id: Any) -> str:
        return self.members.get(str(member_id), str(member_id)[:8])

    def thread(self, thread_id: Any) -> str:
        row = self.conn.execute("SELECT title, deleted FROM threads WHERE id = ?", (str(thread_id),)).fetchone()
        return f"“{row[0]}”" if row and not row[1] else f"thread {str(thread_id)[:8]}"

    def post(self, post_id: Any) -> str:
        row = self.conn.execute("SELECT author, thread_id FROM posts WHERE id = ?", (str(post_id),)).fetchone()
        return f"a post by {self.member(row[0])} in {self.thread(row[1])}" if row else f"post {str(post_id)[:8]}"


Describe = Callable[[dict[str, Any], Names], tuple[str, str, str]]


def _settings(p: dict[str, Any], _names: Names) -> tuple[str, str, str]:
    labels = {
        "name": "name",
        "purpose": "purpose",
        "rules": "house rules",
        "conduct": "code of conduct",
        "post_cap": "weekly post cap",
    }
    changed = ", ".join(labels.get(k, k) for k in sorted(p))
    cap = f" (cap: {p['post_cap'] or 'none'})" if "post_cap" in p else ""
    return "changed settings", changed + cap, ""


# kind -> how to put it in words: (action, what, why); `why` is only in early
# ops, whose reasons were not yet sealed
DESCRIBE: dict[str, Describe] = {
    "member.add": lambda p, n: ("admitted", str(p.get("name", "")), ""),
    "request.deny": lambda p, n: ("denied a join request", str(p.get("request", ""))[:8], str(p.get("reason", ""))),
    "member.remove": lambda p, n: ("removed", n.member(p.get("member")), str(p.get("reason", ""))),
    "member.timeout": lambda p, n: (
        "timed out",
        f"{n.member(p.get('member'))} until {p.get('until', '?')}",
        str(p.get("reason", "")),
    ),
    "member.timeout_end": lambda p, n: ("ended the time-out of", n.member(p.get("member")), ""),
    "role.grant": lambda p, n: ("gave a role", f"{p.get('role')} to {n.member(p.get('member'))}", ""),
    "role.revoke": lambda p, n: ("took a role", f"{p.get('role')} from {n.member(p.get('member'))}", ""),
    "post.hide": lambda p, n: ("hid", n.post(p.get("post")), ""),
    "thread.pin": lambda p, n: ("pinned" if p.get("pinned") else "unpinned", n.thread(p.get("thread")), ""),
    "thread.archive": lambda p, n: ("archived" if p.get("archived") else "unarchived", n.thread(p.get("thread")), ""),
    "group.edit": _settings,
    "invite.create": lambda p, n: ("made an invite", f"for {p.get('uses', 1)}, until {p.get('expires', '?')}", ""),
}


def moderation_actions(conn: sqlite3.Connection, *, limit: int = 1000, names: Names | None = None) -> list[LogEntry]:
    """Moderators' open actions, oldest first (the newest `limit` of them).
    A moderator deleting someone else's post counts; deleting one's own does not."""
    names = names or Names(conn)
    kinds = sorted(DESCRIBE) + ["post.delete"]
    rows = conn.execute(
        f"""SELECT id, author, hlc, body, signature FROM ops
            WHERE state = 'accepted' AND kind IN ({",".join("?" * len(kinds))})
            ORDER BY hlc DESC, author DESC, seq DESC LIMIT ?""",
        (*kinds, limit),
    ).fetchall()
    entries = []
    member_of = dict(conn.execute("SELECT id, member FROM devices"))  # a moderator's added device acts as them
    for op_id, signer, hlc, body, signature in reversed(rows):
        author = member_of.get(signer, signer)
        op = decode_trusted(bytes(body), bytes(signature), op_id)
        if op.kind == "post.delete":
            row = conn.execute("SELECT author FROM posts WHERE id = ?", (str(op.payload.get("post")),)).fetchone()
            if row is None or row[0] == author:
                continue
            action, what, why = "deleted", names.post(op.payload.get("post")), ""
        else:
            action, what, why = DESCRIBE[op.kind](op.payload, names)
        entries.append(LogEntry(hlc_to_datetime(hlc), author, action, what, why, op_id, hlc))
    return entries
