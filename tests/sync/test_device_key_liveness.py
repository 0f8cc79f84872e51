"""Key distribution to devices, as the replica state machine
(test_sync_convergence.py) found it failing once devices could be added and
removed: replicas that removed devices and members while files were rolled
back ended with different epoch keys and an op one replica still held. The
two runs are kept as fixed scripts, each the machine's own report of a
failing run, step by step; each cause has a small test of its own below."""

from __future__ import annotations

import pytest

from tablespace import actions
from tablespace.core import log_queries
from tablespace.core.group import Group
from tablespace.sync.membership import GRANT_SUFFIX, read_grant_header
from tests.sync.test_sync_convergence import ConvergenceMachine, Net, leave_group, remove_member


@pytest.mark.slow
def test_device_removals_with_rolled_back_files_converge() -> None:
    state = ConvergenceMachine()
    state.setup(n=4, skews=[0, 0, 0, 0, 0])
    try:
        state.no_op_is_left_half_folded()
        state.time_passes(hours=4)
        state.no_op_is_left_half_folded()
        state.time_passes(hours=27)
        state.no_op_is_left_half_folded()
        state.add_device(dt=159, r=5, then_sync=True)
        state.no_op_is_left_half_folded()
        state.time_passes(hours=11)
        state.no_op_is_left_half_folded()
        state.leave(dt=5151, online=True, r=5)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[10745], r=4)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[291, 101007, 24337], r=6)
        state.no_op_is_left_half_folded()
        state.deliver_everything(dt=128, r=0)
        state.no_op_is_left_half_folded()
        state.sync(dt=2308, r=5)
        state.no_op_is_left_half_folded()
        state.clock_jump(r=2, skew=0)
        state.no_op_is_left_half_folded()
        state.ritual_add(dt=1330, r=2)
        state.no_op_is_left_half_folded()
        state.ritual_add(dt=0, r=2)
        state.no_op_is_left_half_folded()
        state.duplicate(dt=58, p=229, r=3)
        state.no_op_is_left_half_folded()
        state.add_device(dt=41353, r=6, then_sync=False)
        state.no_op_is_left_half_folded()
        state.library_add(dt=22394, r=5, title="Hydration chart")
        state.no_op_is_left_half_folded()
        state.clock_jump(r=4, skew=700)
        state.no_op_is_left_half_folded()
        state.checkpoint()
        state.no_op_is_left_half_folded()
        state.deliver_everything(dt=182, r=6)
        state.no_op_is_left_half_folded()
        state.library_add(dt=521, r=1, title="Hydration chart")
        state.no_op_is_left_half_folded()
        state.deliver_everything(dt=91, r=4)
        state.no_op_is_left_half_folded()
        state.sync(dt=2780, r=6)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=112, p=18024, r=0, then_sync=False)
        state.no_op_is_left_half_folded()
        state.timeout(dt=811, minutes=123, other=5, r=0)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=448, p=417040, r=7, then_sync=False)
        state.no_op_is_left_half_folded()
        state.checkpoint()
    finally:
        state.teardown()


@pytest.mark.slow
def test_device_and_member_removals_with_rituals_converge() -> None:
    state = ConvergenceMachine()
    state.setup(n=4, skews=[0, 0, 0, 0, 0])
    try:
        state.no_op_is_left_half_folded()
        state.time_passes(hours=17)
        state.no_op_is_left_half_folded()
        state.deliver(dt=281, picks=[], r=0, then_sync=False)
        state.no_op_is_left_half_folded()
        state.time_passes(hours=27)
        state.no_op_is_left_half_folded()
        state.time_passes(hours=9)
        state.no_op_is_left_half_folded()
        state.time_passes(hours=16)
        state.no_op_is_left_half_folded()
        state.post(body="hello", dt=21889, r=0, tags=[], title="Bake day")
        state.no_op_is_left_half_folded()
        state.time_passes(hours=10)
        state.no_op_is_left_half_folded()
        state.tag(add=[], dt=276, p=55591, r=0, remove=["rye"])
        state.no_op_is_left_half_folded()
        state.edit(body="hello", dt=182, others=True, p=88314, r=0, title=None)
        state.no_op_is_left_half_folded()
        state.time_passes(hours=6)
        state.no_op_is_left_half_folded()
        state.time_passes(hours=1)
        state.no_op_is_left_half_folded()
        state.deliver(dt=0, picks=[], r=0, then_sync=True)
        state.no_op_is_left_half_folded()
        state.ritual_add(dt=0, r=0)
        state.no_op_is_left_half_folded()
        state.library_add(dt=443, r=0, title="Hydration chart")
        state.no_op_is_left_half_folded()
        state.remove(dt=8273, other=4, r=6, then_sync=False)
        state.no_op_is_left_half_folded()
        state.add_device(dt=1155, r=5, then_sync=True)
        state.no_op_is_left_half_folded()
        state.library_add(dt=4018, r=2, title="Hydration chart")
        state.no_op_is_left_half_folded()
        state.add_device(dt=0, r=0, then_sync=True)
        state.no_op_is_left_half_folded()
        state.time_passes(hours=1)
        state.no_op_is_left_half_folded()
        state.time_passes(hours=1)
        state.no_op_is_left_half_folded()
        state.ritual_add(dt=3, r=0)
        state.no_op_is_left_half_folded()
        state.edit(body="hello", dt=37564, others=True, p=9108, r=4, title=None)
        state.no_op_is_left_half_folded()
        state.tag(add=["starter", "wins"], dt=461, p=0, r=3, remove=["rye"])
        state.no_op_is_left_half_folded()
        state.react(dt=403, emoji="bread", p=101, r=6, undo=True)
        state.no_op_is_left_half_folded()
        state.delete(dt=367, others=False, p=133, r=5)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=196, p=320, r=3, then_sync=True)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=65537, p=176260, r=2, then_sync=False)
        state.no_op_is_left_half_folded()
        state.react(dt=433, emoji="bread", p=567, r=0, undo=True)
        state.no_op_is_left_half_folded()
        state.edit(body="rye again", dt=653, others=False, p=5545, r=3, title=None)
        state.no_op_is_left_half_folded()
        state.remove(dt=97, other=1, r=5, then_sync=False)
        state.no_op_is_left_half_folded()
        state.role_change(dt=135, other=5, r=4, revoke=False, role="moderator")
        state.no_op_is_left_half_folded()
        state.delete(dt=5959, others=False, p=1910, r=3)
        state.no_op_is_left_half_folded()
        state.ritual_add(dt=270, r=6)
        state.no_op_is_left_half_folded()
        state.ritual_add(dt=504, r=1)
        state.no_op_is_left_half_folded()
        state.remove(dt=128, other=3, r=7, then_sync=True)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[49703, 131, 23], r=4)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[19933, 183], r=7)
        state.no_op_is_left_half_folded()
        state.delete(dt=44193, others=False, p=0, r=2)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=75024, p=258, r=4, then_sync=True)
        state.no_op_is_left_half_folded()
    finally:
        state.teardown()


# --- each cause on its own, through real folders and the sync API ------------------


def _remove_device_offline(net: Net, i: int, device: str) -> None:
    """Replica i's member removes `device`, the op alone: its home has not
    reached the folder yet (the next sync sends it)."""
    net.act(
        i,
        Group.write,
        "device.remove",
        {"device": device, "last_seq": log_queries.last_seq(net.groups[i].conn, device)},
    )


def test_a_device_a_renewal_left_out_by_a_refused_removal_gets_the_key(tmp_path) -> None:
    """Bo's desktop removes his laptop while offline; the laptop, not knowing,
    removes the desktop and syncs. Ada renews the key without the desktop. When
    the desktop's earlier removal arrives, the laptop's is refused: the desktop
    was never gone, so Ada's key must reach it, or it holds back everything
    Ada wrote under it for good."""
    net = Net(tmp_path, 3)
    try:
        ada, bo, cy = 0, 1, 2
        laptop = net.link_device(bo)
        net.converge()
        desktop_id, laptop_id = net.groups[bo].device, net.groups[laptop].device
        net.advance(1000)
        _remove_device_offline(net, bo, laptop_id)
        net.advance(1000)
        _remove_device_offline(net, laptop, desktop_id)
        net.sync(laptop)
        net.deliver_all(ada)
        net.sync(ada)  # a moderator: renews the key at once, without the desktop
        left_out = net.groups[ada].conn.execute("SELECT key_id, recipients FROM epochs WHERE epoch = 1").fetchall()
        assert len(left_out) == 1 and desktop_id not in left_out[0][1]
        net.act(ada, actions.post, "After the laptop", "for Bo's desktop too")
        net.converge()
        net.assert_identical()
        assert net.current() == [ada, bo, cy]
        conn = net.groups[bo].conn
        assert conn.execute("SELECT count(*) FROM ops WHERE state = 'held'").fetchone() == (0,)
        assert conn.execute("SELECT 1 FROM threads WHERE title = 'After the laptop'").fetchone()
    finally:
        net.close()


def test_a_removed_member_s_device_paired_before_its_key_arrived_learns_the_removal(tmp_path) -> None:
    """Cy leaves and Ada renews the key; Bo, who has not seen it yet, pairs a
    laptop and grants it the keys he holds, the old one only. Ada removes Bo
    before she sees the laptop, under the key the laptop lacks. Bo's desktop
    learns of the removal; the laptop must too, or it writes on as Bo forever,
    and its replica never agrees with anyone's."""
    net = Net(tmp_path, 3)
    try:
        ada, bo, cy = 0, 1, 2
        net.act(cy, leave_group)
        net.sync(cy)
        net.deliver_all(ada)
        net.sync(ada)  # a moderator: renews the key for Ada and Bo
        net.advance(1000)
        before = set(net.published)
        laptop = net.link_device(bo)
        for rel in sorted(set(net.published) - before):  # the laptop's request, nothing of Ada's
            net.deliver(bo, rel)
        net.sync(bo)
        assert net.groups[bo].conn.execute("SELECT count(*) FROM devices").fetchone() == (2,)
        net.advance(1000)
        net.act(ada, remove_member, net.member_id(bo), "test")
        net.sync(ada)
        net.converge()
        net.assert_identical()
        seen = net.groups[laptop].conn.execute("SELECT status FROM members WHERE id = ?", (net.member_id(bo),))
        assert seen.fetchone() == ("removed",)
        assert net.current() == [ada]
    finally:
        net.close()


def _grants_of(net: Net, device: str, epoch: int) -> list[str]:
    """Who signed each grant in the shared folder that wraps a key of `epoch` for `device`."""
    found = []
    for path in sorted((net.pool / net.gid / "keys" / device).glob(f"*{GRANT_SUFFIX}")):
        header = read_grant_header(path.read_bytes(), group_id=net.gid, member=device)
        found += [header.granter for e, _ in header.keys if e == epoch]
    return found


def test_a_key_whose_gone_maker_left_a_device_out_is_granted_once_by_a_stand_in(tmp_path) -> None:
    """Dee leaves and Ada renews the key before she sees the laptop Bo has just
    paired: the laptop is left out of it. Ada writes under it and leaves too,
    so she never grants it. The current holder the key lists with the lowest
    id grants it once its check delay has passed; the other holder, and
    everyone later, finds that grant and writes none."""
    net = Net(tmp_path, 4)
    try:
        ada, bo, cy, dee = 0, 1, 2, 3
        net.act(ada, Group.write, "role.grant", {"member": net.member_id(cy), "role": "moderator"})
        net.converge()
        before = set(net.published)
        laptop = net.link_device(bo)
        assert laptop is not None
        for rel in sorted(set(net.published) - before):  # the laptop's request, nothing else
            net.deliver(bo, rel)
        net.sync(bo)  # approves it: the laptop gets the keys Bo holds, epoch 0
        net.advance(1000)
        before = set(net.published)
        net.act(dee, leave_group)
        net.sync(dee)
        for rel in sorted(set(net.published) - before):  # Dee's leave, not Bo's pairing
            net.deliver(ada, rel)
        net.sync(ada)  # renews the key for Ada, Bo's desktop and Cy: not the laptop
        laptop_id = net.groups[laptop].device
        listed = net.groups[ada].conn.execute("SELECT recipients FROM epochs WHERE epoch = 1").fetchone()
        assert laptop_id not in listed[0]
        net.act(ada, actions.post, "After Dee", "for the laptop too")
        net.act(ada, leave_group)
        net.sync(ada)
        net.converge()
        assert _grants_of(net, laptop_id, 1) == []  # the gap: nobody grants it yet
        stand_in = min(d for d in listed[0].split(",") if d != net.groups[ada].device)
        other = next(i for i in (bo, cy) if net.groups[i].device != stand_in)
        net.advance(11 * 60_000)  # past the stand-in's check delay
        net.sync(other)  # the other holder, first: it leaves the grant to the stand-in
        assert _grants_of(net, laptop_id, 1) == []
        net.converge()
        assert _grants_of(net, laptop_id, 1) == [stand_in]
        net.advance(24 * 3600_000)  # long past every other holder's delay
        net.converge()
        assert _grants_of(net, laptop_id, 1) == [stand_in]  # nobody grants it twice
        net.assert_identical()
        assert laptop in net.current()
        seen = net.groups[laptop].conn.execute("SELECT 1 FROM threads WHERE title = 'After Dee'")
        assert seen.fetchone()
    finally:
        net.close()
