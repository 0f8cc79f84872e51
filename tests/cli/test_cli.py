"""The command-line contract (shared/spec/cli.md), driven through the real CLI
against a real home and SQLite file."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from tablespace import actions
from tablespace.cli import main
from tests.clirun import NOW, TS


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    path = tmp_path / "shared"
    path.mkdir()
    return path


@pytest.fixture
def ts(tmp_path: Path, shared: Path, monkeypatch: pytest.MonkeyPatch) -> TS:
    cli = TS(tmp_path / "home", monkeypatch)
    group_id = cli.out("init", "Sourdough circle", "--as", "Ana", "--folder", str(shared), "--purpose", "bread")
    assert re.fullmatch(r"[0-9a-f]{32}", group_id)
    return cli


def test_init_keeps_keys_private_and_the_folder_clean(ts: TS, shared: Path) -> None:
    assert stat.S_IMODE(ts.home.stat().st_mode) == 0o700
    (key,) = ts.home.glob("groups/*/identity.pem")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert list(ts.home.glob("groups/*/group.db"))
    assert list(shared.iterdir()) == []  # the live database never goes in the shared folder


def test_init_needs_an_existing_folder_and_exactly_one_transport(tmp_path: Path, monkeypatch) -> None:
    cli = TS(tmp_path / "home2", monkeypatch)
    assert "does not exist" in cli.error("init", "G", "--as", "A", "--folder", str(tmp_path / "missing"))
    for transports in ([], ["--folder", str(tmp_path), "--git", str(tmp_path / "r.git")]):
        assert "exactly one of --folder PATH or --git URL" in cli.error("init", "G", "--as", "A", *transports, code=2)
    assert not (tmp_path / "home2" / "groups").exists() or not list((tmp_path / "home2" / "groups").iterdir())


def test_post_reply_show_json_follow_the_contract(ts: TS) -> None:
    thread = ts.out("post", "First loaf", "--body", "It *rose*", "--tag", "win", "--tag", "#Bread")
    reply = ts.out("reply", thread[:6], "--body-file", "-", input="Lovely crumb\n")
    ts.run("react", reply[:6], "🍞")
    shown = ts.json("show", thread[:4])
    assert set(shown) >= {"id", "title", "tags", "posts"}
    assert shown["id"] == thread and shown["tags"] == ["bread", "win"]
    assert [p["id"] for p in shown["posts"]] == [thread, reply]  # opening post first
    first, second = shown["posts"]
    assert set(first) >= {"id", "author", "body", "created_at", "edited", "reactions"}
    assert first["author"] == "Ana" and first["body"] == "It *rose*" and first["created_at"] == NOW
    assert second["body"] == "Lovely crumb\n" and second["reactions"] == {"🍞": 1} and second["edited"] is False


def test_threads_list_most_recent_activity_first_with_filters(ts: TS, monkeypatch) -> None:
    old = ts.out("post", "Old thread", "--tag", "help")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T10:00:00Z")
    new = ts.out("post", "New thread")
    rows = ts.json("threads")
    assert [r["id"] for r in rows] == [new, old]
    assert set(rows[0]) >= {"id", "title", "author", "created_at", "last_activity", "replies", "tags"}
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T11:00:00Z")
    ts.run("reply", old[:6], "--body", "bump")
    rows = ts.json("threads")
    assert [r["id"] for r in rows] == [old, new]
    assert rows[0]["replies"] == 1 and rows[0]["last_activity"] == "2026-11-23T11:00:00Z"
    assert [r["id"] for r in ts.json("threads", "--tag", "help")] == [old]


def test_a_clock_set_back_behind_the_history_says_so_and_changes_nothing(ts: TS, monkeypatch) -> None:
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-25T10:00:00Z")  # the clock ran ahead...
    thread = ts.out("post", "Written while the clock was ahead")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T10:00:00Z")  # ...then was set right
    before = ts.json("show", thread)
    message = ts.error("reply", thread[:6], "--body", "now")
    assert "clock says 2026-11-23T10:00:00Z" in message and "runs to 2026-11-25T10:00:00Z" in message
    assert ts.json("show", thread) == before
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-25T09:58:00Z")  # within the drift allowed: fine
    ts.run("reply", thread[:6], "--body", "now")
    assert len(ts.json("show", thread)["posts"]) == 2


def test_unread_marks_clear_when_shown(ts: TS, tmp_path: Path) -> None:
    thread = ts.out("post", "Mine")
    assert ts.json("threads", "--unread") == []  # your own posts are read
    # another member's activity arrives: simulate by clearing the read marker
    (db,) = ts.home.glob("groups/*/group.db")
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM reads")
    assert [t["id"] for t in ts.json("threads", "--unread")] == [thread]
    ts.run("show", thread[:6])
    assert ts.json("threads", "--unread") == []


def test_edit_and_delete(ts: TS) -> None:
    thread = ts.out("post", "Crumb shots")
    reply = ts.out("reply", thread[:6], "--body", "sourdoughy goodness")
    ts.run("edit", reply[:6], "--body", "edited words")
    post = ts.json("show", thread[:6])["posts"][1]
    assert post["body"] == "edited words" and post["edited"] is True
    assert ts.json("search", "edited")
    ts.run("delete", reply[:6])
    assert [p["id"] for p in ts.json("show", thread[:6])["posts"]] == [thread]
    assert ts.json("search", "edited") == []
    assert "no post" in ts.error("edit", reply[:6], "--body", "again")
    ts.run("delete", thread[:6])
    assert ts.json("threads") == []
    ts.error("show", thread[:6])


def test_react_undo(ts: TS) -> None:
    thread = ts.out("post", "React to me")
    ts.run("react", thread[:6], "🔥")
    assert "Took back" in ts.run("react", thread[:6], "🔥", "--undo").stderr
    assert ts.json("show", thread[:6])["posts"][0]["reactions"] == {}
    assert "have not reacted" in ts.error("react", thread[:6], "🔥", "--undo")  # nothing to take back


def test_help_lists_the_exit_status(ts: TS) -> None:
    text = " ".join(ts.out("--help").split())
    assert "Exit status: 0 done; 1 refused or failed" in text and "3 not allowed" in text


def test_search_kinds_and_order(ts: TS) -> None:
    thread = ts.out("post", "Rye bread notes", "--body", "nothing here")
    reply = ts.out("reply", thread[:6], "--body", "rye rye rye scalding")
    resource = ts.out(
        "library", "add", "The rye notebook", "--url", "https://example.org/rye", "--summary", "all about rye"
    )
    hits = ts.json("search", "rye")
    assert {(h["kind"], h["id"]) for h in hits} == {("thread", thread), ("post", reply), ("resource", resource)}
    for h in hits:
        assert set(h) >= {"kind", "id", "thread", "title", "snippet"}
    assert next(h for h in hits if h["kind"] == "resource")["thread"] is None
    assert next(h for h in hits if h["kind"] == "post")["thread"] == thread
    assert ts.json("search", 'rye" OR -* AND (') is not None  # FTS syntax never leaks out
    ts.error("search", "!!!")


def test_library(ts: TS) -> None:
    first = ts.out(
        "library",
        "add",
        "Starter guide",
        "--url",
        "https://example.org/s",
        "--tag",
        "beginner",
        "--summary",
        "week one",
    )
    ts.out("library", "add", "Hydration calculator", "--url", "https://example.org/h", "--tag", "tools")
    rows = ts.json("library")
    assert len(rows) == 2
    assert set(rows[0]) >= {"id", "title", "url", "summary", "tags", "added_by"}
    assert [r["id"] for r in ts.json("library", "--tag", "beginner")] == [first]
    assert [r["title"] for r in ts.json("library", "--search", "hydration")] == ["Hydration calculator"]
    assert rows[0]["added_by"] == "Ana"
    before = ts.ops()
    message = ts.error("library", "add", "Bad", "--url", "not a url")
    assert "is not a link" in message and all(scheme in message for scheme in ("https://", "ftp://", "mailto:"))
    assert ts.ops() == before
    # every scheme the message names is taken
    for url in ("http://example.org/a", "gemini://example.org/b", "ftp://example.org/c", "mailto:ana@example.org"):
        ts.out("library", "add", f"Link {url[:4]}", "--url", url)
    assert len(ts.json("library")) == 6


def test_rituals_next_occurrence_anchored_on_start(ts: TS) -> None:
    ritual = ts.out(
        "ritual",
        "add",
        "Friday wins",
        "--prompt",
        "One win?",
        "--rrule",
        "FREQ=WEEKLY;BYDAY=FR",
        "--start",
        "2026-11-01",
    )
    fortnightly = ts.out(
        "ritual",
        "add",
        "Fortnightly AMA",
        "--prompt",
        "Ask me anything",
        "--rrule",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO",
        "--start",
        "2026-11-16",
    )
    rows = {r["id"]: r for r in ts.json("rituals")}
    assert rows[ritual]["next"] == "2026-11-27T09:00:00Z"
    # anchored on 16 Nov, every other Monday: not 23 Nov, but 30 Nov
    assert rows[fortnightly]["next"] == "2026-11-30T09:00:00Z"
    assert set(rows[ritual]) >= {"id", "name", "prompt", "rrule", "next"}
    before = ts.ops()
    assert "RRULE" in ts.error("ritual", "add", "Bad", "--prompt", "x", "--rrule", "FREQ=FORTNIGHTLY")
    assert "RRULE" in ts.error("ritual", "add", "Bad", "--prompt", "x", "--rrule", "nonsense")
    # the error names the part that is wrong
    assert "days are MO, TU" in ts.error("ritual", "add", "Bad", "--prompt", "x", "--rrule", "FREQ=WEEKLY;BYDAY=FRI")
    assert "unknown parameter 'FOO'" in ts.error("ritual", "add", "Bad", "--prompt", "x", "--rrule", "FREQ=DAILY;FOO=1")
    assert ts.ops() == before


def test_members(ts: TS) -> None:
    (me,) = ts.json("members")
    assert set(me) >= {"id", "name", "roles", "status"}
    assert me["name"] == "Ana" and me["roles"] == ["moderator"] and me["status"] == "active"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reply", "abc", "--body", "x"), "at least 4"),
        (("reply", "0000", "--body", "x"), "no thread"),
        (("post", "   "), "title is empty"),
        (("post", "two\nlines"), "single line"),
        (("react", "zzzz", "👍"), "not a post id"),
        (("show", "ffff"), "no thread"),
        (("post", "x", "--tag", "no spaces allowed"), "tag"),
        (("--group", "nope", "members"), "no group called"),
    ],
)
def test_bad_input_is_one_clear_line_and_changes_nothing(ts: TS, args, message) -> None:
    before = ts.ops()
    assert message in ts.error(*args)
    assert ts.ops() == before


def test_body_over_the_cap(ts: TS, tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_text("x" * (32 * 1024 + 1))
    before = ts.ops()
    assert "limit is 32768" in ts.error("post", "Big", "--body-file", str(big))
    assert "no such file" in ts.error("post", "Big", "--body-file", str(tmp_path / "missing.md"))
    assert ts.ops() == before


def test_ambiguous_prefix(ts: TS) -> None:
    from tablespace.core.group import Group
    from tablespace.core.home import Home

    group = Group.open(Home(ts.home))
    seen: dict[str, str] = {}
    try:
        while True:  # ~300 posts until two ids share their first 4 characters
            thread = actions.post(group, f"thread {len(seen)}")
            if thread[:4] in seen:
                break
            seen[thread[:4]] = thread
    finally:
        group.close()
    assert "ambiguous" in ts.error("show", thread[:4])
    assert ts.json("show", thread)["id"] == thread  # the full id still works


def test_usage_errors_exit_2(ts: TS) -> None:
    ts.run("reply", code=2)
    ts.run("threads", "--bogus", code=2)
    ts.run("reply", "abcd", "--body", "x", "--body-file", "y", code=2)


def test_unwritable_home(tmp_path: Path, monkeypatch, shared: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    cli = TS(blocker / "home", monkeypatch)
    assert "cannot create the home" in cli.error("init", "G", "--as", "A", "--folder", str(shared))


def test_export_json_and_markdown(ts: TS, tmp_path: Path) -> None:
    thread = ts.out("post", "Exported thread", "--body", "body text here")
    ts.run("reply", thread[:6], "--body", "a reply")
    data = json.loads(ts.out("export", "--format", "json"))
    assert data["group"]["name"] == "Sourdough circle"
    assert data["threads"][0]["title"] == "Exported thread"
    assert [p["body"] for p in data["threads"][0]["posts"]] == ["body text here", "a reply"]
    target = tmp_path / "out.md"
    ts.run("export", "--format", "markdown", "-o", str(target))
    text = target.read_text()
    assert text.startswith("# Sourdough circle") and "### Exported thread" in text and "a reply" in text


def test_every_command_has_help(ts: TS) -> None:
    commands = [
        "init",
        "post",
        "reply",
        "edit",
        "delete",
        "react",
        "threads",
        "show",
        "search",
        "library",
        "rituals",
        "members",
        "role",
        "export",
        "demo",
        "doctor",
        "groups",
    ]
    for name in commands:
        text = ts.out(name, "--help")
        assert "Usage:" in text and len(text.splitlines()) > 3, name
    assert "add" in ts.out("ritual", "--help") and "Usage:" in ts.out("library", "add", "--help")


def test_doctor_reports_ok(ts: TS) -> None:
    text = ts.out("doctor")
    assert "integrity: ok" in text and "FAIL" not in text


def test_init_prints_only_the_id_on_stdout_and_says_what_it_is_on_stderr(tmp_path: Path, shared: Path, monkeypatch):
    result = TS(tmp_path / "home", monkeypatch).run("init", "Bakers", "--as", "Ana", "--folder", str(shared))
    assert re.fullmatch(r"[0-9a-f]{32}\n", result.stdout)
    assert "Founded “Bakers”; that is its group id" in result.stderr


@pytest.mark.slow
def test_demo_says_where_it_is_without_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a demo without --dir goes
    result = CliRunner().invoke(main, ["demo"])  # no terminal here: the app cannot open, the demo stays
    assert result.exit_code == 1 and "Traceback" not in result.output
    (built,) = tmp_path.glob("tablespace-demo-*")
    assert f"The sample group is in {built}; open it again with: tablespace --home {built / 'ana'}" in result.stderr


@pytest.mark.slow
def test_demo_no_open_prints_how_to_open(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "demo"), "--no-open"])
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last == f"tablespace --home {tmp_path / 'demo' / 'ana'}"
    cli = TS(tmp_path / "demo" / "ana", monkeypatch)
    threads = cli.json("threads")
    assert len(threads) >= 10 and len({t["author"] for t in threads}) >= 3
    assert cli.json("threads", "--unread")
    assert len(cli.json("members")) >= 3 and cli.json("library") and cli.json("rituals")
    assert any(p["reactions"] for t in threads for p in cli.json("show", t["id"])["posts"])


def test_python_dash_m_and_exit_codes_in_a_real_process(tmp_path: Path) -> None:
    env = {**os.environ, "TABLESPACE_HOME": str(tmp_path / "h")}
    result = subprocess.run([sys.executable, "-m", "tablespace", "threads"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "tablespace init" in result.stderr
    result = subprocess.run([sys.executable, "-m", "tablespace", "--help"], env=env, capture_output=True, text=True)
    assert result.returncode == 0 and "kitchen table" in result.stdout


def test_edit_only_the_title_keeps_the_body(ts: TS) -> None:
    thread = ts.out("post", "Old title", "--body", "the body stays")
    ts.run("edit", thread[:6], "--title", "New title")
    shown = ts.json("show", thread[:6])
    assert shown["title"] == "New title" and shown["posts"][0]["body"] == "the body stays"


def test_a_closed_pipe_is_not_an_error(tmp_path: Path, ts: TS) -> None:
    for i in range(30):
        ts.out("post", f"thread {i}")
    env = {**os.environ, "TABLESPACE_HOME": str(ts.home)}
    result = subprocess.run(
        f"{sys.executable} -m tablespace threads | head -1", shell=True, env=env, capture_output=True, text=True
    )
    assert result.stdout.strip() and "Broken pipe" not in result.stderr and "Traceback" not in result.stderr


def test_a_refusal_that_reads_like_a_permission_one_exits_1(ts: TS) -> None:
    """The exit code comes from the refusal's kind: "only an opening post has
    a title" is about the post, not the caller's role."""
    thread = ts.out("post", "Opening", "--body", "first")
    reply = ts.out("reply", thread[:6], "--body", "second")
    assert "only an opening post has a title" in ts.error("edit", reply[:6], "--title", "A title", code=1)
    assert ts.json("show", thread[:6])["posts"][1]["body"] == "second"


def test_a_refusal_that_names_moderators_is_not_a_permission_one(ts: TS) -> None:
    assert "a group needs at least one moderator" in ts.error("leave", code=1)


def test_a_plus_one_reply_offers_to_react_and_posts_with_yes(ts: TS) -> None:
    """No dogpiles: a reply that says no more than a reaction is refused with the
    reaction to give instead, and posts when insisted on."""
    thread = ts.out("post", "Rye at 80% hydration")
    before = ts.ops()
    line = ts.error("reply", thread[:6], "--body", "+1")
    assert f"react {thread[:8]} 👍" in line and "--yes" in line
    assert ts.ops() == before
    answer = ts.out("reply", thread[:6], "--body", "Mine came out flat, so the crumb was closed")
    assert f"react {answer[:8]} 🔥" in ts.error("reply", thread[:6], "--quote", answer[:6], "--body", "🔥")
    assert ts.ops() == before + 1
    ts.run("reply", thread[:6], "--body", "same", "--yes")
    assert [p["body"] for p in ts.json("show", thread[:6])["posts"]][-1] == "same"


def test_export_keeps_the_conduct_settings_events_polls_and_survey_questions(ts: TS, tmp_path: Path) -> None:
    """Everything readable goes out, the sealed survey answers do not."""
    conduct = tmp_path / "conduct.md"
    conduct.write_text("Assume good intent.\n")
    ts.run("settings", "--conduct-file", str(conduct), "--tz", "Europe/Berlin", "--member-cap", "40")
    event = ts.out("event", "add", "AMA with a miller", "--at", "2026-11-28T18:00", "--where", "Room 2")
    ts.run("rsvp", event[:6], "going")
    poll = ts.out("poll", "Bake day?", "--option", "Saturday", "--option", "Sunday")
    ts.run("vote", poll[:6], "2")
    survey = ts.out("survey", "End of week 2", "--question", "What helped?", "--question", "What got in the way?")
    ts.run("answer", survey[:6], "--answer", "the Friday wins", "--answer", "a secret only moderators read")

    data = json.loads(ts.out("export", "--format", "json"))
    assert data["group"]["conduct"] == "Assume good intent.\n"
    assert data["settings"]["tz"] == "Europe/Berlin" and data["settings"]["member_cap"] == 40
    (shown,) = data["events"]
    assert (shown["id"], shown["at"], shown["tz"], shown["where"], shown["going"]) == (
        event,
        "2026-11-28T17:00:00Z",
        "Europe/Berlin",
        "Room 2",
        ["Ana"],
    )
    assert data["polls"] == [
        {
            "thread": poll,
            "title": "Bake day?",
            "options": [{"text": "Saturday", "votes": 0}, {"text": "Sunday", "votes": 1}],
            "multi": False,
            "closes_at": None,
            "voters": 1,
        }
    ]
    assert data["surveys"] == [
        {
            "thread": survey,
            "title": "End of week 2",
            "questions": ["What helped?", "What got in the way?"],
            "closes_at": None,
            "answered": 1,
        }
    ]
    markdown = ts.out("export", "--format", "markdown")
    for part in ("## Code of conduct", "Assume good intent.", "## Settings", "Europe/Berlin", "## Events"):
        assert part in markdown, part
    for part in ("AMA with a miller", "going: Ana", "## Polls", "Sunday: 1", "## Surveys", "What got in the way?"):
        assert part in markdown, part
    for text in (json.dumps(data), markdown):
        assert "secret only moderators" not in text
