"""The whole readable group as JSON or Markdown, for backup or for leaving."""

from __future__ import annotations

import sqlite3
from typing import Any

from tablespace.core import queries
from tablespace.core.clock import iso, now


def export_json(conn: sqlite3.Connection) -> dict[str, Any]:
    settings = queries.settings(conn)
    summaries = sorted(queries.threads(conn), key=lambda t: (t.created_at, t.id))
    return {
        "group": {k: settings.get(k, "") for k in ("name", "purpose", "rules", "created_at")},
        "exported_at": iso(now()),
        "members": [m.to_json() for m in queries.members(conn)],
        "threads": [queries.thread(conn, t.id).to_json() | {"author": t.author} for t in summaries],
        "library": [r.to_json() for r in queries.resources(conn)],
        "rituals": [r.to_json() for r in queries.rituals(conn, now())],
    }


def export_markdown(conn: sqlite3.Connection) -> str:
    data = export_json(conn)
    group = data["group"]
    out = [f"# {group['name']}", ""]
    if group["purpose"]:
        out += [group["purpose"], ""]
    out += [f"_Exported {data['exported_at']}_", ""]
    if group["rules"]:
        out += ["## House rules", "", group["rules"].rstrip(), ""]
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
        out += [f"- **{r['name']}** ({r['rrule']}): {r['prompt']}"]
    return "\n".join(out).rstrip() + "\n"
