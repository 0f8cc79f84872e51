"""Which post, thread or resource an op's text belongs to: the log's index
of edits (text_edits), by which the store finds deleted text to seal."""

from __future__ import annotations

from collections.abc import Iterable

from tablespace.core.fold.context import FoldContext
from tablespace.core.ops import Op

# Kinds whose ops carry text of the post, thread or resource their payload
# names; the log indexes the edits among them by that name (Store, text_edits).
TEXT_TARGETS: dict[str, str] = {
    "post.reply": "thread",
    "post.edit": "post",
    "thread.tag": "thread",
    "library.edit": "resource",
}
# The kinds that change text written by another op (a reply is text of its own).
EDITS = tuple(kind for kind in TEXT_TARGETS if kind != "post.reply")


def text_target(op: Op) -> str | None:
    key = TEXT_TARGETS.get(op.kind)
    target = op.payload.get(key) if key else None
    return target if isinstance(target, str) else None


def text_edit_rows(ops: Iterable[Op]) -> list[tuple[str, str]]:
    """(target, edit op id) for the text_edits index: how a deleted post's
    or resource's edits are found to seal them (Store._forget_deleted_text)."""
    return [(target, op.id) for op in ops if op.kind in EDITS and (target := text_target(op)) is not None]


def seal_if_deleted_text(ctx: FoldContext, op: Op) -> None:
    """A refused reply or edit of something deleted (it arrived after the
    delete, or its author saw it accepted before the delete reached them)
    is sealed with the rest of that text, whatever the reason it was refused:
    the store seals a deleted target's refused replies and every edit of it."""
    target = text_target(op)
    if target is not None and ctx.is_deleted(f"{TEXT_TARGETS[op.kind]}s", target):
        ctx.deleted_text.add(target)
