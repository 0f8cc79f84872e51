"""Mentions resolved by the fold against the roster of the moment, and
quotes: hand-made logs of raw ops (opkit.World)."""

from __future__ import annotations

from tablespace.core.mentions import find_mentions, resolved_spans
from tablespace.core.names import name_key
from tests.core.opkit import World, new_store


def mentioned(world: World, post_id: str) -> set[str]:
    rows = world.store.conn.execute("SELECT member FROM mentions WHERE post_id = ?", (post_id,))
    return {r[0] for r in rows}


def test_mentions_are_found_in_text_bare_quoted_and_not_in_addresses() -> None:
    body = 'Hi @carol, ask @"Ana  Lima" or mail bob@example.com; @Dev-Ops. @"" and @ alone'
    spans = find_mentions(body)
    assert [body[s.start : s.end] for s in spans] == ["@carol", '@"Ana  Lima"', "@Dev-Ops."]
    assert [s.key for s in spans] == ["carol", "ana lima", "dev-ops."]
    assert spans[2].fallback == "dev-ops"
    assert find_mentions("no at sign here") == []


def test_the_fold_resolves_names_case_insensitively_and_two_word_names(tmp_path) -> None:
    w = World(tmp_path / "g.db", members=3)  # Ada, Bo, Cy, Di
    bo, cy, di = w.members
    w.accepted(di, "member.profile", {"name": "Di Lima"})
    post = w.accepted(
        w.founder, "thread.start", {"title": "t", "body": 'ping @BO, @"di   LIMA" and @nobody', "tags": []}
    )
    assert mentioned(w, post.id) == {bo.id, di.id}
    # what the app highlights: the spans that resolved, trailing comma left out
    keys = [r[0] for r in w.store.conn.execute("SELECT name_key FROM mentions WHERE post_id = ?", (post.id,))]
    body = 'ping @BO, @"di   LIMA" and @nobody'
    assert [body[a:b] for a, b in resolved_spans(body, keys)] == ["@BO", '@"di   LIMA"']
    assert name_key("Di Lima") in keys
    del cy


def test_a_rename_later_does_not_change_who_was_mentioned(tmp_path) -> None:
    w = World(tmp_path / "g.db", members=2)
    bo, cy = w.members
    before = w.accepted(w.founder, "thread.start", {"title": "t", "body": "hello @bo", "tags": []})
    w.accepted(bo, "member.profile", {"name": "Robert"})
    after_old_name = w.accepted(bo, "post.reply", {"thread": before.id, "body": "and @bo again?"})
    after_new_name = w.accepted(cy, "post.reply", {"thread": before.id, "body": "hi @robert"})
    assert mentioned(w, before.id) == {bo.id}
    assert mentioned(w, after_old_name.id) == set()  # nobody is called Bo now: it stays text
    assert mentioned(w, after_new_name.id) == {bo.id}
    # A new member taking the old name later is not the one mentioned before.
    w.accepted(cy, "member.profile", {"name": "Bo"})
    assert mentioned(w, before.id) == {bo.id}


def test_a_member_who_left_or_was_removed_is_not_mentioned_from_then_on(tmp_path) -> None:
    w = World(tmp_path / "g.db", members=2)
    bo, cy = w.members
    earlier = w.accepted(w.founder, "thread.start", {"title": "t", "body": "@cy @bo", "tags": []})
    w.accepted(w.founder, "member.remove", {"member": cy.id, "last_seq": cy.seq})
    w.accepted(bo, "member.leave", {})
    later = w.accepted(w.founder, "post.reply", {"thread": earlier.id, "body": "@cy @bo"})
    assert mentioned(w, earlier.id) == {bo.id, cy.id}  # mentions made before they went stay
    assert mentioned(w, later.id) == set()


def test_an_edit_re_resolves_and_keeps_the_time_of_mentions_it_keeps(tmp_path) -> None:
    w = World(tmp_path / "g.db", members=2)
    bo, cy = w.members
    post = w.accepted(w.founder, "thread.start", {"title": "t", "body": "@bo", "tags": []})
    (first_hlc,) = w.one("SELECT hlc FROM mentions WHERE post_id = ? AND member = ?", post.id, bo.id)
    edit = w.accepted(w.founder, "post.edit", {"post": post.id, "body": "@BO and @cy"})
    assert mentioned(w, post.id) == {bo.id, cy.id}
    assert w.one("SELECT hlc FROM mentions WHERE post_id = ? AND member = ?", post.id, bo.id) == (first_hlc,)
    assert w.one("SELECT hlc FROM mentions WHERE post_id = ? AND member = ?", post.id, cy.id) == (edit.hlc,)
    w.accepted(w.founder, "post.edit", {"post": post.id, "body": "nobody now"})
    assert mentioned(w, post.id) == set()


def test_a_deleted_post_mentions_nobody(tmp_path) -> None:
    w = World(tmp_path / "g.db", members=1)
    (bo,) = w.members
    thread = w.accepted(w.founder, "thread.start", {"title": "t", "body": "@bo", "tags": []})
    reply = w.accepted(w.founder, "post.reply", {"thread": thread.id, "body": "@bo again"})
    w.accepted(w.founder, "post.delete", {"post": reply.id})
    assert mentioned(w, reply.id) == set()
    w.accepted(w.founder, "post.delete", {"post": thread.id})
    assert w.one("SELECT count(*) FROM mentions") == (0,)
    del bo


def test_every_replica_agrees_on_mentions_and_a_rebuild_gives_the_same(tmp_path) -> None:
    w = World(tmp_path / "g.db", members=2)
    bo, cy = w.members
    thread = w.accepted(w.founder, "thread.start", {"title": "t", "body": "@bo", "tags": []})
    w.accepted(bo, "member.profile", {"name": "Cyd"})
    w.accepted(cy, "post.reply", {"thread": thread.id, "body": "@cyd @cy", "quote": thread.id})
    dump = w.store.canonical_dump()
    assert "## mentions" in dump
    other = new_store(tmp_path / "other" / "g.db", w.group_id)
    other.ingest(reversed(w.log))  # arrival order does not matter, the fold order does
    assert other.canonical_dump() == dump
    w.store.rebuild()
    assert w.store.canonical_dump() == dump


def test_a_reply_keeps_the_post_it_quotes_and_drops_a_quote_from_elsewhere(tmp_path) -> None:
    w = World(tmp_path / "g.db", members=1)
    (bo,) = w.members
    thread = w.accepted(w.founder, "thread.start", {"title": "t", "body": "first", "tags": []})
    other = w.accepted(w.founder, "thread.start", {"title": "u", "body": "elsewhere", "tags": []})
    good = w.accepted(bo, "post.reply", {"thread": thread.id, "body": "yes", "quote": thread.id})
    elsewhere = w.accepted(bo, "post.reply", {"thread": thread.id, "body": "no", "quote": other.id})
    junk = w.accepted(bo, "post.reply", {"thread": thread.id, "body": "no", "quote": {"x": 1}})
    quotes = dict(w.store.conn.execute("SELECT id, quote FROM posts WHERE thread_id = ?", (thread.id,)).fetchall())
    assert quotes[good.id] == thread.id
    assert quotes[elsewhere.id] is None and quotes[junk.id] is None
