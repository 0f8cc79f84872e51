"""A join request under a name a member has, through the real CLI and a real
folder: moderators see it flagged and cannot admit it, the joiner is told,
and two moderators admitting one name at once leave one member with it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.clirun import TS, founder


def asks_to_join(tmp_path: Path, folder: Path, monkeypatch, ana: TS, home: str, name: str) -> tuple[TS, str]:
    joiner = TS(tmp_path / home, monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    return joiner, joiner.out("join", code, "--as", name, "--folder", str(folder))


def member_id(ts: TS, name: str) -> str:
    (member,) = [m["id"] for m in ts.json("members") if m["name"] == name]
    return member


def names_on(ts: TS) -> list[tuple[str, str]]:
    (db,) = ts.home.glob("groups/*/group.db")
    with sqlite3.connect(db) as conn:
        return sorted(conn.execute("SELECT id, name FROM members"))


def sync(*members: TS, rounds: int = 2) -> None:
    for _ in range(rounds):
        for m in members:
            m.json("sync")


@pytest.mark.parametrize("name", ["ANA", "ａｎａ", "A\u200bna"])
def test_a_request_under_a_members_name_is_flagged_refused_and_answered(tmp_path, folder, monkeypatch, name) -> None:
    ana = founder(tmp_path, folder, monkeypatch)
    eve, request = asks_to_join(tmp_path, folder, monkeypatch, ana, "eve", name)
    (waiting,) = ana.json("requests")
    assert (waiting["id"], waiting["problem"], waiting["name_taken_by"]) == (
        request,
        "name taken",
        ana_id := member_id(ana, "Ana"),
    )
    listed = ana.out("requests")
    assert "name taken" in listed and "'Ana' has that name" in listed and "join again with another name" in listed
    before = ana.ops()
    refusal = ana.error("admit", request[:6])  # one line, exit 1
    assert "display name is taken" in refusal and "'Ana' has it" in refusal and f"deny {request[:8]}" in refusal
    assert ana.ops() == before
    assert ana.json("sync")["exported"] >= 0  # the moderator's sync answers the joiner
    assert eve.json("sync")["join_answer"] == "name taken"
    told = eve.run("sync").stderr
    assert "display name you asked for is taken" in told and "another --as" in told
    # Eve asks again from the same home under another name, and is admitted.
    again = eve.out("join", ana.out("invite"), "--as", "Eve", "--folder", str(folder))
    ana.json("sync")
    (waiting,) = ana.json("requests")
    assert (waiting["id"], waiting["problem"], waiting["name_taken_by"]) == (again, None, None)
    ana.run("admit", again[:6])
    sync(ana, eve)
    assert [m["name"] for m in eve.json("members")] == ["Ana", "Eve"]
    assert ana_id == member_id(eve, "Ana")


@pytest.mark.slow
def test_two_moderators_admitting_one_name_at_once_leave_one_winner(tmp_path, folder, monkeypatch) -> None:
    """Ana and Bo (both moderators) each admit a request for "Eve" / "EVE"
    before either has seen the other's admission. Every replica keeps the
    one the fold orders first; the other admission is refused everywhere,
    its moderator is told, its joiner is told and can join again."""
    ana = founder(tmp_path, folder, monkeypatch)
    bo, request = asks_to_join(tmp_path, folder, monkeypatch, ana, "bo", "Bo")
    ana.run("admit", request[:6])
    sync(ana, bo)
    ana.run("role", "Bo", "moderator")
    eve, first = asks_to_join(tmp_path, folder, monkeypatch, ana, "eve", "Eve")
    other, second = asks_to_join(tmp_path, folder, monkeypatch, ana, "eve2", "EVE")
    sync(ana, bo)
    assert {r["id"] for r in bo.json("requests")} == {first, second}
    ana.run("admit", first[:6])
    bo.run("admit", second[:6])  # neither has synced since
    reports = {}
    for _ in range(3):
        for who, ts in (("ana", ana), ("bo", bo), ("eve", eve), ("other", other)):
            reports.setdefault(who, []).append(ts.run("sync"))
    assert names_on(ana) == names_on(bo) == names_on(eve) == names_on(other)
    assert [n for _, n in names_on(ana)].count("Eve") + [n for _, n in names_on(ana)].count("EVE") == 1
    ((winner_id, winner_name),) = [(i, n) for i, n in names_on(ana) if n in ("Eve", "EVE")]
    winner, loser, loser_admitter = (eve, other, bo) if winner_name == "Eve" else (other, eve, ana)
    # The moderator whose admission lost is told why, once, in their sync.
    told = [r.stderr for r in reports["ana" if loser_admitter is ana else "bo"]]
    assert any("refused your earlier admission" in t and "display name is taken" in t for t in told)
    # The joiner who lost the name is told, and can join again from the same home.
    assert loser.json("sync")["join_answer"] == "name taken"
    assert winner.json("sync")["join_answer"] is None
    # The grant they were sent opened the group's history up to then: they
    # can read it, but are no member, and their client says so.
    assert "not admitted yet" in loser.run("threads").stderr
    assert loser.json("members") and member_id(loser, "Ana")
    again = loser.out("join", ana.out("invite"), "--as", "Evie", "--folder", str(folder))
    ana.json("sync")
    assert [r["id"] for r in ana.json("requests")] == [again]
    ana.run("admit", again[:6])
    sync(ana, bo, winner, loser)
    assert sorted(m["name"] for m in loser.json("members")) == sorted(["Ana", "Bo", winner_name, "Evie"])
    assert winner_id in {m["id"] for m in bo.json("members")}


def test_a_request_admitted_elsewhere_is_not_answered_before_that_admission_arrives(
    tmp_path, folder, monkeypatch
) -> None:
    """Bo admits "EVE" first; Ana, not having seen it, admits "Eve" and syncs.
    Ana's replica sees EVE's name taken, but Bo's grant for EVE is in the
    folder: Ana waits for Bo's admission, which comes first in the fold, and
    then tells Eve (whose admission lost) instead of EVE."""
    ana = founder(tmp_path, folder, monkeypatch)
    bo, request = asks_to_join(tmp_path, folder, monkeypatch, ana, "bo", "Bo")
    ana.run("admit", request[:6])
    sync(ana, bo)
    ana.run("role", "Bo", "moderator")
    eve, first = asks_to_join(tmp_path, folder, monkeypatch, ana, "eve", "Eve")
    caps, second = asks_to_join(tmp_path, folder, monkeypatch, ana, "caps", "EVE")
    sync(ana, bo)
    bo.run("admit", second[:6])
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:05:00Z")  # Ana's admission is later
    ana.run("admit", first[:6])
    ana.json("sync")
    assert not (folder / ana_group(ana) / "answers" / f"{second}.tsa").exists()
    sync(bo, ana, caps, eve)
    assert "EVE" in {m["name"] for m in ana.json("members")}
    assert caps.json("sync")["join_answer"] is None and member_id(caps, "EVE")
    assert eve.json("sync")["join_answer"] == "name taken"


def ana_group(ana: TS) -> str:
    (db,) = ana.home.glob("groups/*/group.db")
    return db.parent.name


def test_a_name_of_invisible_characters_is_refused_at_init_and_join(tmp_path, folder, monkeypatch) -> None:
    lone = TS(tmp_path / "lone", monkeypatch)
    assert "no visible characters" in lone.error("init", "Circle", "--as", "\u200b\u2060", "--folder", str(folder))
    assert not (lone.home / "groups").exists() or not any((lone.home / "groups").iterdir())
    ana = founder(tmp_path, folder, monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    assert "no visible characters" in lone.error("join", code, "--as", "\u00ad", "--folder", str(folder))
    assert ana.json("requests") == []
