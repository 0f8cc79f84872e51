"""The demo: real member homes syncing through a folder, and a member who
keeps posting while the app is open."""

from __future__ import annotations

import time

import pytest

from tablespace import actions
from tablespace.core import circle_queries, member_queries, thread_queries
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group
from tablespace.core.home import Home
from tablespace.demo import PEOPLE, POD, Simulator, build_demo
from tablespace.tui.app import TablespaceApp


def ops_seen(group: Group) -> int:
    return group.conn.execute("SELECT count(*) FROM ops WHERE state = 'accepted'").fetchone()[0]


async def test_demo_members_have_their_own_homes_and_the_app_sees_a_simulated_post(tmp_path):
    home = build_demo(tmp_path / "demo")  # its speed is a benchmark's business, not this test's
    base = tmp_path / "demo"
    assert home.path == base / "ana"
    digests: dict[tuple[str | None, ...], set[str]] = {}
    for name in ["ana"] + [p.lower() for p in PEOPLE]:
        group = Group.open(Home(base / name))
        try:
            # Replicas in the same circles fold the same views; outsiders hold circles' ops sealed.
            circles = tuple(sorted(c.name or "" for c in circle_queries.circles(group.conn, group.me)))
            circles += tuple(sorted(d.id for d in circle_queries.dms(group.conn, group.me)))
            digests.setdefault(circles, set()).add(group.store.dump_digest())
            authors = {row[0] for row in group.conn.execute("SELECT DISTINCT author FROM ops")}
            assert group.me in authors or name == "ana"
        finally:
            group.close()
    assert all(len(seen) == 1 for seen in digests.values())  # every replica converged
    assert (POD,) in digests  # Chiara, in the pod alone; Ana and Ben also share a DM
    changes = base / "shared"
    assert len([p for p in changes.glob("*/changes/*") if p.is_dir()]) == 1 + len(PEOPLE)  # one feed each

    group = Group.open(home)
    try:
        assert thread_queries.threads(group.conn, unread=True)  # the moderator has something to read
        assert {m.name for m in member_queries.members(group.conn)} == {"Ana", *PEOPLE}
        pod = next(c for c in circle_queries.circles(group.conn, group.me) if c.name == POD)
        assert [t.title for t in thread_queries.threads(group.conn, circle=pod.id, unread=True)] == ["Day 3 check-in"]
        before = ops_seen(group)
        app = TablespaceApp(group, sync_every=600)
        member = Simulator(base, every=(0.05, 0.1), seed=3)
        async with app.run_test(size=(100, 32)) as pilot:
            member.start()
            deadline = time.monotonic() + 30  # a wait, not a speed check: it ends as soon as the post lands
            while ops_seen(group) == before and time.monotonic() < deadline:
                await pilot.pause(0.05)
            member.stop()
            assert member.actions >= 1 and ops_seen(group) > before, (
                f"member acted {member.actions} times (last error: {member.last_error}); "
                f"the app ran {app.sync_rounds} rounds, last: {app.sync_status}"
            )
    finally:
        member.stop()
        group.close()


def test_demo_in_the_same_directory_twice_reuses_it(tmp_path):
    base = tmp_path / "demo"
    home = build_demo(base)
    group = Group.open(home)
    actions.post(group, "Written between the two runs", "Still here?")
    group.close()
    again = build_demo(base)
    assert again.path == home.path and len(again.groups()) == 1
    group = Group.open(again)
    try:
        assert "Written between the two runs" in {t.title for t in thread_queries.threads(group.conn)}
    finally:
        group.close()
    assert len([p for p in (base / "shared").iterdir() if p.is_dir()]) == 1  # one group in the folder


def test_demo_refuses_a_directory_with_a_half_built_demo(tmp_path):
    base = tmp_path / "demo"
    (base / "ana").mkdir(parents=True)
    with pytest.raises(TablespaceError, match="no finished demo"):
        build_demo(base)


def test_the_demo_member_asks_each_sample_question_once_before_any_again(tmp_path):
    from tablespace.demo import SIM_THREADS

    member = Simulator(tmp_path, seed=3)
    first = [member._next_thread()[0] for _ in SIM_THREADS]
    assert sorted(first) == sorted(title for title, _, _ in SIM_THREADS)
    assert member._next_thread()[0] in first  # then the next round of them
