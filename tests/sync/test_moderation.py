"""Reports, decisions and the moderators' key, across real homes and a real folder."""

from __future__ import annotations

import json
import os
from datetime import UTC
from pathlib import Path

import pytest

from tablespace import actions
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.core.identity import Identity
from tablespace.sync.keys import seal_to
from tablespace.sync.sealing import (
    MAGIC,
    SEAL_INFO,
    current_mod_key,
    my_exchange_key,
    open_records,
    seal_for_moderators,
    signed_part,
)
from tests.clirun import TS, everyone_syncs, make_group

CANARY = "CANARY-report-7f3a"


def all_bytes(where: Path) -> bytes:
    return b"".join(p.read_bytes() for p in where.rglob("*") if p.is_file())


def first_post(member: TS, title: str) -> str:
    return next(t["id"] for t in member.json("threads") if t["title"] == title)


def opened_by(member: TS) -> tuple[int, int]:
    """(records this home can open, records it cannot)."""
    group = Group.open(Home(member.home))
    try:
        entries, closed = open_records(group, my_exchange_key(group))
        return len(entries), closed
    finally:
        group.close()


def ana_ben_and_a_post(tmp_path: Path, monkeypatch) -> tuple[Path, TS, TS, str]:
    """Ana (moderator) and Ben, both synced, and Ana's thread "Hello"."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ana.out("post", "Hello")
    everyone_syncs(ana, m["Ben"])
    return folder, ana, m["Ben"], first_post(m["Ben"], "Hello")


@pytest.mark.slow
def test_only_moderators_can_read_a_report_or_who_made_it(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    cat.out("post", "Buy my course", "--body", "limited offer")
    everyone_syncs(cat, ana, ben)
    post = first_post(ben, "Buy my course")
    report_id = ben.out("report", post[:6], "--reason", f"{CANARY} selling in the main room")
    everyone_syncs(ben, ana, cat, ben)

    (report,) = ana.json("reports")
    assert report["id"] == report_id and report["post"] == post
    assert (report["reporter"], report["reason"], report["status"]) == (
        "Ben",
        f"{CANARY} selling in the main room",
        "open",
    )
    assert report["post_author"] == "Cat" and report["excerpt"] == "limited offer"
    for member in (ben, cat):
        assert "only a moderator" in member.error("reports", code=3)
    # No trace of the text anywhere but sealed: not in the folder, not in the
    # reporter's or another member's home (database, WAL, outbox), and not even
    # at rest in the moderator's home.
    for where in (folder, ben.home, cat.home, ana.home):
        assert CANARY.encode() not in all_bytes(where), where
    # Cat holds the sealed record (every member syncs it) and cannot open it.
    assert opened_by(cat) == (0, opened_by(ana)[0])


@pytest.mark.slow
def test_a_decision_is_required_recorded_and_hiding_removes_the_post_for_everyone(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    cat.out("post", "Buy my course", "--body", "limited offer, searchable-word")
    everyone_syncs(cat, ana, ben)
    report_id = ben.out("report", first_post(ben, "Buy my course"), "--reason", "spam")
    everyone_syncs(ben, ana)
    ana.error("resolve", report_id[:6], code=2)  # --decision is required
    assert "a decision is required" in ana.error("resolve", report_id[:6], "--decision", "  ")
    assert "only a moderator" in cat.error("resolve", report_id[:6], "--decision", "mine now", code=3)
    ana.run("resolve", report_id[:6], "--decision", "Spam: hidden, and I wrote to Cat", "--hide-post")
    assert "already resolved" in ana.error("resolve", report_id[:6], "--decision", "again")
    everyone_syncs(ana, ben, cat)

    for member in (ana, ben, cat):
        assert member.json("threads") == []
        assert member.json("search", "searchable") == []
    (report,) = ana.json("reports")
    assert report["status"] == "resolved" and report["decision"] == "Spam: hidden, and I wrote to Cat"
    assert report["decided_by"] == "Ana" and report["hid_post"] is True
    assert report["excerpt"] == "limited offer, searchable-word"  # the moderation record keeps it
    log = ana.json("modlog")
    assert [e["action"] for e in log[-3:]] == ["reported", "resolved", "hid"]
    assert log[-1]["what"].startswith("a post by Cat in thread ")  # the whole thread went
    assert log[-2]["why"] == "Spam: hidden, and I wrote to Cat" and log[-2]["by"] == "Ana"
    assert "only a moderator" in ben.error("modlog", code=3)


@pytest.mark.slow
def test_the_moderators_key_follows_the_moderators(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat", "Dee")
    ben, cat, dee = m["Ben"], m["Cat"], m["Dee"]
    dee.out("post", "Hello")
    everyone_syncs(dee, ana, ben, cat)
    cat.out("report", first_post(cat, "Hello"), "--reason", "early report")
    everyone_syncs(cat, ana)
    # Ben becomes a moderator: Ana's next sync seals a new key for both, with
    # the old one linked, so Ben reads the report made before he joined them.
    ana.run("role", "ben", "moderator", "--reason", "two of us now")
    everyone_syncs(ana, ben)
    assert [r["reason"] for r in ben.json("reports")] == ["early report"]
    # Ben steps down: the key rotates again; what comes after is closed to him,
    # though, as a member, his home syncs every sealed record.
    ana.run("role", "ben", "moderator", "--revoke")
    everyone_syncs(ana, cat, dee)
    cat.out("report", first_post(cat, "Hello"), "--reason", "a later report")
    everyone_syncs(cat, ana, ben, dee, ben)
    assert sorted(r["reason"] for r in ana.json("reports")) == ["a later report", "early report"]
    can_open, cannot = opened_by(ben)
    assert can_open >= 1 and cannot >= 1
    assert "only a moderator" in ben.error("reports", code=3)
    group = Group.open(Home(ana.home))
    key = current_mod_key(group)
    assert key is not None and key.epoch == 2 and key.recipients == {group.me}
    group.close()


def test_bad_report_files_are_quarantined_and_the_rest_still_arrive(tmp_path, monkeypatch) -> None:
    folder, ana, ben, post = ana_ben_and_a_post(tmp_path, monkeypatch)
    reports_dir = next(folder.glob("*/")) / "reports"
    reports_dir.mkdir(exist_ok=True)
    (reports_dir / "garbage.tsm").write_bytes(os.urandom(300))

    group = Group.open(Home(ben.home))
    stranger = Identity.generate()  # signs a report, but is no member
    forged = {
        "type": "report",
        "group": group.id,
        "post": post,
        "thread": post,
        "post_author": post,
        "excerpt": "",
        "reason": "forged",
        "reporter": stranger.author_id,
        "reporter_key": stranger.public_key.hex(),
        "at": "2026-11-23T09:00:00Z",
        "nonce": "00",
    }
    forged["sig"] = stranger.sign(signed_part(forged)).hex()
    (reports_dir / "stranger.tsm").write_bytes(seal_for_moderators(group, forged)[1])
    altered = dict(forged, reporter=group.me, reporter_key=group.identity.public_key.hex())
    altered["sig"] = group.identity.sign(signed_part(altered)).hex()
    altered["reason"] = "changed after signing"
    (reports_dir / "altered.tsm").write_bytes(seal_for_moderators(group, altered)[1])
    key = current_mod_key(group)  # JSON that parses but may not be signed or stored: NaN
    header = MAGIC + bytes.fromhex(group.id) + bytes.fromhex(key.key_id)
    nan = dict(forged, excerpt=float("nan"))
    text = json.dumps(nan).encode()
    (reports_dir / "nan.tsm").write_bytes(header + seal_to(text, key.public, info=SEAL_INFO, aad=header))
    group.close()
    before = {p.name: p.read_bytes() for p in reports_dir.iterdir()}
    ben.out("report", post, "--reason", "the real one")

    result = ana.json("sync")
    reasons = {Path(q["file"]).name: q["reason"] for q in result["quarantined"]}
    assert set(reasons) == {"garbage.tsm", "stranger.tsm", "altered.tsm", "nan.tsm"}
    assert "not a member" in reasons["stranger.tsm"]
    assert "signature" in reasons["altered.tsm"]
    assert [r["reason"] for r in ana.json("reports")] == ["the real one"]
    assert {p.name: p.read_bytes() for p in reports_dir.iterdir() if p.name in before} == before
    kept = list((next((ana.home / "groups").iterdir()) / "quarantine").glob("*.json"))
    assert {Path(json.loads(k.read_text())["file"]).name for k in kept} >= set(reasons)
    # Each bad file is opened once; later rounds still list it.
    assert {Path(q["file"]).name for q in ana.json("sync")["quarantined"]} == set(reasons)


@pytest.mark.slow
def test_two_moderators_filing_the_same_report_make_one(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    ana.run("role", "ben", "moderator")
    everyone_syncs(ana, ben, ana, ben)
    ana.out("post", "Hello")
    everyone_syncs(ana, cat)
    cat.out("report", first_post(cat, "Hello"), "--reason", "once")
    ana.json("sync")
    ben.json("sync")  # before seeing Ana's record of it: both file it
    everyone_syncs(ana, ben)
    for mod in (ana, ben):
        assert [r["reason"] for r in mod.json("reports")] == ["once"]


def test_reporting_mistakes_change_nothing(tmp_path, monkeypatch) -> None:
    folder, ana, ben, post = ana_ben_and_a_post(tmp_path, monkeypatch)
    before = all_bytes(folder)
    ben.error("report", post, code=2)  # --reason is required
    assert "say what is wrong" in ben.error("report", post, "--reason", " ")
    assert "no post" in ben.error("report", "ffffff", "--reason", "x")
    assert all_bytes(folder) == before


def test_archiving_and_settings_are_for_moderators(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    old = ana.out("post", "Old news")
    everyone_syncs(ana, ben)
    assert "only a moderator" in ben.error("archive", old[:6], code=3)
    assert "only a moderator" in ben.error("settings", "--post-cap", "3", code=3)
    ana.run("archive", old[:6], "--reason", "quiet for months")
    everyone_syncs(ana, ben)
    assert ben.json("threads") == []
    assert [t["title"] for t in ben.json("threads", "--archived")] == ["Old news"]
    assert ben.json("show", old[:6])["archived"] is True
    assert "archived" in ben.error("reply", old[:6], "--body", "late")
    assert ben.json("search", "news")[0]["id"] == old
    assert ana.json("modlog")[-1]["why"] == "quiet for months"
    ana.run("archive", old[:6], "--undo")
    coc = tmp_path / "coc.md"
    coc.write_text("Be kind.\n")
    ana.run("settings", "--conduct-file", str(coc), "--post-cap", "1")
    everyone_syncs(ana, ben)
    assert ben.json("settings")["conduct"] == "Be kind.\n" and ben.json("settings")["post_cap"] == 1
    ben.out("reply", old[:6], "--body", "one")
    assert "weekly cap" in ben.error("reply", old[:6], "--body", "two")


def test_the_response_clock_turns_amber_after_a_day_and_red_after_two() -> None:
    from datetime import datetime, timedelta

    from tablespace.sync.moderation import Report, response_clock

    made = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    report = Report("r" * 32, "p" * 32, "p" * 32, "a" * 32, "b" * 32, "why", "", made, "m" * 32)
    assert [response_clock(report, made + timedelta(hours=h)) for h in (0, 23.9, 24, 47.9, 48, 100)] == [
        "ok",
        "ok",
        "amber",
        "amber",
        "red",
        "red",
    ]
    report.status = "resolved"
    assert response_clock(report, made + timedelta(hours=100)) == "ok"


def test_evidence_lists_quarantined_files_and_forks(tmp_path, monkeypatch) -> None:
    from tablespace.sync.moderation import evidence

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    changes = next(folder.glob("*/")) / "changes"
    (changes / "junk.tsc").write_bytes(b"not a changeset")
    ana.json("sync")
    group = Group.open(Home(ana.home))
    group.conn.execute("INSERT INTO forks (author, seq) VALUES (?, 3)", (group.me,))
    found = {(e.kind, e.who) for e in evidence(group)}
    group.close()
    assert ("quarantined", "changes/junk.tsc") in found and ("fork", group.me) in found


def test_reasons_for_actions_are_sealed_and_read_back_in_the_log(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    ana.run("timeout", "cat", "--for", "24h", "--reason", f"{CANARY}-timeout")
    ana.run("timeout", "cat", "--end", "--reason", "talked it through")
    assert {m["name"]: m["status"] for m in ana.json("members")}["Cat"] == "active"
    assert "not timed out" in ana.error("timeout", "cat", "--end")
    ana.error("timeout", "cat", code=2)  # --for or --end
    ana.run("timeout", "cat", "--for", "24h", "--reason", f"{CANARY}-timeout")
    ana.run("role", "ben", "curator", "--reason", f"{CANARY}-role")
    ana.run("remove", "cat", "--reason", f"{CANARY}-remove")
    everyone_syncs(ana, ben, cat)
    log = {e["action"]: e for e in ana.json("modlog")}
    assert log["timed out"]["why"] == f"{CANARY}-timeout" and log["timed out"]["what"].startswith("Cat until")
    assert log["ended the time-out of"]["why"] == "talked it through"
    assert log["gave a role"]["why"] == f"{CANARY}-role"
    assert log["removed"]["why"] == f"{CANARY}-remove" and log["removed"]["by"] == "Ana"
    for where in (folder, ben.home, cat.home):
        assert CANARY.encode() not in all_bytes(where), where


def test_a_member_is_told_when_the_group_refuses_something_they_wrote(tmp_path, monkeypatch) -> None:
    folder, ana, ben, post = ana_ben_and_a_post(tmp_path, monkeypatch)
    ben.out("reply", post[:6], "--body", "written before Ben knew")  # not synced yet
    ana.run("timeout", "ben", "--for", "24h")  # Ana has not seen that reply
    ana.json("sync")
    first = ben.run("sync", "--json")  # Ben's reply goes out; Ana's time-out comes in
    refused = json.loads(first.stdout)["refused_mine"]
    assert [r["kind"] for r in refused] == ["post.reply"] and "timed out" in refused[0]["reason"]
    assert "the group refused your earlier reply: you are timed out" in first.stderr
    assert json.loads(ben.run("sync", "--json").stdout)["refused_mine"] == []  # told once


def test_a_report_stays_readable_after_its_reporter_is_removed(tmp_path, monkeypatch) -> None:
    folder, ana, ben, post = ana_ben_and_a_post(tmp_path, monkeypatch)
    ben.out("report", post, "--reason", "kept on record")
    everyone_syncs(ben, ana)
    ana.run("remove", "ben", "--reason", "left on bad terms")
    ana.json("sync")
    assert [(r["reason"], r["reporter"]) for r in ana.json("reports")] == [("kept on record", "Ben")]


def test_a_report_never_travels_with_the_reporters_own_changes(tmp_path, monkeypatch) -> None:
    """A report that lands beside the reporter's changesets names them to anyone
    watching the folder: it waits for a round that writes nothing else of
    theirs, and carries no time of its own."""
    from tablespace.actions import sync_group
    from tablespace.sync.folder import NEUTRAL_TIME
    from tablespace.sync.moderation import file_report

    folder, ana, ben, post = ana_ben_and_a_post(tmp_path, monkeypatch)
    group = Group.open(Home(ben.home))
    try:
        actions.post(group, "Ben's news", "written just before reporting")  # in Ben's outbox, not exported yet
        file_report(group, post, "spam")
        first = sync_group(group)
        assert first.exported >= 1 and (first.reports_sent, first.reports_waiting) == (0, 1)
        assert not list(folder.glob("*/reports/*.tsm"))
        second = sync_group(group)  # nothing else of Ben's to send: now it goes, alone
        assert (second.exported, second.reports_sent, second.reports_waiting) == (0, 1, 0)
    finally:
        group.close()
    (sent,) = folder.glob("*/reports/*.tsm")
    assert sent.stat().st_mtime == NEUTRAL_TIME
    assert not list((ben.home).rglob("outbox/*.tsm"))
    everyone_syncs(ana)
    assert [r["reason"] for r in ana.json("reports")] == ["spam"]


def test_the_report_command_says_when_its_report_waits(tmp_path, monkeypatch) -> None:
    folder, ana, ben, post = ana_ben_and_a_post(tmp_path, monkeypatch)
    ben.out("report", post[:6], "--reason", "sent at once")  # the command writes nothing else: it goes now
    assert len(list(folder.glob("*/reports/*.tsm"))) == 1
    hidden = folder.with_name("elsewhere")
    folder.rename(hidden)  # unplugged
    result = ben.run("report", post[:6], "--reason", "waits")
    assert result.exit_code == 0 and "waits in your outbox" in result.stderr
    assert not folder.exists()  # nothing made where the folder was
    hidden.rename(folder)
    assert ben.json("sync")["reports_sent"] == 1
    everyone_syncs(ana)
    assert sorted(r["reason"] for r in ana.json("reports")) == ["sent at once", "waits"]


def test_a_replica_from_before_record_ids_gets_them_and_files_no_report_twice(tmp_path, monkeypatch) -> None:
    """m010 adds each sealed record's id as a column; a home made before it is
    brought up to date on open, and its moderator's sync still knows which
    reports are filed."""
    import sqlite3

    folder, ana, ben, post = ana_ben_and_a_post(tmp_path, monkeypatch)
    ben.out("report", post[:6], "--reason", "old report")
    everyone_syncs(ana)
    (db,) = ana.home.glob("groups/*/group.db")
    conn = sqlite3.connect(db)
    expected = dict(conn.execute("SELECT op_id, record_id FROM mod_records"))
    with conn:  # back to the schema before m010
        conn.execute("DROP INDEX mod_records_record_id")
        conn.execute("ALTER TABLE mod_records DROP COLUMN record_id")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm010_record_ids'")
        conn.execute("DELETE FROM sync_files WHERE path LIKE 'reports/%'")  # so the file is looked at again
    conn.close()
    everyone_syncs(ana)  # migrates on open, then looks at reports/ again
    conn = sqlite3.connect(db)
    assert dict(conn.execute("SELECT op_id, record_id FROM mod_records")) == expected
    assert all(expected.values()) and len(expected) >= 1
    assert conn.execute("SELECT count(*) FROM sync_files WHERE path LIKE 'reports/%'").fetchone()[0] == 1
    conn.close()
    assert [r["reason"] for r in ana.json("reports")] == ["old report"]


def test_a_reports_claims_give_way_to_the_log(tmp_path, monkeypatch) -> None:
    """Author, thread, text and time in a report are the reporter's word: the
    moderator sees the post's real author and thread, its text now beside the
    quote, and a back-dated report counts from no earlier than the post."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    ana.out("post", "Hello", "--body", "the real text")
    everyone_syncs(ana, ben)
    (thread,) = ben.json("threads")
    group = Group.open(Home(ben.home))
    try:
        record = {
            "type": "report",
            "group": group.id,
            "post": thread["id"],
            "thread": "ab" * 16,
            "post_author": group.me,
            "excerpt": "words never written",
            "reason": "claims",
            "reporter": group.me,
            "reporter_key": group.identity.public_key.hex(),
            "at": "2000-01-01T00:00:00Z",
            "nonce": "00" * 8,
        }
        record["sig"] = group.identity.sign(signed_part(record)).hex()
        _, sealed = seal_for_moderators(group, record)
        (folder / group.id / "reports").mkdir(exist_ok=True)
        (folder / group.id / "reports" / "forged-claims.tsm").write_bytes(sealed)
    finally:
        group.close()
    assert ana.json("sync")["quarantined"] == []
    (report,) = ana.json("reports")
    assert (report["post_author"], report["thread"]) == ("Ana", thread["id"])
    assert (report["excerpt"], report["post_now"]) == ("words never written", "the real text")
    assert report["written_at"] == "2000-01-01T00:00:00Z"
    assert report["created_at"] >= thread["created_at"] > report["written_at"]
    ana.run("delete", thread["id"][:8])
    (report,) = ana.json("reports")
    assert report["post_now"] == ""  # gone since: the quote is all that is left
