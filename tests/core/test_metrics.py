"""Group health (core/metrics.py) against hand-counted groups built from real signed ops.

Every fixture is a World (tests/core/opkit.py): Ada founds the group at
BASE_HLC (Mon 2025-01-06 12:00 UTC) and admits Bo, Cy, Di and Ed right after.
END is eight weeks later, so week 0 is (Feb 24 12:00, Mar 3 12:00] and week 1
is (Feb 17 12:00, Feb 24 12:00]. Windows exclude their start and include their end.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tablespace.core import member_queries
from tablespace.core.clock import SHIFT, datetime_to_hlc, hlc_to_datetime, iso
from tablespace.core.fold import derived_id
from tablespace.core.identity import Identity
from tablespace.core.metrics import KEYS, WEEK, quiet_newcomers, to_welcome, week_metrics, weekly_series

from .opkit import BASE_HLC, Feed, World, member_add_payload, new_store

END = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
MS = 1 << SHIFT  # one millisecond in HLC units


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> int:
    """The HLC of an instant before END."""
    return datetime_to_hlc(END - timedelta(days=days, hours=hours, minutes=minutes))


def week(conn, end: datetime = END, now: datetime = END):
    return week_metrics(conn, end, now=now)


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path / "a.db", members=4)


def names(world: World) -> dict[str, Feed]:
    bo, cy, di, ed = world.members
    return {"ada": world.founder, "bo": bo, "cy": cy, "di": di, "ed": ed}


def start(world: World, feed: Feed, hlc: int, title: str = "A thread", tags: list[str] | None = None) -> str:
    return world.accepted(feed, "thread.start", {"title": title, "body": "hello", "tags": tags or []}, hlc=hlc).id


def reply(world: World, feed: Feed, thread: str, hlc: int) -> str:
    return world.accepted(feed, "post.reply", {"thread": thread, "body": "a reply"}, hlc=hlc).id


def delete(world: World, feed: Feed, post: str, hlc: int) -> None:
    world.accepted(feed, "post.delete", {"post": post}, hlc=hlc)


def ritual_thread(world: World, opener: Feed, occur_hlc: int, when: str = "2025-02-28T09:00:00Z") -> str:
    """Ada's weekly Friday ritual and one occurrence's thread, opened by `opener`."""
    ritual = world.accepted(
        world.founder,
        "ritual.add",
        {"name": "Friday wins", "prompt": "One win this week?", "rrule": "FREQ=WEEKLY;BYDAY=FR", "start": "2025-01-03"},
        hlc=at(days=50),
    ).id
    world.accepted(opener, "ritual.occur", {"ritual": ritual, "at": when}, hlc=occur_hlc)
    return derived_id("ritual.occur", ritual, when)


# --- the contract's keys, and an empty group -------------------------------------------


def test_json_has_exactly_the_contract_keys_and_iso_window(world):
    data = week(world.store.conn).to_json()
    assert set(KEYS) <= set(data)
    assert KEYS == (
        "members",
        "weekly_active_pct",
        "contributor_ratio",
        "median_first_reply_s",
        "reply_coverage",
        "wins",
    )
    assert data["start"] == "2025-02-24T12:00:00Z" and data["end"] == "2025-03-03T12:00:00Z"


def test_a_quiet_week_gives_zeros_and_the_contract_nulls(world):
    w = week(world.store.conn)
    assert (w.members, w.weekly_active_pct, w.contributor_ratio, w.wins) == (5, 0.0, 0.0, 0)
    assert w.median_first_reply_s is None  # no thread got a reply
    assert w.reply_coverage is None  # no thread was started


def test_no_members_at_all_divides_by_nothing(world):
    """Twelve weeks back the group did not exist yet: 0 members, 0 %, ratio 0."""
    oldest = weekly_series(world.store.conn, END, now=END)[0]
    assert oldest.end == END - 11 * WEEK
    assert (oldest.members, oldest.weekly_active_pct, oldest.contributor_ratio) == (0, 0.0, 0.0)
    assert (oldest.median_first_reply_s, oldest.reply_coverage, oldest.wins) == (None, None, 0)


def test_coverage_is_zero_not_null_when_threads_got_no_reply(world):
    p = names(world)
    start(world, p["bo"], at(days=2))
    w = week(world.store.conn)
    assert w.reply_coverage == 0.0 and w.median_first_reply_s is None


# --- one hand-counted week -----------------------------------------------------------------


def test_a_hand_counted_week(world):
    p = names(world)
    ada, bo, cy, di, ed = p["ada"], p["bo"], p["cy"], p["di"], p["ed"]
    # Written in time order: a member's clock never runs backwards (the fold
    # refuses an op dated before its author's previous one).
    old = start(world, ada, at(days=10), "Last week's thread")  # week 1
    win = start(world, cy, at(days=6, hours=23), "Shipped it", ["win"])  # early this week
    t1 = start(world, ada, at(days=5), "Welcome")
    reply(world, ada, t1, at(days=5) + 10 * 60_000 * MS)  # self-reply: not a first reply
    reply(world, bo, t1, at(days=5) + 30 * 60_000 * MS)  # first reply: 1800 s
    t2 = start(world, bo, at(days=4), "Hydration?", ["help"])
    reply(world, cy, t2, at(days=4) + 2 * 3600_000 * MS)  # 7200 s
    # Ed is active this week, then leaves: not a member now, so counted nowhere.
    reply(world, ed, old, at(days=3))
    world.accepted(ed, "member.leave", {}, hlc=at(days=2, hours=12))
    # Di is timed out from the day before yesterday: still a member, but her reply is refused.
    world.accepted(
        ada, "member.timeout", {"member": di.id, "until": iso(END + timedelta(days=2)), "last_seq": 0}, hlc=at(days=2)
    )
    gone = start(world, bo, at(days=1, hours=1), "Deleted")
    t3 = start(world, bo, at(days=1), "Unanswered")
    reply(world, ada, gone, at(days=1))
    delete(world, bo, gone, at(hours=23))
    reply(world, bo, t3, at(hours=20))  # only the author answered
    world.rejected(di, "post.reply", {"thread": t1, "body": "let me in"}, hlc=at(hours=12))
    world.accepted(cy, "post.react", {"post": t1, "emoji": "👍"}, hlc=at(hours=6))
    reply(world, ada, win, at(hours=1))  # answered 6 d 22 h later

    w = week(world.store.conn)
    assert w.members == 4  # Ada, Bo, Cy, Di (timed out counts); Ed left
    assert w.active == 3 and w.weekly_active_pct == 75.0  # Ada, Bo, Cy; Di's op was rejected
    assert w.contributors == 3 and w.contributor_ratio == 0.75  # Ada, Bo, Cy (Cy started the win thread)
    # started this week: t1 (1800 s), t2 (7200 s), t3 (none), win thread (Ada, 6 d 22 h later);
    # the deleted thread counts nowhere
    assert w.threads_started == 4 and w.threads_answered == 3
    assert w.reply_coverage == 0.75
    assert w.median_first_reply_s == 7200.0
    assert w.wins == 2  # Cy's opening post of the win thread and Ada's reply
    assert w.to_json()["wins"] == 2

    before = weekly_series(world.store.conn, END, weeks=2, now=END)[0]
    assert before.end == END - WEEK
    assert before.members == 5  # Ed was still a member at the end of last week
    assert (before.active, before.contributors) == (1, 1)  # only Ada (the old thread)
    assert before.weekly_active_pct == 20.0 and before.contributor_ratio == 0.2
    # the old thread's first reply (Ed's, this week) still counts for the week it was started in
    assert before.reply_coverage == 1.0 and before.median_first_reply_s == 7 * 24 * 3600.0
    assert before.wins == 0


# --- the window's edges ----------------------------------------------------------------------


def test_window_excludes_its_start_and_includes_its_end(world):
    bo = names(world)["bo"]
    end_hlc = datetime_to_hlc(END)
    start_hlc = datetime_to_hlc(END - WEEK)
    start(world, bo, start_hlc, "exactly seven days before")  # week 1
    start(world, bo, start_hlc + MS, "one ms later")  # week 0
    start(world, bo, end_hlc, "exactly at the end")  # week 0
    start(world, bo, end_hlc + 5, "same millisecond, later logical tick")  # week 0 (ms precision)
    start(world, bo, end_hlc + MS, "one ms after the end")  # in no window
    series = weekly_series(world.store.conn, END, weeks=2, now=END)
    assert [w.threads_started for w in series] == [1, 3]
    assert week(world.store.conn).threads_started == 3
    assert week(world.store.conn, END + timedelta(milliseconds=1)).threads_started == 3  # slides by one


def test_membership_edges_at_the_window_end(world):
    """A member who left exactly at a window's end no longer counts for it;
    one who joined exactly at it does."""
    p = names(world)
    world.accepted(p["ed"], "member.leave", {}, hlc=datetime_to_hlc(END - WEEK))
    newbie = Feed(Identity.generate(), world.group_id)
    world.accepted(
        world.founder, "member.add", member_add_payload(newbie.identity, "Fi"), hlc=datetime_to_hlc(END - 2 * WEEK)
    )
    series = weekly_series(world.store.conn, END, weeks=4, now=END)
    # week ending END-3W: Ada..Ed = 5; END-2W: + Fi = 6; END-W: Ed left at that instant = 5; now: 5
    assert [w.members for w in series] == [5, 6, 5, 5]


# --- each rule on its own --------------------------------------------------------------------


def test_first_reply_median_of_an_even_count_and_self_replies_ignored(world):
    p = names(world)
    delays_min = [10, 20, 40, 80]
    for n, minutes in enumerate(delays_min):
        t = start(world, p["bo"], at(days=6 - n))
        reply(world, p["bo"], t, at(days=6 - n) + MS)  # the author's own reply comes first
        reply(world, p["cy"], t, at(days=6 - n) + minutes * 60_000 * MS)
        reply(world, p["di"], t, at(days=6 - n) + (minutes + 1) * 60_000 * MS)  # a second reply: not "first"
    w = week(world.store.conn)
    assert w.median_first_reply_s == (20 + 40) / 2 * 60
    assert w.reply_coverage == 1.0


def test_a_deleted_first_reply_gives_way_to_the_next(world):
    p = names(world)
    t = start(world, p["bo"], at(days=3))
    early = reply(world, p["cy"], t, at(days=3) + 60_000 * MS)
    reply(world, p["di"], t, at(days=3) + 5 * 60_000 * MS)
    delete(world, p["cy"], early, at(days=2))
    assert week(world.store.conn).median_first_reply_s == 300.0


def test_the_first_reply_may_come_in_a_later_week(world):
    p = names(world)
    t = start(world, p["bo"], at(days=8))
    assert weekly_series(world.store.conn, END, weeks=2, now=END)[0].reply_coverage == 0.0
    reply(world, p["cy"], t, at(days=1))
    earlier = weekly_series(world.store.conn, END, weeks=2, now=END)[0]
    assert earlier.reply_coverage == 1.0 and earlier.median_first_reply_s == 7 * 24 * 3600.0


def test_wins_count_posts_in_win_threads_but_not_prompts_or_deleted_posts(world):
    p = names(world)
    late = start(world, p["cy"], at(days=9), "Last week's win", ["win"])  # in time order, as above
    win = start(world, p["bo"], at(days=5), "First loaf!", ["win"])
    other = start(world, p["bo"], at(days=5) + MS, "Not a win", ["help"])
    reply(world, p["cy"], win, at(days=4))
    gone = reply(world, p["di"], win, at(days=4) + MS)
    reply(world, p["cy"], other, at(days=4) + 2 * MS)
    prompt = ritual_thread(world, p["cy"], at(days=3, hours=2))  # Fri Feb 28 10:00; thread by Ada
    world.accepted(world.founder, "thread.tag", {"thread": prompt, "add": ["win"], "remove": []}, hlc=at(days=3))
    delete(world, p["di"], gone, at(days=3))
    reply(world, p["di"], prompt, at(days=2))
    reply(world, p["bo"], late, at(days=1))
    w = week(world.store.conn)
    # Bo's opening post, Cy's reply, Di's reply to the prompt, Bo's reply to last week's win
    assert w.wins == 4
    assert weekly_series(world.store.conn, END, weeks=2, now=END)[0].wins == 1  # Cy's opening post


def test_a_ritual_prompt_is_not_a_contribution_but_is_a_thread(world):
    p = names(world)
    prompt = ritual_thread(world, p["bo"], at(days=3, hours=2))  # Bo opens it; the thread is Ada's
    w = week(world.store.conn)
    assert w.contributors == 0  # nobody wrote anything
    assert w.active == 1  # Bo's ritual.occur op (Ada's ritual.add was weeks ago)
    assert (w.threads_started, w.reply_coverage) == (1, 0.0)  # an unanswered prompt is a gap
    reply(world, p["cy"], prompt, at(days=3))
    w = week(world.store.conn)
    assert w.contributors == 1 and w.reply_coverage == 1.0 and w.median_first_reply_s == 7200.0


def test_removed_and_left_members_leave_both_sides_of_the_ratio(world):
    p = names(world)
    t = start(world, p["ed"], at(days=4))
    reply(world, p["di"], t, at(days=3))
    world.accepted(world.founder, "member.remove", {"member": p["ed"].id, "last_seq": p["ed"].seq}, hlc=at(days=2))
    world.accepted(p["di"], "member.leave", {}, hlc=at(days=1))
    w = week(world.store.conn)
    assert w.members == 3 and w.active == 1 and w.contributors == 0  # Ada (the removal) only
    assert w.weekly_active_pct == pytest.approx(100 / 3) and w.contributor_ratio == 0.0
    assert w.reply_coverage == 1.0  # the thread and reply stay readable


def test_current_window_members_match_the_roster(world):
    p = names(world)
    world.accepted(p["ed"], "member.leave", {}, hlc=at(days=3))
    world.accepted(
        world.founder,
        "member.timeout",
        {"member": p["di"].id, "until": iso(END + timedelta(days=1)), "last_seq": 0},
        hlc=at(days=1),
    )
    roster = member_queries.members(world.store.conn, END)
    assert {m.status for m in roster} == {"active", "timed_out", "left"}
    expected = sum(1 for m in roster if m.status in ("active", "timed_out"))
    assert week(world.store.conn).members == expected == 4


# --- determinism -------------------------------------------------------------------------------


def busy_world(world: World, seed: int) -> None:
    rng = random.Random(seed)
    feeds = list(names(world).values())[:4]
    threads: list[str] = []
    for n in range(120):
        hlc = at(days=55) + n * 11 * 3600_000 * MS + rng.randrange(3600_000) * MS
        who = rng.choice(feeds)
        if not threads or rng.random() < 0.35:
            threads.append(start(world, who, hlc, f"t{n}", ["win"] if rng.random() < 0.2 else []))
        elif rng.random() < 0.1:
            world.do(who, "post.react", {"post": rng.choice(threads), "emoji": "🍞"}, hlc=hlc)
        else:
            reply(world, who, rng.choice(threads), hlc)


def test_replicas_with_the_same_ops_in_any_order_show_the_same_series(world, tmp_path):
    busy_world(world, seed=3)
    reference = [w.to_json() for w in weekly_series(world.store.conn, END, now=END)]
    assert sum(w["wins"] for w in reference) > 0 and any(w["median_first_reply_s"] for w in reference)
    for n, seed in enumerate((1, 2)):
        ops = list(world.log)
        random.Random(seed).shuffle(ops)
        replica = new_store(tmp_path / f"replica{n}.db", world.group_id)
        for op in ops:  # one at a time: held until their chain predecessor arrives
            replica.ingest([op])
        assert [w.to_json() for w in weekly_series(replica.conn, END, now=END)] == reference
        assert quiet_newcomers(replica.conn, END) == quiet_newcomers(world.store.conn, END)
        replica.close()


def test_series_is_oldest_first_and_ends_with_the_week(world):
    busy_world(world, seed=5)
    series = weekly_series(world.store.conn, END, now=END)
    assert len(series) == 12
    assert [w.end for w in series] == [END - k * WEEK for k in reversed(range(12))]
    assert series[-1] == week(world.store.conn)
    for w in series:  # each week alone (as of now) equals its place in the series
        assert w == week_metrics(world.store.conn, w.end, now=END)


# --- newcomers waiting for a reply -----------------------------------------------------------------


def test_quiet_newcomers(world):
    p = names(world)
    people = {}
    for n, name in enumerate(("Fi", "Gus", "Hal", "Ivy", "Jo")):
        feed = Feed(Identity.generate(), world.group_id)
        world.accepted(world.founder, "member.add", member_add_payload(feed.identity, name), hlc=at(days=20) + n * MS)
        people[name] = feed
    # Fi: first thread unanswered (only her own reply), a later one answered -> quiet
    fi1 = start(world, people["Fi"], at(days=10), "Fi's first")
    reply(world, people["Fi"], fi1, at(days=9))
    fi2 = start(world, people["Fi"], at(days=8), "Fi's second")
    reply(world, p["bo"], fi2, at(days=7))
    # Gus: first thread answered -> not quiet
    gus = start(world, people["Gus"], at(days=6), "Gus's first")
    reply(world, p["cy"], gus, at(days=5))
    # Hal: the only answer was deleted -> quiet, and newest
    hal = start(world, people["Hal"], at(days=2), "Hal's first")
    answer = reply(world, p["cy"], hal, at(days=1))
    delete(world, p["cy"], answer, at(hours=20))
    # Ivy: never started a thread; Jo: left -> neither listed
    jo = start(world, people["Jo"], at(days=3), "Jo's first")
    world.accepted(people["Jo"], "member.leave", {}, hlc=at(days=2, hours=12))
    assert jo
    # Bo joined eight weeks ago: no longer a newcomer, even if unanswered
    start(world, p["bo"], at(days=4), "Bo's thread")

    quiet = quiet_newcomers(world.store.conn, END)
    assert [(q.name, q.title) for q in quiet] == [("Hal", "Hal's first"), ("Fi", "Fi's first")]
    assert quiet[0].waiting_s == 2 * 24 * 3600.0
    assert set(quiet[0].to_json()) >= {"member", "name", "thread", "title", "started_at", "waiting_s"}
    # Once someone else answers Fi's first thread she drops off the list.
    reply(world, p["ada"], fi1, at(hours=1))
    assert [q.name for q in quiet_newcomers(world.store.conn, END)] == ["Hal"]
    # Four weeks after joining nobody is a newcomer any more.
    assert quiet_newcomers(world.store.conn, END + timedelta(days=9)) == []


def test_to_welcome_lists_unanswered_intros_oldest_first(world):
    p = names(world)
    people = {}
    for n, name in enumerate(("Fi", "Gus", "Hal", "Ivy", "Jo", "Kai")):
        feed = Feed(Identity.generate(), world.group_id)
        world.accepted(world.founder, "member.add", member_add_payload(feed.identity, name), hlc=at(days=20) + n * MS)
        people[name] = feed
    # Fi: a question first (unanswered), then her intro, which Bo answered -> welcomed
    start(world, people["Fi"], at(days=12), "Fi's question")
    fi = start(world, people["Fi"], at(days=11), "Hello, I'm Fi", ["intro"])
    reply(world, p["bo"], fi, at(days=10))
    # Gus: his intro came after a question and only he replied in it -> to welcome, oldest
    start(world, people["Gus"], at(days=9), "Gus's question")
    gus = start(world, people["Gus"], at(days=8), "Hello, I'm Gus", ["intro", "rye"])
    reply(world, people["Gus"], gus, at(days=7))
    # Hal: the only answer to his intro was deleted -> to welcome, newest
    hal = start(world, people["Hal"], at(days=3), "Hello, I'm Hal", ["intro"])
    delete(world, p["cy"], reply(world, p["cy"], hal, at(days=2)), at(days=1))
    # Ivy asked a question but wrote no intro; Jo's intro was deleted; Kai left
    start(world, people["Ivy"], at(days=6), "Ivy's question")
    delete(world, people["Jo"], start(world, people["Jo"], at(days=5), "Hello, I'm Jo", ["intro"]), at(days=4))
    start(world, people["Kai"], at(days=5, hours=1), "Hello, I'm Kai", ["intro"])
    world.accepted(people["Kai"], "member.leave", {}, hlc=at(days=4, hours=12))

    waiting = to_welcome(world.store.conn, END)
    assert [(q.name, q.title) for q in waiting] == [("Gus", "Hello, I'm Gus"), ("Hal", "Hello, I'm Hal")]
    assert waiting[0].thread_id == gus and waiting[0].waiting_s == 8 * 24 * 3600.0
    reply(world, p["di"], gus, at(hours=1))
    assert [q.name for q in to_welcome(world.store.conn, END)] == ["Hal"]
    assert to_welcome(world.store.conn, END + timedelta(days=9)) == []  # no longer newcomers


def test_the_founder_is_nobody_to_welcome_but_the_first_members_are(world):
    """In a group a few days old everyone joined recently: the first members'
    intros still want a welcome, the founder's does not, in Members and in Health."""
    p = names(world)
    soon = hlc_to_datetime(BASE_HLC) + timedelta(days=3)
    for name in ("ada", "bo"):
        world.accepted(p[name], "thread.start", {"title": f"I'm {name}", "body": "hi", "tags": ["intro"]})
    assert [q.name for q in to_welcome(world.store.conn, soon)] == ["Bo"]
    assert [q.name for q in quiet_newcomers(world.store.conn, soon)] == ["Bo"]
