"""Composing in $EDITOR: a fake editor script really edits the temp file.

The fake editor is `python fake_editor.py` (so $EDITOR is a command with an
argument, split with shlex); it records what it was given in seen.json and
then does what the test asked: rewrite the file, fail, delete it, write bytes
that are not UTF-8.
"""

from __future__ import annotations

import json
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from textual.widgets import Input, TextArea

from tablespace.core import post_queries, thread_queries
from tablespace.tui.editor import Draft, EditorError, draft_to_text, edit_text, editor_command, text_to_draft
from tablespace.tui.modals import ComposeModal
from tablespace.tui.screens import ThreadsScreen
from tablespace.tui.thread_list import ThreadList
from tablespace.tui.thread_screen import ThreadScreen
from tests.tui.keys import jobs_done

SIZE = (100, 32)


async def open_thread(pilot, app, title: str) -> ThreadScreen:
    thread_list = app.screen.query_one(ThreadList)
    thread_list.cursor = [thread_list.row(i).title for i in range(thread_list.count)].index(title)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, ThreadScreen)
    return app.screen


RECORD = """
import json, os, stat, sys
from pathlib import Path
path = Path(sys.argv[-1])
Path({seen!r}).write_text(json.dumps({{
    "argv": sys.argv[1:], "path": str(path), "text": path.read_text(encoding="utf-8"),
    "file_mode": stat.S_IMODE(path.stat().st_mode), "dir_mode": stat.S_IMODE(path.parent.stat().st_mode),
}}))
"""


class FakeEditor:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tmp_path = tmp_path
        self.monkeypatch = monkeypatch
        self.seen_file = tmp_path / "seen.json"

    def set(self, action: str, var: str = "EDITOR") -> None:
        """`action` is Python run after recording, with `path` the draft file."""
        script = self.tmp_path / "fake editor.py"  # a space: the command must be quoted and shlex-split
        script.write_text(RECORD.format(seen=str(self.seen_file)) + action)
        self.monkeypatch.delenv("VISUAL", raising=False)
        self.monkeypatch.delenv("EDITOR", raising=False)
        self.monkeypatch.setenv(var, f"{shlex.quote(sys.executable)} {shlex.quote(str(script))} --wait")

    def writes(self, text: str, var: str = "EDITOR") -> None:
        self.set(f"path.write_text({text!r}, encoding='utf-8')\n", var)

    @property
    def seen(self) -> dict:
        return json.loads(self.seen_file.read_text())


@pytest.fixture
def editor(tmp_path, monkeypatch) -> FakeEditor:
    return FakeEditor(tmp_path, monkeypatch)


def warnings(app) -> list[str]:
    return [str(n.message) for n in app._notifications if n.severity == "warning"]


async def test_reply_written_in_the_editor_then_posted(app, group, kitchen, editor):
    editor.writes("Go 70%.\n\nThen 75% once you can shape it.\n")
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r", *"Go 70")
        await pilot.press("ctrl+o")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ComposeModal)  # still open, for preview and ctrl+s
        assert modal.query_one("#body", TextArea).text == "Go 70%.\n\nThen 75% once you can shape it."
        seen = editor.seen
        assert seen["text"] == "Go 70\n"  # a reply's file is just the body
        assert seen["argv"][0] == "--wait"
        assert seen["file_mode"] == 0o600 and seen["dir_mode"] == 0o700
        assert not Path(seen["path"]).exists() and not Path(seen["path"]).parent.exists()
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert app.screen is screen
        bodies = [p.body for p in post_queries.thread(group.conn, kitchen.ids["hydration"]).posts]
        assert bodies[-1] == "Go 70%.\n\nThen 75% once you can shape it."


async def test_new_thread_title_tags_and_body_from_the_editor(app, group, editor):
    editor.writes("# Banneton care\ntags: tools #care\n\nDry it in the sun.\n\n- never wash it\n", var="VISUAL")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ComposeModal)
        await pilot.press(*"Banneton")
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert editor.seen["text"] == "# Banneton\ntags: \n\n"
        assert modal.query_one("#title", Input).value == "Banneton care"
        assert modal.query_one("#tags", Input).value == "tools care"
        await pilot.press("ctrl+t")  # preview shows the edited body
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, ThreadsScreen)
        made = [t for t in thread_queries.threads(group.conn) if t.title == "Banneton care"]
        assert len(made) == 1 and made[0].tags == ["care", "tools"]
        assert post_queries.thread(group.conn, made[0].id).posts[0].body == "Dry it in the sun.\n\n- never wash it"


async def test_editing_the_opening_post_shows_its_title(app, group, kitchen, editor):
    editor.set("path.write_text(path.read_text().replace('Photos soon.', 'Photos below.'))\n")
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Friday wins: first open crumb!")
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert editor.seen["text"] == "# Friday wins: first open crumb!\n\nPhotos soon.\n"
        await pilot.press("ctrl+s")
        await jobs_done(pilot)
        assert isinstance(app.screen, ThreadScreen)
        assert post_queries.thread(group.conn, kitchen.ids["wins"]).posts[0].body == "Photos below."


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("path.write_text('lost'); sys.exit(3)", "exited with status 3"),
        ("path.unlink()", "removed"),
        ("path.write_bytes(b'caf\\xe9 latin-1')", "not UTF-8"),
    ],
)
async def test_a_failed_edit_keeps_the_draft(app, editor, action, message):
    editor.set(action + "\n")
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r", *"keep me")
        await pilot.press("ctrl+o")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ComposeModal)
        assert modal.query_one("#body", TextArea).text == "keep me"
        assert any(message in w for w in warnings(app))
        assert not Path(editor.seen["path"]).parent.exists()  # the temp dir is gone either way


async def test_ctrl_c_in_the_editor_does_not_end_the_app(app, editor):
    # In a real terminal ctrl+c reaches the whole foreground process group.
    editor.set(
        "import os, signal\nos.kill(os.getppid(), signal.SIGINT)\n"
        "import time\ntime.sleep(0.2)\npath.write_text('still here')\n"
    )
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r", "ctrl+o")
        await pilot.pause()
        assert app.screen.query_one("#body", TextArea).text == "still here"


async def test_no_editor_anywhere_says_so(app, monkeypatch, tmp_path):
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no nano, no vi
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r", *"hi", "ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, ComposeModal)
        assert any("set $EDITOR" in w for w in warnings(app))


async def test_the_app_is_suspended_while_the_editor_runs(app, editor):
    editor.writes("from the editor\n")
    events: list[str] = []

    @contextmanager
    def suspend():
        events.append("suspend")
        yield
        events.append("resume")

    async with app.run_test(size=SIZE) as pilot:
        app.suspend = suspend  # headless Pilot cannot suspend (SuspendNotSupported): pretend we can
        await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r", "ctrl+o")
        await pilot.pause()
        assert events == ["suspend", "resume"]
        assert app.screen.query_one("#body", TextArea).text == "from the editor"


async def test_the_editor_key_is_listed_and_hinted(app):
    async with app.run_test(size=SIZE) as pilot:
        await open_thread(pilot, app, "Hydration for a first loaf?")
        await pilot.press("r")
        await pilot.pause()
        modal = app.screen
        assert "compose.editor" in {b.binding.id for b in modal.active_bindings.values()}
        hint = str(modal.query_one("#compose-hint").render())
        assert "ctrl+o $EDITOR" in hint and "esc cancel" in hint


# --- the pieces, without the app ------------------------------------------------------


def test_editor_command_order_and_arguments(tmp_path):
    for name in ("code", "nano", "vi"):
        exe = tmp_path / name
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    path = str(tmp_path)
    assert editor_command({"EDITOR": "code --wait", "PATH": path}) == ["code", "--wait"]
    assert editor_command({"VISUAL": "vi", "EDITOR": "code", "PATH": path}) == ["vi"]
    assert editor_command({"EDITOR": "  ", "PATH": path}) == [str(tmp_path / "nano")]
    (tmp_path / "nano").unlink()
    assert editor_command({"PATH": path}) == [str(tmp_path / "vi")]
    with pytest.raises(EditorError, match="not found"):
        editor_command({"EDITOR": "emacs -nw", "PATH": path})
    with pytest.raises(EditorError, match="not a valid command"):
        editor_command({"EDITOR": "code 'unclosed", "PATH": path})


def test_draft_file_format_round_trip():
    draft = Draft("Title", ["a", "b"], "Body\n\nmore")
    text = draft_to_text(draft)
    assert text == "# Title\ntags: a b\n\nBody\n\nmore\n"
    assert text_to_draft(text, Draft("x", [], "")) == draft
    # Lines left out keep the previous value; a reply is only a body.
    assert text_to_draft("\n\njust a body\r\n", draft) == Draft("Title", ["a", "b"], "just a body")
    assert text_to_draft("# Kept heading\n", Draft(None, None, "")) == Draft(None, None, "# Kept heading")
    assert draft_to_text(Draft(None, None, "")) == ""


def test_edit_text_temp_file_is_private_and_removed(tmp_path):
    script = tmp_path / "ed.py"
    script.write_text(
        "import sys, stat, os\np = sys.argv[-1]\nopen(p, 'a').write(oct(stat.S_IMODE(os.stat(p).st_mode)))\n"
    )
    out = edit_text("x ", [sys.executable, str(script)])
    assert out == "x 0o600"
    with pytest.raises(EditorError, match="Could not run"):
        edit_text("x", [str(tmp_path / "ed.py")])  # not executable


def test_an_edited_file_over_the_limit_is_refused_and_read_no_further(tmp_path):
    script = tmp_path / "ed.py"
    script.write_text("import sys\nopen(sys.argv[-1], 'w').write('x' * 50_000_000)\n")
    with pytest.raises(EditorError, match="over 32768 bytes"):
        edit_text("draft", [sys.executable, str(script)])
