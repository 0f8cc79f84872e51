"""How the group database is laid out for speed: its page size, and which
ops the fold-state indexes hold (store.connect, schema m014)."""

from __future__ import annotations

import sqlite3

from tablespace.core.schema import UNSETTLED_STATES
from tablespace.core.store import PAGE_BYTES, Store

from .opkit import World


def state_index_rows(store: Store) -> dict[str, int]:
    """How many entries each index on the ops' state holds (read through the index itself)."""
    return {state: store.conn.execute(
        f"SELECT count(*) FROM ops INDEXED BY ops_{state} WHERE state = '{state}'").fetchone()[0]
        for state in UNSETTLED_STATES}


def plan(store: Store, sql: str) -> str:
    return " / ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql))


def a_world_with_one_of_each_state(tmp_path) -> tuple[World, str, str]:
    """Accepted ops, one refused op, and one held (its predecessor never arrived)."""
    world = World(tmp_path / "group.db", members=1)
    (bo,) = world.members
    world.accepted(bo, "thread.start", {"title": "Crumb", "body": "open or tight?", "tags": []})
    world.rejected(bo, "member.remove", {"member": world.founder.id, "last_seq": 1})  # Bo is no moderator
    refused = bo.prev
    world.sign(bo, "post.reply", {"thread": "00" * 16, "body": "never sent"})  # a gap in Bo's chain
    held = world.sign(bo, "post.reply", {"thread": "00" * 16, "body": "after the gap"})
    world.ingest(held)
    return world, refused, held.id


def test_a_new_database_has_the_larger_pages(tmp_path) -> None:
    world = World(tmp_path / "group.db", members=1)
    assert world.store.conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_BYTES != 4096


def test_a_database_made_with_the_old_page_size_keeps_it_and_opens(tmp_path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("CREATE TABLE keep (x)")  # the file exists with 4 KB pages, as an older version made it
    conn.commit()
    conn.close()
    world = World(tmp_path / "new.db", members=1)  # its member key, beside both files, serves the old one too
    store = Store(path)
    store.set_meta("group_id", world.group_id)
    try:
        assert store.conn.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        store.ingest(world.log)  # a whole group's log goes in and folds
        assert store.conn.execute("SELECT count(*) FROM ops WHERE state = 'accepted'").fetchone()[0] == len(world.log)
    finally:
        store.close()


def test_only_unsettled_ops_are_in_the_state_indexes(tmp_path) -> None:
    world, refused, held = a_world_with_one_of_each_state(tmp_path)
    store = world.store
    assert state_index_rows(store) == {"held": 1, "ready": 0, "rejected": 1}
    assert store.conn.execute("SELECT id FROM ops WHERE state = 'held'").fetchall() == [(held,)]
    assert store.conn.execute("SELECT id FROM ops WHERE state = 'rejected'").fetchall() == [(refused,)]
    (accepted,) = store.conn.execute("SELECT count(*) FROM ops WHERE state = 'accepted'").fetchone()
    assert accepted >= 3  # genesis, Bo's admission, the thread: in no state index


def test_each_question_by_state_is_answered_from_its_index(tmp_path) -> None:
    """A question about held, ready or refused ops must not read the whole log:
    at 100k ops a scan costs ~0.1 s on every sync."""
    world, _, _ = a_world_with_one_of_each_state(tmp_path)
    store = world.store
    for sql, index in [
        ("SELECT count(*) FROM ops WHERE state = 'held'", "ops_held"),
        ("SELECT DISTINCT author FROM ops WHERE state = 'held'", "ops_held"),
        ("SELECT min(seq) FROM ops WHERE author = 'x' AND state = 'held'", "ops_held"),
        ("SELECT id FROM ops WHERE state = 'ready'", "ops_ready"),
        ("UPDATE ops SET state = 'accepted', reason = NULL WHERE state = 'ready'", "ops_ready"),
        ("SELECT id, kind, reason FROM ops WHERE state = 'rejected' AND author = 'x'", "ops_rejected"),
    ]:
        assert f"INDEX {index}" in plan(store, sql), sql


def test_an_older_database_gets_the_state_indexes_when_it_opens(tmp_path) -> None:
    world, refused, held = a_world_with_one_of_each_state(tmp_path)
    store = world.store
    before = store.dump_digest()
    # As an older version left it: one index over every op's state, and no m014.
    for state in UNSETTLED_STATES:
        store.conn.execute(f"DROP INDEX ops_{state}")
    store.conn.execute("CREATE INDEX ops_state ON ops (state, author, seq)")
    store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm014_partial_state_indexes'")
    store.close()
    reopened = Store(store.path)
    try:
        names = {r[0] for r in reopened.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "ops_state" not in names and {f"ops_{s}" for s in UNSETTLED_STATES} <= names
        assert state_index_rows(reopened) == {"held": 1, "ready": 0, "rejected": 1}
        assert reopened.dump_digest() == before
    finally:
        reopened.close()


def test_op_rows_keep_their_bytes_as_blobs_and_their_reasons(tmp_path) -> None:
    """Store._insert binds blobs as bytearray and leaves out an empty reason: the rows are as before."""
    world, refused, held = a_world_with_one_of_each_state(tmp_path)
    store = world.store
    assert store.conn.execute("SELECT DISTINCT typeof(signature), typeof(body) FROM ops").fetchall() == [("blob", "blob")]
    for op in world.log:
        assert store.conn.execute("SELECT signature, body FROM ops WHERE id = ?", (op.id,)).fetchone() == \
            (op.signature, op.body)
    reasons = dict(store.conn.execute("SELECT id, reason FROM ops WHERE reason IS NOT NULL"))
    assert list(reasons) == [refused] and "moderator" in reasons[refused]
