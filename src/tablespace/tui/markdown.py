"""Markdown as members write it: a single line break stays a line break.

CommonMark joins the lines of a paragraph (a "soft" break); people writing
in a chat box expect each line they typed to stay a line. Every place the
app renders what members wrote (posts, the compose preview, the code of
conduct and house rules) uses `MembersMarkdown`. Imported on first use: the
Markdown widget is costly to import before the first frame."""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from textual.widgets import Markdown


def _keep_line_breaks(state: StateCore) -> None:
    for token in state.tokens:
        for child in token.children or ():
            if child.type == "softbreak":
                child.type = "hardbreak"


def members_parser() -> MarkdownIt:
    """Textual's "gfm-like" parser, with soft breaks made hard."""
    parser = MarkdownIt("gfm-like")
    parser.core.ruler.push("keep_line_breaks", _keep_line_breaks)
    return parser


class MembersMarkdown(Markdown):
    def __init__(self, markdown: str | None = None, **kwargs: Any) -> None:
        super().__init__(markdown, parser_factory=members_parser, **kwargs)
