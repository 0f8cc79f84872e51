"""Markdown as members write it: a single line break stays a line break.

CommonMark joins the lines of a paragraph (a "soft" break); people writing
in a chat box expect each line they typed to stay a line. Every place the
app renders what members wrote (posts, the compose preview, the code of
conduct and house rules) uses `MembersMarkdown`, or for text that is only
paragraphs and plain lists `FlatMarkdown`, which draws it the same with one
widget (`post_body` and `titled_body` pick). Imported on first use: the Markdown widget is
costly to import before the first frame."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from textual.content import Content, Span
from textual.css.styles import RulesMap
from textual.selection import Selection
from textual.strip import Strip
from textual.style import Style
from textual.visual import RenderOptions, Visual
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


# --- a post as one widget ----------------------------------------------------------

# What a post of paragraphs and a plain bullet list parses to: such a post is
# drawn by one widget, as Markdown draws it with a widget per block.
_FLAT_BLOCKS = {
    "paragraph_open",
    "paragraph_close",
    "inline",
    "bullet_list_open",
    "bullet_list_close",
    "ordered_list_open",
    "ordered_list_close",
    "list_item_open",
    "list_item_close",
}
_INLINE = {"text", "softbreak", "hardbreak", "code_inline", "link_open", "link_close"} | {
    f"{tag}_{end}" for tag in ("em", "strong", "s") for end in ("open", "close")
}
BULLET = Markdown.BULLETS[0]


def post_body(markdown: str, **kwargs: Any) -> Widget:
    """The widget for a post's body: one `FlatMarkdown` for a post of
    paragraphs and plain lists (most posts: a tenth of the cost of
    mounting Markdown's widgets), `MembersMarkdown` for anything else."""
    blocks = flat_blocks(members_parser().parse(markdown))
    return MembersMarkdown(markdown, **kwargs) if blocks is None else FlatMarkdown(blocks, **kwargs)


@dataclass
class FlatBlock:
    """A paragraph (one text), a list (a text an item), or a title
    of the app's own (one text, drawn as Markdown draws `### title`)."""

    texts: list[Content]
    bullets: bool = False
    title: bool = False
    first_number: int | None = None  # a numbered list's, from its first item


def titled_body(parts: list[tuple[str, str]], empty: str, **kwargs: Any) -> Widget:
    """Texts members wrote under titles of the app's (the code of conduct,
    the house rules): one `FlatMarkdown` when each is paragraphs and bullet
    lists, else `MembersMarkdown` with a `###` heading per title. `empty`
    (Markdown) stands in when every text is blank."""
    parts = [(title, text.strip()) for title, text in parts if text.strip()]
    blocks: list[FlatBlock] = []
    for title, text in parts:
        body = flat_blocks(members_parser().parse(text))
        if body is None:
            document = "\n\n".join(f"### {title}\n\n{text}" for title, text in parts)
            return MembersMarkdown(document, **kwargs)
        blocks += [FlatBlock([Content(title)], title=True), *body]
    if not blocks:
        return post_body(empty, **kwargs)
    return FlatMarkdown(blocks, **kwargs)


def flat_blocks(tokens: list[Token]) -> list[FlatBlock] | None:
    """The post's blocks, or None if it has anything else (headings,
    quotes, code, tables, nested lists, an item of two paragraphs,
    images)."""
    blocks: list[FlatBlock] = []
    depth = 0  # inside a list item
    for n, token in enumerate(tokens):
        kind = token.type
        if kind not in _FLAT_BLOCKS:
            return None
        if kind in ("bullet_list_open", "ordered_list_open"):
            if depth or token.level:
                return None  # nested
            numbered = kind == "ordered_list_open"
            if numbered and not tokens[n + 1].info.isdigit():
                return None
            blocks.append(FlatBlock([], bullets=True, first_number=int(tokens[n + 1].info) if numbered else None))
        elif kind == "list_item_open":
            if tokens[n + 1].type != "paragraph_open":
                return None
            depth += 1
            end = n + 4  # a paragraph (open, inline, close), then the item's end
            if end >= len(tokens) or tokens[end].type != "list_item_close":
                return None
        elif kind == "list_item_close":
            depth -= 1
        elif kind == "inline":
            content = inline_content(token)
            if content is None:
                return None
            if depth:
                blocks[-1].texts.append(content)
            else:
                blocks.append(FlatBlock([content]))
    return blocks


def inline_content(token: Token) -> Content | None:
    """A paragraph's text and styles, as Textual's Markdown makes them (the
    component classes it styles, a click on a link opening it), or None
    for what it would draw otherwise (an image)."""
    text: list[str] = []
    spans: list[Span] = []
    opened: list[tuple[str | Style, int]] = []
    at = 0
    for child in token.children or ():
        kind = child.type
        if kind not in _INLINE:
            return None
        if kind == "text":
            piece = re.sub(r"\s+", " ", child.content)
        elif kind == "hardbreak":
            piece = "\n"
        elif kind == "softbreak":
            piece = " "
        elif kind == "code_inline":
            piece = child.content
            spans.append(Span(at, at + len(piece), ".code_inline"))
        elif kind == "link_open":
            href = str(child.attrs.get("href", ""))
            opened.append((Style.from_meta({"@click": f"link({href!r})"}), at))
            continue
        elif kind.endswith("_open"):
            opened.append(("." + kind.removesuffix("_open"), at))
            continue
        else:  # a close
            style, start = opened.pop()
            spans.append(Span(start, at, style))
            continue
        text.append(piece)
        at += len(piece)
    return Content("".join(text), spans=spans)


class FlatVisual(Visual):
    """Paragraphs, lists and titles as one text: a blank line after each
    block but the last, an item's wrapped lines under its text, not its
    bullet (wrapped here, at the width given)."""

    def __init__(self, blocks: list[FlatBlock]) -> None:
        self.blocks = blocks
        self._made: tuple[int, Content] | None = None

    def content(self, width: int) -> Content:
        if self._made is None or self._made[0] != width:
            self._made = (width, self._make(width))
        return self._made[1]

    def _make(self, width: int) -> Content:
        bullet = Content(BULLET, spans=[Span(0, len(BULLET), ".bullet")])
        indent = Content(" " * bullet.cell_length, spans=[Span(0, bullet.cell_length, ".bullet")])
        blocks: list[Content] = []
        for block in self.blocks:
            if block.title:
                title = block.texts[0]
                blocks.append(Content(title.plain, spans=[Span(0, len(title.plain), ".title")]))
                continue
            if not block.bullets:
                blocks.append(block.texts[0])
                continue
            items = []
            for number, item in enumerate(block.texts, block.first_number or 0):
                mark, pad = (bullet, indent) if block.first_number is None else numbers(number, block)
                lines = item.wrap(max(1, width - mark.cell_length)) if width else [item]
                items.append(mark + (Content("\n") + pad).join(lines))
            blocks.append(Content("\n").join(items))
        made = Content("\n\n").join(blocks)
        # A heading keeps a line free above it, even at the top, as Markdown's does.
        return Content("\n") + made if self.blocks and self.blocks[0].title else made

    def render_strips(self, width: int, height: int | None, style: Style, options: RenderOptions) -> list[Strip]:
        return self.content(width).render_strips(width, height, style, options)

    def get_optimal_width(self, rules: RulesMap, container_width: int) -> int:
        return self.content(container_width).get_optimal_width(rules, container_width)

    def get_height(self, rules: RulesMap, width: int) -> int:
        return self.content(width).get_height(rules, width)


def numbers(number: int, block: FlatBlock) -> tuple[Content, Content]:
    """A numbered item's mark and the indent of its wrapped lines: the
    numbers right-aligned, as Markdown's ordered list draws them."""
    first = block.first_number or 0
    size = max(len(f"{n}. ") for n in range(first, first + len(block.texts))) + 1
    mark = f"{number}. ".rjust(size)
    return Content(mark, spans=[Span(0, size, ".bullet")]), Content(" " * size, spans=[Span(0, size, ".bullet")])


class FlatMarkdown(Widget):
    """Paragraphs, lists and titles, drawn as Markdown draws it."""

    COMPONENT_CLASSES = {"em", "strong", "s", "code_inline", "bullet", "title"}
    DEFAULT_CSS = """
    FlatMarkdown {
        height: auto;
        color: $foreground;
        &:dark > .code_inline {
            background: $warning 10%;
            color: $text-warning 95%;
        }
        &:light > .code_inline {
            background: $error 5%;
            color: $text-error 95%;
        }
        &:ansi > .code_inline {
            background: ansi_default;
        }
        & > .em {
            text-style: italic;
        }
        & > .strong {
            text-style: bold;
        }
        & > .s {
            text-style: strike;
        }
        & > .bullet {
            color: $text-primary;
        }
        &:light > .bullet {
            color: $text-secondary;
        }
        & > .title {
            color: $markdown-h3-color;
            background: $markdown-h3-background;
            text-style: $markdown-h3-text-style;
        }
    }
    """

    def __init__(self, blocks: list[FlatBlock], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.visual_body = FlatVisual(blocks)

    def render(self) -> FlatVisual:
        return self.visual_body

    def get_selection(self, selection: Selection) -> tuple[str, str] | None:
        return selection.extract(self.visual_body.content(self.content_size.width).plain), "\n"

    def action_link(self, href: str) -> None:
        self.app.open_url(href)
