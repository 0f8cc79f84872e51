"""Curation (`pin`, `tag`, `library edit/remove`), the member cap and the
onboarding walk (`settings --welcome-file ...`, `welcome`), through the real
CLI, with members syncing over a real folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.clirun import TS, make_group


def synced(*members: TS) -> None:
    for _ in range(2):
        for m in members:
            m.json("sync")


@pytest.mark.slow
def test_a_curator_pins_retags_and_tends_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ana, people = make_group(tmp_path, monkeypatch, "Bo", "Cy")
    bo, cy = people["Bo"], people["Cy"]
    older = cy.out("post", "Sourdough starter", "--tag", "bread")
    cy.out("post", "Newer thread")
    resource = cy.out("library", "add", "Flour guide", "--url", "https://example.org/flour", "--summary", "wombat")
    synced(cy, bo)

    before = bo.ops()
    assert "curator or a moderator" in bo.error("pin", older[:6], code=3)
    assert "curator or a moderator" in bo.error("library", "remove", resource[:6], code=3)
    assert "curator or a moderator" in bo.error("tag", older[:6], "--add", "x", code=3)
    assert bo.ops() == before

    ana.run("role", "Bo", "curator")
    synced(ana, bo)
    bo.run("pin", older[:6])
    assert [t["id"] for t in bo.json("threads")][0] == older  # pinned threads list first
    bo.run("tag", older[:6], "--add", "Baking", "--remove", "bread")
    assert bo.json("show", older)["tags"] == ["baking"]
    bo.run("library", "edit", resource[:6], "--title", "Flour, a guide", "--tag", "basics", "--tag", "flour")
    (edited,) = bo.json("library")
    assert edited["title"] == "Flour, a guide" and edited["tags"] == ["basics", "flour"]
    assert edited["url"] == "https://example.org/flour"
    assert "nothing to change" in bo.error("library", "edit", resource[:6], code=2)
    bo.run("library", "remove", resource[:6])
    assert bo.json("library") == [] and bo.json("search", "wombat") == []
    bo.run("pin", older[:6], "--undo")
    assert [t["id"] for t in bo.json("threads")][0] != older

    # A plain member still cannot pin, and gets one clear line.
    synced(bo, cy)
    assert "curator or a moderator" in cy.error("pin", older[:6], code=3)
    assert "nothing to change" in cy.error("tag", older[:6], code=2)


def test_the_member_cap_refuses_an_admission_past_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ana, people = make_group(tmp_path, monkeypatch, "Bo")
    assert ana.json("settings")["member_cap"] == 150
    assert "moderator" in people["Bo"].error("settings", "--member-cap", "5", code=3)
    ana.run("settings", "--member-cap", "2")
    assert ana.json("settings")["member_cap"] == 2
    cy = TS(tmp_path / "cy", monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    request = cy.out("join", code, "--as", "Cy", "--folder", str(folder))
    ana.json("sync")
    before = ana.ops()
    assert "member cap (2 of 2)" in ana.error("admit", request[:6])
    assert ana.ops() == before and len(ana.json("members")) == 2
    ana.run("settings", "--member-cap", "3")
    ana.run("admit", request[:6])
    assert len(ana.json("members")) == 3
    assert ana.error("settings", "--member-cap", "0", code=2)


def test_settings_shape_the_five_welcome_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ts = TS(tmp_path / "home", monkeypatch)
    folder = tmp_path / "shared"
    folder.mkdir()
    ts.run("init", "Circle", "--as", "Ana", "--folder", str(folder), "--purpose", "Bake bread together")
    default = ts.json("welcome")
    assert [s["step"] for s in default] == ["welcome", "intro", "rituals", "rules", "first-win"]
    assert all(set(s) >= {"step", "title", "body"} for s in default)
    assert "Bake bread together" in default[0]["body"]

    welcome = tmp_path / "welcome.md"
    welcome.write_text("Pull up a chair.\n")
    template = tmp_path / "intro.md"
    template.write_text("I bake because …\n")
    rules = tmp_path / "rules.md"
    rules.write_text("Be kind.\n")
    resource = ts.out("library", "add", "Start here", "--url", "https://example.org/start")
    ts.out("ritual", "add", "Friday bake", "--prompt", "What did you bake?", "--rrule", "FREQ=WEEKLY;BYDAY=FR")
    ts.out("event", "add", "Monthly AMA", "--at", "2026-12-01T18:00", "--tz", "Europe/Berlin", "--where", "the bakery")
    ts.run(
        "settings",
        "--welcome-file",
        str(welcome),
        "--intro-template-file",
        str(template),
        "--first-win",
        resource[:6],
        "--rules-file",
        str(rules),
    )
    assert ts.json("settings")["first_win"] == resource
    steps = {s["step"]: s for s in ts.json("welcome")}
    assert steps["welcome"]["body"].startswith("Pull up a chair.")
    assert steps["intro"]["template"] == "I bake because …\n"
    assert "Friday bake" in steps["rituals"]["body"]
    assert "Monthly AMA: Tue 01 Dec 18:00 Europe/Berlin, the bakery" in steps["rituals"]["body"]  # the calendar too
    assert steps["rules"]["body"] == "Be kind."
    assert steps["first-win"]["resource"] == resource and "https://example.org/start" in steps["first-win"]["body"]
    assert "Pull up a chair." in ts.out("welcome")

    before = ts.ops()
    assert "no resource" in ts.error("settings", "--first-win", "abcdef")
    assert ts.ops() == before
    ts.run("library", "remove", resource[:6])
    # A first win removed from the library falls back to the library itself.
    assert ts.json("welcome")[4]["resource"] is None


def test_admit_all_lets_a_wave_in_within_the_member_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A launch admits dozens at once: `admit --all` takes every request that
    can be admitted, or none if they would not all fit under the cap."""
    folder, ana, _ = make_group(tmp_path, monkeypatch, "Bo")
    code = ana.out("invite", "--uses", "3")
    ana.json("sync")
    for name in ("Cy", "Di", "Ed"):
        TS(tmp_path / name.lower(), monkeypatch).out("join", code, "--as", name, "--folder", str(folder))
    ana.run("settings", "--member-cap", "4")
    before = ana.ops()
    assert "3 are asking, 2 places are left" in ana.error("admit", "--all")
    assert ana.ops() == before
    ana.run("settings", "--member-cap", "5")
    said = ana.run("admit", "--all").stderr
    assert said.startswith("Admitted ") and sorted(said.split(".")[0][len("Admitted ") :].split(", ")) == [
        "Cy",
        "Di",
        "Ed",
    ]
    assert [m["name"] for m in ana.json("members")] == ["Ana", "Bo", "Cy", "Di", "Ed"]
    assert ana.json("requests") == []
    assert "nobody is asking to join" in ana.run("admit", "--all").stderr
    assert "--all" in ana.error("admit", code=2)
    assert "--all" in ana.error("admit", "abc", "--all", code=2)
