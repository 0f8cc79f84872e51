"""A run of the replica state machine (test_sync_convergence.py, long
profile) in which every replica ended believing its own member had gone.
Both moderators left at once and each folded its own leave first (the other
one's is refused there as the last moderator's); the others never received
the leaves of that moderator and of another member, held back for a key
renewal that nobody who still counted themselves a member was left to make.
No device is involved. Kept as the machine's own report, not shrunk: a
member who has gone now sends a leave that waits for nothing else of theirs
under the old key (sync/roster.py `_our_bare_leave`)."""

from __future__ import annotations

import pytest

from tablespace import actions
from tablespace.core.group import Group
from tests.sync.test_sync_convergence import ConvergenceMachine, Net, leave_group


@pytest.mark.slow
def test_everyone_leaving_at_once_leaves_someone_current() -> None:
    state = ConvergenceMachine()
    state.setup(n=5, skews=[0, 0, 0, 0, 0])
    try:
        state.no_op_is_left_half_folded()
        state.remove_device(dt=189, p=23, r=0, then_sync=False)
        state.no_op_is_left_half_folded()
        state.role_change(dt=96, other=0, r=0, revoke=False, role="moderator")
        state.no_op_is_left_half_folded()
        state.role_change(dt=216, other=3, r=0, revoke=False, role="moderator")
        state.no_op_is_left_half_folded()
        state.restart(dt=1, r=1)
        state.no_op_is_left_half_folded()
        state.restart(dt=219, r=7)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=1228, p=70186, r=5, then_sync=True)
        state.no_op_is_left_half_folded()
        state.timeout(dt=44383, minutes=136, other=0, r=6)
        state.no_op_is_left_half_folded()
        state.restart(dt=8289, r=2)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=116, p=641037, r=0, then_sync=False)
        state.no_op_is_left_half_folded()
        state.role_change(dt=32819, other=4, r=0, revoke=True, role="curator")
        state.no_op_is_left_half_folded()
        state.timeout(dt=461, minutes=2, other=6, r=7)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=2636, p=173, r=6, then_sync=False)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=3935, p=176, r=2, then_sync=True)
        state.no_op_is_left_half_folded()
        state.leave(dt=940, online=True, r=6)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[255036, 10352, 11708, 754], r=3)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=77946, p=2575, r=2, then_sync=False)
        state.no_op_is_left_half_folded()
        state.leave(dt=3265, online=False, r=3)
        state.no_op_is_left_half_folded()
        state.role_change(dt=2467, other=0, r=4, revoke=False, role="curator")
        state.no_op_is_left_half_folded()
        state.leave(dt=2187, online=False, r=4)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[32479], r=1)
        state.no_op_is_left_half_folded()
        state.role_change(dt=665, other=7, r=0, revoke=True, role="moderator")
        state.no_op_is_left_half_folded()
        state.timeout(dt=2875, minutes=2, other=2, r=7)
        state.no_op_is_left_half_folded()
        state.role_change(dt=1575, other=2, r=5, revoke=True, role="moderator")
        state.no_op_is_left_half_folded()
        state.role_change(dt=420, other=5, r=6, revoke=True, role="moderator")
        state.no_op_is_left_half_folded()
        state.remove_device(dt=1262, p=843, r=0, then_sync=False)
        state.no_op_is_left_half_folded()
        state.leave(dt=8026, online=True, r=1)
        state.no_op_is_left_half_folded()
        state.role_change(dt=4613, other=6, r=7, revoke=False, role="moderator")
        state.no_op_is_left_half_folded()
        state.leave(dt=24803, online=False, r=7)
        state.no_op_is_left_half_folded()
        state.sync(dt=270, r=7)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[884, 278, 1500, 558], r=6)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=9457, p=22292, r=4, then_sync=True)
        state.no_op_is_left_half_folded()
        state.leave(dt=862, online=False, r=4)
        state.no_op_is_left_half_folded()
        state.timeout(dt=14579, minutes=55, other=3, r=1)
        state.no_op_is_left_half_folded()
        state.sync(dt=28519, r=6)
        state.no_op_is_left_half_folded()
        state.leave(dt=297, online=False, r=0)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[225, 37, 65537, 78473], r=4)
        state.no_op_is_left_half_folded()
        state.sync(dt=610, r=5)
        state.no_op_is_left_half_folded()
        state.role_change(dt=3070, other=3, r=0, revoke=True, role="moderator")
        state.no_op_is_left_half_folded()
        state.restart(dt=13271, r=4)
        state.no_op_is_left_half_folded()
        state.sync(dt=26125, r=1)
        state.no_op_is_left_half_folded()
        state.restart(dt=131, r=5)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[27936, 1000000, 142, 110], r=3)
        state.no_op_is_left_half_folded()
        state.sync(dt=1266, r=6)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[169, 136628, 743], r=7)
        state.no_op_is_left_half_folded()
        state.leave(dt=1073, online=False, r=5)
        state.no_op_is_left_half_folded()
        state.timeout(dt=1658, minutes=88, other=5, r=3)
        state.no_op_is_left_half_folded()
        state.leave(dt=20923, online=False, r=4)
        state.no_op_is_left_half_folded()
        state.remove_device(dt=127, p=308, r=0, then_sync=False)
        state.no_op_is_left_half_folded()
        state.role_change(dt=354, other=3, r=6, revoke=True, role="curator")
        state.no_op_is_left_half_folded()
        state.role_change(dt=17007, other=0, r=5, revoke=True, role="curator")
        state.no_op_is_left_half_folded()
        state.leave(dt=65536, online=False, r=2)
        state.no_op_is_left_half_folded()
        state.restart(dt=86311, r=3)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[366], r=0)
        state.no_op_is_left_half_folded()
        state.leave(dt=16, online=False, r=5)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[179819, 954939, 17774, 33], r=4)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[1041], r=2)
        state.no_op_is_left_half_folded()
        state.leave(dt=2989, online=False, r=2)
        state.no_op_is_left_half_folded()
        state.sync(dt=37246, r=5)
        state.no_op_is_left_half_folded()
        state.rollback(picks=[44071], r=7)
        state.no_op_is_left_half_folded()
    finally:
        state.teardown()


@pytest.mark.xfail(strict=True, reason="known: a leave behind a post waits for a renewal nobody current can make")
def test_the_last_moderators_leaving_at_once_after_a_post(tmp_path) -> None:
    """As test_sync_convergence's test_the_last_moderators_leaving_at_once_
    leave_one_of_them_in, but Bo posts before leaving: his leave is no
    longer all he has to send, so it waits for a renewal behind the post,
    and sending the post under the old key would let Cy, who has gone,
    read it. Nobody counts themselves in."""
    net = Net(tmp_path, 3)
    try:
        ada, bo, cy = 0, 1, 2
        net.act(ada, Group.write, "role.grant", {"member": net.member_id(bo), "role": "moderator"})
        net.converge()
        net.advance(1000)
        net.act(cy, leave_group)
        net.sync(cy)
        net.advance(1000)
        net.act(bo, actions.post, "Last words", "bye")
        net.act(bo, leave_group)
        net.advance(1000)
        net.act(ada, leave_group)
        net.settle()
        net.assert_identical()
    finally:
        net.close()


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known: a removal held behind another departure never reaches the removed")
def test_a_removed_member_learns_of_his_removal() -> None:
    """A run of the machine (long profile, --hypothesis-seed=3), not shrunk.
    Ada removes Ed offline; before she syncs, Bo removes one of his devices
    (later by HLC). Ada's ops up to her removal of Ed may go out only under
    epoch 0, which Ed holds, but that key is also the removed device's, and
    roster.sendable_seq lets nothing of ours out under a key a member or
    device someone else removed holds (our clock may run behind). So Ada
    rotates twice and sends everything under epoch 2: Ed never reads his
    removal and counts himself in. Mending it means deciding whether ops
    dated before the other departure may go to that device."""
    state = ConvergenceMachine()
    try:
        state.setup(n=5, skews=[0, 0, 0, 0, 0])
        state.rollback(picks=[96098, 718, 19070, 4096], r=0)
        state.post(body="hello", dt=718, r=0, tags=["rye"], title="Bake day")
        state.add_device(dt=238, r=6, then_sync=True)
        state.rollback(picks=[61059, 123336, 41818], r=6)
        state.remove(dt=61209, other=6, r=0, then_sync=True)
        state.time_passes(hours=2)
        state.duplicate(dt=319, p=958, r=2)
        state.library_add(dt=7760, r=4, title="Hydration chart")
        state.rollback(picks=[4073, 438, 2486, 7326], r=1)
        state.reply(body="a longer body with **markdown**", dt=23674, p=1000000, r=6)
        state.sync(dt=7804, r=1)
        state.rollback(picks=[231], r=1)
        state.pin(dt=255, p=6414, pinned=True, r=5)
        state.post(body="hello", dt=90000, r=6, tags=[], title="Wins")
        state.remove(dt=925, other=4, r=6, then_sync=False)
        state.timeout(dt=26881, minutes=108, other=5, r=6)
        state.remove(dt=40, other=4, r=1, then_sync=False)
        state.role_change(dt=1155, other=2, r=3, revoke=True, role="curator")
        state.timeout(dt=65537, minutes=106, other=3, r=2)
        state.role_change(dt=148, other=4, r=3, revoke=True, role="moderator")
        state.role_change(dt=3900, other=7, r=5, revoke=True, role="moderator")
        state.post(body="hello", dt=90000, r=6, tags=[], title="Wins")
        state.library_add(dt=2359, r=7, title="Flour guide")
        state.add_device(dt=461, r=3, then_sync=False)
        state.post(body="hello", dt=581, r=7, tags=[], title="Starter help")
        state.reply(body="a longer body with **markdown**", dt=80343, p=3626, r=5)
        state.edit(body="hello", dt=555, others=True, p=2531, r=0, title="Retitled")
        state.library_add(dt=90000, r=2, title="Flour guide")
        state.reply(body="hello", dt=566, p=32837, r=0)
        state.ritual_add(dt=782, r=4)
        state.timeout(dt=1716, minutes=37, other=2, r=6)
        state.library_add(dt=62, r=4, title="Flour guide")
        state.remove(dt=1739, other=1, r=3, then_sync=True)
        state.duplicate(dt=44319, p=55, r=1)
        state.rollback(picks=[7243, 61059, 4096, 152], r=3)
        state.reply(body="a longer body with **markdown**", dt=65536, p=1326, r=4)
        state.timeout(dt=3594, minutes=79, other=4, r=0)
        state.role_change(dt=802, other=6, r=3, revoke=False, role="moderator")
        state.leave(dt=17588, online=False, r=6)
        state.post(body="rye again", dt=786, r=7, tags=[], title="Bake day")
        state.duplicate(dt=1844, p=27207, r=0)
        state.remove(dt=90000, other=6, r=3, then_sync=False)
        state.library_remove(dt=445, p=413653, r=4)
        state.remove_device(dt=118, p=265415, r=5, then_sync=True)
        state.remove_device(dt=90000, p=180654, r=1, then_sync=False)
        state.remove_device(dt=75, p=46964, r=4, then_sync=True)
        state.remove_device(dt=73228, p=8000, r=4, then_sync=True)
        state.reply(body="hello", dt=1376, p=247, r=1)
        state.edit(body="rye again", dt=482, others=False, p=70185, r=4, title=None)
        state.reply(body="hello", dt=834, p=56503, r=6)
        state.remove_device(dt=54, p=216195, r=2, then_sync=False)
        state.remove_device(dt=448, p=595, r=3, then_sync=False)
        state.pin(dt=3423, p=157, pinned=False, r=7)
        state.timeout(dt=609, minutes=108, other=5, r=3)
        state.timeout(dt=26621, minutes=152, other=5, r=0)
        state.library_add(dt=15970, r=0, title="Hydration chart")
        state.leave(dt=925, online=True, r=6)
        state.edit(body="a longer body with **markdown**", dt=2007, others=False, p=745, r=5, title=None)
        state.library_add(dt=121, r=2, title="Hydration chart")
    finally:
        state.teardown()
