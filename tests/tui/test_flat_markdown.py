"""Text of paragraphs and lists (bulleted or numbered) is one `FlatMarkdown` widget, drawn
cell for cell as Textual's Markdown draws it with a widget per block (the
same text, colours and styles, the same wrapping); anything else stays
Markdown."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget

import tablespace.tui
from tablespace.tui.markdown import FlatMarkdown, MembersMarkdown, post_body, titled_body

LONG = "a long item that wraps over the width of the post, " * 2
BODIES = [
    "One line.",
    "Is it **dead**? *Maybe* ~~not~~, try `feed 1:5:5` and [the guide](https://example.org/guide).",
    "First line\nsecond line kept\n\nA second paragraph.",
    "Reply 7: the first paragraph.\n\nA second, **bold** one.\n\n- one item\n- and another",
    f"- {LONG}\n- **@Ana** short\n\nAfter the list, {LONG}",
    f"Before\n\n- one\n\n- two, loose\n\n{LONG}{LONG}",
    "1. Be kind.\n2. Share what you tried, not just what you think.",
    "".join(f"{n}. item {n}{' ' + LONG if n == 9 else ''}\n" for n in range(7, 12)),
]


class Side(App[None]):
    CSS_PATH = Path(tablespace.tui.__file__).parent / "app.tcss"
    CSS = "#markdown, #flat { width: 41; height: auto; }"

    def __init__(self, body: str, flat: Widget | None = None) -> None:
        super().__init__()
        self.body = body
        self.flat = flat  # what is drawn beside Markdown's drawing of `body` (default: the post's body)

    def compose(self) -> ComposeResult:
        with Horizontal():
            with Vertical(id="markdown"):
                yield MembersMarkdown(self.body, classes="post-body")
            with Vertical(id="flat"):
                yield self.flat or post_body(self.body, classes="post-body")


def cells(app: App[None], x: int, width: int) -> list[list[tuple[str, str, object]]]:
    """Each cell: its character, style and what a click on it does."""
    rows = []
    for strip in app.screen._compositor.render_strips():
        row = []
        for segment in strip.crop(x, x + width):
            click = segment.style.meta.get("@click") if segment.style else None
            row.extend((char, str(segment.style), click) for char in segment.text)
        rows.append(row)
    while rows and all(char == " " for char, _, _ in rows[-1]):
        rows.pop()
    return rows


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
@pytest.mark.parametrize("body", BODIES)
async def test_a_flat_post_is_drawn_as_markdown_draws_it(body: str, theme: str) -> None:
    app = Side(body)
    async with app.run_test(size=(82, 20)) as pilot:
        app.theme = theme
        await pilot.pause()
        assert isinstance(app.query_one("#flat").children[0], FlatMarkdown)
        markdown, flat = app.query_one("#markdown"), app.query_one("#flat")
        assert markdown.region.height == flat.region.height
        assert cells(app, 41, 41) == cells(app, 0, 41)
        if "](" in body:
            assert any(click for row in cells(app, 41, 41) for _, _, click in row)  # the link opens


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
async def test_titled_texts_are_drawn_as_markdown_draws_them_under_headings(theme: str) -> None:
    """The code of conduct and the house rules under their titles, as the
    Members section shows them."""
    parts = [
        ("Code of conduct", f"Critique the loaf, never the baker. {LONG}"),
        ("House rules", "1. Be kind.\n2. Share."),
    ]
    document = "\n\n".join(f"### {title}\n\n{text}" for title, text in parts)
    app = Side(document, titled_body(parts, "_None._", classes="post-body"))
    async with app.run_test(size=(82, 20)) as pilot:
        app.theme = theme
        await pilot.pause()
        assert isinstance(app.query_one("#flat").children[0], FlatMarkdown)
        assert cells(app, 41, 41) == cells(app, 0, 41)


@pytest.mark.parametrize(
    "body", ["# A heading", "> quoted", "```\ncode\n```", "1. one\n   1. nested", "- a\n  - nested", "![alt](x.png)"]
)
def test_anything_else_stays_markdown(body: str) -> None:
    assert isinstance(post_body(body), MembersMarkdown)
