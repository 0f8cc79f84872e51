"""Polls and surveys through the real CLI: `poll`, `vote`, `show --json`'s
poll keys, `survey`, `answer` and `answers`, and where a survey's answers
can be read (only in a moderator's command, never on disk)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tablespace.sync.git import git_env
from tests.clirun import TS, everyone_syncs, group_through, make_group

CANARY = "CANARY-survey-5e1d"


def test_poll_vote_and_show_json(tmp_path, monkeypatch) -> None:
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    poll = ana.out("poll", "Bake day?", "--option", "Saturday", "--option", "Sunday", "--option", "Monday")
    everyone_syncs(ana, ben)
    ben.run("vote", poll[:6], "2")
    ana.run("vote", poll[:6], "monday")
    ana.run("vote", poll[:6], "Sunday")  # replaces Ana's first vote
    everyone_syncs(ana, ben)
    shown = ben.json("show", poll[:6])
    assert {"id", "title", "tags", "posts"} <= set(shown) and shown["id"] == poll
    assert shown["poll"] == {
        "options": [{"text": "Saturday", "votes": 0}, {"text": "Sunday", "votes": 2}, {"text": "Monday", "votes": 0}],
        "multi": False,
        "closes_at": None,
        "closed": False,
        "mine": [2],
        "voters": 2,
    }
    assert "poll" in shown["tags"]
    assert "poll" not in ben.json("show", ben.out("post", "Plain thread")[:6])
    text = ben.out("show", poll[:6])
    assert "2. Sunday" in text and "█" in text and "2 voters · one choice · open" in text


def test_multiple_choice_and_refused_votes(tmp_path, monkeypatch) -> None:
    ana = TS(tmp_path / "ana", monkeypatch)
    (tmp_path / "f").mkdir()
    ana.out("init", "Circle", "--as", "Ana", "--folder", str(tmp_path / "f"))
    poll = ana.out("poll", "Bring what?", "--option", "Rye", "--option", "Spelt", "--option", "Oats", "--multi")
    ana.run("vote", poll[:6], "1", "Oats")
    assert ana.json("show", poll[:6])["poll"]["mine"] == [1, 3]
    # Each option's bar line: blocks, then its count (a post id may end in a digit too).
    rye, spelt, oats = (line for line in ana.out("show", poll[:6]).splitlines() if re.fullmatch(r"\s*█*\s*\d+", line))
    assert rye.count("█") == oats.count("█") == 20 and "█" not in spelt  # a bar is the share of voters
    before = ana.ops()
    assert "no option '4'" in ana.error("vote", poll[:6], "4")
    assert "no option 'barley'" in ana.error("vote", poll[:6], "barley")
    assert "no poll" in ana.error("vote", ana.out("post", "Hello")[:6], "1")
    ana.run("vote", poll[:6], code=2)  # no OPTION
    single = ana.out("poll", "One?", "--option", "a", "--option", "b")
    assert "one choice" in ana.error("vote", single[:6], "1", "2")
    assert "2 to 10 options" in ana.error("poll", "Too few", "--option", "only")
    assert ana.ops() == before + 2  # the Hello thread and the second poll


def test_a_closed_poll_refuses_a_vote(tmp_path, monkeypatch) -> None:
    ana = TS(tmp_path / "ana", monkeypatch)
    (tmp_path / "f").mkdir()
    ana.out("init", "Circle", "--as", "Ana", "--folder", str(tmp_path / "f"))
    poll = ana.out("poll", "Soon?", "--option", "Yes", "--option", "No", "--closes", "2d")
    ana.run("vote", poll[:6], "Yes")
    assert ana.json("show", poll[:6])["poll"]["closes_at"] == "2026-11-25T09:00:00Z"
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-25T09:00:00Z")
    before = ana.ops()
    assert "the poll closed at 2026-11-25T09:00:00Z" in ana.error("vote", poll[:6], "No")
    assert ana.ops() == before
    shown = ana.json("show", poll[:6])["poll"]
    assert shown["closed"] is True and shown["mine"] == [1]
    ana.run("poll", "Bad", "--option", "a", "--option", "b", "--closes", "soon", code=2)


def all_files(*roots: Path) -> dict[Path, bytes]:
    """Every file under the roots, SQLite's -wal and -shm included."""
    return {p: p.read_bytes() for root in roots for p in root.rglob("*") if p.is_file()}


def survey_round(ana: TS, ben: TS, cat: TS) -> str:
    survey = ana.out("survey", "End of week 2", "--question", "What worked?", "--question", "What should change?")
    everyone_syncs(ana, ben, cat)
    # A reader holds Ben's database open, so the write-ahead log keeps every
    # page the answer wrote: the canary search below reads it too.
    (db,) = ben.home.glob("groups/*/group.db")
    held = sqlite3.connect(db)
    held.execute("SELECT count(*) FROM ops").fetchone()
    ben.run("answer", survey[:6], "--answer", f"{CANARY} the rituals", "--answer", f"{CANARY} fewer pings")
    wal = db.with_name("group.db-wal")
    assert wal.exists() and wal.stat().st_size > 0
    assert CANARY.encode() not in wal.read_bytes()
    held.close()
    cat.run("answer", survey[:6], "--answer", "first try")
    cat.run("answer", survey[:6], "--answer", "the recap", "--answer", "more events")  # replaces Cat's first
    everyone_syncs(ben, cat, ana)
    return survey


def test_survey_answers_are_sealed_to_the_moderators(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    survey = survey_round(ana, ben, cat)

    answered = {a["member"]: a["answers"] for a in ana.json("answers", survey[:6])}
    assert answered == {"Ben": [f"{CANARY} the rituals", f"{CANARY} fewer pings"], "Cat": ["the recap", "more events"]}
    human = ana.out("answers", survey[:6])
    assert "1. What worked?" in human and "Ben: " in human
    assert "(2 answered)" in human
    assert ben.error("answers", survey[:6], code=3)
    # The survey thread shows the questions to everyone, never an answer.
    shown = cat.json("show", survey[:6])
    assert "survey" in shown["tags"] and "2. What should change?" in shown["posts"][0]["body"]

    # No plaintext on disk anywhere: the folder, every home (the answering
    # member's after it has gone out, and the moderator's after reading).
    files = all_files(folder, ana.home, ben.home, cat.home)
    assert any(p.name == "group.db" for p in files)
    leaks = [str(p) for p, data in files.items() if CANARY.encode() in data or b"fewer pings" in data]
    assert leaks == []


def test_only_a_moderator_asks_and_at_most_five_questions(tmp_path, monkeypatch) -> None:
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    assert ben.error("survey", "Mine", "--question", "Why?", code=3)
    six = [arg for n in range(6) for arg in ("--question", f"Q{n}?")]
    assert "1 to 5 questions" in ana.error("survey", "Long", *six)
    survey = ana.out("survey", "Short", "--question", "One?", "--question", "Two?", "--closes", "1d")
    everyone_syncs(ana, ben)
    assert "asks 2 questions; you gave 3" in ben.error(
        "answer", survey[:6], "--answer", "a", "--answer", "b", "--answer", "c"
    )
    assert "not a survey" in ben.error("answer", ben.out("post", "Hi")[:6], "--answer", "a")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-24T09:00:00Z")
    assert "the survey closed" in ben.error("answer", survey[:6], "--answer", "late")


@pytest.mark.slow
def test_a_git_remote_holds_no_survey_answer(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True, env=git_env())
    ana, m = group_through(tmp_path, monkeypatch, ("--git", str(remote)), "Ben", "Cat")
    survey = survey_round(ana, m["Ben"], m["Cat"])
    assert len(ana.json("answers", survey[:6])) == 2
    objects = subprocess.run(
        ["git", "--git-dir", str(remote), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        env=git_env(),
        check=True,
    ).stdout
    assert b".tsc" in objects and CANARY.encode() not in objects
    leaks = [str(p) for p, data in all_files(ana.home, m["Ben"].home, m["Cat"].home).items() if CANARY.encode() in data]
    assert leaks == []
