"""Other members' text never drives a terminal: `visible` spells out control
characters and bidi overrides, `json_text` keeps text exact but escaped, and
the fold refuses them in every field of a crafted op."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tablespace.core.text import json_text, only_a_reaction, visible
from tests.core.opkit import World

# Each sequence a post could use on a reader's terminal.
NASTY = {
    "esc": "\x1b",
    "osc52 clipboard": "\x1b]52;c;aGVsbG8=\x07",
    "csi clear screen": "\x1b[2J",
    "c1 csi": "\x9b2J",
    "c1 osc": "\x9d52;c;aGk=\x9c",
    "carriage return": "hi\rbye",
    "backspace": "a\x08b",
    "del": "\x7f",
    "rlo": "\u202e",
    "lre": "\u202a",
    "pdf": "\u202c",
    "rli": "\u2067",
    "pdi": "\u2069",
}
UNSAFE = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))]


def raw_unsafe(text: str, *, multiline: bool = False) -> list[str]:
    allowed = {"\n", "\t"} if multiline else set()
    return [c for c in text if c in UNSAFE and c not in allowed]


@pytest.mark.parametrize("char", UNSAFE, ids=lambda c: f"U+{ord(c):04X}")
def test_visible_spells_out_every_unsafe_character(char: str) -> None:
    shown = visible(f"a{char}b")
    assert raw_unsafe(shown) == []
    assert shown == f"a\\x{ord(char):02x}b" if ord(char) < 0x100 else f"a\\u{ord(char):04x}b"


def test_visible_keeps_newline_and_tab_only_in_multiline_text() -> None:
    assert visible("one\n\ttwo", multiline=True) == "one\n\ttwo"
    assert visible("one\n\ttwo") == "one\\x0a\\x09two"
    assert visible("a\r\nb", multiline=True) == "a\\x0d\nb"
    assert visible("Grüße 🍞 שלום \\x1b [b]") == "Grüße 🍞 שלום \\x1b [b]"  # ordinary text unchanged


def test_visible_names_undecodable_bytes_of_a_file_name() -> None:
    name = b"changes/\xff.tsc".decode("utf-8", "surrogateescape")
    assert visible(name) == "changes/\\udcff.tsc"
    visible(name).encode("utf-8")  # printable on any terminal


def test_json_text_escapes_every_unsafe_character_and_decodes_exactly() -> None:
    value = {"body": "".join(UNSAFE) + "".join(NASTY.values()) + " Grüße 🍞", "lone": "\udcff"}
    dumped = json_text(value)
    assert raw_unsafe(dumped, multiline=True) == []
    assert "\\u009b" in dumped and "\\u202e" in dumped and "\\u007f" in dumped
    assert "Grüße 🍞" in dumped  # other text stays readable
    assert json.loads(dumped) == value


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "group.db")


@pytest.mark.parametrize("name", NASTY)
def test_the_fold_refuses_a_crafted_title_name_tag_or_reaction(world: World, name: str) -> None:
    bo = world.members[0]
    seq = NASTY[name]
    reason = world.rejected(bo, "thread.start", {"title": f"Hi{seq}there", "body": "", "tags": []})
    assert reason.startswith("title contains a ") and "terminal" in reason
    thread = world.accepted(bo, "thread.start", {"title": "Fine", "body": "", "tags": []}).id
    assert "tag" in world.rejected(bo, "thread.start", {"title": "T", "body": "", "tags": [f"win{seq}"]})
    assert "tag" in world.rejected(bo, "thread.start", {"title": "T", "body": "", "tags": ["win\n"]})
    assert world.rejected(bo, "post.react", {"post": thread, "emoji": f"🍞{seq}"}).startswith("reaction ")
    assert world.rejected(bo, "member.profile", {"name": f"Bo{seq}"}).startswith("display name contains")
    assert world.rejected(world.founder, "group.edit", {"name": f"Circle{seq}"}).startswith("group name contains")
    assert world.rejected(
        world.founder,
        "ritual.add",
        {"name": f"Wins{seq}", "prompt": "p", "rrule": "FREQ=WEEKLY", "start": "2025-01-06"},
    ).startswith("ritual name contains")
    assert world.rejected(
        world.founder, "library.add", {"title": f"L{seq}", "url": "https://x.org", "summary": "", "tags": []}
    ).startswith("title contains")


@pytest.mark.parametrize("name", NASTY)
def test_the_fold_refuses_control_characters_in_multi_line_text_but_keeps_newline_and_tab(
    world: World, name: str
) -> None:
    bo = world.members[0]
    seq = NASTY[name]
    thread = world.accepted(bo, "thread.start", {"title": "T", "body": "one\n\ttwo", "tags": []}).id
    assert world.rejected(bo, "post.reply", {"thread": thread, "body": f"x{seq}y"}).startswith("body contains")
    assert world.rejected(
        bo, "library.add", {"title": "L", "url": "https://x.org", "summary": f"s{seq}", "tags": []}
    ).startswith("summary contains")
    assert world.rejected(
        world.founder,
        "ritual.add",
        {"name": "Wins", "prompt": f"p{seq}", "rrule": "FREQ=WEEKLY", "start": "2025-01-06"},
    ).startswith("prompt contains")
    assert world.rejected(world.founder, "group.edit", {"rules": f"r{seq}"}).startswith("house rules contains")


@pytest.mark.parametrize("body", ["+1", " +1! ", "Same", "same here.", "me too", "👍", "🎉🎉", "👍🏽", "❤️", "👩‍🍳 🔥"])
def test_a_body_that_only_says_what_a_reaction_says(body: str) -> None:
    assert only_a_reaction(body)


@pytest.mark.parametrize("body", ["", "   ", "+1, and the crumb was open", "same flour?", "1", "ok", "👍 thanks Ana"])
def test_a_body_with_anything_more_is_a_reply(body: str) -> None:
    assert not only_a_reaction(body)
