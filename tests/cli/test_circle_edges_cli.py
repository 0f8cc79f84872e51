"""A circle's end date through the real CLI (a cohort runs six to eight
weeks, then shows as ended, still readable and writable), and canaries that
open what the folder and the git remote carry as a member outside the circle
would: every changeset decrypted under the group's key that member holds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tablespace.sync.envelope import MAGIC, SUFFIX, decode_changeset
from tablespace.sync.git import git_env
from tablespace.sync.keyring import Keyring
from tests.clirun import TS, make_group

NAME, PURPOSE, TITLE, BODY, REPLY = (
    "Spring cohort",
    "eight weeks of laminated dough",
    "Week one croissant lamination",
    "butter block at twelve degrees",
    "three folds and a long rest",
)
CIRCLE_EMOJI = "🥐"  # reacted only inside the circle
GROUP_TITLE, GROUP_BODY, GROUP_EMOJI = "Group bake on Saturday", "bring a banneton each", "🎉"


def _sync_all(*members: TS) -> None:
    for who in (*members, *members):  # twice round: what one writes after the others' sync reaches them
        who.json("sync")


# --- the end date ----------------------------------------------------------------------


def test_an_end_date_in_the_past_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None) -> None:
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    _sync_all(m["Ben"], ana)
    said = ana.error("circle", "add", NAME, "--member", "Ben", "--ends", "2026-11-20")
    assert "2026-11-20 has passed" in said and "YYYY-MM-DD" in said
    assert ana.json("circles") == []
    assert "not a date" in ana.error("circle", "add", NAME, "--member", "Ben", "--ends", "someday", code=2)
    ana.out("circle", "add", NAME, "--member", "Ben", "--ends", "2026-11-23")  # today: its last day
    assert [c["ends"] for c in ana.json("circles")] == ["2026-11-23"]


def test_a_circle_past_its_end_date_shows_as_ended_and_stays_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None
) -> None:
    """Ana's cohort ends on 12 Dec; from the 13th `circles` says it ended,
    after the circles still running, and its members still read and write in
    it. A moderator's `circles --all` says so for the circles the moderator
    is in (the end date is sealed to the others)."""
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    _sync_all(ben, ana)
    cohort = ana.out("circle", "add", NAME, "--member", "Ben", "--purpose", PURPOSE, "--ends", "2026-12-12")
    pod = ana.out("circle", "add", "Vienna pod", "--member", "Ben", "--ends", "2027-01-31")
    thread = ana.out("post", TITLE, "--body", BODY, "--circle", NAME)
    _sync_all(ana, ben)

    running = {c["id"]: c for c in ben.json("circles")}
    assert running[cohort]["ended"] is False and running[pod]["ended"] is False
    assert "ended" not in ben.out("circles")

    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-12T23:30:00Z")  # its last day
    assert [c["ended"] for c in ben.json("circles")] == [False, False]

    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-13T08:00:00Z")
    listed = ben.json("circles")
    assert [(c["id"], c["ends"], c["ended"]) for c in listed] == [
        (pod, "2027-01-31", False),
        (cohort, "2026-12-12", True),
    ]
    lines = ben.out("circles").splitlines()
    assert len(lines) == 2 and "Vienna pod" in lines[0] and "until 2027-01-31" in lines[0]
    assert NAME in lines[1] and "ended 12 Dec" in lines[1]

    everyone = {c["id"]: c for c in ana.json("circles", "--all")}
    assert (everyone[cohort]["ended"], everyone[pod]["ended"]) == (True, False)
    shown = ana.out("circles", "--all")
    assert "ended 12 Dec" in shown

    reply = ben.out("reply", thread[:8], "--body", REPLY)  # an ended circle stays open to its members
    assert reply
    later = ben.out("post", "One more bake", "--body", "for old times' sake", "--circle", NAME)
    _sync_all(ben, ana)
    assert REPLY in ana.out("show", thread[:8])
    assert later in [t["id"] for t in ana.json("threads", "--circle", NAME)]

    monkeypatch.setenv("TABLESPACE_NOW", "2027-03-01T08:00:00Z")  # another year: the year is said
    assert "ended 12 Dec 2026" in ben.out("circles")


def test_a_moderator_outside_an_ended_circle_is_not_told_it_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None
) -> None:
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    _sync_all(ben, cy, ana)
    cohort = ben.out("circle", "add", NAME, "--member", "Cy", "--ends", "2026-12-12")
    _sync_all(ben, cy, ana)
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-20T08:00:00Z")
    (row,) = ana.json("circles", "--all")
    assert (row["id"], row["ends"], row["ended"]) == (cohort, None, None)  # sealed: not known here
    assert "ended" not in ana.out("circles", "--all")


# --- canaries that open what they grep -------------------------------------------------


def _opened(changesets: list[bytes], outsider: TS) -> str:
    """The ops of every changeset, opened with the outsider's keys as their
    client opens them (verified, decrypted under the group's epoch key,
    decompressed): each op's signed body and its payload as text."""
    with outsider.group() as group:
        group_id, keys = group.id, Keyring.load(group.path).epochs
    assert changesets
    parts: list[str] = []
    for data in changesets:
        for op in decode_changeset(data, group_id=group_id, epoch_keys=keys).ops:
            parts.append(op.body.decode())
            parts.append(json.dumps(op.payload, ensure_ascii=False))
    return "\n".join(parts)


def _write_in_the_circle_and_the_group(ana: TS, ben: TS, cy: TS) -> None:
    """Ana and Ben's circle, a thread, a reply and a reaction in it; and a
    group post with a reaction, which everyone's opened bytes must show."""
    _sync_all(ben, cy, ana)
    ana.out("circle", "add", NAME, "--member", "Ben", "--purpose", PURPOSE, "--ends", "2027-01-31")
    thread = ana.out("post", TITLE, "--body", BODY, "--circle", NAME)
    group_thread = ana.out("post", GROUP_TITLE, "--body", GROUP_BODY)
    _sync_all(ana, ben, cy)
    reply = ben.out("reply", thread[:8], "--body", REPLY)
    ben.run("react", reply[:8], CIRCLE_EMOJI)
    cy.run("react", group_thread[:8], GROUP_EMOJI)
    _sync_all(ben, cy, ana)
    shown = ana.out("show", thread[:8])
    assert REPLY in shown and CIRCLE_EMOJI in shown  # written and travelled


def _assert_sealed(opened: str) -> None:
    for word in (GROUP_TITLE, GROUP_BODY, GROUP_EMOJI):
        assert word in opened, word  # the group's own words open: the grep can find what is there
    for word in (NAME, PURPOSE, TITLE, BODY, REPLY, CIRCLE_EMOJI):
        assert word not in opened, word
    assert "circle.sealed" in opened and "post.react" in opened  # the circle's ops are there, sealed


def test_an_outsider_opening_every_changeset_in_the_folder_finds_nothing_of_a_circle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    _write_in_the_circle_and_the_group(ana, m["Ben"], m["Cy"])
    files = [p.read_bytes() for p in folder.rglob(f"*{SUFFIX}")]
    _assert_sealed(_opened(files, m["Cy"]))


def _git_blobs(repository: Path) -> list[bytes]:
    """Every blob in the repository's object store, history included."""
    listing = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)"],
        cwd=repository,
        capture_output=True,
        check=True,
        text=True,
        env=git_env(),
    ).stdout
    shas = [line.split()[0] for line in listing.splitlines() if line.endswith(" blob")]
    return [
        subprocess.run(
            ["git", "cat-file", "blob", sha], cwd=repository, capture_output=True, check=True, env=git_env()
        ).stdout
        for sha in shas
    ]


@pytest.mark.slow
def test_an_outsider_opening_every_changeset_in_a_clone_of_the_remote_finds_nothing_of_a_circle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.clirun import group_through

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True, env=git_env())
    ana, m = group_through(tmp_path, monkeypatch, ("--git", str(remote)), "Ben", "Cy")
    _write_in_the_circle_and_the_group(ana, m["Ben"], m["Cy"])
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", "--mirror", str(remote), str(clone)], check=True, env=git_env())
    changesets = [blob for blob in _git_blobs(clone) if blob.startswith(MAGIC)]
    _assert_sealed(_opened(changesets, m["Cy"]))
