"""Removal, leaving, time-outs and key rotation, across real homes and a folder."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest

from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.sync import roster
from tests.clirun import TS, everyone_syncs, export_forged_post, group_dir, make_group


def titles(member: TS) -> set[str]:
    return {t["title"] for t in member.json("threads")}


def publish_skipping_the_fold(member: TS, title: str, hlc: int) -> None:
    """What a modified client could do: sign a thread dated `hlc`, mark it
    accepted in its own log without folding it, and export it."""
    from tablespace.core.ops import sign_op
    from tablespace.sync.service import engine_for

    group = Group.open(Home(member.home))
    seq, prev = group.store.head(group.me)
    op = sign_op(
        group.identity,
        group=group.id,
        seq=seq + 1,
        prev=prev,
        hlc=hlc,
        kind="thread.start",
        payload={"title": title, "body": "", "tags": []},
    )
    group.store.conn.execute("BEGIN")
    group.store.conn.execute(
        "INSERT INTO ops (id, author, seq, prev, hlc, kind, signature, body, state) VALUES (?,?,?,?,?,?,?,?, 'accepted')",
        (op.id, op.author, op.seq, op.prev, op.hlc, op.kind, op.signature, op.body),
    )
    group.store.conn.execute("COMMIT")
    engine = engine_for(group)
    engine.export({f.path: f for f in engine.folder.list()})
    group.close()


@pytest.mark.slow
def test_a_removed_member_cannot_read_what_comes_after(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    ana.out("post", "Before")
    everyone_syncs(ana, ben, cat)
    ana.run("remove", "ben", "--reason", "asked to leave")
    ana.out("post", "After the removal")
    everyone_syncs(ana, cat, ben)
    assert titles(cat) == {"Before", "After the removal"}
    # Ben's own home, with his own keys: the new posts stay unreadable.
    assert titles(ben) == {"Before"}
    assert ben.json("sync")["pending"] >= 1
    status = {x["name"]: x["status"] for x in ben.json("members")}
    assert status["Ben"] == "removed"  # he does learn that he was removed
    blobs = b"".join(p.read_bytes() for p in folder.rglob("*.tsc"))
    assert b"After the removal" not in blobs


def test_a_removed_member_s_later_changesets_are_rejected_by_everyone(tmp_path, monkeypatch) -> None:
    from datetime import datetime

    from tablespace.core.clock import datetime_to_hlc

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    ana.run("remove", "ben")
    ana.json("sync")
    # Ben's client ignores the removal (never syncs it) and keeps writing,
    # even back-dating its clock to before the removal.
    back_dated = datetime_to_hlc(datetime(2001, 1, 1, tzinfo=UTC))  # before the removal, in range
    sneaky = export_forged_post(ben, "Sneaky", back_dated)
    everyone_syncs(ana, cat)
    for member in (ana, cat):
        assert "Sneaky" not in titles(member)
    group = Group.open(Home(cat.home))
    state, reason = group.conn.execute("SELECT state, reason FROM ops WHERE id = ?", (sneaky,)).fetchone()
    group.close()
    assert state == "rejected" and "ended" in reason


def test_a_new_member_reads_history_across_epochs(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ana.out("post", "Epoch zero")
    ana.run("remove", "ben")
    ana.out("post", "Epoch one")
    ana.json("sync")
    dee = TS(tmp_path / "dee", monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    request = dee.out("join", code, "--as", "Dee", "--folder", str(folder))
    ana.run("admit", request[:6])
    everyone_syncs(ana, dee)
    assert titles(dee) == {"Epoch zero", "Epoch one"}
    dee.out("post", "Dee writes")
    everyone_syncs(dee, ana)
    assert "Dee writes" in titles(ana)


def test_leaving_rotates_the_key_at_the_next_moderator_sync(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    ben.run("leave")
    ben.json("sync")
    ana.json("sync")  # sees the leave and rotates
    ana.out("post", "After Ben left")
    everyone_syncs(ana, cat, ben)
    assert "After Ben left" in titles(cat)
    assert "After Ben left" not in titles(ben)
    assert {x["name"]: x["status"] for x in ana.json("members")}["Ben"] == "left"
    assert "at least one moderator" in ana.error("leave")


def test_leaving_is_refused_to_whoever_is_not_a_member(tmp_path, monkeypatch) -> None:
    # exit 1 with one line, nothing written: not 3, since no permission is at stake
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    dee = TS(tmp_path / "dee", monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    dee.out("join", code, "--as", "Dee", "--folder", str(folder))
    ben.run("leave")
    ana.run("remove", "Cat", "--reason", "spam")
    everyone_syncs(ana, cat)
    for who, says in [(ben, "already left"), (cat, "were removed"), (dee, "not a member yet")]:
        before = who.ops()
        assert says in who.error("leave", code=1)
        assert who.ops() == before


def test_time_outs(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    thread = ana.out("post", "Hello")
    everyone_syncs(ana, ben)
    ana.run("timeout", "ben", "--for", "24h", "--reason", "cool off")
    everyone_syncs(ana, ben)
    assert {x["name"]: x["status"] for x in ben.json("members")}["Ben"] == "timed_out"
    before = ben.ops()
    assert "timed out until" in ben.error("reply", thread[:6], "--body", "but", code=3)
    ben.error("react", thread[:6], "👍", code=3)
    assert ben.ops() == before
    assert "28 days" in ana.error("timeout", "ben", "--for", "29d")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-24T09:01:00Z")  # the time-out has ended
    ben.out("reply", thread[:6], "--body", "back again")
    everyone_syncs(ben, ana)
    assert ana.json("show", thread[:6])["posts"][-1]["body"] == "back again"
    assert {x["name"]: x["status"] for x in ana.json("members")}["Ben"] == "active"


def test_a_timed_out_member_s_forged_posts_are_rejected_in_the_fold(tmp_path, monkeypatch) -> None:
    from tablespace.core.clock import datetime_to_hlc, parse_instant

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    ana.run("timeout", "ben", "--for", "2h")
    everyone_syncs(ana, ben)
    inside = datetime_to_hlc(parse_instant("2026-11-23T10:00:00Z"))
    publish_skipping_the_fold(ben, "Ignoring the time-out", inside)
    ana.json("sync")
    assert "Ignoring the time-out" not in titles(ana)


@pytest.mark.slow
def test_two_moderators_rotating_at_once_converge(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Bea", "Cy", "Dot", "Eli")
    bea, cy, dot, eli = m["Bea"], m["Cy"], m["Dot"], m["Eli"]
    ana.run("role", "bea", "moderator")
    everyone_syncs(ana, bea, cy, dot, eli)
    # Both remove someone, each before hearing of the other's removal.
    ana.run("remove", "cy")
    bea.run("remove", "dot")
    ana.json("sync")
    bea.json("sync")
    everyone_syncs(ana, bea, eli, rounds=3)
    ana.out("post", "Ana after both")
    bea.out("post", "Bea after both")
    everyone_syncs(ana, bea, eli, cy, dot, rounds=3)
    for member in (ana, bea, eli):
        assert {"Ana after both", "Bea after both"} <= titles(member)
    for gone in (cy, dot):
        assert not {"Ana after both", "Bea after both"} & titles(gone)
    dumps = []
    for member in (ana, bea, eli):
        group = Group.open(Home(member.home))
        dumps.append(group.store.canonical_dump())
        group.close()
    assert dumps[0] == dumps[1] == dumps[2]
    # every remaining member writes under the same key
    from tablespace.sync.keyring import Keyring

    chosen = set()
    for member in (ana, bea, eli):
        group = Group.open(Home(member.home))
        announced = {(r[0], r[1]) for r in group.conn.execute("SELECT epoch, key_id FROM epochs")}
        key = Keyring.load(group.path).writable(announced)
        chosen.add((key.epoch, key.key_id))
        group.close()
    assert len(chosen) == 1


def test_removing_needs_a_moderator_and_a_current_member(tmp_path, monkeypatch) -> None:
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    ben.error("remove", "ana", code=3)
    ben.error("timeout", "ana", "--for", "1h", code=3)
    assert "leave the group" in ana.error("remove", "ana")
    ana.run("remove", "ben")
    assert "not a current member" in ana.error("remove", "ben")


def test_a_removal_made_offline_never_leaks_what_follows(tmp_path, monkeypatch) -> None:
    """The moderator removes Ben while the folder is unplugged and keeps
    writing; when it comes back, the next sync must not send the new posts
    under the key Ben still holds."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    unplugged = tmp_path / "unplugged"
    folder.rename(unplugged)
    ana.run("remove", "ben")
    ana.out("post", "Secret after the removal")
    unplugged.rename(folder)
    everyone_syncs(ana, ben, cat)
    assert "Secret after the removal" in titles(cat)
    assert "Secret after the removal" not in titles(ben)
    assert {x["name"]: x["status"] for x in ben.json("members")}["Ben"] == "removed"


@pytest.mark.slow
def test_after_someone_leaves_a_member_with_something_to_send_renews_the_key(tmp_path, monkeypatch) -> None:
    """Ben (not a moderator) hears that Cat left before any moderator has
    synced. With nothing to send he leaves the renewal to a moderator; once he
    posts, his sync renews the key itself rather than wait (moderators may be
    away for days) or send the post under the key Cat still holds."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    cat.run("leave")
    cat.json("sync")
    assert ben.json("sync")["renewed_key"] is False  # Ben sees the leave; Ana has not synced
    assert query(ben, "SELECT count(*) FROM epochs") == 1
    ben.out("post", "Ben after Cat left")
    report = ben.json("sync")
    assert report["exported"] >= 2 and report["renewed_key"] is True  # the rotation and the post
    assert query(ben, "SELECT created_by FROM epochs WHERE epoch = 1") == member_id(ben)
    assert latest_recipients(ben) == sorted([member_id(ana), member_id(ben)])
    everyone_syncs(ana, ben, cat)
    assert "Ben after Cat left" in titles(ana)
    assert "Ben after Cat left" not in titles(cat)
    assert query(ana, "SELECT count(*) FROM epochs") == 2  # Ana had no reason to rotate again
    assert "renewed" not in ana.out("sync")  # nothing left to renew
    ana.out("post", "Ana replies under Ben's key")
    everyone_syncs(ana, ben, cat)
    assert "Ana replies under Ben's key" in titles(ben)
    assert "Ana replies under Ben's key" not in titles(cat)


def test_with_nothing_to_send_a_member_renews_the_key_after_a_while(tmp_path, monkeypatch) -> None:
    """Nobody renewed the key for half an hour after Ben first saw that Cat
    left (the moderators are away, or each believes another will): his next
    sync does. The half hour counts from when he saw it, not from the leave:
    a leave that reaches everyone late must not have them all renew at once."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    cat.run("leave")
    cat.json("sync")
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T11:00:00Z")  # two hours after the leave
    ben.json("sync")
    assert query(ben, "SELECT count(*) FROM epochs") == 1
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T11:25:00Z")
    ben.json("sync")
    assert query(ben, "SELECT count(*) FROM epochs") == 1
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T11:31:00Z")
    assert "renewed the group's key" in ben.out("sync")
    assert query(ben, "SELECT created_by FROM epochs WHERE epoch = 1") == member_id(ben)
    assert len(grant_files(folder, cat)) == 1  # her admission's: the new key was not wrapped for her
    ben.out("post", "Half an hour later")
    everyone_syncs(ben, ana, cat)
    assert "Half an hour later" in titles(ana)
    assert "Half an hour later" not in titles(cat)


@pytest.mark.parametrize("old", ["1234567890123456", "12e4567890123456", "[1, 2]", "not json"])
def test_a_memo_in_an_older_form_is_started_afresh(tmp_path, monkeypatch, old) -> None:
    """Sync keeps JSON memos in meta (sync/roster.py). One left in an older
    form (a bare key id, which JSON reads as a number) or damaged is
    dropped, not a failure of every sync after."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    cat.run("leave")
    cat.json("sync")
    ben.json("sync")  # sees the leave
    ben.out("post", "After Cat")
    assert ben.json("sync")["renewed_key"]  # a key a member made: Ana checks its grants
    plant_need(cat, folder, [1], [])  # and a need in the folder, so needs_seen is read too
    group = Group.open(Home(ana.home))
    with group.store.db.atomic():
        for key in ("grants_checked", "needs_seen", "keys_lacking"):
            group.store.set_meta(key, old)
    group.close()
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:15:00Z")
    ana.json("sync")
    assert "After Cat" in titles(ana)
    assert query(ana, "SELECT value FROM meta WHERE key = 'grants_checked'").startswith("{")


def ben_renews_after_dee_leaves(tmp_path, monkeypatch, left_out: str, faulty_grant):
    """Ana (the moderator), Ben, Cat and Dee; Dee leaves, and Ben renews the
    key with `faulty_grant(real write_grant, victim's id)` writing the grants,
    Ben's post waiting for it. Returns (folder, ana, ben, cat, victim)."""

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat", "Dee")
    ben, cat, dee = m["Ben"], m["Cat"], m["Dee"]
    victim = {"Ana": ana, "Cat": cat}[left_out]
    dee.run("leave")
    dee.json("sync")
    ben.json("sync")
    ben.out("post", "Ben after Dee left")
    real = roster.write_grant
    monkeypatch.setattr(roster, "write_grant", faulty_grant(real, member_id(victim)))
    assert ben.json("sync")["renewed_key"]
    monkeypatch.setattr(roster, "write_grant", real)
    return folder, ana, ben, cat, victim


@pytest.mark.slow
@pytest.mark.parametrize("left_out", ["Cat", "Ana"])
def test_a_key_a_member_listed_someone_for_but_never_wrapped_reaches_them(tmp_path, monkeypatch, left_out) -> None:
    """Ben renews the key after Dee leaves and lists everyone among its
    recipients, but writes no grant for one of them (a faulty or hostile
    client): a member, or the only moderator. Nobody takes a member's list on
    trust: ten minutes on (the maker's grants travel on their own), whoever
    holds the key checks the grant files once and grants it to whoever has
    none, and everyone reads what Ben and Cat wrote under it."""
    import tablespace.sync.roster as roster

    folder, ana, ben, cat, victim = ben_renews_after_dee_leaves(
        tmp_path,
        monkeypatch,
        left_out,
        lambda real, victim_id: (
            lambda group, folder, member, *a: None if member == victim_id else real(group, folder, member, *a)
        ),
    )  # listed, but no grant
    victim_id = member_id(victim)
    assert victim_id in latest_recipients(ben)
    before = len(grant_files(folder, victim))
    everyone_syncs(ana, ben, cat)
    assert "Ben after Dee left" not in titles(victim)
    assert len(grant_files(folder, victim)) == before  # not yet: the maker's grants may be on their way
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:15:00Z")
    calls = []
    real_granted_to = roster.granted_to
    monkeypatch.setattr(roster, "granted_to", lambda *a: calls.append(a) or real_granted_to(*a))
    everyone_syncs(ana, ben, cat)
    assert len(grant_files(folder, victim)) in (before + 1, before + 2)  # the holders who checked first
    assert calls
    calls.clear()
    everyone_syncs(ana, ben, cat)
    assert not calls  # checked once per key: no more folder reads
    cat.out("post", "Cat later")
    everyone_syncs(ana, ben, cat)
    for member in (ana, ben, cat):
        assert {"Ben after Dee left", "Cat later"} <= titles(member)


def need_files(folder: Path, member: TS) -> list[Path]:
    return sorted(folder.glob(f"*/needs/{member_id(member)}-*.tsn"))


@pytest.mark.slow
@pytest.mark.parametrize("left_out", ["Cat", "Ana"])
def test_a_grant_whose_key_will_not_open_is_disowned_and_the_key_granted_again(tmp_path, monkeypatch, left_out) -> None:
    """Ben renews the key after Dee leaves and writes one member (or the only
    moderator) a grant he signed that names the new key but wraps garbage
    (here: a key wrapped for someone else's exchange key). The folder shows a
    grant, so nobody else would grant it. The victim's sync finds it does not
    open and writes a key need disowning Ben; whoever holds the key answers
    it, and the victim reads what was written under it."""
    from tablespace.sync.keys import ExchangeKey

    stranger = ExchangeKey.generate().public_key
    folder, ana, ben, cat, victim = ben_renews_after_dee_leaves(
        tmp_path,
        monkeypatch,
        left_out,
        lambda real, victim_id: (
            lambda group, folder, member, exchange, keys: real(
                group, folder, member, stranger if member == victim_id else exchange, keys
            )
        ),
    )
    before = len(grant_files(folder, victim))
    assert not need_files(folder, victim)
    assert "asked the group again for a key" in victim.out("sync")  # Ben's grant will not open: asks at once
    assert len(need_files(folder, victim)) == 1
    assert not victim.json("sync")["asked_for_keys"]  # the same need: not written again
    everyone_syncs(ana, ben, cat)
    assert {"Ben after Dee left"} <= titles(victim)
    granted = len(grant_files(folder, victim))
    assert before + 1 <= granted <= before + 2  # whoever held the key and synced first
    everyone_syncs(ana, ben, cat)
    assert len(grant_files(folder, victim)) == granted  # the need is answered: no more grants
    assert len(need_files(folder, victim)) == 1  # and not written again
    victim.out("post", "The victim writes under it")
    everyone_syncs(ana, ben, cat)
    for member in (ana, ben, cat):
        assert {"Ben after Dee left", "The victim writes under it"} <= titles(member)


def test_a_listed_member_whose_grant_never_came_asks_for_the_key(tmp_path, monkeypatch) -> None:
    """Ana removes Dee and renews the key, listing Cat, but Cat's grant never
    reaches the folder (lost on the way). A moderator trusts her own list, so
    nobody would grant it again; ten minutes after the key was announced,
    Cat's sync writes a key need, and Ana answers it."""
    import tablespace.sync.roster as roster

    folder, ana, m = make_group(tmp_path, monkeypatch, "Cat", "Dee")
    cat = m["Cat"]
    real = roster.write_grant
    cat_id = member_id(cat)
    monkeypatch.setattr(
        roster,
        "write_grant",
        lambda group, folder, member, *a: None if member == cat_id else real(group, folder, member, *a),
    )
    ana.run("remove", "dee")  # renews the key at once
    ana.out("post", "After Dee")
    ana.json("sync")
    monkeypatch.setattr(roster, "write_grant", real)
    assert cat_id in latest_recipients(ana)
    everyone_syncs(cat, ana)
    assert "After Dee" not in titles(cat)
    assert not need_files(folder, cat)  # not yet: the grant may be on its way
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:15:00Z")
    everyone_syncs(cat, ana, cat)
    assert len(need_files(folder, cat)) == 1
    assert "After Dee" in titles(cat)


def plant_need(member: TS, folder: Path, epochs: list[int], disowned: list[str]) -> None:
    """What a modified client could write: a need of its own, signed, naming anything."""
    from tablespace.sync.membership import encode_need, need_path

    group = Group.open(Home(member.home))
    need = encode_need(group.identity, group_id=group.id, epochs=epochs, disowned=disowned)
    path = group_dir(folder) / need_path(group.me, need)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(need)
    group.close()


def test_a_removed_member_asking_for_the_new_key_gets_nothing(tmp_path, monkeypatch) -> None:
    """Ana removes Rex and renews the key; Rex's client asks for every epoch
    at once. Cat holds the new key (her grant came) but has not seen the
    removal yet (Ana's first new file is late): still nobody grants Rex a
    key he is not listed for, and he reads nothing written after."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Cat", "Rex")
    cat, rex = m["Cat"], m["Rex"]
    everyone_syncs(ana, cat, rex)
    changes = group_dir(folder) / "changes"
    before = set(changes.rglob("*.tsc"))
    ana.run("remove", "rex")
    ana.out("post", "Secret after Rex")
    ana.json("sync")
    first_new = sorted(set(changes.rglob("*.tsc")) - before)[0]
    plant_need(rex, folder, [0, 1, 2], [])
    grants = len(grant_files(folder, rex))
    late = tmp_path / "late.tsc"
    first_new.rename(late)
    cat.json("sync")  # holds the new key, has not heard of the removal
    rex_id = member_id(rex)
    assert query(cat, f"SELECT status FROM members WHERE id = '{rex_id}'") == "active"
    assert rex_id in query(cat, "SELECT value FROM meta WHERE key = 'needs_seen'")  # she read his need
    late.rename(first_new)
    everyone_syncs(ana, cat, rex)
    assert len(grant_files(folder, rex)) == grants
    assert "Secret after Rex" not in titles(rex)
    assert "Secret after Rex" in titles(cat)


@pytest.mark.slow
def test_a_removed_member_gets_no_member_made_key_from_the_late_grant_check(tmp_path, monkeypatch) -> None:
    """Ana removes Rex and leaves the renewal to others; Ben sees it and
    renews without Rex. Cat holds Ben's key but has not seen the removal
    (Ana's files are late): ten minutes on, her check of who lacks Ben's key
    grants it only to members its announcement lists, so not to Rex."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat", "Rex")
    ben, cat, rex = m["Ben"], m["Cat"], m["Rex"]
    everyone_syncs(ana, ben, cat, rex)
    ana_id = member_id(ana)
    should_rotate = roster.should_rotate
    monkeypatch.setattr(
        roster, "should_rotate", lambda group, *a, **k: group.me != ana_id and should_rotate(group, *a, **k)
    )
    changes = group_dir(folder) / "changes"
    before = set(changes.rglob("*.tsc"))
    ana.run("remove", "rex")
    ana.json("sync")  # the removal goes out under the old key; Ana does not renew
    anas = sorted(set(changes.rglob("*.tsc")) - before)
    ben.json("sync")
    ben.out("post", "Ben after Rex")
    assert ben.json("sync")["renewed_key"]
    assert member_id(rex) not in latest_recipients(ben)
    late = tmp_path / "late"
    late.mkdir()
    for path in anas:
        path.rename(late / path.name)
    grants = len(grant_files(folder, rex))
    cat.json("sync")  # holds Ben's key; Rex is a member as far as she knows
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:15:00Z")
    cat.json("sync")
    assert query(cat, f"SELECT status FROM members WHERE id = '{member_id(rex)}'") == "active"
    checked = json.loads(query(cat, "SELECT value FROM meta WHERE key = 'grants_checked'"))
    assert any(entry["members"] for entry in checked.values())  # the check ran: Ana's grant was looked at
    assert len(grant_files(folder, rex)) == grants
    for path in anas:
        (late / path.name).rename(path)
    everyone_syncs(ana, ben, cat, rex)
    assert "Ben after Rex" not in titles(rex)
    assert "Ben after Rex" in titles(cat)


@pytest.mark.slow
def test_a_need_disowning_everyone_gets_each_key_at_most_once_from_each_holder(tmp_path, monkeypatch) -> None:
    """Ben asks again and again for a key he holds, each time disowning every
    granter (and someone made up): each holder grants it to him once."""
    import os

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat", "Dee")
    ben, cat, dee = m["Ben"], m["Cat"], m["Dee"]
    dee.run("leave")
    everyone_syncs(dee, ana, ben, cat)  # Ana renews: epoch 1 lists Ben
    assert member_id(ben) in latest_recipients(ana)
    grants = len(grant_files(folder, ben))
    everyone = [member_id(x) for x in (ana, ben, cat)]
    for _ in range(4):
        plant_need(ben, folder, [1], everyone + [os.urandom(16).hex()])
        everyone_syncs(ana, cat, rounds=1)
    # Ana's grant from the renewal is her one; Cat grants once, not four times
    assert len(grant_files(folder, ben)) == grants + 1


def test_a_strangers_file_sets_nobody_asking_for_keys(tmp_path, monkeypatch) -> None:
    """A file signed by someone who is not a member, under a key nobody
    holds, waits in everyone's folder, and a grant for Ben signed by them
    will not open; neither must make members ask for keys."""
    from tablespace.core.identity import Identity
    from tablespace.core.ops import sign_op
    from tablespace.sync.envelope import changeset_name, encode_changeset, peek_header
    from tablespace.sync.keys import ExchangeKey, new_epoch_key
    from tablespace.sync.membership import encode_grant, grant_path

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    gdir = group_dir(folder)
    stranger = Identity.generate()
    ben_id = member_id(m["Ben"])
    grant = encode_grant(
        stranger,
        group_id=gdir.name,
        member=ben_id,
        member_exchange=ExchangeKey.generate().public_key,
        keys=[(0, new_epoch_key()), (7, new_epoch_key())],
    )
    (gdir / grant_path(ben_id, grant)).write_bytes(grant)
    for epoch in (0, 7):
        op = sign_op(
            stranger,
            group=gdir.name,
            seq=1,
            prev=None,
            hlc=1 << 40,
            kind="thread.start",
            payload={"title": "x", "body": "", "tags": []},
        )
        data = encode_changeset([op], group_id=gdir.name, epoch=epoch, epoch_key=new_epoch_key(), identity=stranger)
        path = gdir / "changes" / changeset_name(peek_header(data))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    everyone_syncs(ana, m["Ben"])
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:15:00Z")
    everyone_syncs(ana, m["Ben"])
    assert not list(gdir.glob("needs/*"))
    assert ana.json("sync")["pending"] >= 2  # the files still wait, harmlessly


def cat_needs_a_key_only_ana_can_answer(tmp_path, monkeypatch) -> tuple[Path, TS, TS]:
    """Ben renews the key after Dee leaves, but his grant to Cat will not
    open, and Ben answers no need: Cat's sync leaves a need that only Ana
    can answer. Returns (folder, ana, cat)."""
    import tablespace.sync.roster as roster
    from tablespace.sync.keys import ExchangeKey

    stranger = ExchangeKey.generate().public_key
    folder, ana, ben, cat, victim = ben_renews_after_dee_leaves(
        tmp_path,
        monkeypatch,
        "Cat",
        lambda real, victim_id: (
            lambda group, folder, member, exchange, keys: real(
                group, folder, member, stranger if member == victim_id else exchange, keys
            )
        ),
    )
    ben_id = member_id(ben)
    real = roster.write_grant
    monkeypatch.setattr(
        roster,
        "write_grant",
        lambda group, folder, member, *a: None if group.me == ben_id else real(group, folder, member, *a),
    )  # Ben answers nothing
    victim.json("sync")
    return folder, ana, victim


@pytest.mark.slow
def test_a_need_seen_before_the_holder_had_the_key_is_answered_once_she_has_it(tmp_path, monkeypatch) -> None:
    """Cat's need (Ben's grant to her will not open) reaches Ana before Ana's
    own grant of Ben's key does, and Ben does not answer. Ana answers it as
    soon as she holds the key."""
    folder, ana, victim = cat_needs_a_key_only_ana_can_answer(tmp_path, monkeypatch)
    assert len(need_files(folder, victim)) == 1
    ana_keys = group_dir(folder) / "keys" / member_id(ana)
    away = tmp_path / "ana-grants"
    ana_keys.rename(away)
    ana.json("sync")  # sees the need, holds no key of its epoch yet
    away.rename(ana_keys)
    everyone_syncs(ana, victim)
    assert "Ben after Dee left" in titles(victim)


@pytest.mark.slow
def test_leaving_before_anyone_renewed_the_key_renews_it_first(tmp_path, monkeypatch) -> None:
    """Ben leaves right after hearing that Cat left, before anyone renewed the
    key. His leave, dated after hers, could go out only under a new key, which
    a member who has gone may not make; so `leave` renews it first, and the
    group hears that he left."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    cat.run("leave")
    cat.json("sync")
    ben.json("sync")
    ben.run("leave")
    assert query(ben, "SELECT created_by FROM epochs WHERE epoch = 1") == member_id(ben)
    ben.json("sync")
    ana.json("sync")
    assert {x["name"]: x["status"] for x in ana.json("members")} == {"Ana": "active", "Ben": "left", "Cat": "left"}
    ana.out("post", "Only Ana now")
    everyone_syncs(ana, ben, cat)
    assert "Only Ana now" not in titles(ben) | titles(cat)
    assert "at least one moderator" in ana.error("leave")
    assert (
        query(ana, "SELECT count(*) FROM epochs") == 3
    )  # Ben's renewal and Ana's after him; none by the refused leave


def test_leaving_with_nothing_to_renew_does_not_touch_the_folder(tmp_path, monkeypatch) -> None:
    """Over git a renewal check means a pull and a push: `leave` only goes
    to the folder or remote when a departure is waiting for a new key."""
    import tablespace.sync.service as service

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    calls = []
    monkeypatch.setattr(service, "rotate_now", lambda *a, **k: calls.append(("rotate_now", a)))
    monkeypatch.setattr(service, "folder_for", lambda *a, **k: calls.append(("folder_for", a)))  # any way there
    m["Ben"].run("leave")
    assert calls == []
    assert {x["name"]: x["status"] for x in m["Ben"].json("members")}["Ben"] == "left"


def test_a_timed_out_member_cannot_back_date_a_post_before_the_time_out(tmp_path, monkeypatch) -> None:

    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben")
    ben = m["Ben"]
    ben.out("post", "Before the time-out")
    everyone_syncs(ben, ana)
    ana.run("timeout", "ben", "--for", "2h")
    everyone_syncs(ana, ben)
    group = Group.open(Home(ana.home))
    (timeout_hlc,) = group.conn.execute("SELECT hlc FROM ops WHERE kind = 'member.timeout'").fetchone()
    group.close()
    publish_skipping_the_fold(ben, "Back-dated", timeout_hlc - 1)
    ana.json("sync")
    assert "Back-dated" not in titles(ana)
    assert "Before the time-out" in titles(ana)


# --- admission, time-outs and leaving racing a key rotation ----------------------


def admitted_unsynced(tmp_path: Path, monkeypatch, ana: TS, folder: Path, name: str) -> TS:
    """`name` is admitted by Ana, who has not synced since (nobody has seen it)."""
    member = TS(tmp_path / name.lower(), monkeypatch)
    code = ana.out("invite")
    ana.json("sync")
    request = member.out("join", code, "--as", name, "--folder", str(folder))
    ana.run("admit", request[:6])
    return member


def query(member: TS, sql: str):
    """One value from `member`'s database."""
    group = Group.open(Home(member.home))
    try:
        return group.conn.execute(sql).fetchone()[0]
    finally:
        group.close()


def member_id(member: TS) -> str:
    group = Group.open(Home(member.home))
    group.close()
    return group.me


def latest_recipients(member: TS) -> list[str]:
    """Who the newest epoch key was wrapped for, as `member` sees it."""
    return query(member, "SELECT recipients FROM epochs ORDER BY epoch DESC LIMIT 1").split(",")


def grant_files(folder: Path, member: TS) -> list[Path]:
    return sorted(folder.glob(f"*/keys/{member_id(member)}/*.tsk"))


@pytest.mark.slow
def test_a_member_admitted_while_another_moderator_rotates_gets_the_new_key(tmp_path, monkeypatch) -> None:
    """Ana admits Dee while Bea, not having seen it, removes Cy and rotates:
    Bea's new key is wrapped for everyone but Dee. A moderator's next sync
    grants it to Dee (once), so Dee reads and writes; when Dee is removed in
    turn, the key she was granted late is rotated away too."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Bea", "Cy")
    bea, cy = m["Bea"], m["Cy"]
    ana.run("role", "bea", "moderator")
    everyone_syncs(ana, bea, cy)
    for i in range(5):  # Bea's clock runs ahead: her rotation is dated after Dee's admission
        bea.out("post", f"Bea {i}")
    dee = admitted_unsynced(tmp_path, monkeypatch, ana, folder, "Dee")
    bea.run("remove", "cy")  # rotates at once: the folder is reachable
    bea.json("sync")
    assert query(ana, "SELECT joined_hlc FROM members WHERE name = 'Dee'") < query(
        bea, "SELECT max(created_hlc) FROM epochs"
    )  # the race, as the rotation saw it
    everyone_syncs(ana, bea, dee, cy, rounds=3)
    ana.out("post", "Ana after")
    dee.out("post", "Dee after")
    everyone_syncs(ana, bea, dee, cy, rounds=3)
    assert {"Ana after", "Dee after", "Bea 0"} <= titles(dee)
    assert {"Ana after", "Dee after"} <= titles(bea)
    assert not {"Ana after", "Dee after"} & titles(cy)
    grants = grant_files(folder, dee)
    assert 2 <= len(grants) <= 3  # the admission, then one late grant per moderator at most
    everyone_syncs(ana, bea, dee, rounds=2)
    assert grant_files(folder, dee) == grants  # never granted again

    bea.run("remove", "dee")
    bea.out("post", "After Dee's removal")
    everyone_syncs(bea, ana, dee, rounds=2)
    assert "After Dee's removal" in titles(ana)
    assert "After Dee's removal" not in titles(dee)


def test_an_admission_and_a_rotation_on_the_same_offline_replica(tmp_path, monkeypatch) -> None:
    """Ana removes Cy with the folder unplugged (the rotation waits for the
    folder), then admits Dee before her next sync: the rotation that sync
    makes knows Dee, and wraps the new key for her."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Cy")
    cy = m["Cy"]
    code = ana.out("invite")
    ana.json("sync")
    dee = TS(tmp_path / "dee", monkeypatch)
    request = dee.out("join", code, "--as", "Dee", "--folder", str(folder))
    folder.rename(tmp_path / "unplugged")
    ana.run("remove", "cy")
    ana.out("post", "Secret after Cy")
    (tmp_path / "unplugged").rename(folder)
    ana.run("admit", request[:6])
    everyone_syncs(ana, dee, cy)
    dee.out("post", "Dee here")
    everyone_syncs(ana, dee, cy)
    assert {"Secret after Cy", "Dee here"} <= titles(dee)
    assert "Dee here" in titles(ana)
    assert not {"Secret after Cy", "Dee here"} & titles(cy)
    assert len(grant_files(folder, dee)) == 2  # the admission's and the rotation's: no late grant needed


@pytest.mark.slow
def test_a_member_leaving_while_a_moderator_rotates(tmp_path, monkeypatch) -> None:
    """Eve leaves while Bea, not having seen it, removes Cy and wraps the new
    key for Eve too: once the leave is seen the key rotates again."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Bea", "Cy", "Eve")
    bea, cy, eve = m["Bea"], m["Cy"], m["Eve"]
    ana.run("role", "bea", "moderator")
    everyone_syncs(ana, bea, cy, eve)
    eve.run("leave")
    bea.run("remove", "cy")  # rotates before the leave reaches the folder
    eve.json("sync")
    assert member_id(eve) in latest_recipients(bea)  # the race: Bea wrapped her new key for Eve
    everyone_syncs(ana, bea, eve, cy, rounds=2)
    ana.out("post", "After both")
    everyone_syncs(ana, bea, eve, cy, rounds=2)
    assert "After both" in titles(bea)
    assert "After both" not in titles(eve) | titles(cy)


def test_a_timed_out_member_keeps_receiving_keys(tmp_path, monkeypatch) -> None:
    """A time-out is not a removal: a rotation during it wraps the new key for
    the timed-out member, who reads along and, once it ends, writes again."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    ana.run("timeout", "ben", "--for", "24h")
    ana.run("remove", "cat")
    ana.out("post", "During Ben's time-out")
    everyone_syncs(ana, ben, cat)
    assert {x["name"]: x["status"] for x in ben.json("members")}["Ben"] == "timed_out"
    assert member_id(ben) in latest_recipients(ana)
    assert "During Ben's time-out" in titles(ben)
    assert "During Ben's time-out" not in titles(cat)
    assert len(grant_files(folder, ben)) == 2  # admission and rotation; nothing granted late
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-24T09:01:00Z")  # the time-out has ended
    ben.out("post", "Ben is back")
    everyone_syncs(ben, ana, cat)
    assert "Ben is back" in titles(ana)
    assert "Ben is back" not in titles(cat)


# --- several departures before a moderator rotates -----------------------------------


def test_two_removals_before_a_rotation_each_learn_of_their_own(tmp_path, monkeypatch) -> None:
    """(Found by the convergence machine.) Ana removes Cat, posts, then removes
    Ben, all before her next sync. One rotation for both used to send Ben's
    removal (dated after Cat's) under a key wrapped for Ana alone: Ben never
    learned he was removed. Each departure now gets its own epoch, in order."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    unplugged = tmp_path / "unplugged"
    folder.rename(unplugged)  # nothing rotates at the removals
    ana.run("remove", "cat")
    ana.out("post", "Between the removals")
    ana.run("remove", "ben")
    ana.out("post", "After both")
    unplugged.rename(folder)
    everyone_syncs(ana, ben, cat)
    for member, name in ((ben, "Ben"), (cat, "Cat")):
        assert {x["name"]: x["status"] for x in member.json("members")}[name] == "removed"
    assert titles(ben) == {"Between the removals"}  # still a member when it was written
    assert titles(cat) == set()
    rotations = query(
        ana, "SELECT group_concat(recipients, ' ') FROM (SELECT recipients FROM epochs WHERE epoch > 0 ORDER BY epoch)"
    )
    assert rotations.split(" ") == [",".join(sorted([member_id(ana), member_id(ben)])), member_id(ana)]


def test_a_removal_that_rotates_at_once_after_an_offline_one(tmp_path, monkeypatch) -> None:
    """The same through `rotate_now`: Cat's removal waited for the folder, and
    Ben's, made once it is back, rotates for both at once, in order."""
    folder, ana, m = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = m["Ben"], m["Cat"]
    folder.rename(tmp_path / "unplugged")
    ana.run("remove", "cat")
    ana.out("post", "Between the removals")
    (tmp_path / "unplugged").rename(folder)
    ana.run("remove", "ben")  # the folder is reachable: both rotations happen here
    assert query(ana, "SELECT count(*) FROM epochs") == 3
    everyone_syncs(ben, cat)
    assert {x["name"]: x["status"] for x in ben.json("members")}["Ben"] == "removed"
    assert titles(ben) == {"Between the removals"} and titles(cat) == set()


@pytest.mark.slow
def test_a_need_read_while_still_arriving_is_answered_once_whole(tmp_path, monkeypatch) -> None:
    """Ana first reads Cat's need half-copied (a transfer under way): it does
    not decode, and is read again, not written off, so once it is whole Ana
    answers it."""
    folder, ana, victim = cat_needs_a_key_only_ana_can_answer(tmp_path, monkeypatch)
    (need,) = need_files(folder, victim)
    whole = need.read_bytes()
    grants = len(grant_files(folder, victim))
    need.write_bytes(whole[: len(whole) // 2])
    ana.json("sync")
    assert len(grant_files(folder, victim)) == grants  # nothing to answer in half a need
    need.write_bytes(whole)
    everyone_syncs(ana, victim)
    assert "Ben after Dee left" in titles(victim)
