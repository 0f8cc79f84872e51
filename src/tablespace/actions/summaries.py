"""Summaries for members between sessions: the digest (since my last one,
remembered in my home) and the weekly recap, which a note-taker or a
moderator may post as a thread tagged `recap`."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from tablespace.actions.content import post
from tablespace.core.clock import datetime_to_hlc, hlc_to_datetime, now
from tablespace.core.digest import Digest
from tablespace.core.digest import digest as build_digest
from tablespace.core.errors import PermissionDenied
from tablespace.core.files import write_atomically
from tablespace.core.group import Group
from tablespace.core.log_queries import newest_op_row
from tablespace.core.recap import RECAP_TAG, Recap, recap, week_of
from tablespace.core.text import json_text, visible

DigestFormat = Literal["markdown", "json"]
DEFAULT_DIGEST_SPAN = timedelta(days=7)
_LAST_DIGEST = "last_digest_hlc"  # meta key, in the home: when my last digest ended
_LAST_DIGEST_ARRIVAL = "last_digest_arrival"  # and where the log ended then (log_queries.newest_op_row)
RECAP_ROLES = ("note-taker", "moderator")


def digest(group: Group, since: timedelta | None = None) -> Digest:
    """What happened since `since` ago, else since my last digest, else the
    last 7 days. Only a digest of the default window moves the mark, so a
    one-off `--since` does not make the next mailed digest skip anything."""
    until = now()
    if since is not None:
        return build_digest(group.conn, group.me, until - since, until, group=group.name())
    mark = group.store.get_meta(_LAST_DIGEST)
    start = hlc_to_datetime(int(mark)) if mark and mark.isdigit() else until - DEFAULT_DIGEST_SPAN
    arrived = group.store.get_meta(_LAST_DIGEST_ARRIVAL)
    arrived_after = int(arrived) if arrived and arrived.isdigit() else None
    here = newest_op_row(group.conn)
    result = build_digest(
        group.conn, group.me, min(start, until), until, group=group.name(), arrived_after=arrived_after
    )
    with group.store.db.atomic():
        group.store.set_meta(_LAST_DIGEST, str(datetime_to_hlc(until)))
        group.store.set_meta(_LAST_DIGEST_ARRIVAL, str(here))
    return result


def digest_text(result: Digest, fmt: DigestFormat) -> str:
    """The digest as Markdown or JSON, safe for a terminal even when mailed
    or written to a file (other members' text is spelled out)."""
    if fmt == "json":
        return json_text(result.to_json())
    return visible(result.markdown(), multiline=True)


def write_digest(result: Digest, fmt: DigestFormat, path: Path) -> None:
    write_atomically(path, (digest_text(result, fmt) + "\n").encode("utf-8"), mode=0o666)


def weekly_recap(group: Group, day: date | None = None) -> Recap:
    """The recap of the week holding `day` (default: today, UTC)."""
    start, end = week_of(day or now().date())
    return recap(group.conn, start, end)


def post_recap(
    group: Group, day: date | None = None, *, title: str | None = None, body: str | None = None
) -> tuple[str, Recap]:
    """Note-takers and moderators: post the week's recap as a thread tagged
    `recap`, as built or with the `title` and `body` they edited it to;
    returns the thread id and the recap."""
    if not group.my_roles() & set(RECAP_ROLES):
        raise PermissionDenied("only a note-taker or a moderator can post the recap")
    result = weekly_recap(group, day)
    thread = post(group, title or result.title, result.markdown() if body is None else body, [RECAP_TAG])
    return thread, result
