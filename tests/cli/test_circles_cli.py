"""Circles through the real CLI: members read a circle's threads, and
nothing of them reaches the folder or an outsider's home."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tablespace.core import circle_queries
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
        assert listed == {"id": circle, "name": NAME, "members": ["Ana", "Ben"], "ends": "2027-01-31", "ended": False}
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


def _sync_all(*members: object) -> None:
    for who in (*members, *members):  # twice round: what one writes after the others' sync reaches them
        who.json("sync")  # type: ignore[attr-defined]


def _holds(who: object, word: str) -> bool:
    """Whether `word` is anywhere in the member's home (the SQLite file, its -wal, every file)."""
    return any(word.encode() in p.read_bytes() for p in _files_under(who.home))  # type: ignore[attr-defined]


def test_whoever_leaves_or_is_removed_reads_nothing_written_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy", "Di")
    ben, cy, di = m["Ben"], m["Cy"], m["Di"]
    _sync_all(ben, cy, di, ana)
    ana.out("circle", "add", NAME, "--member", "Ben", "--member", "Cy", "--member", "Di")
    thread = ana.out("post", TITLE, "--body", BODY, "--circle", NAME)
    _sync_all(ana, ben, cy, di)
    assert BODY in cy.out("show", thread[:8]) and BODY in di.out("show", thread[:8])

    ana.run("circle", "remove", NAME, "Cy")  # the maker: the new key goes out with the removal
    cy.run("circle", "leave", NAME)  # refused: Cy is out already, on Cy's replica once synced
    _sync_all(ana, ben, cy, di)
    di.run("circle", "leave", NAME)
    _sync_all(di, ana, ben, cy)
    after = "after the removal the rye was sour"
    ben.out("reply", thread[:8], "--body", after)  # Ben writes first since Di left: Ben makes the key
    _sync_all(ben, ana, cy, di)

    assert after in ana.out("show", thread[:8])
    for gone in (cy, di):
        assert gone.json("circles") == []
        assert not _holds(gone, after), gone.home
        shown = gone.out("show", thread[:8])
        assert BODY in shown and after not in shown  # they keep what they read while in it
    assert [c["members"] for c in ana.json("circles")] == [["Ana", "Ben"]]
    assert not any(after.encode() in p.read_bytes() for p in _files_under(folder))


def test_a_moderator_outside_a_circle_removes_and_a_member_renews_its_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    _sync_all(ben, cy, ana)
    circle = ben.out("circle", "add", NAME, "--member", "Cy")
    _sync_all(ben, cy, ana)
    assert ana.json("circles") == []
    assert "maker or a moderator" in cy.error("circle", "remove", NAME, "Ben", code=3)  # neither
    ana.run("circle", "remove", circle[:8], "Cy")  # Ana moderates; she sees the circle's id, not its name
    _sync_all(ana, ben, cy)
    late = "only for ben now"
    thread = ben.out("post", TITLE, "--body", late, "--circle", NAME)
    _sync_all(ben, ana, cy)
    assert late in ben.out("show", thread[:8])
    assert not _holds(cy, late) and not _holds(ana, late)
    assert "no thread" in cy.error("show", thread[:8])


def test_a_circle_member_s_sync_renews_the_key_when_the_remover_holds_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ana removes Cy from the group while holding no key of Ben's circle, so
    she cannot renew it; Ben's next sync does, though he writes nothing."""
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    _sync_all(ben, cy, ana)
    circle = ben.out("circle", "add", NAME, "--member", "Cy")
    _sync_all(ben, cy, ana)
    ana.run("remove", "Cy")
    _sync_all(ana, ben)
    (db,) = ben.home.glob("groups/*/group.db")
    with sqlite3.connect(db) as conn:
        assert not circle_queries.circle_needs_new_key(conn, circle)
        assert circle_queries.circle_current_key(conn, circle)[1] == 1


def test_a_member_removed_from_the_group_loses_every_circle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    _sync_all(ben, cy, ana)
    ana.out("circle", "add", NAME, "--member", "Ben", "--member", "Cy")
    ben.out("circle", "add", "Second pod", "--member", "Cy")
    _sync_all(ana, ben, cy)
    assert len(cy.json("circles")) == 2
    ana.run("remove", "Cy")
    _sync_all(ana, ben, cy)
    assert all("Cy" not in c["members"] for who in (ana, ben) for c in who.json("circles"))
    later = "cy is gone from the group"
    ana.out("post", TITLE, "--body", later, "--circle", NAME)
    ben.out("post", TITLE, "--body", later + " too", "--circle", "Second pod")
    _sync_all(ana, ben, cy)
    assert not _holds(cy, later)


def test_someone_let_into_a_circle_reads_its_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy", "Di")
    ben, cy, di = m["Ben"], m["Cy"], m["Di"]
    _sync_all(ben, cy, di, ana)
    ana.out("circle", "add", NAME, "--member", "Ben", "--member", "Cy")
    thread = ana.out("post", TITLE, "--body", BODY, "--circle", NAME)
    _sync_all(ana, ben, cy)
    ana.run("circle", "remove", NAME, "Cy")  # a new key: the history now spans two
    ben.out("reply", thread[:8], "--body", REPLY)
    _sync_all(ana, ben, di)
    assert "no thread" in di.error("show", thread[:8])
    ben.run("circle", "invite", NAME, "Di")
    _sync_all(ben, ana, di)
    (listed,) = di.json("circles")
    assert listed["name"] == NAME and listed["members"] == ["Ana", "Ben", "Di"]
    shown = di.out("show", thread[:8])
    assert BODY in shown and REPLY in shown
    before = di.json("circles")
    di.run("rebuild")  # a re-fold from the log alone, with no key learned beforehand, reads it alike
    assert di.json("circles") == before and REPLY in di.out("show", thread[:8])
    di.out("reply", thread[:8], "--body", "hello from di")
    _sync_all(di, ana, ben)
    assert "hello from di" in ana.out("show", thread[:8])
    assert not _holds(cy, "hello from di")
    assert not any(b"hello from di" in p.read_bytes() for p in _files_under(folder))


def _digests(who: object) -> tuple[str, str]:
    """The member's views as they are, and as a re-fold from the log alone makes them."""
    from tablespace import actions
    from tablespace.core.home import Home

    group = actions.open_group(Home(who.home), None)  # type: ignore[attr-defined]
    try:
        before = group.store.dump_digest()
        group.store.rebuild()
        return before, group.store.dump_digest()
    finally:
        group.close()


@pytest.mark.parametrize("meanwhile", ["content", "a role"])
def test_a_member_let_in_folds_only_the_circle_s_history_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    """Di is let into a pod whose history spans two keys, while the group
    writes in its own room: her home folds the pod's ops again, not the whole
    log, and gets what a re-fold from nothing gets. If an op folded since the
    pod's first post changed what its posts read (a role granted), her home
    folds everything again instead, with the same result."""
    from tablespace.core.store import Store

    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy", "Di")
    ben, cy, di = m["Ben"], m["Cy"], m["Di"]
    _sync_all(ben, cy, di, ana)
    ana.out("circle", "add", NAME, "--member", "Ben", "--member", "Cy")
    thread = ana.out("post", TITLE, "--body", BODY, "--circle", NAME)
    cy.out("post", "Open question for all", "--body", "anyone?")
    _sync_all(ana, ben, cy)
    ana.run("circle", "remove", NAME, "Cy")  # a new key: the history now spans two
    if meanwhile == "a role":
        ana.run("role", "Ben", "curator")
    ben.out("reply", thread[:8], "--body", REPLY)
    _sync_all(ana, ben, di)
    refolds: list[int] = []
    refold = Store.refold
    monkeypatch.setattr(Store, "refold", lambda store: refolds.append(1) or refold(store))
    ben.run("circle", "invite", NAME, "Di")
    _sync_all(ben, ana, di)

    assert BODY in di.out("show", thread[:8]) and REPLY in di.out("show", thread[:8])
    assert bool(refolds) == (meanwhile == "a role")
    before, rebuilt = _digests(di)
    assert before == rebuilt


def test_a_direct_message_is_a_two_person_circle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    _sync_all(ben, cy, ana)
    thread = ana.out("dm", "Ben", "--body", "psst, a starter for you")
    _sync_all(ana, ben, cy)
    assert ben.out("dm", "Ana", "--body", "yes please") == thread  # the same conversation, either way
    _sync_all(ben, ana, cy)
    (direct,) = ana.json("dms")
    assert direct["with"] == "Ben" and direct["thread"] == thread and direct["unread"] == 1
    assert set(direct) == {"id", "with", "thread", "last_activity", "unread"}
    assert ana.json("circles") == []  # conversations are listed by `dms`, not `circles`
    shown = ana.out("show", thread[:8])
    assert "psst, a starter for you" in shown and "yes please" in shown
    assert ana.json("dms")[0]["unread"] == 0
    assert cy.json("dms") == []
    assert not _holds(cy, "psst") and not any(b"psst" in p.read_bytes() for p in _files_under(folder))
    assert ana.out("dm", "Cy", "--body", "hi cy") != thread
    assert "someone else" in ana.error("dm", "Ana", "--body", "me", code=2)


@pytest.mark.slow
def test_a_report_of_a_circle_post_reaches_moderators_outside_it_and_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ana moderates and is in no circle: a member's report shows her the
    quoted post (sealed to the moderators), its author as the log has it and
    its circle, and not another word; hiding it hides it for the circle."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    _sync_all(ben, cy, ana)
    circle = ben.out("circle", "add", NAME, "--member", "Cy")
    _sync_all(ben, cy)
    rude, other = "you bake like a goat", "the rest of the pod's talk"
    thread = cy.out("post", TITLE, "--body", rude, "--circle", NAME)
    cy.out("reply", thread[:8], "--body", other)
    _sync_all(cy, ben, ana)
    report = ben.out("report", thread[:8], "--reason", "rude to me").splitlines()[0]
    _sync_all(ben, ana)

    (seen,) = ana.json("reports")
    assert (seen["excerpt"], seen["post_author"], seen["circle"], seen["post_now"]) == (rude, "Cy", circle, None)
    assert ana.json("circles") == [] and "no thread" in ana.error("show", thread[:8])
    assert not _holds(ana, TITLE) and not _holds(ana, other) and not _holds(ana, NAME)
    ana.run("resolve", report[:6], "--decision", "Rude: hidden", "--hide-post")
    _sync_all(ana, ben, cy)

    assert [(e["kind"], e["stage"], e["post"]) for e in ben.json("inbox")] == [
        ("report", "handled", thread),
        ("report", "received", thread),
    ]
    for member in (ben, cy):
        assert member.json("threads", "--circle", NAME) == []  # the opening post went, and its thread
        assert not _holds(member, rude)
    assert [r["hid_post"] for r in ana.json("reports", "--all")] == [True]
    assert not any(w.encode() in p.read_bytes() for p in _files_under(folder) for w in (rude, other, TITLE))


@pytest.mark.slow
def test_a_circle_s_ritual_and_poll_open_inside_it_for_its_members_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ben, no moderator, gives his pod a daily check-in and a poll: the
    occurrence opens in the pod under the id every member derives, and
    Cy, outside it, learns nothing of either."""
    from tablespace.core.fold import derived_id

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    _sync_all(ben, cy, ana)
    circle = ben.out("circle", "add", NAME, "--member", "Ana")
    _sync_all(ben, ana)
    checkin, prompt, question = "Rye check-in", "How is your rye today?", "Which flour this week?"
    daily = ("--rrule", "FREQ=DAILY", "--start", "2026-11-23")
    ritual = ben.out("ritual", "add", checkin, "--prompt", prompt, *daily, "--circle", NAME)
    assert "moderator" in cy.error("ritual", "add", "Cy's own", "--prompt", "?", *daily, code=3)  # the group's
    poll = ben.out("poll", question, "--option", "Dark rye", "--option", "Light rye", "--circle", NAME)
    _sync_all(ben, ana, cy)  # each member's sync opens the occurrence that came due: one thread

    occurrence = derived_id("ritual.occur", ritual, "2026-11-23T09:00:00Z")
    for member in (ana, ben):
        (listed,) = member.json("rituals")
        assert (listed["id"], listed["circle"]) == (ritual, circle)
        titles = {t["title"]: t["id"] for t in member.json("threads", "--circle", NAME)}
        assert titles == {f"{checkin} · Mon 23 Nov 2026": occurrence, question: poll}
        assert all(t["id"] not in (occurrence, poll) for t in member.json("threads"))
    ana.run("vote", poll[:8], "1")
    ana.out("reply", occurrence[:8], "--body", "levain bubbly by noon")
    _sync_all(ana, ben, cy)
    assert [o["votes"] for o in ben.json("show", poll[:8])["poll"]["options"]] == [1, 0]
    assert "levain bubbly" in ben.out("show", occurrence[:8])

    assert cy.json("rituals") == [] and "no thread" in cy.error("show", occurrence[:8])
    assert "no thread" in cy.error("vote", poll[:8], "1")
    for word in (checkin, prompt, question, "Dark rye", "levain bubbly"):
        assert not _holds(cy, word), word
        assert not any(word.encode() in p.read_bytes() for p in _files_under(folder)), word
    ana.run("circle", "leave", NAME)
    assert ana.json("rituals") == []  # a circle's rituals are its members'


@pytest.mark.slow
def test_mentions_inbox_notifications_and_search_in_a_circle_reach_its_members_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc: None
) -> None:
    """Ana mentions Ben, in the pod, and Cy, who is not: Ben's inbox, his
    notifications and his search have it; Cy's have nothing. Once Ben has
    left, a mention of him there reaches him no more."""
    from tablespace import actions
    from tablespace.core.home import Home
    from tests.cli.test_notify import Recording

    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    _sync_all(ben, cy, ana)
    ana.out("circle", "add", NAME, "--member", "Ben")
    _sync_all(ana, ben)
    opened = {who: actions.open_group(Home(who.home), None) for who in (ben, cy)}
    shown = {who: Recording() for who in opened}
    try:
        for group in opened.values():
            actions.start_notifying(group)
        thread = ana.out("post", TITLE, "--body", "@Ben and @Cy: crumbshots of the rye, please", "--circle", NAME)
        _sync_all(ana, ben, cy)
        assert [(e["kind"], e["from"], e["thread"]) for e in ben.json("inbox")] == [("mention", "Ana", thread)]
        assert cy.json("inbox") == []
        for who, group in opened.items():
            actions.notify_new(group, shown[who])
        (note,) = shown[ben].shown
        assert "mentioned you" in note.title and "crumbshots" in note.body
        assert shown[cy].shown == []
        for member, found in ((ana, {thread}), (ben, {thread}), (cy, set())):
            assert {h["thread"] for h in member.json("search", "crumbshots")} == found

        ben.out("reply", thread[:8], "--body", "here: open crumb")
        _sync_all(ben, ana)
        assert [(e["kind"], e["from"]) for e in ana.json("inbox")] == [("reply", "Ben")]

        ben.run("circle", "leave", NAME)
        _sync_all(ben, ana)
        ana.out("reply", thread[:8], "--body", "@Ben we miss your crumbshots")
        _sync_all(ana, ben, cy)
        assert len(ben.json("inbox", "--all")) == 1  # the mention from before he left, no other
        assert [h["post"] for h in ben.json("search", "miss")] == []
        for who, group in opened.items():
            actions.notify_new(group, shown[who])
        assert len(shown[ben].shown) == 1 and shown[cy].shown == []
    finally:
        for group in opened.values():
            group.close()


@pytest.mark.slow
def test_health_counts_a_pod_s_activity_and_a_circle_s_members_see_its_own_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ben and Cy write only in their pod: the group counts them active (the
    same figures on every replica), and `metrics --circle` gives the pod's
    own figures over its two members, to them alone."""
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy", "Di")
    ben, cy, di = m["Ben"], m["Cy"], m["Di"]
    _sync_all(ben, cy, di, ana)
    ben.out("circle", "add", NAME, "--member", "Cy")
    _sync_all(ben, cy)
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-03T09:00:00Z")  # ten days on: joining is last week's
    thread = ben.out("post", TITLE, "--body", BODY, "--circle", NAME, "--tag", "win")
    _sync_all(ben, cy)
    cy.out("reply", thread[:8], "--body", REPLY)
    ana.out("post", "Open question for all", "--body", "anyone?")
    _sync_all(cy, ben, ana, di)

    group = {who.home.name: who.json("metrics") for who in (ana, ben, cy, di)}
    assert group["ana"] == group["ben"] == group["cy"] == group["di"]
    # This week Di did nothing and Ben and Cy wrote only in the pod: active, not contributors.
    week = group["ana"]
    assert (week["members"], week["active"], week["contributors"]) == (4, 3, 1)
    assert (week["threads_started"], week["wins"]) == (1, 0)
    pod = {who.home.name: who.json("metrics", "--circle", NAME) for who in (ben, cy)}
    assert pod["ben"] == pod["cy"]
    figures = pod["ben"]
    assert (figures["members"], figures["active"], figures["contributors"]) == (2, 2, 2)
    assert (figures["threads_started"], figures["threads_answered"], figures["wins"]) == (1, 1, 2)
    assert "Rye pod health" in ben.out("metrics", "--circle", NAME)
    assert "no circle" in ana.error("metrics", "--circle", NAME)


def test_a_circle_s_health_for_a_past_week_counts_the_members_it_had_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ben, Cy and Di write in their pod one week; Di leaves the next, and
    Ben then lets Ana in, and he and Cy write again. The earlier week counts
    Ben, Cy and Di (all three active), the latest Ben, Cy and Ana (two
    active); the same on every member's home."""
    from datetime import UTC, datetime

    from tablespace import actions
    from tablespace.core.home import Home
    from tablespace.core.metrics import weekly_series

    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy", "Di")
    ben, cy, di = m["Ben"], m["Cy"], m["Di"]
    _sync_all(ben, cy, di, ana)
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-03T09:00:00Z")
    circle = ben.out("circle", "add", NAME, "--member", "Cy", "--member", "Di")
    _sync_all(ben, cy, di)
    thread = ben.out("post", TITLE, "--body", BODY, "--circle", NAME)
    _sync_all(ben, cy, di)
    for who in (cy, di):
        who.out("reply", thread[:8], "--body", REPLY)
    _sync_all(ben, cy, di)
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-10T09:00:00Z")
    di.run("circle", "leave", NAME)
    _sync_all(di, ben, cy)
    ben.run("circle", "invite", NAME, "Ana")
    _sync_all(ben, cy, ana)
    for who in (ben, cy):
        who.out("reply", thread[:8], "--body", "still baking")
    _sync_all(ben, cy, ana)

    end = datetime(2026, 12, 10, 12, tzinfo=UTC)
    figures = []
    for who in (ben, cy, ana):
        group = actions.open_group(Home(who.home), None)
        try:
            figures.append([(w.members, w.active) for w in weekly_series(group.conn, end, 2, now=end, circle=circle)])
        finally:
            group.close()
    assert figures == [[(3, 3), (3, 2)]] * 3  # the week before: Ben, Cy, Di; this week: Ben, Cy (active), Ana


@pytest.mark.slow
def test_a_post_under_a_key_that_reaches_a_member_later_opens_when_it_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ana takes Cy out (a new key, K) and writes under K while Ben, not
    having seen it, lets Di in with the keys he holds, which do not include K
    (and with a key that reaches Cy). Di's home folds Ana's post before it
    holds K; K reaches Di inside the next key a member makes (Ben's sync
    renews the one that reached Cy), and then the post opens, with no rebuild
    asked for. Her home folds the pod's room again, not the whole log."""
    from tablespace.core.store import Store

    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy", "Di")
    ben, cy, di = m["Ben"], m["Cy"], m["Di"]
    _sync_all(ben, cy, di, ana)
    ana.out("circle", "add", NAME, "--member", "Ben", "--member", "Cy")
    _sync_all(ana, ben, cy)
    ana.run("circle", "remove", NAME, "Cy")
    early = ana.out("post", TITLE, "--body", "written under the key Ben had not seen", "--circle", NAME)
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:01:00Z")  # Ben's invite sorts after Ana's post
    ben.run("circle", "invite", NAME, "Di")
    _sync_all(ana, ben, di)
    assert "written under the key Ben had not seen" in di.out("show", early[:8])

    ana.out("reply", early[:8], "--body", "and a new key that carries the old ones")
    refolds: list[int] = []
    refold = Store.refold
    monkeypatch.setattr(Store, "refold", lambda store: refolds.append(1) or refold(store))
    _sync_all(ana, ben, di)
    shown = di.out("show", early[:8])
    assert "written under the key Ben had not seen" in shown and "carries the old ones" in shown
    assert refolds == []  # the reply, refused until the key came, and the post opened with the pod's room alone
    before, rebuilt = _digests(di)
    assert before == rebuilt
    before = di.json("show", early[:8])
    di.run("rebuild")
    assert di.json("show", early[:8]) == before
    assert not _holds(cy, "carries the old ones")


@pytest.mark.slow
def test_nothing_of_a_circle_reaches_a_git_remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from tablespace.sync.git import git_env
    from tests.clirun import group_through

    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(remote)], check=True, env=git_env())
    ana, m = group_through(tmp_path, monkeypatch, ("--git", str(remote)), "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    for who in (ben, cy, ana):
        who.json("sync")
    ana.out("circle", "add", NAME, "--member", "Ben", "--purpose", PURPOSE)
    thread = ana.out("post", TITLE, "--body", BODY, "--circle", NAME)
    for who in (ana, ben, cy, ana):
        who.json("sync")
    ben.out("reply", thread[:8], "--body", REPLY)
    for who in (ben, ana, cy):
        who.json("sync")
    assert REPLY in ana.out("show", thread[:8])  # it travelled through the remote

    # Every object the remote holds, uncompressed, and the clone in the outsider's home.
    objects = subprocess.run(
        ["git", "cat-file", "--batch-all-objects", "--batch"],
        cwd=remote,
        capture_output=True,
        check=True,
        env=git_env(),
    ).stdout
    assert b"tablespace sync" in objects  # the canary reads the history uncompressed, not an empty repository
    for word in (NAME, PURPOSE, TITLE, BODY, REPLY):
        assert word.encode() not in objects, word
        assert not any(word.encode() in p.read_bytes() for p in _files_under(cy.home)), word


@pytest.mark.slow
def test_a_circle_post_its_members_refuse_counts_alike_inside_and_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cy replies in the pod to a thread Ben has deleted meanwhile: the pod's
    members open the reply and refuse it, Ana and Di see only that it was
    written there. The group's figures are the same in every home."""
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy", "Di")
    ben, cy, di = m["Ben"], m["Cy"], m["Di"]
    _sync_all(ben, cy, di, ana)
    ben.out("circle", "add", NAME, "--member", "Cy")
    _sync_all(ben, cy)
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-03T09:00:00Z")  # ten days on: joining is last week's
    thread = ben.out("post", TITLE, "--body", BODY, "--circle", NAME)
    _sync_all(ben, cy)
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-03T09:05:00Z")
    ben.run("delete", thread[:8])
    ben.json("sync")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-03T09:10:00Z")
    cy.out("reply", thread[:8], "--body", REPLY)  # she has not synced since
    _sync_all(cy, ben, ana, di)
    group = {who.home.name: who.json("metrics") for who in (ana, ben, cy, di)}
    assert group["ana"] == group["ben"] == group["cy"] == group["di"]


# --- the bounds, time-outs, departures and the keys that follow them -------------------


def _ids(who: object) -> dict[str, str]:
    """Display name -> member id, as `members` lists them."""
    return {m["name"]: m["id"] for m in who.json("members")}  # type: ignore[attr-defined]


def _epochs(who: object, circle: str) -> tuple[int, list[set[str]], dict[int, list[set[str]]]]:
    """On the member's replica: the circle's current epoch, the members the
    key written under next is wrapped for, and every epoch's keys' recipients.
    Each member here has one device, whose signing key is their member id."""
    import json

    (db,) = who.home.glob("groups/*/group.db")  # type: ignore[attr-defined]
    with sqlite3.connect(db) as conn:
        key_op, epoch = circle_queries.circle_current_key(conn, circle)
        rows = conn.execute(
            "SELECT key_op, epoch, wrapped FROM circle_epochs WHERE circle_id = ? ORDER BY epoch, key_op", (circle,)
        ).fetchall()
    by_epoch: dict[int, list[set[str]]] = {}
    for _, e, wrapped in rows:
        by_epoch.setdefault(e, []).append(set(json.loads(wrapped)))
    current = [set(json.loads(w)) for op, _, w in rows if op == key_op]
    return epoch, current, by_epoch


def _one_line(who: object, *args: str, code: int) -> str:
    result = who.run(*args, code=code)  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.slow
def test_a_circle_holds_two_to_twelve_members_and_no_other_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One member alone, or thirteen, is refused as a usage error in one line
    and nothing is written; twelve make a circle, and a thirteenth is not let in."""
    names = [f"Baker{n:02d}" for n in range(1, 13)]
    folder, ana, m = make_group(tmp_path, monkeypatch, *names)
    for name in names:
        m[name].json("sync")  # their exchange keys reach Ana's log
    ana.json("sync")
    before, files = ana.ops(), sorted(p.name for p in _files_under(folder))
    alone = _one_line(ana, "circle", "add", "Solo", "--member", "Ana", code=2)
    assert "2 to 12 members" in alone and "(1 given)" in alone
    crowd = [arg for name in names for arg in ("--member", name)]
    assert "(13 given)" in _one_line(ana, "circle", "add", "Crowd", *crowd, code=2)
    assert ana.ops() == before and ana.json("circles") == []
    ana.json("sync")
    assert sorted(p.name for p in _files_under(folder)) == files  # nothing went out either

    ana.out("circle", "add", "Full", *crowd[:-2])  # Ana and eleven
    assert len(ana.json("circles")[0]["members"]) == 12
    before = ana.ops()
    assert "at most 12" in _one_line(ana, "circle", "invite", "Full", names[-1], code=1)
    assert ana.ops() == before


def test_a_time_out_holds_inside_a_circle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ana, a moderator outside Ben and Cy's pod, times Cy out. Cy's reply
    written before she heard of it is refused by Ben, and by her own replica
    once it has; after that her home refuses her circle posts itself."""
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    _sync_all(ben, cy, ana)
    ben.out("circle", "add", NAME, "--member", "Cy")
    thread = ben.out("post", TITLE, "--body", BODY, "--circle", NAME)
    _sync_all(ben, cy)
    ana.run("timeout", "Cy", "--for", "24h")
    ana.json("sync")
    offline = "written before she heard of her time-out"
    cy.out("reply", thread[:8], "--body", offline)  # her replica does not know of it yet
    _sync_all(cy, ben, ana)

    for member in (ben, cy):
        shown = member.out("show", thread[:8])
        assert BODY in shown and offline not in shown
    before = cy.ops()
    assert "timed out until" in cy.error("reply", thread[:8], "--body", "and again", code=3)
    assert "timed out until" in cy.error("post", "Another", "--body", "x", "--circle", NAME, code=3)
    assert cy.ops() == before


def test_a_leave_and_a_removal_renew_the_key_for_those_who_remain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The maker removing Cy wraps the next key, at once, for Ana, Ben and Di
    alone; after Di leaves, the next key (made by whoever writes or syncs
    first) reaches Ana and Ben alone. No later key reaches either who went."""
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy", "Di")
    ben, cy, di = m["Ben"], m["Cy"], m["Di"]
    _sync_all(ben, cy, di, ana)
    ids = _ids(ana)
    circle = ana.out("circle", "add", NAME, "--member", "Ben", "--member", "Cy", "--member", "Di")
    _sync_all(ana, ben, cy, di)
    assert _epochs(ana, circle)[:2] == (0, [{ids[n] for n in ("Ana", "Ben", "Cy", "Di")}])

    ana.run("circle", "remove", NAME, "Cy")
    epoch, current, _ = _epochs(ana, circle)
    assert (epoch, current) == (1, [{ids["Ana"], ids["Ben"], ids["Di"]}])  # renewed with the removal
    _sync_all(ana, ben, cy, di)
    di.run("circle", "leave", NAME)
    _sync_all(di, ana, ben)  # a member's sync renews it, though nobody writes
    thread = ana.out("post", TITLE, "--body", BODY, "--circle", NAME)
    _sync_all(ana, ben)
    ben.out("reply", thread[:8], "--body", REPLY)
    _sync_all(ben, ana, cy, di)

    for member in (ana, ben):
        epoch, current, by_epoch = _epochs(member, circle)
        assert epoch == 2 and current == [{ids["Ana"], ids["Ben"]}]
        assert by_epoch[1] == [{ids["Ana"], ids["Ben"], ids["Di"]}]
        assert all(keys == {ids["Ana"], ids["Ben"]} for keys in by_epoch[2])
    assert REPLY in ana.out("show", thread[:8])
    for gone in (cy, di):
        assert not _holds(gone, REPLY)


def test_leaving_the_group_leaves_every_circle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cy leaves the group (nobody removes her): she is out of both her
    circles, their next keys do not reach her, and she holds nothing written after."""
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy")
    ben, cy = m["Ben"], m["Cy"]
    _sync_all(ben, cy, ana)
    ids = _ids(ana)
    pod = ana.out("circle", "add", NAME, "--member", "Ben", "--member", "Cy")
    second = ben.out("circle", "add", "Second pod", "--member", "Cy")
    _sync_all(ana, ben, cy)
    cy.run("leave")
    _sync_all(cy, ana, ben)
    later = "written once cy had left the group"
    ana.out("post", TITLE, "--body", later, "--circle", NAME)
    ben.out("post", TITLE, "--body", later + " too", "--circle", "Second pod")
    _sync_all(ana, ben, cy)

    for member in (ana, ben):
        assert all("Cy" not in c["members"] for c in member.json("circles"))
        for circle in (pod, second):
            epoch, current, _ = _epochs(member, circle)
            assert epoch >= 1 and all(ids["Cy"] not in keys for keys in current)
    assert [c["members"] for c in ben.json("circles")] == [["Ana", "Ben"], ["Ben"]]
    assert not _holds(cy, later)


def test_a_moderator_lists_every_circle_without_its_name_and_removes_from_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`circles --all` shows Ana, who moderates, Ben and Cy's pod (its id, its
    two members, how much is written in it) and not its name or end date;
    the id it gives is what `circle remove` takes. Ben, no moderator, is refused."""
    _, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy", "Di")
    ben, cy, di = m["Ben"], m["Cy"], m["Di"]
    _sync_all(ben, cy, di, ana)
    pod = ben.out("circle", "add", NAME, "--member", "Cy", "--purpose", PURPOSE, "--ends", "2027-01-31")
    ben.out("post", TITLE, "--body", BODY, "--circle", NAME)
    own = ana.out("circle", "add", "Moderators' corner", "--member", "Di")
    _sync_all(ben, cy, ana, di)

    listed = {c["id"]: c for c in ana.json("circles", "--all")}
    assert set(listed) == {pod, own}
    assert listed[pod] == {
        "id": pod,
        "name": None,
        "members": ["Ben", "Cy"],
        "ends": None,
        "size": 2,
        "maker": "Ben",
        "created_at": listed[pod]["created_at"],
        "ops": 1,
        "last_activity": listed[pod]["last_activity"],
        "in_circle": False,
        "ended": None,
    }
    assert (listed[own]["name"], listed[own]["in_circle"]) == ("Moderators' corner", True)
    assert [c["id"] for c in ana.json("circles")] == [own]  # without --all, the keys and rows are as ever
    shown = ana.out("circles", "--all")
    assert pod[:8] in shown and "Ben, Cy" in shown and NAME not in shown and PURPOSE not in shown
    assert "moderator" in ben.error("circles", "--all", code=3)

    ana.run("circle", "remove", listed[pod]["id"][:8], "Cy")
    _sync_all(ana, ben, cy)
    assert [c["members"] for c in ana.json("circles", "--all") if c["id"] == pod] == [["Ben"]]


@pytest.mark.slow
def test_a_rye_pod_s_week_stays_with_the_pod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's story: Ben, Cy, Di and Eve, of a sourdough group, make a
    "Rye pod" with a daily check-in and a Friday retro and answer them for a
    week; Eve leaves on Saturday. The folder, Fay's home (she is in no
    circle) and Ana's (she moderates, outside the pod) hold none of the
    pod's names, prompts or words; Eve holds nothing written after she left;
    and everyone's health figures count the four as active."""
    from tablespace.core.fold import derived_id

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cy", "Di", "Eve", "Fay")
    ben, cy, di, eve, fay = (m[n] for n in ("Ben", "Cy", "Di", "Eve", "Fay"))
    pod = {"Ben": ben, "Cy": cy, "Di": di, "Eve": eve}
    _sync_all(*pod.values(), fay, ana)
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T15:00:00Z")
    purpose, checkin, retro = "a loaf of rye a day", "Rye check-in", "Friday rye retro"
    prompts = ("How did your rye ferment today?", "What would you bake differently next week?")
    ben.out("circle", "add", NAME, "--member", "Cy", "--member", "Di", "--member", "Eve", "--purpose", purpose)
    daily = ben.out(
        "ritual",
        "add",
        checkin,
        "--prompt",
        prompts[0],
        "--rrule",
        "FREQ=DAILY",
        "--start",
        "2026-11-24",
        "--circle",
        NAME,
    )
    weekly = ("--rrule", "FREQ=WEEKLY;BYDAY=FR", "--start", "2026-11-27")
    _sync_all(ben, cy, di, eve)
    friday = cy.out("ritual", "add", retro, "--prompt", prompts[1], *weekly, "--circle", NAME)
    assert daily and friday
    written: dict[str, list[str]] = {"before": [], "after": []}
    for day in range(24, 31):
        monkeypatch.setenv("TABLESPACE_NOW", f"2026-11-{day}T10:00:00Z")
        if day == 28:
            eve.run("circle", "leave", NAME)
            _sync_all(eve, ben, cy, di)
        writers = {n: who for n, who in pod.items() if not (n == "Eve" and day >= 28)}
        _sync_all(*writers.values())  # the first sync of the day opens its occurrences
        opened = {"check-in": derived_id("ritual.occur", daily, f"2026-11-{day}T09:00:00Z")}
        if day == 27:
            opened["retro"] = derived_id("ritual.occur", friday, "2026-11-27T09:00:00Z")
        for name, who in writers.items():
            for answering, thread in opened.items():
                body = f"{name}'s {answering} on the {day}th: levain note {name.lower()}{day}"
                who.out("reply", thread[:8], "--body", body)
                written["after" if day >= 28 else "before"].append(body)
        _sync_all(*writers.values())
    _sync_all(*pod.values(), ana, fay)

    shown = ben.out("show", opened["check-in"][:8])
    assert written["after"][-1] in shown  # the pod reads its week (the canary can find it)
    assert len(ben.json("threads", "--circle", NAME)) == 8  # seven check-ins and a retro
    secrets = [NAME, purpose, checkin, retro, *prompts, *written["before"], *written["after"]]
    for word in secrets:
        assert not any(word.encode() in p.read_bytes() for p in _files_under(folder)), word
        for outsider in (fay, ana):
            assert not _holds(outsider, word), (outsider.home.name, word)
    for word in written["after"]:
        assert not _holds(eve, word), word
    assert _holds(eve, written["before"][0])  # she keeps what she read while in it
    assert ana.json("circles") == [] and fay.json("circles") == []

    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-01T09:00:00Z")
    figures = {who.home.name: who.json("metrics") for who in (fay, ana, ben, eve)}
    assert figures["fay"] == figures["ana"] == figures["ben"] == figures["eve"]
    assert (figures["fay"]["members"], figures["fay"]["active"], figures["fay"]["contributors"]) == (6, 4, 0)
