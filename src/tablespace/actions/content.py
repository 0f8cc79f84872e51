"""What any member writes: threads, replies, edits, reactions, tags, pins and
the library. Each action builds one op and hands it to `Group.write`, the
single write path; the fold decides whether it is allowed, and a refusal
comes back as a typed error (core/errors.py). Content of a circle's thread
goes out sealed in the circle (actions/circles.py), found from the thread."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tablespace.actions.circles import circle_id, write_in_room
from tablespace.actions.rituals import open_due_rituals
from tablespace.core import circle_queries, limits, post_queries
from tablespace.core.errors import TablespaceError, UsageError
from tablespace.core.group import Group
from tablespace.core.text import only_a_reaction, reaction_for, visible


def post(group: Group, title: str, body: str = "", tags: Iterable[str] = (), circle: str | None = None) -> str:
    """Start a thread, in the group's room or one of our circles (by name or
    id); returns its id. Rituals that came due meanwhile open after it (a
    refused post changes nothing, and a ritual that may not open does not
    refuse the post)."""
    room = None if circle is None else circle_id(group, circle)
    payload = {"title": title.strip(), "body": body, "tags": normal_tags(tags)}
    thread = write_in_room(group, room, "thread.start", payload).id
    open_due_rituals(group)
    return thread


def reply(group: Group, thread_ref: str, body: str, quote: str | None = None, *, insist: bool = False) -> str:
    """Reply in a thread, quoting one of its posts if asked; returns the
    post's id. A reply that only says "+1", "same" or an emoji is refused
    with the reaction to give instead, unless `insist`: a row of them buries
    the thread ("no dogpiles")."""
    thread = group.thread_id(thread_ref)
    payload = {"thread": thread, "body": body}
    quoted = None if quote is None else group.post_id(quote)
    if quoted is not None:
        if not post_queries.post_in_thread(group.conn, quoted, thread):
            raise TablespaceError("you can only quote a post of the thread you reply in")
        payload["quote"] = quoted
    if not insist and only_a_reaction(body):
        said = visible(" ".join(body.split()))
        raise TablespaceError(
            f"“{said}” says what a reaction says: react instead "
            f"(tablespace react {(quoted or thread)[:8]} {reaction_for(body)}), or add --yes to post it"
        )
    return write_in_room(group, circle_queries.thread_circle(group.conn, thread), "post.reply", payload).id


def edit(group: Group, post_ref: str, body: str | None, title: str | None = None) -> None:
    """New text and/or (for an opening post) a new title; None keeps it."""
    post_id = group.post_id(post_ref)
    payload: dict[str, Any] = {
        "post": post_id,
        "body": post_queries.body(group.conn, post_id) if body is None else body,
    }
    if title is not None:
        payload["title"] = title.strip()
    write_in_room(group, circle_queries.post_circle(group.conn, post_id), "post.edit", payload)


def delete(group: Group, post_ref: str) -> None:
    """Delete a post (ours, or any as a moderator); an opening post takes its thread."""
    post_id = group.post_id(post_ref)
    write_in_room(group, circle_queries.post_circle(group.conn, post_id), "post.delete", {"post": post_id})


def react(group: Group, post_ref: str, emoji: str, undo: bool = False) -> None:
    """Add a reaction, or take ours back (`undo`)."""
    post_id, emoji = group.post_id(post_ref), emoji.strip()
    if undo and not post_queries.has_reacted(group.conn, post_id, group.me, emoji):
        raise TablespaceError(f"you have not reacted {emoji} to that post")
    kind = "post.unreact" if undo else "post.react"
    write_in_room(group, circle_queries.post_circle(group.conn, post_id), kind, {"post": post_id, "emoji": emoji})


def tag(group: Group, thread_ref: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
    thread = group.thread_id(thread_ref)
    payload = {"thread": thread, "add": normal_tags(add), "remove": normal_tags(remove)}
    write_in_room(group, circle_queries.thread_circle(group.conn, thread), "thread.tag", payload)


def pin(group: Group, thread_ref: str, pinned: bool = True) -> None:
    group.write("thread.pin", {"thread": group.thread_id(thread_ref), "pinned": pinned})


def library_add(group: Group, title: str, url: str, summary: str = "", tags: Iterable[str] = ()) -> str:
    """Add a resource to the library; returns its id."""
    payload = {"title": title.strip(), "url": url.strip(), "summary": summary, "tags": normal_tags(tags)}
    return group.write("library.add", payload).id


def library_edit(
    group: Group,
    resource_ref: str,
    *,
    title: str | None = None,
    url: str | None = None,
    summary: str | None = None,
    tags: Iterable[str] | None = None,
) -> None:
    """Change a resource (whoever added it, a curator or a moderator); None
    keeps a field, and `tags` replaces the tags."""
    payload: dict[str, Any] = {"resource": group.resource_id(resource_ref)}
    given = {"title": title, "url": url, "summary": summary}
    payload.update({k: v.strip() if k != "summary" else v for k, v in given.items() if v is not None})
    if tags is not None:
        payload["tags"] = normal_tags(tags)
    if len(payload) == 1:
        raise UsageError("nothing to change: give --title, --url, --summary or --tag")
    group.write("library.edit", payload)


def library_remove(group: Group, resource_ref: str) -> None:
    group.write("library.remove", {"resource": group.resource_id(resource_ref)})


def normal_tags(tags: Iterable[str]) -> list[str]:
    """Tags as the fold keeps them: normalised, without blanks or repeats, sorted."""
    return sorted({limits.normalize_tag(t) for t in tags if t.strip()})
