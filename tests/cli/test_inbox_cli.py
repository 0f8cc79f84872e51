"""The inbox, follow and mute, and quotes, through the real CLI over a real
shared folder: each kind of entry, its read state, and what stays in my home."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.clirun import TS, everyone_syncs, make_group


def kinds(member: TS, *extra: str) -> list[tuple[str, str | None]]:
    return [(e["kind"], e["from"]) for e in member.json("inbox", *extra)]


def handled(member: TS) -> dict:
    """The one 'report handled' entry in the inbox."""
    (entry,) = [e for e in member.json("inbox") if e["kind"] == "report" and e["stage"] == "handled"]
    return entry


def post_ids(member: TS, thread: str) -> list[str]:
    return [p["id"] for p in member.json("show", thread)["posts"]]


def local_rows(member: TS, table: str) -> list[tuple[str, ...]]:
    (db,) = member.home.glob("groups/*/group.db")
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT * FROM {table}").fetchall()


def folder_files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_each_kind_reaches_its_member_newest_first_and_reading_marks_it_read(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    thread = ben.out("post", "Proofing times?", "--body", "How long do you proof?")
    everyone_syncs(ben, cat, ana)
    cat.out("reply", thread[:6], "--body", "Ask @ANA, she knows")  # a mention for Ana, a reply for Ben
    ben.out("reply", thread[:6], "--body", "thanks")  # Ben's own: nothing for Ben
    everyone_syncs(cat, ben, ana)
    # Ben's reply sorts after Cat's but was written before it arrived: Cat's still counts as news.
    assert kinds(ana) == [("mention", "Cat")]
    ana.run("react", thread[:6], "👍")  # her own doing marks the thread read (she was there)
    everyone_syncs(ana, ben, cat)

    assert kinds(ben) == [("reaction", "Ana"), ("reply", "Cat")]
    assert kinds(ana) == [] and [e["read"] for e in ana.json("inbox", "--all")] == [True]
    assert kinds(cat) == []
    entry = ben.json("inbox")[0]
    assert set(entry) >= {"id", "kind", "thread", "post", "from", "at", "read"}
    assert (entry["thread"], entry["post"], entry["read"], entry["emoji"]) == (thread, thread, False, "👍")

    # Reading the thread marks its entries read: gone from the inbox, kept with --all.
    ben.run("show", thread[:6])
    assert kinds(ben) == []
    assert [(e["kind"], e["read"]) for e in ben.json("inbox", "--all")] == [("reaction", True), ("reply", True)]

    # Following a thread brings its replies; muting the member or the thread takes them away.
    ana.run("show", thread[:6])
    ana.run("follow", thread[:6])
    cat.out("reply", thread[:6], "--body", "also: warm kitchen")
    everyone_syncs(cat, ana)
    assert kinds(ana) == [("reply", "Cat")]
    ana.run("mute", "--member", "cat")
    assert kinds(ana) == []
    ana.run("mute", "--member", "Cat", "--undo")
    ana.run("mute", thread[:6])
    assert kinds(ana) == []
    ana.run("mute", thread[:6], "--undo")
    ana.run("follow", thread[:6], "--undo")
    assert kinds(ana) == []
    assert "one of them" in ana.error("mute", code=2)
    assert "cannot mute yourself" in ana.error("mute", "--member", "Ana")


@pytest.mark.slow
def test_the_reporter_learns_the_report_was_handled_and_nothing_more(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat", "Dee")
    ben, cat, dee = m["Ben"], m["Cat"], m["Dee"]
    thread = cat.out("post", "Buy my course", "--body", "limited offer")
    everyone_syncs(cat, ben, dee, ana)
    ben_report = ben.out("report", thread[:6], "--reason", "spam")
    dee.out("report", thread[:6], "--reason", "spam too")
    everyone_syncs(ben, dee, ana)
    (received,) = ben.json("inbox")  # a moderator's home took it in
    assert (received["kind"], received["stage"], received["post"]) == ("report", "received", thread)
    ana.run("resolve", ben_report[:6], "--decision", "Spam: hidden, and I wrote to Cat", "--hide-post")
    everyone_syncs(ana, ben, cat, dee)

    entries = ben.json("inbox")
    assert [e["stage"] for e in entries] == ["handled", "received"]
    entry = entries[0]
    assert (entry["kind"], entry["from"], entry["post"], entry["read"]) == ("report", None, thread, False)
    assert "Spam" not in str(entries)  # the decision stays the moderators'
    # Dee's report is not resolved: she hears only that hers was received; nobody else hears anything.
    assert [e["stage"] for e in dee.json("inbox")] == ["received"]
    assert kinds(cat) == [] and kinds(ana) == []
    # The post is gone (hidden with its thread): reading the entry marks it read.
    from tablespace import actions
    from tablespace.core.group import Group
    from tablespace.core.home import Home

    group = Group.open(Home(ben.home))
    try:
        actions.mark_entry_read(group, actions.inbox(group)[0])
    finally:
        group.close()
    assert kinds(ben) == [] and [e["read"] for e in ben.json("inbox", "--all")] == [True, True]


def test_moderators_may_tell_the_reporter_a_word_sealed_to_them_alone(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    thread = cat.out("post", "Buy my course", "--body", "limited offer")
    everyone_syncs(cat, ben, ana)
    report = ben.out("report", thread[:6], "--reason", "spam")
    everyone_syncs(ben, ana)
    word = "Thank you: we hid it and wrote to its author"
    ana.run("resolve", report[:6], "--decision", "Spam; private note", "--tell-reporter", word)
    (told,) = [r["told"] for r in ana.json("reports")]
    assert told == word
    everyone_syncs(ana, ben, cat)

    entry = handled(ben)
    assert entry["note"] == word
    assert "private note" not in str(entry)
    assert kinds(cat) == []
    # Sealed to Ben's device: neither the folder nor Cat's home holds the words.
    needle = word.encode()
    assert not any(needle in p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert not any(needle in p.read_bytes() for p in cat.home.rglob("*") if p.is_file())


def test_a_word_to_the_reporter_needs_text(ts_group_with_report) -> None:
    ana, report = ts_group_with_report
    assert "say what to tell the reporter" in ana.error(
        "resolve", report[:6], "--decision", "ok", "--tell-reporter", " "
    )


@pytest.fixture
def ts_group_with_report(tmp_path, monkeypatch):
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    thread = ana.out("post", "Hello", "--body", "hi")
    everyone_syncs(ana, m["Ben"])
    report = m["Ben"].out("report", thread[:6], "--reason", "rude")
    everyone_syncs(m["Ben"], ana)
    return ana, report


@pytest.mark.slow
def test_follow_and_mute_stay_in_my_home(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    thread = ben.out("post", "Hello", "--body", "hi")
    everyone_syncs(ben, ana)
    before, ops = folder_files(folder), ana.ops()
    ana.run("follow", thread[:6])
    ana.run("mute", thread[:6])
    ana.run("mute", "--member", "Ben")
    assert ana.ops() == ops  # no op: nothing to sync
    assert ana.json("sync")["exported"] == 0
    everyone_syncs(ben, ana)
    assert folder_files(folder) == before
    assert local_rows(ana, "follows") == [(thread,)]
    assert sorted(local_rows(ana, "mutes"))[0][0] == "member"
    assert local_rows(ben, "follows") == [] and local_rows(ben, "mutes") == []
    # A rebuild folds the log again from nothing and leaves them alone.
    ana.run("rebuild")
    assert local_rows(ana, "follows") == [(thread,)] and len(local_rows(ana, "mutes")) == 2


@pytest.mark.slow
def test_a_quote_shows_the_quoted_post_as_it_is_now(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    thread = ana.out("post", "Flour", "--body", "which flour?")
    other = ana.out("post", "Other", "--body", "elsewhere")
    first = ana.out("reply", thread[:6], "--body", "rye, I think")
    everyone_syncs(ana, ben)
    reply = ben.out("reply", thread[:6], "--body", "agreed", "--quote", first[:6])
    assert "only quote a post of the thread" in ben.error("reply", thread[:6], "--body", "x", "--quote", other[:6])
    posts = {p["id"]: p for p in ben.json("show", thread[:6])["posts"]}
    assert posts[thread]["quote"] is None
    assert posts[reply]["quote"] == first
    assert posts[reply]["quoted"] == {"post": first, "author": "Ana", "excerpt": "rye, I think", "deleted": False}
    assert "> Ana" in ben.out("show", thread[:6])
    everyone_syncs(ben, ana)
    ana.run("edit", first[:6], "--body", "spelt, actually")
    ana.run("delete", first[:6])
    everyone_syncs(ana, ben)
    posts = {p["id"]: p for p in ben.json("show", thread[:6])["posts"]}
    assert posts[reply]["quote"] == first
    assert posts[reply]["quoted"]["deleted"] is True and posts[reply]["quoted"]["excerpt"] == ""


def test_a_report_from_an_added_device_reaches_the_moderators_and_the_word_back_reaches_it(
    tmp_path, monkeypatch
) -> None:
    from tests.cli.test_devices_cli import pair_laptop

    _, ana, ben, laptop = pair_laptop(tmp_path, monkeypatch)
    (thread,) = [t["id"] for t in laptop.json("threads") if t["title"] == "Before the laptop"]
    report = laptop.out("report", thread[:8], "--reason", "off topic")
    everyone_syncs(laptop, ana)
    (filed,) = ana.json("reports")
    assert (filed["reporter"], filed["reason"]) == ("Ben", "off topic")
    ana.run("resolve", report[:6], "--decision", "moved it", "--tell-reporter", "Moved to the right thread")
    everyone_syncs(ana, laptop, ben)
    assert handled(laptop)["note"] == "Moved to the right thread"
    assert kinds(ben) == []  # filed from the laptop: the desktop never knew of it


def test_the_help_names_every_kind_of_entry_and_that_mute_takes_a_thread_or_a_member(tmp_path, monkeypatch) -> None:
    ts = TS(tmp_path / "home", monkeypatch)
    inbox_help = " ".join(ts.out("inbox", "--help").split())
    for kind in ("mentions", "replies", "reactions", "answers to your events", "reminders", "reports' outcomes"):
        assert kind in inbox_help, kind
    usage = ts.out("mute", "--help").splitlines()[0]
    assert usage.endswith(" mute [OPTIONS] (THREAD | --member MEMBER)"), usage
