"""Circles through the real CLI: members read a circle's threads, and
nothing of them reaches the folder or an outsider's home."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clirun import make_group

NAME, PURPOSE, TITLE, BODY, REPLY = (
    "Rye pod",
    "weekly rye bakes",
    "Monday check-in crumbshot",
    "hydration seventy-eight percent",
    "oven spring looked good",
)


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


def test_a_circle_is_read_by_its_members_and_by_no_one_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    for who in (ben, cy):
        who.json("sync")  # their exchange keys reach Ana's log
    ana.json("sync")
    circle = ana.out("circle", "add", NAME, "--member", "Ben", "--purpose", PURPOSE, "--ends", "2027-01-31")
    thread = ana.out("post", TITLE, "--body", BODY, "--circle", NAME)
    for who in (ana, ben, cy):
        who.json("sync")
    ana.json("sync")
    reply = ben.out("reply", thread[:8], "--body", REPLY)
    ben.run("react", reply[:8], "🍞")
    for who in (ben, ana, cy):
        who.json("sync")

    for member in (ana, ben):
        (listed,) = member.json("circles")
        assert listed == {"id": circle, "name": NAME, "members": ["Ana", "Ben"], "ends": "2027-01-31"}
        (row,) = member.json("threads", "--circle", NAME)
        assert row["title"] == TITLE
        assert all(t["id"] != thread for t in member.json("threads"))  # the group's room stays the group's
        shown = member.out("show", thread[:8])
        assert BODY in shown and REPLY in shown and "🍞" in shown
        assert [h["thread"] for h in member.json("search", "hydration")] == [thread]

    assert cy.json("circles") == []
    assert all(t["id"] != thread for t in cy.json("threads"))
    assert cy.json("search", "hydration") == []
    assert "no thread" in cy.error("show", thread[:8])
    assert "no thread" in cy.error("reply", thread[:8], "--body", "let me in")
    assert "no circle" in cy.error("threads", "--circle", NAME)

    # The canary: not a word of it in the folder or in the outsider's home.
    words = [w.encode() for w in (NAME, PURPOSE, TITLE, BODY, REPLY)]
    for path in _files_under(folder) + _files_under(cy.home):
        data = path.read_bytes()
        for word in words:
            assert word not in data, (word, path)
    # ...while the members' own homes do hold it (the canary can find it).
    assert any(BODY.encode() in p.read_bytes() for p in _files_under(ben.home))


def test_the_recap_and_the_health_figures_are_the_same_inside_and_outside_a_circle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What every replica computes alike and may post to the group (the
    recap, the health figures) leaves a circle's threads out: a member's
    recap posted to the group would otherwise carry a circle's titles."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    for who in (ben, cy):
        who.json("sync")
    ana.json("sync")
    ana.out("circle", "add", NAME, "--member", "Ben")
    ana.out("post", "Open question for all", "--body", "anyone?")
    thread = ana.out("post", TITLE, "--body", BODY, "--circle", NAME, "--tag", "win")
    for who in (ana, ben, cy):
        who.json("sync")
    ben.out("reply", thread[:8], "--body", REPLY)
    for who in (ben, ana, cy):
        who.json("sync")

    recaps = {who.home.name: who.out("recap") for who in (ana, ben, cy)}
    assert recaps["ana"] == recaps["ben"] == recaps["cy"]
    assert TITLE not in recaps["ana"] and "Open question for all" in recaps["ana"]
    figures = {who.home.name: who.json("metrics") for who in (ana, ben, cy)}
    assert figures["ana"] == figures["ben"] == figures["cy"]
