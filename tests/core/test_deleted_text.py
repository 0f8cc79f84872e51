"""A deleted post's text leaves every readable table of the database: the
views, the search index, and the op log, where it is sealed (core/seal.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.errors import TablespaceError
from tablespace.core.home import KEY_NAME
from tablespace.core.identity import Identity
from tablespace.core.seal import MAGIC, LogSeal, is_sealed
from tablespace.core.store import Store

from .opkit import World, op_state

DAY = 24 * 3600 * 1000 << 16  # in HLC units (milliseconds << 16)


@pytest.fixture
def world(tmp_path) -> World:
    """Ada (founder, moderator), Bo and Cy (members)."""
    return World(tmp_path / "world.db", members=2)


def readable_values(conn: sqlite3.Connection) -> Iterator[bytes]:
    """Every value of every table, FTS5's own tables included, as bytes."""
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for row in conn.execute(f'SELECT * FROM "{table}"'):
            for value in row:
                if isinstance(value, str):
                    yield value.encode()
                elif isinstance(value, bytes):
                    yield value


def readable_anywhere(store: Store, word: bytes) -> bool:
    return any(word in value for value in readable_values(store.conn))


def on_disk(store: Store, word: bytes) -> bool:
    """In the database file itself, free pages included, once the WAL is in it."""
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return word in store.path.read_bytes()


def start(world: World, feed, title: str, body: str) -> str:
    return world.accepted(feed, "thread.start", {"title": title, "body": body, "tags": ["starter"]}).id


def test_a_deleted_reply_and_every_edit_of_it_leave_no_readable_trace(world) -> None:
    bo, cy = world.members
    thread = start(world, bo, "Starter help", "my starter is sluggish")
    reply = world.accepted(cy, "post.reply", {"thread": thread, "body": "the quixotebloom trick"}).id
    world.accepted(cy, "post.edit", {"post": reply, "body": "the zephyrcrust trick"})
    store = world.store
    for word in (b"quixotebloom", b"zephyrcrust"):  # both are there before: the checks below can fail
        assert readable_anywhere(store, word) and on_disk(store, word)

    world.accepted(cy, "post.delete", {"post": reply})
    for word in (b"quixotebloom", b"zephyrcrust"):
        assert not readable_anywhere(store, word)
        assert not on_disk(store, word)
    assert readable_anywhere(store, b"sluggish")  # the thread itself is untouched
    sealed = {op_id for op_id, body in store.conn.execute("SELECT id, body FROM ops") if is_sealed(body)}
    assert len(sealed) == 2 and reply in sealed  # the reply and its edit, nothing else


def test_deleting_an_opening_post_seals_the_title_and_every_reply(world) -> None:
    bo, cy = world.members
    thread = start(world, bo, "The wombatloaf question", "about wombatloaf")
    world.accepted(cy, "post.reply", {"thread": thread, "body": "a quokkacrumb answer"})
    world.accepted(bo, "post.edit", {"post": thread, "body": "more about it", "title": "The kiwimuffin question"})
    world.accepted(world.founder, "post.delete", {"post": thread})  # a moderator's delete
    for word in (b"wombatloaf", b"quokkacrumb", b"kiwimuffin"):
        assert not readable_anywhere(world.store, word)
        assert not on_disk(world.store, word)


def test_an_edit_arriving_after_the_delete_is_sealed_too(world) -> None:
    bo, cy = world.members
    thread = start(world, bo, "Starter help", "plain")
    reply = world.accepted(cy, "post.reply", {"thread": thread, "body": "first words"}).id
    world.accepted(cy, "post.delete", {"post": reply})
    assert world.rejected(cy, "post.edit", {"post": reply, "body": "marmaladewhisk"}) == "the post has been deleted"
    assert not readable_anywhere(world.store, b"marmaladewhisk")


def test_a_reply_arriving_after_its_thread_was_deleted_is_sealed(world) -> None:
    bo, cy = world.members
    thread = start(world, bo, "Starter help", "plain")
    world.accepted(world.founder, "post.delete", {"post": thread})
    assert (
        world.rejected(cy, "post.reply", {"thread": thread, "body": "a latereply word"})
        == "the thread has been deleted"
    )
    assert not readable_anywhere(world.store, b"latereply")


def test_a_reply_its_author_saw_before_the_thread_was_deleted_is_sealed(world) -> None:
    bo, cy = world.members
    thread = start(world, bo, "Starter help", "plain")
    delete = world.sign(world.founder, "post.delete", {"post": thread})  # dated before the reply
    reply = world.accepted(cy, "post.reply", {"thread": thread, "body": "a seenreply word"})
    world.ingest(delete)  # sorts before the reply: a re-fold refuses it
    assert op_state(world.store, reply)[0] == "rejected"
    assert not readable_anywhere(world.store, b"seenreply")
    world.store.rebuild()
    assert not readable_anywhere(world.store, b"seenreply")


def test_an_edit_of_a_deleted_post_refused_for_another_reason_is_sealed(world) -> None:
    bo, cy = world.members
    thread = start(world, bo, "Starter help", "plain")
    reply = world.accepted(cy, "post.reply", {"thread": thread, "body": "first words"}).id
    delete = world.accepted(cy, "post.delete", {"post": reply})
    world.accepted(world.founder, "member.remove", {"member": cy.id, "last_seq": delete.seq})
    reason = world.rejected(cy, "post.edit", {"post": reply, "body": "a strayedit word"})
    assert reason.startswith("the author's membership had ended")  # refused before the post is looked at
    assert not readable_anywhere(world.store, b"strayedit")


def test_a_deleted_threads_retagging_is_sealed_with_it(world) -> None:
    bo = world.members[0]
    thread = start(world, bo, "Starter help", "plain")
    world.accepted(bo, "thread.tag", {"thread": thread, "add": ["hushhushtag"], "remove": []})
    world.accepted(bo, "post.delete", {"post": thread})
    assert not readable_anywhere(world.store, b"hushhushtag")
    assert not on_disk(world.store, b"hushhushtag")


def test_a_removed_resource_and_its_edits_leave_no_readable_trace(world) -> None:
    bo, cy = world.members
    res = world.accepted(
        bo,
        "library.add",
        {
            "title": "Wombatcrust guide",
            "url": "https://example.org/wombat",
            "summary": "all about crumbs",
            "tags": ["guide"],
        },
    ).id
    world.accepted(bo, "library.edit", {"resource": res, "summary": "all about quokkacrumbs"})
    assert readable_anywhere(world.store, b"quokkacrumbs")
    world.accepted(bo, "library.remove", {"resource": res})
    for word in (b"Wombatcrust", b"example.org/wombat", b"quokkacrumbs"):
        assert not readable_anywhere(world.store, word)
        assert not on_disk(world.store, word)
    assert world.rejected(bo, "library.edit", {"resource": res, "title": "Kiwimuffin notes"}) == "no such resource"
    assert not readable_anywhere(world.store, b"Kiwimuffin")


def test_the_log_still_gives_back_every_op_and_the_same_views(world) -> None:
    bo, cy = world.members
    thread = start(world, bo, "Starter help", "plain")
    reply = world.accepted(cy, "post.reply", {"thread": thread, "body": "the quixotebloom trick"}).id
    world.accepted(cy, "post.edit", {"post": reply, "body": "the zephyrcrust trick"})
    world.accepted(cy, "post.delete", {"post": reply})
    store = world.store
    digest = store.dump_digest()
    # Unsealed byte for byte: what a re-fold reads and an export writes.
    assert {(op.id, op.body, op.signature) for op in store.all_ops()} == {
        (op.id, op.body, op.signature) for op in world.log
    }
    sealed = dict(store.conn.execute("SELECT id, body FROM ops"))
    store.rebuild()
    store.rebuild()  # a re-fold seals what is deleted again: what is sealed already stays as it is
    assert store.dump_digest() == digest
    assert dict(store.conn.execute("SELECT id, body FROM ops")) == sealed
    assert {(op.id, op.body) for op in store.all_ops()} == {(op.id, op.body) for op in world.log}
    assert not readable_anywhere(store, b"quixotebloom")


def test_a_delete_undone_by_a_late_removal_brings_the_text_back(world) -> None:
    bo, cy = world.members
    thread = start(world, bo, "Starter help", "plain")
    reply = world.accepted(cy, "post.reply", {"thread": thread, "body": "the quixotebloom trick"})
    delete = world.accepted(cy, "post.delete", {"post": reply.id})
    # Ada removes Cy having seen Cy's ops only up to the reply: the delete
    # came after Cy's membership ended, so a re-fold refuses it.
    world.accepted(world.founder, "member.remove", {"member": cy.id, "last_seq": reply.seq})
    assert op_state(world.store, delete)[0] == "rejected"
    assert world.one("SELECT body, deleted FROM posts WHERE id = ?", reply.id) == ("the quixotebloom trick", 0)


def test_a_database_from_before_sealing_is_sealed_when_it_opens(world) -> None:
    bo, cy = world.members
    thread = start(world, bo, "Starter help", "plain")
    reply = world.accepted(cy, "post.reply", {"thread": thread, "body": "the quixotebloom trick"})
    edit = world.accepted(cy, "post.edit", {"post": reply.id, "body": "the zephyrcrust trick"})
    world.accepted(cy, "post.delete", {"post": reply.id})
    store = world.store
    # As an older version left it: the text in the log, and no m013.
    store.conn.executemany("UPDATE ops SET body = ? WHERE id = ?", [(op.body, op.id) for op in (reply, edit)])
    store.conn.execute("DROP TABLE text_edits")
    store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm013_seal_deleted_text'")
    assert readable_anywhere(store, b"quixotebloom") and readable_anywhere(store, b"zephyrcrust")
    store.close()
    reopened = Store(store.path)
    try:
        assert not readable_anywhere(reopened, b"quixotebloom")
        assert not readable_anywhere(reopened, b"zephyrcrust")  # found through the rebuilt text_edits
    finally:
        reopened.close()


# --- the seal itself -------------------------------------------------------------------


def test_a_seal_opens_only_with_its_key_and_for_its_op(tmp_path) -> None:
    Identity.generate().save(tmp_path / KEY_NAME)
    seal = LogSeal(tmp_path / KEY_NAME)
    body = b'{"d":{"body":"secret words"}}'
    sealed = seal.seal("aa" * 16, body)
    assert sealed.startswith(MAGIC) and b"secret" not in sealed
    assert seal.open("aa" * 16, sealed) == body
    with pytest.raises(TablespaceError, match="does not open"):
        seal.open("bb" * 16, sealed)  # moved to another op
    with pytest.raises(TablespaceError, match="does not open"):
        seal.open("aa" * 16, sealed[:-1] + bytes([sealed[-1] ^ 1]))
    (tmp_path / "other").mkdir()
    Identity.generate().save(tmp_path / "other" / KEY_NAME)
    with pytest.raises(TablespaceError, match="does not open"):
        LogSeal(tmp_path / "other" / KEY_NAME).open("aa" * 16, sealed)
    with pytest.raises(TablespaceError, match="damaged"):
        seal.open("aa" * 16, MAGIC[:-1] + b"9" + sealed[len(MAGIC) :])


def test_a_database_that_ran_the_first_m013_gets_text_edits_and_can_edit(world) -> None:
    """The first m013 made a partial index ops_edits, not text_edits: m015 builds
    the table there, so edits work and a later delete still finds every edit."""
    bo, cy = world.members
    thread = start(world, bo, "Starter help", "plain")
    gone = world.accepted(cy, "post.reply", {"thread": thread, "body": "the quixotebloom trick"})
    world.accepted(cy, "post.edit", {"post": gone.id, "body": "the zephyrcrust trick"})
    world.accepted(cy, "post.delete", {"post": gone.id})  # its edit is sealed already
    kept = world.accepted(cy, "post.reply", {"thread": thread, "body": "first words"})
    world.accepted(cy, "post.edit", {"post": kept.id, "body": "the marmalith trick"})
    store = world.store
    # As the first m013 left it: its index, no text_edits, and no m015.
    store.conn.execute("DROP TABLE text_edits")
    store.conn.execute("CREATE INDEX ops_edits ON ops (id) WHERE kind IN ('post.edit', 'library.edit')")
    store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm015_text_edits_after_the_first_m013'")
    store.close()
    world.store = Store(store.path)
    try:
        names = {r[0] for r in world.store.conn.execute("SELECT name FROM sqlite_master")}
        assert "text_edits" in names and "ops_edits" not in names
        world.accepted(cy, "post.edit", {"post": kept.id, "body": "the last words"})  # failed without m015
        assert readable_anywhere(world.store, b"marmalith")
        world.accepted(cy, "post.delete", {"post": kept.id})
        for word in (b"marmalith", b"quixotebloom", b"zephyrcrust", b"last words"):
            assert not readable_anywhere(world.store, word), word
    finally:
        world.store.close()


def test_a_reply_refused_before_its_thread_was_deleted_is_sealed_with_it(world) -> None:
    """Refused for a time-out, so never in the views; the thread's delete seals it too, and a rebuild keeps it so."""
    ada, (bo, cy) = world.founder, world.members
    thread = start(world, bo, "Starter help", "plain")
    world.accepted(
        ada, "member.timeout", {"member": cy.id, "last_seq": cy.seq, "until": iso(hlc_to_datetime(world.hlc + 3 * DAY))}
    )
    assert "timed out" in world.rejected(cy, "post.reply", {"thread": thread, "body": "the quixotebloom trick"})
    assert readable_anywhere(world.store, b"quixotebloom")  # a refused op stays in the log, as it came
    world.accepted(bo, "post.delete", {"post": thread})
    assert not readable_anywhere(world.store, b"quixotebloom") and not on_disk(world.store, b"quixotebloom")
    world.store.rebuild()
    assert not readable_anywhere(world.store, b"quixotebloom")


def test_a_held_reply_to_a_deleted_thread_is_sealed_and_still_folds(world) -> None:
    """Held for a gap in its author's chain: sealed when the thread goes, and
    when the gap fills it is read back, folded and stays sealed."""
    bo, cy = world.members
    thread = start(world, bo, "Starter help", "plain")
    gap = world.sign(cy, "post.reply", {"thread": thread, "body": "plain words"})
    held = world.sign(cy, "post.reply", {"thread": thread, "body": "the zephyrcrust trick"})
    world.ingest(held)
    assert world.state(held)[0] == "held" and readable_anywhere(world.store, b"zephyrcrust")
    world.accepted(bo, "post.delete", {"post": thread})
    assert not readable_anywhere(world.store, b"zephyrcrust")
    world.ingest(gap)
    # both date from before the delete, so they fold before it: accepted, then deleted with the thread
    assert world.state(held) == world.state(gap) == ("accepted", None)
    assert world.one("SELECT deleted, body FROM posts WHERE id = ?", held.id) == (1, "")
    assert not readable_anywhere(world.store, b"zephyrcrust")
    assert [op.body for op in world.store.all_ops() if op.id == held.id] == [held.body]  # opens for an export


def test_a_delete_merges_only_the_search_indexes_it_blanked(world) -> None:
    bo = world.members[0]
    thread = start(world, bo, "Starter help", "plain")
    reply = world.accepted(bo, "post.reply", {"thread": thread, "body": "words"}).id
    res = world.accepted(
        bo, "library.add", {"title": "Guide", "url": "https://example.org/g", "summary": "crumbs", "tags": []}
    ).id
    merged: list[str] = []
    world.store.conn.set_trace_callback(merged.append)
    for kind, payload, tables in [
        ("post.delete", {"post": reply}, ["posts"]),
        ("library.remove", {"resource": res}, ["resources"]),
        ("post.delete", {"post": thread}, ["posts", "threads"]),
    ]:
        merged.clear()
        world.accepted(bo, kind, payload)
        assert sorted(sql.split("_fts")[0].split()[-1] for sql in merged if "'optimize'" in sql) == tables, kind
