"""Markdown as members write it: a single line break stays a line break.

CommonMark joins the lines of a paragraph (a "soft" break); people writing
in a chat box expect each line they typed to stay a line. Every place the
app renders what members wrote (posts, the compose preview, the code of
conduct and house rules) uses `MembersMarkdown`. Imported on first use: the
Markdown widget is costly to import before the first frame."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from textual.widget import AwaitMount, Widget
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownBlock

# The class of a document's last block (a post's keeps no blank line under
# it). A class given before the block mounts styles it once; a `:last-child`
# rule would make every block restyle itself after mounting.
LAST_BLOCK = "-last-block"


def _keep_line_breaks(state: StateCore) -> None:
    for token in state.tokens:
        for child in token.children or ():
            if child.type == "softbreak":
                child.type = "hardbreak"


@cache
def members_parser() -> MarkdownIt:
    """Textual's "gfm-like" parser, with soft breaks made hard: one for the
    app, not one per post (making one costs more than parsing a post)."""
    parser = MarkdownIt("gfm-like")
    parser.core.ruler.push("keep_line_breaks", _keep_line_breaks)
    # Markdown parses on worker threads and a parser compiles its rule chains
    # on first use: compile them here, once, so no thread sees them half made.
    parser.parse("*a*\n\n- b")
    return parser


class MembersMarkdown(Markdown):
    def __init__(self, markdown: str | None = None, **kwargs: Any) -> None:
        super().__init__(markdown, parser_factory=members_parser, **kwargs)

    def mount_all(
        self,
        widgets: Iterable[Widget],
        *,
        before: int | str | Widget | None = None,
        after: int | str | Widget | None = None,
    ) -> AwaitMount:
        """Markdown mounts a document's blocks in batches: the last of the
        newest batch at the end is the last block."""
        widgets = list(widgets)
        blocks = [w for w in widgets if isinstance(w, MarkdownBlock)]
        if blocks and before is None and after is None:
            for block in self.query_children(f".{LAST_BLOCK}"):
                block.remove_class(LAST_BLOCK)  # a later batch: no longer the last
            blocks[-1].set_class(True, LAST_BLOCK, update=False)  # styled as it mounts
        return super().mount_all(widgets, before=before, after=after)
