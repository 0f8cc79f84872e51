"""Devices in the fold: a member's added device speaks as the member, keeps
its own chain, and can be removed by another of the member's devices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tablespace.core.identity import Identity
from tablespace.core.ops import Op
from tablespace.core.store import Store

from .opkit import Feed, World, new_store, op_state

DEVICE_REMOVED = "the author's device had been removed when this was written"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path / "a.db", members=2)


def device_payload(device: Identity, name: str = "laptop", **extra: Any) -> dict[str, Any]:
    exchange = Identity.generate().public_key.hex()  # any 32 bytes of hex: the fold checks the form
    return {
        "device": device.author_id,
        "public_key": device.public_key.hex(),
        "exchange_key": exchange,
        "name": name,
        **extra,
    }


def add_device(world: World, member: Feed, name: str = "laptop") -> Feed:
    laptop = Feed(Identity.generate(), world.group_id)
    world.accepted(member, "device.add", device_payload(laptop.identity, name, this_name="desktop"))
    return laptop


def post(world: World, feed: Feed, title: str = "hello") -> str:
    return world.accepted(feed, "thread.start", {"title": title, "body": "", "tags": []}).id


def test_an_added_device_writes_as_its_member(world: World) -> None:
    bo = world.members[0]
    laptop = add_device(world, bo)
    thread = post(world, laptop, "from the laptop")
    reply = world.accepted(bo, "post.reply", {"thread": thread, "body": "from the desktop"}).id
    authors = {r[0] for r in world.store.conn.execute("SELECT author FROM posts WHERE id IN (?, ?)", (thread, reply))}
    assert authors == {bo.id}
    assert world.one("SELECT count(*) FROM members WHERE name = 'Bo'") == (1,)
    devices = world.store.conn.execute("SELECT id, member, name FROM devices ORDER BY added_hlc").fetchall()
    assert devices == [(bo.id, bo.id, "desktop"), (laptop.id, bo.id, "laptop")]
    # each device keeps its own chain: both wrote their seq 2 and nothing forked
    assert world.one("SELECT count(*) FROM forks") == (0,)


def test_a_device_nobody_certified_is_a_stranger_until_its_certificate_arrives(tmp_path: Path) -> None:
    world = World(tmp_path / "a.db", members=1)
    bo = world.members[0]
    laptop = Feed(Identity.generate(), world.group_id)
    certificate = world.sign(bo, "device.add", device_payload(laptop.identity))
    early = world.sign(laptop, "thread.start", {"title": "too soon?", "body": "", "tags": []})
    world.ingest(early)
    assert world.state(early) == ("rejected", "the author is not a member of this group")
    world.ingest(certificate)  # sorts before the post: the fold re-folds, and the post counts
    assert world.state(early) == ("accepted", None)
    other = new_store(tmp_path / "b.db", world.group_id)
    other.ingest(reversed(world.log))
    assert other.canonical_dump() == world.store.canonical_dump()


def test_a_device_cannot_certify_a_key_that_is_someone_s(world: World) -> None:
    bo, cy = world.members
    assert world.rejected(bo, "device.add", device_payload(cy.identity)).startswith("that key is already")
    payload = device_payload(Identity.generate())
    payload["device"] = "0" * 32
    assert world.rejected(bo, "device.add", payload) == "the device's public key does not match its id"


def test_only_the_member_s_own_devices_remove_one_and_never_the_last(world: World) -> None:
    bo, cy = world.members
    laptop = add_device(world, bo)
    assert "own devices" in world.rejected(cy, "device.remove", {"device": laptop.id, "last_seq": 0})
    assert "own devices" in world.rejected(world.founder, "device.remove", {"device": laptop.id, "last_seq": 0})
    world.accepted(bo, "device.remove", {"device": laptop.id, "last_seq": laptop.seq})
    # the last device could only remove itself, which no device may
    assert "cannot remove itself" in world.rejected(bo, "device.remove", {"device": bo.id, "last_seq": bo.seq})


def laptop_removed_after_signing(world: World) -> tuple[Feed, Feed, Op]:
    """Bo's laptop posts, signs a thread it has not sent yet, and is removed
    (the removal naming the seq before that thread, sorting after it)."""
    bo = world.members[0]
    laptop = add_device(world, bo)
    post(world, laptop, "before")
    removal_hlc = world.next_hlc() + 5
    signed_before = world.sign(laptop, "thread.start", {"title": "late but fair", "body": "", "tags": []})
    world.accepted(bo, "device.remove", {"device": laptop.id, "last_seq": laptop.seq - 1}, hlc=removal_hlc)
    world.hlc = removal_hlc
    return bo, laptop, signed_before


def test_a_removed_device_s_later_ops_are_refused_wherever_they_sort(world: World) -> None:
    bo, laptop, signed_before = laptop_removed_after_signing(world)
    # its seq is past what the removal names: refused though it sorts before the removal
    world.ingest(signed_before)
    assert world.state(signed_before)[0] == "rejected"
    after = world.sign(laptop, "thread.start", {"title": "stolen", "body": "", "tags": []})
    world.ingest(after)
    assert world.state(after)[0] == "rejected"
    assert world.one("SELECT status FROM devices WHERE id = ?", laptop.id) == ("removed",)
    # and its certificate can no more add devices than it can post
    assert world.rejected(laptop, "device.add", device_payload(Identity.generate()))
    post(world, bo, "the desktop still writes")


def test_a_removed_device_s_op_that_sorts_before_its_removal_is_refused_as_a_device_s(
    world: World, tmp_path: Path
) -> None:
    """Past the seq the removal names but sorting before it, the op is refused
    because its device was removed, not because its member went (Bo is still
    in the group), in any order the ops arrive and on a rebuild."""
    bo, laptop, signed_before = laptop_removed_after_signing(world)
    world.ingest(signed_before)
    device_removed = ("rejected", "the author's device had been removed when this was written")
    assert world.state(signed_before) == device_removed
    world.store.rebuild()
    assert world.state(signed_before) == device_removed
    other = new_store(tmp_path / "b.db", world.group_id)
    other.ingest(reversed(world.log))
    assert other.canonical_dump() == world.store.canonical_dump()


def test_a_removed_member_s_devices_are_cut_off_at_the_seqs_the_removal_names(world: World) -> None:
    bo = world.members[0]
    laptop = add_device(world, bo)
    post(world, laptop)
    late = world.sign(laptop, "thread.start", {"title": "signed before", "body": "", "tags": []})
    world.accepted(
        world.founder,
        "member.remove",
        {"member": bo.id, "last_seq": bo.seq, "device_seqs": {laptop.id: laptop.seq - 1}},
    )
    world.ingest(late)  # past the named seq
    assert world.state(late)[0] == "rejected"
    after = world.sign(bo, "thread.start", {"title": "after", "body": "", "tags": []})
    world.ingest(after)
    assert world.state(after)[0] == "rejected"


def test_the_post_cap_counts_a_person_once_across_devices(world: World) -> None:
    world.accepted(world.founder, "group.edit", {"post_cap": 2})
    bo = world.members[0]
    laptop = add_device(world, bo)
    post(world, bo, "one")
    post(world, laptop, "two")
    assert "weekly cap" in world.rejected(laptop, "thread.start", {"title": "three", "body": "", "tags": []})
    assert "weekly cap" in world.rejected(bo, "thread.start", {"title": "three", "body": "", "tags": []})


def test_a_moderator_s_device_moderates_and_a_revoke_reaches_it(world: World) -> None:
    bo = world.members[0]
    world.accepted(world.founder, "role.grant", {"member": bo.id, "role": "moderator"})
    laptop = add_device(world, bo)
    world.accepted(laptop, "group.edit", {"purpose": "set from the laptop"})
    world.accepted(
        world.founder,
        "role.revoke",
        {"member": bo.id, "role": "moderator", "last_seq": bo.seq, "device_seqs": {laptop.id: laptop.seq}},
    )
    assert "moderator" in world.rejected(laptop, "group.edit", {"purpose": "not any more"})


def test_devices_rebuild_to_the_same_views(world: World, tmp_path: Path) -> None:
    bo = world.members[0]
    laptop = add_device(world, bo)
    post(world, laptop)
    world.accepted(bo, "device.remove", {"device": laptop.id, "last_seq": laptop.seq})
    before = world.store.canonical_dump()
    world.store.rebuild()
    assert world.store.canonical_dump() == before
    again = Store(tmp_path / "again.db")
    again.set_meta("group_id", world.group_id)
    again.ingest(sorted(world.log, key=lambda op: op.id))
    assert again.canonical_dump() == before


def test_the_health_figures_count_a_person_once_across_devices(world: World) -> None:
    from tablespace.core.clock import hlc_to_datetime
    from tablespace.core.metrics import week_metrics

    day = 24 * 3600 * 1000 << 16
    bo = world.members[0]
    laptop = add_device(world, bo)
    post(world, bo, "desk")
    world.hlc += 8 * day  # a week later, Bo writes from the laptop alone
    world.accepted(laptop, "post.reply", {"thread": post(world, laptop, "train"), "body": "and more"})
    week = week_metrics(world.store.conn, hlc_to_datetime(world.next_hlc()))
    assert (week.members, week.active, week.contributors, week.threads_started) == (3, 1, 1, 1)


DAY = 24 * 3600 * 1000 << 16


def time_out(world: World, member: Feed, **extra: Any) -> int:
    """The founder times `member` out for three days; returns when it ends."""
    from tablespace.core.clock import hlc_to_datetime, iso

    until = world.hlc + 3 * DAY
    payload = {"member": member.id, "until": iso(hlc_to_datetime(until)), "last_seq": member.seq, **extra}
    world.accepted(world.founder, "member.timeout", payload)
    return until


def test_a_time_out_holds_a_device_it_did_not_name(world: World) -> None:
    """The moderator had not seen Bo's laptop (no device_seqs for it): the
    time-out holds it all the same, from the time-out on."""
    bo = world.members[0]
    laptop = add_device(world, bo)
    before = post(world, laptop, "before the time-out")
    until = time_out(world, bo)
    assert "timed out" in world.rejected(laptop, "post.reply", {"thread": before, "body": "let me speak"})
    assert "timed out" in world.rejected(bo, "post.reply", {"thread": before, "body": "from the desk"})
    world.hlc = until + 1
    post(world, laptop, "after it ended")


def test_a_time_out_ended_early_frees_a_device_it_did_not_name(world: World) -> None:
    bo = world.members[0]
    laptop = add_device(world, bo)
    time_out(world, bo)
    world.accepted(world.founder, "member.timeout_end", {"member": bo.id})
    post(world, laptop, "free again")


def test_a_time_out_naming_a_device_keeps_what_the_moderator_had_seen(world: World) -> None:
    bo = world.members[0]
    laptop = add_device(world, bo)
    seen = world.sign(laptop, "thread.start", {"title": "seen by the moderator", "body": "", "tags": []})
    time_out(world, bo, device_seqs={laptop.id: laptop.seq})
    world.ingest(seen)  # arrives late and sorts before: it was written before the time-out
    assert world.state(seen) == ("accepted", None)
    assert "timed out" in world.rejected(laptop, "thread.start", {"title": "after", "body": "", "tags": []})


def test_a_time_out_of_a_member_with_devices_converges_in_any_order(world: World, tmp_path: Path) -> None:
    bo = world.members[0]
    laptop = add_device(world, bo)
    thread = post(world, laptop)
    time_out(world, bo)
    for feed in (laptop, bo, laptop):
        world.ingest(world.sign(feed, "post.reply", {"thread": thread, "body": "during"}))
    world.hlc += 4 * DAY
    world.ingest(world.sign(laptop, "post.reply", {"thread": thread, "body": "after"}))
    expected = world.store.canonical_dump()
    for n, order in enumerate((reversed(world.log), sorted(world.log, key=lambda op: op.id))):
        other = new_store(tmp_path / f"{n}.db", world.group_id)
        other.ingest(list(order))
        assert other.canonical_dump() == expected
    bodies = [
        r[0]
        for r in world.store.conn.execute("SELECT body FROM posts WHERE thread_id = ? ORDER BY created_hlc", (thread,))
    ]
    assert bodies == ["", "after"]


def test_a_revoke_reaches_a_device_it_did_not_name(world: World, tmp_path: Path) -> None:
    """Roles are the member's: a revoke that names no device seq still takes
    the role from every device for whatever sorts after it, in any order."""
    bo = world.members[0]
    world.accepted(world.founder, "role.grant", {"member": bo.id, "role": "moderator"})
    laptop = add_device(world, bo)
    world.accepted(world.founder, "role.revoke", {"member": bo.id, "role": "moderator", "last_seq": bo.seq})
    assert "moderator" in world.rejected(laptop, "group.edit", {"purpose": "not any more"})
    expected = world.store.canonical_dump()
    other = new_store(tmp_path / "b.db", world.group_id)
    other.ingest(list(reversed(world.log)))
    assert other.canonical_dump() == expected


def test_a_device_cannot_remove_itself(world: World) -> None:
    """Its removal would cut off its own op, and fold differently op by op and in a batch."""
    laptop = add_device(world, world.members[0])
    assert "cannot remove itself" in world.rejected(laptop, "device.remove", {"device": laptop.id, "last_seq": 0})


def removal(feed: Feed, device: Feed, last_seq: int, hlc: int, world: World) -> Op:
    return world.sign(feed, "device.remove", {"device": device.id, "last_seq": last_seq}, hlc=hlc)


def in_both_orders(world: World, tmp_path: Path, ops: list[Op]) -> list[Store]:
    """Two fresh replicas holding the world's log and `ops`: one gets `ops`
    as they are, one by one, the other reversed; each also rebuilt."""
    stores = []
    for n, order in enumerate((ops, list(reversed(ops)))):
        store = new_store(tmp_path / f"order{n}.db", world.group_id)
        store.ingest(world.log)
        for op in order:
            store.ingest([op])
        stores.append(store)
    assert stores[0].canonical_dump() == stores[1].canonical_dump()
    expected = stores[0].canonical_dump()
    stores[1].rebuild()
    assert stores[1].canonical_dump() == expected
    return stores


def test_concurrent_mutual_removals_keep_the_device_paired_first_in_any_order(world: World, tmp_path: Path) -> None:
    """Neither device had seen the other's removal: the desktop (Bo's first
    key) keeps its place, though the laptop's removal sorts hours earlier."""
    bo = world.members[0]
    laptop = add_device(world, bo)
    post(world, laptop, "before")
    late = world.hlc + 10_800_000  # three hours on
    desktop_removes = removal(bo, laptop, laptop.seq, late, world)
    laptop_removes = removal(laptop, bo, bo.seq - 1, world.hlc + 1, world)  # back-dated: before the desktop's
    for store in in_both_orders(world, tmp_path, [desktop_removes, laptop_removes]):
        assert op_state(store, desktop_removes) == ("accepted", None)
        assert op_state(store, laptop_removes) == ("rejected", DEVICE_REMOVED)
        assert store.conn.execute("SELECT id, status FROM devices ORDER BY added_hlc").fetchall() == [
            (bo.id, "active"),
            (laptop.id, "removed"),
        ]


def test_a_removed_device_that_saw_its_removal_cannot_remove_the_remover(world: World, tmp_path: Path) -> None:
    """The tablet, paired after the laptop, removes it; the laptop hears of it
    and removes the tablet with a timestamp before the tablet's: its removal
    is past the seq the tablet named, so refused wherever it sorts, though
    the laptop was paired first."""
    bo = world.members[0]
    laptop = add_device(world, bo)
    tablet = add_device(world, bo, "tablet")
    post(world, laptop, "before")
    late = world.hlc + 10_800_000
    tablet_removes = removal(tablet, laptop, laptop.seq, late, world)
    laptop_removes = removal(laptop, tablet, tablet.seq, world.hlc + 1, world)  # it saw the tablet's removal
    for store in in_both_orders(world, tmp_path, [tablet_removes, laptop_removes]):
        assert op_state(store, tablet_removes) == ("accepted", None)
        assert op_state(store, laptop_removes) == ("rejected", DEVICE_REMOVED)


def test_a_removed_device_cannot_certify_a_device_to_remove_its_remover(world: World, tmp_path: Path) -> None:
    """The stolen laptop, past the seq the desktop's removal named, certifies
    a key of the thief's with a back-dated timestamp and has it remove the
    desktop: neither counts, in any order."""
    bo = world.members[0]
    laptop = add_device(world, bo)
    late = world.hlc + 10_800_000
    desktop_removes = removal(bo, laptop, laptop.seq, late, world)
    thief = Feed(Identity.generate(), world.group_id)
    certificate = world.sign(laptop, "device.add", device_payload(thief.identity, "thief"), hlc=world.hlc + 1)
    thief_removes = removal(thief, bo, 0, world.hlc + 2, world)
    for store in in_both_orders(world, tmp_path, [desktop_removes, certificate, thief_removes]):
        assert op_state(store, desktop_removes) == ("accepted", None)
        assert op_state(store, certificate)[0] == op_state(store, thief_removes)[0] == "rejected"


def test_two_standing_removals_of_one_device_cut_it_off_at_the_lower_seq(world: World, tmp_path: Path) -> None:
    """The desktop and the tablet both remove the laptop, the desktop having
    seen more of it: the laptop's ops past what the tablet had seen count
    nowhere, whichever removal sorts first and in any order of arrival."""
    bo = world.members[0]
    laptop = add_device(world, bo)
    tablet = add_device(world, bo, "tablet")
    post(world, laptop, "seen by both")
    tablet_saw = laptop.seq
    stolen = [post(world, laptop, "seen by the desktop only") for _ in range(2)]
    desktop_removes = removal(bo, laptop, laptop.seq, world.hlc + 1, world)
    tablet_removes = removal(tablet, laptop, tablet_saw, world.hlc + 2, world)
    for store in in_both_orders(world, tmp_path, [desktop_removes, tablet_removes]):
        cut = store.conn.execute("SELECT last_seq FROM cutoffs WHERE member = ?", (laptop.id,)).fetchone()
        assert cut == (tablet_saw,)
        assert store.conn.execute("SELECT last_seq FROM devices WHERE id = ?", (laptop.id,)).fetchone() == cut
        states = store.conn.execute(
            f"SELECT state FROM ops WHERE id IN ({', '.join('?' * len(stolen))})", stolen
        ).fetchall()
        assert states == [("rejected",)] * len(stolen)


def test_device_ops_folded_on_after_a_removal_that_does_not_stand_agree_with_a_rebuild(
    world: World, tmp_path: Path
) -> None:
    """Bo's laptop lost a mutual removal. Later device ops fold on from the
    fold head: Cy pairing a phone changes nothing of Bo's; the desktop
    removing the tablet before it had removed the watch undoes the tablet's
    removal, folded long before. Each step agrees with a rebuild."""
    bo, cy = world.members
    laptop, tablet, watch = add_device(world, bo), add_device(world, bo, "tablet"), add_device(world, bo, "watch")
    post(world, laptop, "before")
    tablet_saw = tablet.seq
    world.ingest(removal(bo, laptop, laptop.seq, world.next_hlc(), world))
    laptop_removes = removal(laptop, bo, 0, world.next_hlc(), world)
    world.ingest(laptop_removes)
    assert world.state(laptop_removes) == ("rejected", DEVICE_REMOVED)
    world.accepted(tablet, "device.remove", {"device": watch.id, "last_seq": watch.seq})
    steps = [
        lambda: add_device(world, cy, "phone"),
        lambda: world.accepted(bo, "device.remove", {"device": tablet.id, "last_seq": tablet_saw}),
    ]
    for step in steps:
        step()
        folded = world.store.canonical_dump()
        world.store.rebuild()
        assert world.store.canonical_dump() == folded
    assert world.one("SELECT status FROM devices WHERE id = ?", watch.id) == ("active",)
    other = new_store(tmp_path / "b.db", world.group_id)
    other.ingest(world.log)
    assert other.canonical_dump() == world.store.canonical_dump()
