"""The weekly recap and the digest against a hand-made week of raw ops
(opkit.World), counted by hand: 2025-01-06 is a Monday; Bo and Cy join
that Monday at noon.

    Tue 10:00 Bo starts "Hello, I'm Bo"; 11:00 Ada replies; 12:00 Cy replies
    Wed 09:00 Ada starts "First loaf" #win; 10:00 Bo replies
    Thu 09:00 Cy starts "Which flour?" (nobody answers that week)
    Fri 09:00 Ada adds "Flour guide" to the library
    next Tue  Ada answers "Which flour?" (after the week: still waiting in it)

and, where a test asks for it, a weekly ritual whose Friday occurrence is
answered three times that week and once more on the next Monday.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from tablespace.core import digest as digest_module
from tablespace.core.clock import datetime_to_hlc
from tablespace.core.digest import PER_SECTION, digest
from tablespace.core.fold.ids import derived_id
from tablespace.core.recap import MAX_BULLETS, QUIET_WEEK, past_recaps, recap, week_of
from tests.core.opkit import World, new_store


def at(day: int, hour: int) -> int:
    return datetime_to_hlc(datetime(2025, 1, day, hour, tzinfo=UTC))


def the_week(tmp_path, *, ritual: bool = False) -> World:
    """The week above; with `ritual`, also Ada's weekly "Friday wins"
    (Fridays at 09:00 UTC), added Mon 13:00: Cy's app opens Friday's
    occurrence at 09:00; Bo answers at 10:00, Cy at 11:00, Ada on Sat 11 at
    09:00; Bo answers again on Mon 13 at 08:00, after the week."""
    w = World(tmp_path / "g.db", members=2)
    bo, cy = w.members
    ritual_id = w.accepted(w.founder, "ritual.add", FRIDAY_WINS, hlc=at(6, 13)).id if ritual else ""
    hello = w.accepted(
        bo, "thread.start", {"title": "Hello, I'm Bo", "body": "I bake on weekends.", "tags": []}, hlc=at(7, 10)
    )
    w.accepted(w.founder, "post.reply", {"thread": hello.id, "body": "Welcome, Bo!"}, hlc=at(7, 11))
    w.accepted(cy, "post.reply", {"thread": hello.id, "body": "Hi!"}, hlc=at(7, 12))
    loaf = w.accepted(
        w.founder, "thread.start", {"title": "First loaf", "body": "It rose!", "tags": ["win"]}, hlc=at(8, 9)
    )
    w.accepted(bo, "post.reply", {"thread": loaf.id, "body": "Mine too"}, hlc=at(8, 10))
    flour = w.accepted(cy, "thread.start", {"title": "Which flour?", "body": "Rye or spelt?", "tags": []}, hlc=at(9, 9))
    w.accepted(
        w.founder,
        "library.add",
        {"title": "Flour guide", "url": "https://example.org/flour", "summary": "All the flours", "tags": []},
        hlc=at(10, 9),
    )
    if ritual:
        w.accepted(cy, "ritual.occur", {"ritual": ritual_id, "at": FRIDAY}, hlc=at(10, 9))
        occurrence = derived_id("ritual.occur", ritual_id, FRIDAY)
        for who, body, hlc in [
            (bo, "My starter survived", at(10, 10)),
            (cy, "First bake", at(10, 11)),
            (w.founder, "The guide", at(11, 9)),
            (bo, "And again", at(13, 8)),
        ]:
            w.accepted(who, "post.reply", {"thread": occurrence, "body": body}, hlc=hlc)
    w.accepted(w.founder, "post.reply", {"thread": flour.id, "body": "Rye!"}, hlc=at(14, 9))
    return w


FRIDAY_WINS = {
    "name": "Friday wins",
    "prompt": "What went well?",
    "rrule": "FREQ=WEEKLY;BYDAY=FR",
    "start": "2025-01-03",
}
FRIDAY = "2025-01-10T09:00:00Z"
OCCURRENCE = "Friday wins · Fri 10 Jan 2025"  # the title every replica gives Friday's thread


EXPECTED = [
    "3 new threads and 3 replies from 3 members.",
    "Busiest: “Hello, I'm Bo” (3 posts), “First loaf” (2 posts).",
    "2 wins shared, by Ada, Bo.",
    "Welcome Bo (welcomed by Ada), Cy.",
    "New in the library: “Flour guide”.",
    "Still waiting for an answer: “Which flour?”.",
]


def test_the_recap_of_a_hand_counted_week(tmp_path) -> None:
    w = the_week(tmp_path)
    start, end = week_of(date(2025, 1, 9))  # any day of the week
    assert (start, end) == (datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 13, tzinfo=UTC))
    result = recap(w.store.conn, start, end)
    assert result.bullets == EXPECTED
    assert len(result.bullets) <= MAX_BULLETS
    assert result.title == "Recap: week of 2025-01-06"


def test_a_poll_or_a_survey_is_not_a_question_waiting_for_a_reply(tmp_path) -> None:
    w = World(tmp_path / "g.db", members=1)
    poll = {"title": "Bake day?", "body": "", "options": ["Sat", "Sun"], "multi": False}
    w.accepted(w.founder, "poll.open", poll, hlc=at(7, 9))
    w.accepted(w.founder, "survey.open", {"title": "End of week 2", "questions": ["What worked?"]}, hlc=at(7, 10))
    w.accepted(w.founder, "thread.start", {"title": "Which flour?", "body": "Rye?", "tags": []}, hlc=at(7, 11))
    bullets = recap(w.store.conn, *week_of(date(2025, 1, 9))).bullets
    assert bullets[-1] == "Still waiting for an answer: “Which flour?”."


def test_the_events_held_in_the_week_are_named_with_who_went(tmp_path) -> None:
    w = World(tmp_path / "g.db", members=2)
    bo, cy = w.members

    def event(title: str, day: int, hour: int) -> str:
        held = datetime(2025, 1, day, 18, tzinfo=UTC).isoformat().replace("+00:00", "Z")
        payload = {"title": title, "body": "", "at": held, "tz": "Europe/Berlin", "minutes": 60}
        return w.accepted(w.founder, "event.add", payload, hlc=at(7, hour)).id

    ama = event("Monthly AMA", 9, 8)
    event("Next bake-along", 15, 9)  # set up this week, held the next: not this week's
    w.accepted(bo, "event.rsvp", {"event": ama, "answer": "going"}, hlc=at(7, 10))
    w.accepted(cy, "event.rsvp", {"event": ama, "answer": "maybe"}, hlc=at(7, 11))
    bullets = recap(w.store.conn, *week_of(date(2025, 1, 9))).bullets
    assert "Events held: “Monthly AMA” (1 going)." in bullets
    assert not any("Still waiting" in b for b in bullets)  # an event is answered by RSVPs, not replies


def test_an_empty_week_is_a_quiet_one_and_the_next_week_counts_the_late_answer(tmp_path) -> None:
    w = the_week(tmp_path)
    assert recap(w.store.conn, *week_of(date(2025, 1, 20))).bullets == [QUIET_WEEK]
    # The week after: only Ada's answer (a reply in a thread from the week before).
    assert recap(w.store.conn, *week_of(date(2025, 1, 14))).bullets == ["0 new threads and 1 reply from 1 member."]


def test_the_recap_is_the_same_on_every_replica_whatever_the_arrival_order(tmp_path) -> None:
    w = the_week(tmp_path)
    week = week_of(date(2025, 1, 6))
    ops = list(w.log)
    random.Random(7).shuffle(ops)
    other = new_store(tmp_path / "other.db", w.group_id)
    for op in ops:
        other.ingest([op])
    assert recap(other.conn, *week).bullets == recap(w.store.conn, *week).bullets == EXPECTED
    w.store.rebuild()
    assert recap(w.store.conn, *week).bullets == EXPECTED


def test_posted_recaps_are_listed_newest_first_and_not_counted_in_the_next_recap(tmp_path) -> None:
    w = the_week(tmp_path)
    posted = w.accepted(
        w.founder,
        "thread.start",
        {"title": "Recap: week of 2025-01-06", "body": "- …", "tags": ["recap"]},
        hlc=at(14, 18),
    )
    assert [(r.thread, r.title) for r in past_recaps(w.store.conn)] == [(posted.id, "Recap: week of 2025-01-06")]
    assert recap(w.store.conn, *week_of(date(2025, 1, 6))).bullets == EXPECTED


def test_the_digest_sections_of_the_week_as_bo(tmp_path) -> None:
    w = the_week(tmp_path)
    bo = w.members[0]
    since, until = datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 12, tzinfo=UTC)
    d = digest(w.store.conn, bo.id, since, until, group="Sourdough Circle")
    counts = {s.name: s.total for s in d.sections}
    # Bo's inbox: Ada's and Cy's replies in the thread he started (his own reply in
    # "First loaf" is no entry); new threads 3; win posts 2; the library 1; no ritual.
    assert counts == {"inbox": 2, "threads": 3, "wins": 2, "events": 0, "rituals": 0, "library": 1, "newcomers": 2}
    sections = {s.name: s for s in d.sections}
    assert [i.headline for i in sections["inbox"].items] == [
        "Cy replied in “Hello, I'm Bo”",
        "Ada replied in “Hello, I'm Bo”",
    ]
    assert [i.headline for i in sections["threads"].items] == [
        "“Which flour?” by Cy (1 reply)",  # the reply came later, but the thread has it now
        "“First loaf” by Ada (1 reply)",
        "“Hello, I'm Bo” by Bo (2 replies)",
    ]
    assert sections["threads"].items[0].text == "Rye or spelt?"
    assert [i.headline for i in sections["newcomers"].items] == ["Cy", "Bo"]
    text = d.markdown()
    assert "## New threads (3)" in text and "Rye or spelt?" in text and "## Rituals" not in text
    assert d.to_json()["sections"]["library"]["total"] == 1


@pytest.mark.parametrize("thread_cost", [0, 1000])
def test_the_wins_are_the_same_from_the_win_threads_or_the_windows_posts(tmp_path, monkeypatch, thread_cost) -> None:
    """The digest finds the window's wins by whichever walk is cheaper; both find the same."""
    w = the_week(tmp_path)
    since, until = datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 12, tzinfo=UTC)
    before = digest(w.store.conn, w.founder.id, since, until, group="g").to_json()
    monkeypatch.setattr(digest_module, "WIN_THREAD_COST", thread_cost)
    assert digest(w.store.conn, w.founder.id, since, until, group="g").to_json() == before
    assert before["sections"]["wins"]["total"] == 2


def test_the_digest_is_bounded_and_counts_the_rest_and_an_empty_window_says_so(tmp_path) -> None:
    w = the_week(tmp_path)
    for n in range(PER_SECTION + 4):
        w.accepted(w.founder, "thread.start", {"title": f"t{n}", "body": "", "tags": []}, hlc=at(15, 9) + n)
    d = digest(
        w.store.conn, w.founder.id, datetime(2025, 1, 15, tzinfo=UTC), datetime(2025, 1, 16, tzinfo=UTC), group="g"
    )
    threads = next(s for s in d.sections if s.name == "threads")
    assert (len(threads.items), threads.total, threads.more) == (PER_SECTION, PER_SECTION + 4, 4)
    assert "- … and 4 more" in d.markdown()
    empty = digest(
        w.store.conn, w.founder.id, datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 2, 8, tzinfo=UTC), group="g"
    )
    assert all(s.total == 0 for s in empty.sections)
    assert "Nothing happened." in empty.markdown()


def test_a_newcomer_is_welcomed_by_whoever_first_answered_their_intro(tmp_path) -> None:
    """Cy asked a question first (Bo answered it) and then posted an intro
    (Ada answered it): the welcome is Ada's."""
    w = World(tmp_path / "g.db", members=2)
    bo, cy = w.members
    flour = w.accepted(cy, "thread.start", {"title": "Which flour?", "body": "Rye?", "tags": []}, hlc=at(7, 9))
    w.accepted(bo, "post.reply", {"thread": flour.id, "body": "Rye!"}, hlc=at(7, 10))
    hello = w.accepted(cy, "thread.start", {"title": "Hi, I'm Cy", "body": "Hello", "tags": ["intro"]}, hlc=at(7, 11))
    w.accepted(w.founder, "post.reply", {"thread": hello.id, "body": "Welcome, Cy!"}, hlc=at(7, 12))
    bullets = recap(w.store.conn, *week_of(date(2025, 1, 9))).bullets
    assert "Welcome Bo, Cy (welcomed by Ada)." in bullets


def test_the_recap_names_the_ritual_and_counts_the_weeks_answers(tmp_path) -> None:
    w = the_week(tmp_path, ritual=True)
    # The occurrence's opening post is neither a new thread nor a reply; its
    # three answers in the week are replies, and with it they make the
    # busiest thread; Bo's Monday answer is the next week's.
    assert recap(w.store.conn, *week_of(date(2025, 1, 9))).bullets == [
        "3 new threads and 6 replies from 3 members.",
        f"Busiest: “{OCCURRENCE}” (4 posts), “Hello, I'm Bo” (3 posts), “First loaf” (2 posts).",
        "2 wins shared, by Ada, Bo.",
        "Welcome Bo (welcomed by Ada), Cy.",
        f"Rituals: “{OCCURRENCE}” (3 answers).",
        "New in the library: “Flour guide”.",
        "Still waiting for an answer: “Which flour?”.",
    ]
    # The next week holds no occurrence: no rituals bullet, and Bo's late answer is a reply.
    assert recap(w.store.conn, *week_of(date(2025, 1, 14))).bullets == ["0 new threads and 2 replies from 2 members."]


def test_the_digests_rituals_hold_the_weeks_occurrence_and_the_next_one(tmp_path) -> None:
    w = the_week(tmp_path, ritual=True)
    bo = w.members[0]
    since, until = datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 1, 12, tzinfo=UTC)
    d = digest(w.store.conn, bo.id, since, until, group="Sourdough Circle")
    sections = {s.name: s for s in d.sections}
    # The occurrence (its four answers by now, Bo's Monday one too) and the
    # next Friday's; the ritual's thread is no new thread and no inbox entry of Bo's.
    assert [(i.headline, i.text) for i in sections["rituals"].items] == [
        (f"“{OCCURRENCE}”", "4 answers"),
        ("Next: Friday wins", "Fri 2025-01-17 09:00 UTC"),
    ]
    assert (sections["rituals"].total, sections["rituals"].more) == (2, 0)
    assert (sections["threads"].total, sections["inbox"].total) == (3, 2)
    text = d.markdown()
    assert (
        f"## Rituals (2)\n\n- **“{OCCURRENCE}”**: 4 answers\n- **Next: Friday wins**: Fri 2025-01-17 09:00 UTC\n"
        in text
    )
    assert d.to_json()["sections"]["rituals"]["total"] == 2
