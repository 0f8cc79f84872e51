"""Fold rules for moderation: the weekly post cap, archived threads, hidden
posts, and who may write the moderators' sealed records and keys."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.fold import WEEK_MS, mod_key_id

from .opkit import World
from .test_fold import reply, start

DAY = 24 * 3600 * 1000 << 16


@pytest.fixture
def world(tmp_path) -> World:
    """Ada (founder, moderator), Bo and Cy (members)."""
    return World(tmp_path / "world.db", members=2)


def test_the_weekly_post_cap_counts_threads_and_replies_per_member(world) -> None:
    ada, bo, cy = world.founder, *world.members
    world.accepted(ada, "group.edit", {"post_cap": 2})
    first = start(world, bo)
    reply(world, bo, first)
    reason = world.rejected(bo, "post.reply", {"thread": first, "body": "a third"})
    assert "weekly cap (2)" in reason
    assert "cap" in world.rejected(bo, "thread.start", {"title": "another", "body": "", "tags": []})
    start(world, cy)  # the cap is per member
    for _ in range(3):
        start(world, ada)  # moderators are not capped
    # Seven days on, both of Bo's posts have left the window: two more, not three.
    world.hlc += WEEK_MS << 16
    start(world, bo)
    start(world, bo)
    assert "cap" in world.rejected(bo, "thread.start", {"title": "too soon", "body": "", "tags": []})


def test_a_clock_set_back_cannot_slip_posts_into_past_weeks(world) -> None:
    """An author's ops must be dated after their previous one: with the clock
    set back a week, the posts would fall outside this week's cap window."""
    ada, bo, _ = world.founder, *world.members
    world.accepted(ada, "group.edit", {"post_cap": 2})
    first = start(world, bo)
    reply(world, bo, first)
    reason = world.rejected(
        bo, "thread.start", {"title": "last week, honest", "body": "", "tags": []}, hlc=world.hlc - 2 * (WEEK_MS << 16)
    )
    assert "clock was set back" in reason
    # The chain goes on from the refused op; honest times are fine again,
    # and the cap still counts this week's two.
    assert "cap" in world.rejected(bo, "thread.start", {"title": "now", "body": "", "tags": []})
    world.hlc += WEEK_MS << 16
    start(world, bo)


def test_a_replica_folded_before_the_clock_rule_refolds_once_on_open(world, tmp_path) -> None:
    """m011: views folded under the old rules may hold a back-dated op; the
    next open re-folds, so this replica agrees with one folded from scratch."""
    from tablespace.core.store import Store

    bo = world.members[0]
    first = start(world, bo)
    backdated = world.sign(
        bo, "thread.start", {"title": "back-dated", "body": "", "tags": []}, hlc=world.hlc - (WEEK_MS << 16)
    )
    world.ingest(backdated)
    path = world.store.path
    conn = world.store.conn
    # As an older version left it: the op accepted, its thread in the views.
    conn.execute("UPDATE ops SET state = 'accepted', reason = NULL WHERE id = ?", (backdated.id,))
    conn.execute(
        "INSERT INTO threads (id, title, author, created_hlc, last_activity_hlc) VALUES (?, ?, ?, ?, ?)",
        (backdated.id, "back-dated", bo.id, backdated.hlc, backdated.hlc),
    )
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('refold_pending', '1')")
    world.store.close()
    store = Store(path)
    try:
        state, reason = store.conn.execute("SELECT state, reason FROM ops WHERE id = ?", (backdated.id,)).fetchone()
        assert state == "rejected" and "set back" in reason
        assert [r[0] for r in store.conn.execute("SELECT id FROM threads")] == [first]
        assert store.get_meta("refold_pending") is None  # once
    finally:
        store.close()


def test_the_cap_is_off_at_zero_and_bounded(world) -> None:
    ada, bo = world.founder, world.members[0]
    world.accepted(ada, "group.edit", {"post_cap": 1})
    start(world, bo)
    world.accepted(ada, "group.edit", {"post_cap": 0})
    start(world, bo)
    for bad in (-1, 1001, "3", 2.5, True):
        assert "post cap" in world.rejected(ada, "group.edit", {"post_cap": bad})
    assert world.rejected(bo, "group.edit", {"post_cap": 5}).startswith("only a moderator")


def test_ritual_prompts_do_not_count_against_the_cap(world) -> None:
    ada, bo, cy = world.founder, *world.members
    # Cy adds a ritual while a moderator; its prompts are posted in Cy's name.
    world.accepted(ada, "role.grant", {"member": cy.id, "role": "moderator"})
    ritual = world.accepted(
        cy,
        "ritual.add",
        {"name": "Friday wins", "prompt": "What went well?", "rrule": "FREQ=WEEKLY;BYDAY=FR", "start": "2024-12-27"},
    ).id
    world.accepted(ada, "role.revoke", {"member": cy.id, "role": "moderator"})
    world.accepted(ada, "group.edit", {"post_cap": 1})
    world.accepted(bo, "ritual.occur", {"ritual": ritual, "at": "2025-01-03T09:00:00Z"})
    assert world.one("SELECT author FROM threads WHERE ritual_id = ?", ritual) == (cy.id,)
    start(world, cy)  # the prompt was not Cy's post
    assert "cap" in world.rejected(cy, "thread.start", {"title": "a second", "body": "", "tags": []})


def test_an_archived_thread_is_read_only_until_unarchived(world) -> None:
    ada, bo = world.founder, world.members[0]
    thread = start(world, bo)
    post = reply(world, bo, thread)
    world.accepted(ada, "thread.pin", {"thread": thread, "pinned": True})
    assert world.rejected(bo, "thread.archive", {"thread": thread, "archived": True}).startswith("only a moderator")
    world.accepted(ada, "thread.archive", {"thread": thread, "archived": True})
    assert world.one("SELECT archived, pinned FROM threads WHERE id = ?", thread) == (1, 0)
    assert world.rejected(bo, "post.reply", {"thread": thread, "body": "late"}) == "the thread is archived"
    assert world.rejected(bo, "post.react", {"post": post, "emoji": "👍"}) == "the thread is archived"
    assert "already archived" in world.rejected(ada, "thread.archive", {"thread": thread, "archived": True})
    world.accepted(ada, "thread.archive", {"thread": thread, "archived": False})
    reply(world, bo, thread, "back again")


def test_a_hidden_post_is_gone_like_a_deleted_one_and_marked(world) -> None:
    ada, bo, cy = world.founder, *world.members
    thread = start(world, bo)
    post = reply(world, cy, thread, "buy my course")
    assert world.rejected(bo, "post.hide", {"post": post}).startswith("only a moderator")
    world.accepted(ada, "post.hide", {"post": post})
    assert world.one("SELECT body, deleted, hidden FROM posts WHERE id = ?", post) == ("", 1, 1)
    assert world.one("SELECT replies FROM threads WHERE id = ?", thread) == (0,)
    assert world.rejected(ada, "post.hide", {"post": post}) == "the post has been deleted"


def _rotate_payload(world: World) -> dict:
    """A key for the one moderator, Ada, who publishes her exchange key first."""
    if world.one("SELECT exchange_key FROM members WHERE id = ?", world.founder.id) == (None,):
        world.accepted(world.founder, "member.keys", {"exchange_key": "11" * 32})
    public = bytes(range(32))
    return {"epoch": 0, "public": public.hex(), "wrapped": {world.founder.id: "ab" * 80}}


def test_only_moderators_write_sealed_records_and_keys(world) -> None:
    ada, bo = world.founder, world.members[0]
    payload = _rotate_payload(world)
    assert world.rejected(bo, "modkey.rotate", payload).startswith("only a moderator")
    world.accepted(ada, "modkey.rotate", payload)
    key_id = mod_key_id(bytes.fromhex(payload["public"]))
    sealed = base64.b64encode(b"TSM1" + bytes.fromhex(world.group_id + key_id) + bytes(60)).decode()
    wrong_group = base64.b64encode(b"TSM1" + bytes(16) + bytes.fromhex(key_id) + bytes(60)).decode()
    assert "does not match" in world.rejected(ada, "mod.record", {"key": key_id, "sealed": wrong_group})
    assert world.rejected(bo, "mod.record", {"key": key_id, "sealed": sealed}).startswith("only a moderator")
    world.accepted(ada, "mod.record", {"key": key_id, "sealed": sealed})
    assert "nobody announced" in world.rejected(ada, "mod.record", {"key": "00" * 8, "sealed": sealed})
    assert world.rejected(ada, "mod.record", {"key": key_id, "sealed": "not base64!"}) == "bad sealed record"
    assert world.one("SELECT count(*) FROM mod_records") == (1,)


@pytest.mark.parametrize(
    "change",
    [
        {"epoch": -1},
        {"epoch": 2**31 - 1},
        {"public": "zz" * 32},
        {"wrapped": {}},
        {"wrapped": {"nobody": "ab" * 80}},
        {"previous_key": "00" * 8},  # a link needs the sealed previous key too
        {"wrapped": {"ab" * 16: "ab" * 80}},  # not wrapped for the moderators
    ],
)
def test_a_malformed_key_rotation_is_rejected(world, change) -> None:
    payload = {**_rotate_payload(world), **change}
    assert world.rejected(world.founder, "modkey.rotate", payload).startswith(("bad ", "a moderators' key must"))


def test_a_time_out_can_end_early_and_a_rebuild_agrees(world) -> None:
    ada, bo = world.founder, world.members[0]
    thread = start(world, ada)
    until = world.hlc + (3 * DAY)
    world.accepted(ada, "member.timeout", {"member": bo.id, "until": iso(hlc_to_datetime(until)), "last_seq": bo.seq})
    assert "timed out" in world.rejected(bo, "post.reply", {"thread": thread, "body": "let me speak"})
    assert world.rejected(bo, "member.timeout_end", {"member": bo.id}).startswith("only a moderator")
    end = world.accepted(ada, "member.timeout_end", {"member": bo.id})
    reply(world, bo, thread, "thank you")
    # signed after the time-out began but dated before its end: still refused
    back_dated = world.sign(bo, "post.reply", {"thread": thread, "body": "sneaky"}, hlc=end.hlc - 1)
    world.ingest(back_dated)
    assert world.state(back_dated)[0] == "rejected"
    assert world.rejected(ada, "member.timeout_end", {"member": bo.id}) == "that member is not timed out"
    before = world.store.canonical_dump()
    world.store.rebuild()
    assert world.store.canonical_dump() == before


def test_a_demoted_moderator_cannot_back_date_moderator_actions(world) -> None:
    ada, bo, cy = world.founder, *world.members
    world.accepted(ada, "role.grant", {"member": bo.id, "role": "moderator", "since_seq": bo.seq})
    thread = start(world, cy)
    world.accepted(bo, "thread.pin", {"thread": thread, "pinned": True})  # while a moderator
    revoke = world.accepted(ada, "role.revoke", {"member": bo.id, "role": "moderator", "last_seq": bo.seq})
    # Bo signs a pin dated before the revoke: it sorts where he was still a moderator
    back_dated = world.sign(bo, "thread.pin", {"thread": thread, "pinned": False}, hlc=revoke.hlc - 1)
    world.ingest(back_dated)
    assert world.state(back_dated)[0] == "rejected"
    assert world.one("SELECT pinned FROM threads WHERE id = ?", thread) == (1,)
    # Granted again, naming the seq Ada has seen: his later actions count again.
    world.accepted(ada, "role.grant", {"member": bo.id, "role": "moderator", "since_seq": bo.seq})
    world.accepted(bo, "thread.pin", {"thread": thread, "pinned": False})
    before = world.store.canonical_dump()
    world.store.rebuild()
    assert world.store.canonical_dump() == before


def test_any_member_who_remains_may_renew_the_group_key(world) -> None:
    """Whoever has something to send after a departure renews the key
    (sync/roster.py); someone who has gone may not, as they would know it."""
    ada, bo, cy = world.founder, *world.members
    rotation = {"epoch": 0, "key_id": "ab" * 8, "recipients": [ada.id, bo.id]}
    world.accepted(cy, "member.leave", {})
    assert "membership had ended" in world.rejected(cy, "epoch.rotate", rotation)
    world.accepted(bo, "epoch.rotate", rotation)
    assert world.one("SELECT created_by, recipients FROM epochs WHERE epoch = 0") == (
        bo.id,
        ",".join(sorted([ada.id, bo.id])),
    )
    assert world.rejected(ada, "epoch.rotate", {**rotation, "key_id": "not hex"}) == "bad key id"
    # the maker holds the key: unlisted, their own departure would not renew it
    assert "maker must be among" in world.rejected(ada, "epoch.rotate", {**rotation, "recipients": [bo.id]})
    # one past the newest at most: nobody can announce 2**31 - 1 and leave no number for the next
    assert "bad epoch number" in world.rejected(bo, "epoch.rotate", {**rotation, "epoch": 2**31 - 1})
    assert "bad epoch number" in world.rejected(bo, "epoch.rotate", {**rotation, "epoch": 2, "key_id": "cd" * 8})
    world.accepted(bo, "epoch.rotate", {**rotation, "epoch": 1, "key_id": "cd" * 8})
    world.accepted(ada, "member.remove", {"member": bo.id, "last_seq": bo.seq})
    assert "membership had ended" in world.rejected(bo, "epoch.rotate", {**rotation, "epoch": 2, "key_id": "ef" * 8})


def test_a_renewal_signed_before_a_removal_but_dated_after_it_is_rejected(world) -> None:
    """Bo signs a key dated an hour ahead (everyone holds it for now), then Ada
    removes him with a last_seq that counts it. His ops signed before the
    removal still count, but not a key he would hold after it."""
    from tablespace.core.clock import datetime_to_hlc, hlc_to_datetime

    ada, bo = world.founder, world.members[0]
    note = world.sign(bo, "thread.start", {"title": "signed before", "body": "", "tags": []})
    hour_later = datetime_to_hlc(hlc_to_datetime(note.hlc) + timedelta(hours=1))
    key = world.sign(
        bo, "epoch.rotate", {"epoch": 0, "key_id": "ab" * 8, "recipients": [ada.id, bo.id]}, hlc=hour_later
    )
    removal = world.sign(ada, "member.remove", {"member": bo.id, "last_seq": key.seq})
    world.ingest(note, key, removal)
    assert world.state(note) == ("accepted", None) and world.state(removal) == ("accepted", None)
    assert world.state(key) == ("rejected", "someone who has gone cannot renew the group's key")
    assert world.one("SELECT count(*) FROM epochs") == (0,)
