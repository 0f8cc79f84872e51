"""Devices through the real CLI and a real folder: Ben pairs his laptop
with his desktop by one code, writes from both as one member, and takes the
laptop away again; nobody else in the group does anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.clirun import NOW, TS, everyone_syncs, make_group, opened


def pair_laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, TS, TS, TS]:
    """(folder, ana, ben's desktop, ben's laptop), the laptop paired and synced."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    ana.out("post", "Before the laptop", "--body", "history the laptop must read")
    ben.out("post", "From the desktop", "--body", "typed at the desk")
    for who in (ana, ben, ana):
        who.json("sync")
    code = ben.out("device", "add", "--name", "desktop")
    laptop = TS(tmp_path / "laptop", monkeypatch)
    laptop.run("device", "link", code, "--name", "laptop", "--folder", str(folder))
    ben.json("sync")  # approves: the certificate and the keys for the laptop
    laptop.json("sync")
    return folder, ana, ben, laptop


def titles(who: TS) -> dict[str, str]:
    """Thread title -> its author's name, as `threads --json` shows them."""
    return {t["title"]: t["author"] for t in who.json("threads")}


def test_a_paired_laptop_reads_the_whole_history_and_writes_as_the_same_member(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    assert set(titles(laptop)) >= {"Before the laptop", "From the desktop"}
    laptop.out("post", "From the laptop", "--body", "typed on the train")
    ben.out("post", "Desktop again", "--body", "at the same time")  # both chains grow at once: no fork
    for who in (laptop, ben, ana, laptop, ben):
        who.json("sync")
    for who in (ana, ben, laptop):
        seen = titles(who)
        assert seen["From the laptop"] == seen["From the desktop"] == seen["Desktop again"]
        bens = [m for m in who.json("members") if m["name"] == "Ben"]
        assert len(bens) == 1 and bens[0]["devices"] == 2
    listed = {d["name"]: d["this"] for d in laptop.json("devices")}
    assert listed == {"desktop": False, "laptop": True}
    assert {d["name"]: d["this"] for d in ben.json("devices")} == {"desktop": True, "laptop": False}
    assert ana.json("sync")["forks"] == 0


def test_a_pairing_code_is_used_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _, ben, _ = pair_laptop(tmp_path, monkeypatch)
    code = ben.out("device", "add")
    other = TS(tmp_path / "tablet", monkeypatch)
    other.run("device", "link", code, "--name", "tablet", "--folder", str(folder))
    ben.json("sync")
    again = TS(tmp_path / "thief", monkeypatch)
    again.run("device", "link", code, "--name", "thief", "--folder", str(folder))
    ben.json("sync")
    assert sorted(d["name"] for d in ben.json("devices")) == ["desktop", "laptop", "tablet"]
    assert "pairing code" in again.error("device", "link", "tsd1-nonsense", "--name", "x", "--folder", str(folder))


def test_a_removed_laptop_reads_nothing_written_afterwards_and_its_posts_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    assert "the device you are on" in ben.error("device", "remove", "desktop")
    ben.run("device", "remove", "laptop")
    assert [d["name"] for d in ben.json("devices")] == ["desktop"]
    # the laptop has not heard yet: whoever holds it writes on
    laptop.out("post", "Written by the thief", "--body", "spam")
    for who in (ben, ana):
        who.json("sync")
    ana.out("post", "After the laptop went", "--body", "not for a stolen laptop")
    for who in (ana, laptop, ana, ben):
        who.json("sync")
    assert "After the laptop went" not in titles(laptop)
    for who in (ana, ben):
        assert "Written by the thief" not in titles(who)
        assert "After the laptop went" in titles(who)
    # and once it has heard, its own home refuses to write
    assert "this device was removed" in laptop.error("post", "Again", "--body", "x", code=3)
    assert [m["devices"] for m in ana.json("members") if m["name"] == "Ben"] == [1]


def test_a_member_who_removes_a_lost_laptop_renews_the_key_before_writing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ben is no moderator, and nobody else syncs: what he writes after
    taking the laptop away goes out under a key renewed without it."""
    _, _, ben, laptop = pair_laptop(tmp_path, monkeypatch)

    def newest_epoch() -> tuple[int, set[str]]:
        with ben.group() as group:
            epoch, recipients = group.conn.execute(
                "SELECT epoch, recipients FROM epochs ORDER BY epoch DESC LIMIT 1"
            ).fetchone()
            return epoch, set(recipients.split(","))

    before, _ = newest_epoch()
    laptop_id = next(d for d in laptop.json("devices") if d["this"])["id"]
    removed = ben.run("device", "remove", "laptop")
    assert "did not answer" not in removed.stderr and "reads nothing written from now on" in removed.stderr
    ben.out("post", "Where I keep the spare key", "--body", "under the pot")
    ben.json("sync")
    laptop.json("sync")
    epoch, recipients = newest_epoch()
    assert epoch > before and laptop_id not in recipients
    assert "Where I keep the spare key" not in titles(laptop)


def test_members_without_devices_look_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    assert {r["name"]: r["devices"] for r in ana.json("members")} == {"Ana": 1, "Ben": 1}
    (only,) = ana.json("devices")
    assert only["this"] is True and only["name"] == "first device"


def report_once_delivered(ben: TS, post: str, reason: str) -> None:
    """Ben reports `post`; a report travels alone, so his syncs until it is out."""
    ben.out("report", post[:8], "--reason", reason)
    for _ in range(3):
        ben.json("sync")


def newest_mod_key_holders(home: Path) -> set[str]:
    with opened(home) as group:
        return set(json.loads(group.conn.execute("SELECT wrapped FROM mod_keys ORDER BY epoch DESC").fetchone()[0]))


def test_a_moderator_s_laptop_opens_the_reports_until_it_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    posts = [ana.out("post", f"Post {n}", "--body", "x") for n in range(3)]
    for who in (ana, ben):
        who.json("sync")
    report_once_delivered(ben, posts[0], "before the laptop")
    ana.json("sync")
    code = ana.out("device", "add", "--name", "desktop")
    laptop = TS(tmp_path / "ana-laptop", monkeypatch)
    laptop.run("device", "link", code, "--name", "laptop", "--folder", str(folder))
    ana.json("sync")  # approves, and wraps the moderators' key for the laptop too
    laptop.json("sync")
    report_once_delivered(ben, posts[1], "after the laptop")
    ana.json("sync")
    laptop.json("sync")
    assert sorted(r["reason"] for r in laptop.json("reports")) == ["after the laptop", "before the laptop"]

    (laptop_id,) = [d["id"] for d in ana.json("devices") if d["name"] == "laptop"]
    assert laptop_id in newest_mod_key_holders(tmp_path / "ana")
    ana.run("device", "remove", "laptop")  # renews the moderators' key at once, as the group's
    holders = newest_mod_key_holders(tmp_path / "ana")
    assert laptop_id not in holders and len(holders) == 1  # Ana's desktop alone
    ana.json("sync")
    report_once_delivered(ben, posts[2], "after the laptop went")
    ana.json("sync")
    assert len(ana.json("reports")) == 3


def test_a_code_that_expired_before_its_device_synced_is_replaced_by_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the home that made a code can approve it: if that device stays
    offline past the hour, the laptop links again with a fresh code."""
    folder, _, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    laptop = TS(tmp_path / "laptop", monkeypatch)
    laptop.run("device", "link", ben.out("device", "add"), "--name", "laptop", "--folder", str(folder))
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T11:30:00Z")  # the desktop was off for two hours
    ben.json("sync")
    assert [d["name"] for d in ben.json("devices")] == ["first device"]
    laptop.run("device", "link", ben.out("device", "add"), "--name", "laptop", "--folder", str(folder))
    ben.json("sync")
    laptop.json("sync")
    assert {d["name"]: d["this"] for d in laptop.json("devices")} == {"first device": False, "laptop": True}


def test_a_first_device_removed_from_a_paired_one_hears_of_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desktop Ben joined from is the one stolen: he removes it from the
    laptop, and the desktop learns it, though its id is his member id."""
    _, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    laptop.run("device", "remove", "desktop")
    for who in (laptop, ana, ben):
        who.json("sync")
    assert "this device was removed" in ben.error("post", "Again", "--body", "x", code=3)
    assert "this device was removed by another of your devices" in ben.run("sync").stderr
    assert [d["name"] for d in ana.json("members") if d["name"] == "Ben"] == ["Ben"]


def _holds(who: TS, word: str) -> bool:
    """Whether any file in `who`'s home holds `word` (a canary: a key that
    reached it would let its home store the opened text)."""
    return any(word.encode() in p.read_bytes() for p in who.home.rglob("*") if p.is_file())


def circle_key_holders(home: Path) -> set[str]:
    """The signing keys the newest key of the one circle in `home` is wrapped for."""
    with opened(home) as group:
        row = group.conn.execute("SELECT wrapped FROM circle_epochs ORDER BY epoch DESC, key_op LIMIT 1").fetchone()
        return set(json.loads(row[0]))


def test_a_paired_laptop_reads_and_writes_in_its_member_s_circles_until_it_is_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    for who in (ben, ana):
        who.json("sync")  # Ben's exchange key reaches Ana's log
    ana.out("circle", "add", "Night owls", "--member", "Ben")
    thread = ana.out("post", "Owl plans", "--body", "written before the laptop", "--circle", "Night owls")
    for who in (ana, ben):
        who.json("sync")
    code = ben.out("device", "add", "--name", "desktop")
    laptop = TS(tmp_path / "laptop", monkeypatch)
    laptop.run("device", "link", code, "--name", "laptop", "--folder", str(folder))
    ben.json("sync")  # approves, and renews the circle's key for the laptop too
    devices = {d["name"]: d["id"] for d in ben.json("devices")}
    assert set(devices.values()) < circle_key_holders(ben.home)
    laptop.json("sync")
    assert "written before the laptop" in laptop.out("show", thread[:8])

    ana.json("sync")
    ana.out("reply", thread[:8], "--body", "written after the laptop came")
    ana.json("sync")
    laptop.json("sync")
    assert "written after the laptop came" in laptop.out("show", thread[:8])
    laptop.out("reply", thread[:8], "--body", "typed on the laptop")
    for who in (laptop, ana, ben):
        who.json("sync")
    for who in (ana, ben):
        assert "typed on the laptop" in who.out("show", thread[:8])

    ben.run("device", "remove", "laptop")
    held = circle_key_holders(ben.home)
    assert devices["desktop"] in held and devices["laptop"] not in held  # renewed at once, without the laptop
    for who in (ben, ana):
        who.json("sync")
    ana.out("reply", thread[:8], "--body", "not for a stolen laptop")
    for who in (ana, laptop, ben):
        who.json("sync")
    assert "not for a stolen laptop" in ben.out("show", thread[:8])
    assert _holds(ben, "not for a stolen laptop")  # the canary finds it where it may be
    assert not _holds(laptop, "not for a stolen laptop")


def test_linking_before_the_group_reached_the_folder_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    desk = TS(tmp_path / "desk", monkeypatch)
    desk.out("init", "Rye", "--as", "Ben", "--folder", str(folder))  # never synced: the folder is empty
    code = desk.out("device", "add")
    laptop = TS(tmp_path / "laptop", monkeypatch)
    error = laptop.error("device", "link", code, "--name", "laptop", "--folder", str(folder))
    assert "sync the device that made the code first" in error
    assert not (tmp_path / "laptop" / "groups").exists() or not any((tmp_path / "laptop" / "groups").iterdir())


def test_mentions_the_inbox_and_unread_threads_see_one_person_across_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ben starts a thread on his laptop: Ana's reply naming him reaches the
    inbox of both his devices as his; once he answers from the desktop, it
    is read on the laptop too, and what he writes on one device is never
    news on the other."""
    _, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    thread = laptop.out("post", "From the train", "--body", "typed on the laptop")
    everyone_syncs(laptop, ben, ana)
    ana.out("reply", thread[:6], "--body", "Good one, @Ben")
    everyone_syncs(ana, ben, laptop)
    for device in (ben, laptop):
        entries = device.json("inbox")
        assert {(e["kind"], e["from"], e["thread"]) for e in entries} >= {("mention", "Ana", thread)}
    ben.out("reply", thread[:6], "--body", "thanks, from the desktop")
    everyone_syncs(ben, laptop)
    assert ben.json("inbox") == [] and laptop.json("inbox") == []
    mine = laptop.out("post", "Only mine", "--body", "written on the laptop, nobody replied")
    everyone_syncs(laptop, ben, ana)
    assert mine not in {t["id"] for t in ben.json("threads", "--unread")}
    assert mine in {t["id"] for t in ana.json("threads", "--unread")}


def test_a_device_s_runaway_clock_marks_nothing_read_past_what_is_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ben's laptop clock says 2990 when it replies in his thread: the reply
    waits for its time, and the desktop's read mark does not jump there with
    it, so Ana's reaction afterwards still reaches the desktop's inbox."""
    _, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    thread = ben.out("post", "Crumb check", "--body", "how does it look?")
    everyone_syncs(ben, laptop, ana)
    monkeypatch.setenv("TABLESPACE_NOW", "2990-01-01T00:00:00Z")
    laptop.out("reply", thread[:6], "--body", "written with a broken clock")
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    everyone_syncs(laptop, ben, ana)
    ana.out("react", thread[:6], "👍")
    everyone_syncs(ana, ben)
    assert ("reaction", thread) in {(e["kind"], e["thread"]) for e in ben.json("inbox")}


def test_a_stolen_laptop_that_backdates_its_removal_of_the_desktop_cannot_take_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The desktop removes the stolen laptop at noon; the thief, before the
    laptop hears of it, sets its clock back and removes the desktop. Neither
    had seen the other's removal: the desktop, paired first, keeps its place
    on every replica, whatever the thief's timestamp."""
    _, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T12:00:00Z")
    ben.run("device", "remove", "laptop")
    for who in (ben, ana):
        who.json("sync")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:30:00Z")
    laptop.run("device", "remove", "desktop")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T12:30:00Z")
    for who in (laptop, ana, ben, laptop):
        who.json("sync")
    ben.out("post", "Still mine", "--body", "from the desktop")
    assert "this device was removed" in laptop.error("post", "Mine now", "--body", "x", code=3)
    for who in (ben, ana):
        who.json("sync")
    for who in (ana, ben):
        assert titles(who)["Still mine"] == "Ben"
        assert [m["devices"] for m in who.json("members") if m["name"] == "Ben"] == [1]
    assert [d["name"] for d in ben.json("devices")] == ["desktop"]


def test_two_homes_linking_with_one_code_let_in_one_device(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the desktop syncs, a laptop and a tablet both link with the
    same code: the desktop's sync lets in the first and refuses the other in
    one line, and the round goes on."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    code = ben.out("device", "add", "--name", "desktop")
    laptop, tablet = TS(tmp_path / "laptop", monkeypatch), TS(tmp_path / "tablet", monkeypatch)
    laptop.run("device", "link", code, "--name", "laptop", "--folder", str(folder))
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:05:00Z")
    tablet.run("device", "link", code, "--name", "tablet", "--folder", str(folder))
    ben.out("post", "Waiting to go out", "--body", "written before the sync")
    result = ben.run("sync", "--json")
    refused = [line for line in result.stderr.splitlines() if "pairing" in line or "pair with" in line]
    assert len(refused) == 1 and "a code lets in one device" in refused[0], result.stderr
    assert json.loads(result.stdout)["pairings_refused"] == 1
    assert json.loads(result.stdout)["exported"] >= 1  # the rest of the round went on
    assert sorted(d["name"] for d in ben.json("devices")) == ["desktop", "laptop"]
    laptop.json("sync")
    assert {d["name"]: d["this"] for d in laptop.json("devices")} == {"desktop": False, "laptop": True}
    ana.json("sync")
    assert "Waiting to go out" in titles(ana)
    assert ben.json("sync")["pairings_refused"] == 0  # said once


CODE_USED = "that code was already used: ask for a new one"


def test_a_home_whose_pairing_request_lost_is_told_the_code_was_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two homes link with one code before the desktop syncs, and a third
    after the code let the first in: both losers' `sync` say in one line
    that the code was used and exit 1, and linking again with a new code
    lets one in."""
    folder, _, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    code = ben.out("device", "add", "--name", "desktop")
    laptop, tablet, phone = (TS(tmp_path / name, monkeypatch) for name in ("laptop", "tablet", "phone"))
    laptop.run("device", "link", code, "--name", "laptop", "--folder", str(folder))
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:05:00Z")
    tablet.run("device", "link", code, "--name", "tablet", "--folder", str(folder))
    ben.json("sync")
    phone.run("device", "link", code, "--name", "phone", "--folder", str(folder))
    assert ben.json("sync")["pairings_refused"] == 1  # the phone's, made after the code let the laptop in
    for late in (tablet, phone):
        told = late.error("sync")
        assert [line for line in told.splitlines() if CODE_USED in line] == [told.strip()], told
        assert "device link" in told
    laptop.json("sync")
    assert {d["name"]: d["this"] for d in laptop.json("devices")} == {"desktop": False, "laptop": True}
    fresh = ben.out("device", "add")
    tablet.run("device", "link", fresh, "--name", "tablet", "--folder", str(folder))
    tablet.json("sync")  # a new request: the old refusal no longer answers it
    ben.json("sync")
    tablet.json("sync")
    assert sorted(d["name"] for d in tablet.json("devices")) == ["desktop", "laptop", "tablet"]
