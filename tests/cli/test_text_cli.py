"""No terminal is driven by someone else's text: every human-readable command
shows other members' control characters and bidi overrides spelled out,
`--json` keeps the text exact (escaped), and input refuses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tablespace import cli
from tablespace.cli import main
from tablespace.core import limits
from tests.clirun import TS, everyone_syncs, make_group

# Clipboard write, clear screen, 8-bit CSI and OSC, carriage return, DEL and
# bidi overrides/isolates, in one string.
NASTY = "\x1b]52;c;aGVsbG8=\x07\x1b[2J\x9b31m\x9d0;pwned\x9c\r\x7f\u202eevil\u202c\u2067x\u2069\x1b"
REACTION = "\x1b]52;c;YQ==\x07"  # a reaction is at most 16 characters
SHORT = "\x1b]52;c;YQ==\x07\x9b2J\u202e"  # a name is at most 40
UNSAFE = {chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0x202A, 0x202F), *range(0x2066, 0x206A))} - {
    "\n",
    "\t",
}


def raw_unsafe(text: str) -> set[str]:
    return {c for c in text if c in UNSAFE}


def as_written_before_the_rules(monkeypatch: pytest.MonkeyPatch):
    """A context in which the fold accepts what it now refuses, as it did for
    ops a replica folded before the rules: the output must hold regardless."""
    context = monkeypatch.context()
    patch = context.__enter__()
    patch.setattr(limits, "refuse_unsafe", lambda *args, **kwargs: None)
    patch.setattr(cli, "unix_line_ends", lambda text: text)  # a modified client keeps a bare \r
    return context


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A group where Bo (and the group's own settings) wrote NASTY everywhere
    a member can write text, and Cy, named NASTY, waits to be admitted."""
    old_rules = as_written_before_the_rules(monkeypatch)
    folder, ana, members = make_group(tmp_path, monkeypatch, "Bo")
    bo = members["Bo"]
    thread = bo.out("post", f"Title {NASTY}", "--body", f"body {NASTY}\n\ttabbed line", "--tag", "win")
    bo.out("reply", thread[:8], "--body", f"reply {NASTY}")
    bo.run("react", thread[:8], REACTION)
    bo.out("library", "add", f"Lib {NASTY}", "--url", f"https://e.org/{SHORT}", "--summary", f"sum {NASTY}")
    ana.out("ritual", "add", f"Rit {NASTY}", "--prompt", f"prompt {NASTY}", "--rrule", "FREQ=WEEKLY;BYDAY=MO")
    rules = tmp_path / "rules.md"
    rules.write_text(f"rules {NASTY}\n", encoding="utf-8")
    ana.run("settings", "--purpose", f"purpose {NASTY}", "--rules-file", str(rules))
    everyone_syncs(ana, bo)
    report = bo.out("report", thread[:8], "--reason", f"reason {NASTY}")
    everyone_syncs(bo, ana)
    ana.run("note", report[:8], f"note {NASTY}")
    ana.run("resolve", report[:8], "--decision", f"decision {NASTY}")
    ana.run("archive", thread[:8], "--reason", f"why {NASTY}")
    bo.out("post", f"Second {NASTY}")
    everyone_syncs(bo, ana)
    for name, admitted in (("di", True), ("cy", False)):
        code = ana.out("invite")
        ana.json("sync")
        request = TS(tmp_path / name, monkeypatch).out("join", code, "--as", f"{name}{SHORT}", "--folder", str(folder))
        if admitted:
            ana.run("admit", request[:8])
    old_rules.__exit__(None, None, None)
    return {"ana": ana, "bo": bo, "thread": thread, "folder": folder}


def no_raw_control(result) -> str:
    shown = result.stdout + result.stderr
    assert raw_unsafe(shown) == set(), (sorted(raw_unsafe(shown)), shown)
    return shown


@pytest.mark.slow
def test_every_human_readable_command_spells_out_other_members_control_characters(table: dict) -> None:
    ana, thread = table["ana"], table["thread"]
    commands = [
        ("show", thread[:8]),
        ("threads",),
        ("threads", "--archived"),
        ("search", "body"),
        ("search", "lib"),
        ("library",),
        ("rituals",),
        ("members",),
        ("requests",),
        ("reports", "--all"),
        ("modlog",),
        ("settings",),
        ("export", "--format", "markdown"),
        ("sync",),
        ("metrics",),
    ]
    for command in commands:
        shown = no_raw_control(ana.run(*command))
        assert "\\x1b]52;c;" in shown or command in {("metrics",), ("sync",)}, command
    shown = no_raw_control(ana.run("show", thread[:8]))
    assert "\\u202eevil\\u202c" in shown and "\\x9b31m" in shown and "\\x0d" in shown
    assert "\n\ttabbed line" in shown  # a body keeps its newlines and tabs


@pytest.mark.slow
def test_styling_never_lets_member_text_through(table: dict) -> None:
    """With colour on, only our own style codes reach the terminal."""
    ana = table["ana"]
    result = ana.runner.invoke(main, ["--home", str(ana.home), "threads"], color=True)
    assert result.exit_code == 0
    assert "\x1b[1m" in result.stdout  # the title is bold
    assert (
        "\x1b]" not in result.stdout
        and "\x1b[2J" not in result.stdout
        and raw_unsafe(result.stdout.replace("\x1b[", "")) == set()
    )


@pytest.mark.slow
def test_json_keeps_text_exact_and_escaped(table: dict) -> None:
    ana, thread = table["ana"], table["thread"]
    for command in [
        ("show", thread[:8]),
        ("threads",),
        ("search", "body"),
        ("library",),
        ("rituals",),
        ("members",),
        ("requests",),
        ("reports",),
        ("modlog",),
        ("settings",),
    ]:
        stdout = ana.run(*command, "--json").stdout
        assert raw_unsafe(stdout) == set(), command
        json.loads(stdout)
    shown = json.loads(ana.run("show", thread[:8], "--json").stdout)
    assert shown["title"] == f"Title {NASTY}"
    assert shown["posts"][0]["body"] == f"body {NASTY}\n\ttabbed line"
    assert shown["posts"][0]["reactions"] == {REACTION: 1}
    exported = ana.run("export", "--format", "json").stdout
    assert raw_unsafe(exported) == set()
    assert {f"Second {NASTY}", f"purpose {NASTY}"} <= strings(json.loads(exported))


def strings(value: object) -> set[str]:
    """Every string in a decoded JSON document."""
    if isinstance(value, str):
        return {value}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return set().union(*(strings(v) for v in items))


@pytest.mark.slow
def test_sync_names_a_quarantined_file_without_its_control_characters(table: dict) -> None:
    ana, folder = table["ana"], table["folder"]
    (group_dir,) = [p for p in folder.iterdir() if p.is_dir()]
    changes = next(p for p in group_dir.iterdir() if p.is_dir() and p.name == "changes")
    author_dir = next(p for p in changes.iterdir() if p.is_dir())
    (author_dir / f"9-{NASTY.replace('/', '')}.tsc").write_bytes(b"not a changeset")
    result = ana.run("sync")
    shown = no_raw_control(result)
    assert "quarantined" in shown and "\\x1b" in shown


@pytest.mark.parametrize(
    "args",
    [
        ("post", f"Hi {NASTY}"),
        ("post", "Hi\x9b2J"),
        ("post", "Hi\u202eevil"),
        ("post", "Hi", "--body", "a\x1b[2Jb"),
        ("library", "add", "L\u2066", "--url", "https://e.org"),
        ("library", "add", "L", "--url", "https://e.org", "--summary", "s\x9b"),
        ("ritual", "add", "R\x1b", "--prompt", "p", "--rrule", "FREQ=WEEKLY"),
        ("settings", "--purpose", "p\u202e"),
    ],
)
def test_input_with_control_characters_is_refused_with_one_line(tmp_path: Path, monkeypatch, args) -> None:
    ana = TS(tmp_path / "ana", monkeypatch)
    (tmp_path / "shared").mkdir()
    ana.out("init", "Circle", "--as", "Ana", "--folder", str(tmp_path / "shared"))
    thread = ana.out("post", "Fine")
    before = ana.ops()
    error = ana.error(*args)
    assert "contains a" in error and ("control character" in error or "bidirectional override" in error)
    assert raw_unsafe(error) == set()
    assert ana.error("react", thread[:8], "👍\x1b") and ana.ops() == before


def test_names_with_control_characters_are_refused_at_init_and_join(tmp_path: Path, monkeypatch) -> None:
    folder, ana, _ = make_group(tmp_path, monkeypatch)
    fresh = TS(tmp_path / "fresh", monkeypatch)
    assert "group name contains a control character (\\x1b)" in fresh.error(
        "init", "Circle\x1b[2J", "--as", "Ed", "--folder", str(folder)
    )
    assert "display name contains a bidirectional override (\\u202e)" in fresh.error(
        "init", "Circle", "--as", "Ed\u202e", "--folder", str(folder)
    )
    code = ana.out("invite")
    ana.json("sync")
    assert "display name contains a control character (\\x9b)" in fresh.error(
        "join", code, "--as", "Ed\x9b", "--folder", str(folder)
    )
    assert not (tmp_path / "fresh").exists() or not list((tmp_path / "fresh").glob("groups/*"))


def test_line_ends_from_another_system_are_line_ends_not_refusals(tmp_path: Path, monkeypatch) -> None:
    """A carriage return is refused as a control character, but CRLF or a lone
    CR typed on another system (a --body, a file, stdin) is a line end."""
    ana = TS(tmp_path / "ana", monkeypatch)
    (tmp_path / "shared").mkdir()
    ana.out("init", "Circle", "--as", "Ana", "--folder", str(tmp_path / "shared"))
    thread = ana.out("post", "Windows", "--body", "one\r\ntwo\rthree")
    crlf = tmp_path / "crlf.md"
    crlf.write_bytes(b"four\r\nfive\r\n")
    ana.out("reply", thread[:8], "--body-file", str(crlf))
    ana.out("reply", thread[:8], "--body-file", "-", input="six\r\nseven")
    bodies = [p["body"] for p in ana.json("show", thread[:8])["posts"]]
    assert bodies == ["one\ntwo\nthree", "four\nfive\n", "six\nseven"]
