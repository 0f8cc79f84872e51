"""What members write: threads, posts, reactions, tags, pins and the
resource library."""

from __future__ import annotations

from tablespace.core import limits
from tablespace.core.errors import Rejected
from tablespace.core.fold.context import FoldContext
from tablespace.core.fold.registry import handles
from tablespace.core.ops import Op


@handles("thread.start")
def thread_start(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    ctx.check_post_cap(op)
    p = op.payload
    title = limits.one_line(p, "title", label="title", max_chars=limits.TITLE_MAX)
    body = limits.body(p)
    tags = limits.tag_list(p)
    ctx.add_thread(op.id, title, op.author, op.hlc, body, tags, None, None)


@handles("post.reply")
def post_reply(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    ctx.check_post_cap(op)
    thread = limits.ref(op.payload, "thread", label="thread")
    thread_author = ctx.live_thread(thread)
    body = limits.body(op.payload, required=True)
    ctx.add_reply(op.id, thread, op.author, body, op.hlc, _quote(ctx, op, thread), thread_author=thread_author)


def _quote(ctx: FoldContext, op: Op, thread: str) -> str | None:
    """The post a reply quotes: a post of the same thread that exists at this
    point (deleted or not: it then shows as deleted). Anything else is
    dropped, not refused, so a version that does not know quotes (and
    ignores the field) accepts the same replies as one that does."""
    quote = op.payload.get("quote")
    if not isinstance(quote, str) or not limits.ID_RE.match(quote):
        return None
    row = ctx.post_row(quote)
    if row is None or row[0] != thread:
        return None
    return quote


@handles("post.edit")
def post_edit(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    post = limits.ref(op.payload, "post", label="post")
    thread, author, _ = ctx.live_post(post)
    ctx.live_thread(thread)
    if author != op.author:
        raise Rejected.permission("only the author can edit a post")
    body = limits.body(op.payload, required=post != thread)
    title = None
    if "title" in op.payload:
        if post != thread:
            raise Rejected.invalid("only an opening post has a title")
        title = limits.one_line(op.payload, "title", label="title", max_chars=limits.TITLE_MAX)
    ctx.edit_post(post, thread, body, op.hlc, title)


@handles("post.delete")
def post_delete(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    post = limits.ref(op.payload, "post", label="post")
    thread, author, _ = ctx.live_post(post)
    if author != op.author and not ctx.has_role(op.author, "moderator"):
        raise Rejected.permission("only the author or a moderator can delete a post")
    tombstone(ctx, post, thread)


def tombstone(ctx: FoldContext, post: str, thread: str) -> None:
    """A post deleted, by its author or hidden by a moderator (moderation.py)."""
    # Tombstones keep the row (later edits and replies must still be refused)
    # but blank the text, so it leaves the views and, via the FTS triggers,
    # the search index; the store then seals it in the log (deleted_text).
    ctx.run("UPDATE posts SET body = '', deleted = 1 WHERE id = ?", post)
    ctx.deleted_text.add(post)
    ctx.blanked_text.add("posts")
    ctx.run("DELETE FROM reactions WHERE post_id = ?", post)
    ctx.run("DELETE FROM mentions WHERE post_id = ?", post)
    if post == thread:
        # Deleting an opening post deletes the thread with all its replies.
        ctx.run("UPDATE threads SET title = '', deleted = 1, replies = 0, pinned = 0 WHERE id = ?", thread)
        ctx.blanked_text.add("threads")
        ctx.run("DELETE FROM reactions WHERE post_id IN (SELECT id FROM posts WHERE thread_id = ?)", thread)
        ctx.run("DELETE FROM mentions WHERE post_id IN (SELECT id FROM posts WHERE thread_id = ?)", thread)
        ctx.deleted_text.update(
            row[0]
            for row in ctx.conn.execute(
                "UPDATE posts SET body = '', deleted = 1 WHERE thread_id = ? AND deleted = 0 RETURNING id", (thread,)
            )
        )
        ctx.run("DELETE FROM thread_tags WHERE thread_id = ?", thread)
        # An event's place is its text too, and its answers go with it.
        ctx.run("DELETE FROM events WHERE id = ?", thread)
        ctx.run("DELETE FROM event_rsvps WHERE event_id = ?", thread)
        forget_poll_and_survey(ctx, thread)
    else:
        ctx.refresh_thread_activity(thread)


def forget_poll_and_survey(ctx: FoldContext, thread: str) -> None:
    """A deleted poll or survey leaves no options, questions, votes or sealed answers."""
    for table, key in POLL_AND_SURVEY_ROWS:
        ctx.run(f"DELETE FROM {table} WHERE {key} = ?", thread)


POLL_AND_SURVEY_ROWS = (
    ("polls", "thread_id"),
    ("poll_options", "thread_id"),
    ("poll_votes", "thread_id"),
    ("surveys", "thread_id"),
    ("survey_answers", "survey_id"),
)


def _reaction_target(ctx: FoldContext, op: Op) -> tuple[str, str, str]:
    """(post, its author, emoji) of a reaction to a live post in a live thread."""
    ctx.require_active(op)
    post = limits.ref(op.payload, "post", label="post")
    thread, post_author, _ = ctx.live_post(post)
    ctx.live_thread(thread)
    return post, post_author, limits.emoji(op.payload)


@handles("post.react")
def post_react(ctx: FoldContext, op: Op) -> None:
    post, post_author, emoji = _reaction_target(ctx, op)
    ctx.add_reaction(post, post_author, op.author, emoji, op.hlc)


@handles("post.unreact")
def post_unreact(ctx: FoldContext, op: Op) -> None:
    post, _, emoji = _reaction_target(ctx, op)
    ctx.run("DELETE FROM reactions WHERE post_id = ? AND author = ? AND emoji = ?", post, op.author, emoji)


@handles("thread.tag")
def thread_tag(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    thread = limits.ref(op.payload, "thread", label="thread")
    author = ctx.live_thread(thread)
    if author != op.author and not ctx.is_curating(op):
        raise Rejected.permission("only the thread's author, a curator or a moderator can change its tags")
    add = limits.tag_list(op.payload, "add")
    remove = set(limits.tag_list(op.payload, "remove"))
    current = {r[0] for r in ctx.conn.execute("SELECT tag FROM thread_tags WHERE thread_id = ?", (thread,))}
    tags = sorted((current | set(add)) - remove)
    limits.tag_list({"tags": tags})
    ctx.set_tags("thread_tags", "thread_id", thread, tags)


@handles("thread.pin")
def thread_pin(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    if not ctx.is_curating(op):
        raise Rejected.permission("only a curator or a moderator can pin threads")
    thread = limits.ref(op.payload, "thread", label="thread")
    ctx.live_thread(thread)
    pinned = limits.flag(op.payload, "pinned", label="pinned")
    ctx.run("UPDATE threads SET pinned = ? WHERE id = ?", int(pinned), thread)


# --- the resource library ----------------------------------------------------


@handles("library.add")
def library_add(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    p = op.payload
    title = limits.one_line(p, "title", label="title", max_chars=limits.TITLE_MAX)
    url = limits.url(p)
    summary = limits.text(p, "summary", label="summary", max_chars=limits.SUMMARY_MAX, required=False)
    tags = limits.tag_list(p)
    ctx.run(
        "INSERT INTO resources (id, title, url, summary, added_by, created_hlc) VALUES (?, ?, ?, ?, ?, ?)",
        op.id,
        title,
        url,
        summary,
        op.author,
        op.hlc,
    )
    ctx.set_tags("resource_tags", "resource_id", op.id, tags)


def _resource_for_change(ctx: FoldContext, op: Op) -> str:
    ctx.require_active(op)
    resource = limits.ref(op.payload, "resource", label="resource")
    added_by = ctx.live_resource(resource)
    if added_by != op.author and not ctx.is_curating(op):
        raise Rejected.permission("only whoever added it, a curator or a moderator can change a resource")
    return resource


@handles("library.edit")
def library_edit(ctx: FoldContext, op: Op) -> None:
    resource = _resource_for_change(ctx, op)
    p = op.payload
    updates: dict[str, str] = {}
    if "title" in p:
        updates["title"] = limits.one_line(p, "title", label="title", max_chars=limits.TITLE_MAX)
    if "url" in p:
        updates["url"] = limits.url(p)
    if "summary" in p:
        updates["summary"] = limits.text(p, "summary", label="summary", max_chars=limits.SUMMARY_MAX, required=False)
    tags = limits.tag_list(p) if "tags" in p else None
    if not updates and tags is None:
        raise Rejected.invalid("nothing to change")
    for column, value in updates.items():
        ctx.run(f"UPDATE resources SET {column} = ? WHERE id = ?", value, resource)
    if tags is not None:
        ctx.set_tags("resource_tags", "resource_id", resource, tags)


@handles("library.remove")
def library_remove(ctx: FoldContext, op: Op) -> None:
    resource = _resource_for_change(ctx, op)
    ctx.run("UPDATE resources SET title = '', url = '', summary = '', deleted = 1 WHERE id = ?", resource)
    ctx.run("DELETE FROM resource_tags WHERE resource_id = ?", resource)
    ctx.deleted_text.add(resource)
    ctx.blanked_text.add("resources")
