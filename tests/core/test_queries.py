"""What screens and the CLI read: thread lists, unread state, a thread, search, refs."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tablespace import actions
from tablespace.core import queries
from tablespace.core.clock import iso, parse_instant
from tablespace.core.errors import TablespaceError
from tablespace.core.group import Group
from tablespace.core.identity import Identity
from tablespace.core.refs import MIN_PREFIX, resolve_id, resolve_member

from .opkit import Feed, member_add_payload


@pytest.fixture
def later(monkeypatch, frozen_now):
    """Move the frozen wall clock forward by some minutes."""
    start = parse_instant(frozen_now)

    def advance(minutes: int) -> None:
        monkeypatch.setenv("TABLESPACE_NOW", iso(start + timedelta(minutes=minutes)))

    return advance


def admit(group: Group, name: str) -> Feed:
    """Add a member and return a feed to write remote ops as them."""
    identity = Identity.generate()
    group.write("member.add", member_add_payload(identity, name))
    return Feed(identity, group.id)


def remote(group: Group, feed: Feed, kind: str, payload: dict) -> str:
    """An op by another member arriving through the store (as sync would hand it over)."""
    op = feed.op(kind, payload, hlc=group.store.clock.last + 1)
    group.store.ingest([op])
    state, reason = group.conn.execute("SELECT state, reason FROM ops WHERE id = ?", (op.id,)).fetchone()
    assert state == "accepted", reason
    return op.id


def titles(items) -> list[str]:
    return [t.title for t in items]


# --- thread lists ---------------------------------------------------------------


def test_threads_most_recent_activity_first(group, later):
    a = actions.post(group, "Alpha")
    later(1)
    actions.post(group, "Beta")
    later(2)
    actions.post(group, "Gamma")
    assert titles(queries.threads(group.conn)) == ["Gamma", "Beta", "Alpha"]
    later(3)
    actions.reply(group, a, "bump")
    summaries = queries.threads(group.conn)
    assert titles(summaries) == ["Alpha", "Gamma", "Beta"]
    assert summaries[0].replies == 1
    assert summaries[0].last_activity > summaries[0].created_at
    assert summaries[0].author == "Ada" and summaries[0].author_id == group.me


def test_pinned_first_when_asked(group, later):
    old = actions.post(group, "Old rules")
    later(1)
    actions.post(group, "New chat")
    actions.pin(group, old)
    assert titles(queries.threads(group.conn)) == ["New chat", "Old rules"]
    assert titles(queries.threads(group.conn, pinned_first=True)) == ["Old rules", "New chat"]


def test_tag_filter(group, later):
    actions.post(group, "Rye help", tags=["rye", "help"])
    later(1)
    actions.post(group, "Wheat", tags=["wheat"])
    later(2)
    actions.post(group, "More rye", tags=["#Rye"])  # normalised on the way in
    assert titles(queries.threads(group.conn, tag="rye")) == ["More rye", "Rye help"]
    assert titles(queries.threads(group.conn, tag="wheat")) == ["Wheat"]
    assert queries.threads(group.conn, tag="nothing") == []
    assert queries.threads(group.conn, tag="rye")[1].tags == ["help", "rye"]


def test_limit_offset_and_count(group, later):
    for i in range(5):
        later(i)
        actions.post(group, f"T{i}")
    assert titles(queries.threads(group.conn, limit=2)) == ["T4", "T3"]
    assert titles(queries.threads(group.conn, limit=2, offset=2)) == ["T2", "T1"]
    assert queries.count_threads(group.conn) == 5


def test_unread_state(group, later):
    bo = admit(group, "Bo")
    mine = actions.post(group, "Mine")
    theirs = remote(group, bo, "thread.start", {"title": "Theirs", "body": "", "tags": []})
    by_id = {t.id: t for t in queries.threads(group.conn)}
    assert by_id[mine].unread is False  # own posts count as read
    assert by_id[theirs].unread is True
    assert [t.id for t in queries.threads(group.conn, unread=True)] == [theirs]

    group.mark_read(theirs)
    assert queries.threads(group.conn, unread=True) == []

    remote(group, bo, "post.reply", {"thread": mine, "body": "nice"})  # new activity on my thread
    assert [t.id for t in queries.threads(group.conn, unread=True)] == [mine]
    later(5)
    actions.reply(group, mine, "thanks")  # replying marks it read again
    assert queries.threads(group.conn, unread=True) == []


# --- one thread ----------------------------------------------------------------


def test_show_opening_post_first_then_replies_in_order_with_reaction_counts(group, later):
    bo, cy = admit(group, "Bo"), admit(group, "Cy")
    thread = actions.post(group, "Levain", "opening words")
    first = remote(group, bo, "post.reply", {"thread": thread, "body": "first"})
    second = remote(group, cy, "post.reply", {"thread": thread, "body": "second"})
    for feed, emoji in ((bo, "👍"), (cy, "👍"), (cy, "🎉")):
        remote(group, feed, "post.react", {"post": thread, "emoji": emoji})
    later(1)
    actions.react(group, thread, "👍")
    actions.react(group, first, "🎉")
    remote(group, cy, "post.unreact", {"post": thread, "emoji": "🎉"})

    detail = queries.thread(group.conn, thread)
    assert detail.title == "Levain"
    assert [p.id for p in detail.posts] == [thread, first, second]
    assert [p.body for p in detail.posts] == ["opening words", "first", "second"]
    assert [p.author for p in detail.posts] == ["Ada", "Bo", "Cy"]
    assert detail.posts[0].reactions == {"👍": 3}
    assert detail.posts[1].reactions == {"🎉": 1}
    assert detail.posts[2].reactions == {}


def test_show_hides_deleted_replies_and_flags_edits(group):
    thread = actions.post(group, "T", "body")
    gone = actions.reply(group, thread, "oops")
    kept = actions.reply(group, thread, "keep")
    actions.delete(group, gone)
    actions.edit(group, kept, "keep (edited)")
    posts = queries.thread(group.conn, thread).posts
    assert [p.id for p in posts] == [thread, kept]
    assert posts[1].edited_at is not None and posts[0].edited_at is None
    assert posts[1].to_json()["edited"] is True


def test_show_unknown_thread_raises(group):
    with pytest.raises(TablespaceError):
        queries.thread(group.conn, "ab" * 16)


# --- search ----------------------------------------------------------------------


def test_search_best_match_first_across_kinds(group):
    thread = actions.post(group, "Hydration tables", "baker's percentages explained at length for everyone " * 3)
    weak = actions.reply(
        group,
        thread,
        "somewhere in this long reply about flour water salt and time we mention "
        "hydration once among many many other words about baking bread",
    )
    strong = actions.reply(group, thread, "hydration hydration")
    resource = actions.library_add(group, "Hydration calculator", "https://example.org/calc", "work out your hydration")

    hits = queries.search(group.conn, "hydration")
    assert {(h.kind, h.id) for h in hits} == {
        ("thread", thread),
        ("post", weak),
        ("post", strong),
        ("resource", resource),
    }
    posts = [h.id for h in hits if h.kind == "post"]
    assert posts == [strong, weak]  # the denser match ranks higher
    by_kind = {h.kind: h for h in hits}
    assert by_kind["resource"].thread is None
    assert by_kind["thread"].thread == thread
    assert all(h.thread == thread for h in hits if h.kind == "post")
    assert "**" in by_kind["post"].snippet.lower() or "**" in by_kind["thread"].snippet
    assert by_kind["resource"].title == "Hydration calculator"


def test_search_requires_every_word_and_stems(group):
    actions.post(group, "Folding dough", "stretch and fold every thirty minutes")
    actions.post(group, "Shaping", "fold the edges in")
    assert [h.title for h in queries.search(group.conn, "fold stretch")] == ["Folding dough"]
    assert len(queries.search(group.conn, "folds")) == 3  # porter stemming: folds ~ fold ~ folding


def test_search_prefix_last(group):
    actions.post(group, "Sourdough starter", "")
    assert queries.search(group.conn, "sourd") == []
    assert [h.kind for h in queries.search(group.conn, "sourd", prefix_last=True)] == ["thread"]


@pytest.mark.parametrize(
    "text",
    [
        '"rye',
        'rye"',
        '"rye"',
        "rye AND",
        "AND rye",
        "rye OR",
        "NOT rye",
        "rye -wheat",
        "-rye",
        "rye*",
        "*rye",
        "title:rye",
        "body:rye",
        "rye:",
        "NEAR(rye wheat)",
        "rye^",
        "^rye",
        "(rye",
        "rye)",
        "rye + wheat",
        "{rye}",
        "rye'",
        "rye;--",
        "rye\x00",
        "r'y'e",
    ],
)
def test_search_with_fts_syntax_characters_never_raises(group, text):
    actions.post(group, "Rye bread", "rye and wheat")
    hits = queries.search(group.conn, text)
    assert all(h.kind in ("thread", "post") for h in hits)


@pytest.mark.parametrize("text", ['"', "-", "*", ":", "()", "", "   ", "^"])
def test_search_with_no_words_is_a_clean_user_error(group, text):
    with pytest.raises(TablespaceError):
        queries.search(group.conn, text)


@given(text=st.text(max_size=30))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_search_any_text_returns_hits_or_a_user_error(group, text):
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        hits = queries.search(group.conn, text)
    except TablespaceError:
        return
    assert isinstance(hits, list)


def test_resources_text_filter_with_fts_syntax_never_raises(group):
    actions.library_add(group, "Crumb guide", "https://example.org/crumb", "open crumb", ["crumb"])
    assert [r.title for r in queries.resources(group.conn, text='"crumb* -:')] == ["Crumb guide"]
    assert queries.resources(group.conn, text="crumb AND") == []  # AND is just a word, and required
    assert [r.title for r in queries.resources(group.conn, tag="crumb")] == ["Crumb guide"]


# --- refs ------------------------------------------------------------------------


def test_thread_ref_by_unique_prefix(group):
    thread = actions.post(group, "T")
    assert resolve_id(group.conn, "thread", thread[:MIN_PREFIX]) == thread
    assert resolve_id(group.conn, "thread", thread.upper()) == thread
    assert group.thread_id(f"  {thread[:6]} ") == thread


@pytest.mark.parametrize("ref", ["abc", "", "a", "xyz1", "ghij", "12 34"])
def test_short_or_non_hex_prefix_refused(group, ref):
    actions.post(group, "T")
    with pytest.raises(TablespaceError, match="is not a thread id"):
        resolve_id(group.conn, "thread", ref)


def test_unknown_prefix_refused(group):
    thread = actions.post(group, "T")
    other = next(p for p in ("0000", "ffff", "8888") if not thread.startswith(p))
    with pytest.raises(TablespaceError, match="no thread"):
        resolve_id(group.conn, "thread", other)


def test_deleted_things_do_not_resolve(group):
    thread = actions.post(group, "T")
    reply = actions.reply(group, thread, "r")
    actions.delete(group, reply)
    with pytest.raises(TablespaceError, match="no post"):
        resolve_id(group.conn, "post", reply)
    assert resolve_id(group.conn, "post", thread) == thread


def test_ambiguous_prefix_refused():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE threads (id TEXT PRIMARY KEY, deleted INTEGER NOT NULL DEFAULT 0)")
    conn.executemany(
        "INSERT INTO threads (id) VALUES (?)", [("abcd" + "1" * 28,), ("abcd" + "2" * 28,), ("abce" + "3" * 28,)]
    )
    conn.execute("INSERT INTO threads (id, deleted) VALUES (?, 1)", ("beef" + "1" * 28,))
    conn.execute("INSERT INTO threads (id) VALUES (?)", ("beef" + "2" * 28,))
    with pytest.raises(TablespaceError, match="ambiguous"):
        resolve_id(conn, "thread", "abcd")
    assert resolve_id(conn, "thread", "abcd1") == "abcd" + "1" * 28
    assert resolve_id(conn, "thread", "abce") == "abce" + "3" * 28
    assert resolve_id(conn, "thread", "beef") == "beef" + "2" * 28  # the deleted one does not count


def test_member_by_case_insensitive_name_or_id_prefix(group):
    bo = admit(group, "Bo Baker")
    assert resolve_member(group.conn, "ada") == group.me
    assert resolve_member(group.conn, "  ADA ") == group.me
    assert resolve_member(group.conn, "bo baker") == bo.id
    assert resolve_member(group.conn, bo.id[:6]) == bo.id
    assert group.member_id("BO BAKER") == bo.id
    with pytest.raises(TablespaceError, match="no member"):
        resolve_member(group.conn, "Zed")
    with pytest.raises(TablespaceError, match="no member"):
        resolve_member(group.conn, "bo")  # not a prefix match on names


def test_a_name_names_one_member_since_a_second_is_refused(group):
    sam = admit(group, "Sam")
    with pytest.raises(TablespaceError, match="display name is taken"):
        admit(group, "sam")
    assert resolve_member(group.conn, "SAM") == sam.id


def test_members_listing(group):
    bo = admit(group, "bo")
    members = queries.members(group.conn)
    assert [(m.name, m.roles, m.status) for m in members] == [("Ada", ["moderator"], "active"), ("bo", [], "active")]
    assert members[1].id == bo.id
