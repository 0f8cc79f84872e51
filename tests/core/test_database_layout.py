"""How the group database is laid out for speed: its page size, and which
ops the fold-state indexes hold (store.connect, schema m014)."""

from __future__ import annotations

import re
import sqlite3

from tablespace.core.modlog import moderation_actions
from tablespace.core.schema import UNSETTLED_STATES
from tablespace.core.store import PAGE_BYTES, Store

from .opkit import World, new_store


def state_index_rows(store: Store) -> dict[str, int]:
    """How many entries each index on the ops' state holds (read through the index itself)."""
    return {
        state: store.conn.execute(
            f"SELECT count(*) FROM ops INDEXED BY ops_{state} WHERE state = '{state}'"
        ).fetchone()[0]
        for state in UNSETTLED_STATES
    }


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
    for state in UNSETTLED_STATES:  # partial: an index over every op would answer the counts below too
        (sql,) = store.conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (f"ops_{state}",)).fetchone()
        assert sql.endswith(f"WHERE state = '{state}'"), sql
    assert state_index_rows(store) == {"held": 1, "ready": 0, "rejected": 1}
    assert store.conn.execute("SELECT id FROM ops WHERE state = 'held'").fetchall() == [(held,)]
    assert store.conn.execute("SELECT id FROM ops WHERE state = 'rejected'").fetchall() == [(refused,)]
    (accepted,) = store.conn.execute("SELECT count(*) FROM ops WHERE state = 'accepted'").fetchone()
    assert accepted >= 3  # genesis, Bo's admission, the thread: in no state index


def test_each_question_the_code_asks_by_state_is_answered_from_an_index(tmp_path) -> None:
    """Every statement the store and the moderation log run that picks ops by
    state, traced as they run: none may read the whole log to find a few held,
    ready or refused ops (at 100k ops a scan costs ~0.1 s on every sync)."""
    world = World(tmp_path / "group.db", members=1)
    (bo,) = world.members
    store = world.store
    statements: list[str] = []
    store.conn.set_trace_callback(statements.append)  # the SQL with its values, as run
    thread = world.accepted(bo, "thread.start", {"title": "Crumb", "body": "open or tight?", "tags": []})
    world.rejected(bo, "member.remove", {"member": world.founder.id, "last_seq": 1})
    gap = world.sign(bo, "post.reply", {"thread": thread.id, "body": "arrives late"})
    world.ingest(world.sign(bo, "post.reply", {"thread": thread.id, "body": "arrives first"}))  # held
    world.ingest(gap)  # releases the held one: ready, then accepted
    moderation_actions(store.conn)
    world.accepted(bo, "post.delete", {"post": thread.id})  # seals what the log holds of the thread
    store.rebuild()
    store.conn.set_trace_callback(None)
    by_state = [
        sql
        for sql in statements
        if not sql.startswith("--") and "state" in sql and ("FROM ops" in sql or "UPDATE ops" in sql)
    ]
    asked = " ".join(by_state)
    for wanted in ("state = 'held'", "state = 'ready'", "state = 'accepted'", "state = 'rejected'"):
        assert wanted in asked  # the scenario really ran the code's state queries
    for sql in by_state:
        assert not re.search(r"\bSCAN (ops|o)( |$)(?!USING)", plan(store, sql)), (sql, plan(store, sql))


def test_an_older_database_gets_the_state_indexes_when_it_opens(tmp_path) -> None:
    world, refused, held = a_world_with_one_of_each_state(tmp_path)
    store = world.store
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
        for state in UNSETTLED_STATES:  # the same ops through each index as by reading every row
            assert (
                reopened.conn.execute(
                    f"SELECT id FROM ops INDEXED BY ops_{state} WHERE state = '{state}' ORDER BY id"
                ).fetchall()
                == reopened.conn.execute(
                    f"SELECT id FROM ops NOT INDEXED WHERE state = '{state}' ORDER BY id"
                ).fetchall()
            )
        assert state_index_rows(reopened) == {"held": 1, "ready": 0, "rejected": 1}
        assert {r[0] for r in reopened.conn.execute("SELECT id FROM ops WHERE state = 'held'")} == {held}
        assert {r[0] for r in reopened.conn.execute("SELECT id FROM ops WHERE state = 'rejected'")} == {refused}
    finally:
        reopened.close()


def test_op_rows_keep_their_bytes_as_blobs_and_their_reasons(tmp_path) -> None:
    """Store._insert binds blobs as bytearray and files refused rows apart:
    one batch of accepted and refused ops comes out as each op was signed."""
    world = World(tmp_path / "group.db", members=1)
    (bo,) = world.members
    thread = world.sign(bo, "thread.start", {"title": "Crumb", "body": "open or tight?", "tags": []})
    refused = world.sign(bo, "member.remove", {"member": world.founder.id, "last_seq": 1})
    reply = world.sign(bo, "post.reply", {"thread": thread.id, "body": "tight, for me"})
    refused_too = world.sign(bo, "thread.pin", {"thread": thread.id, "pinned": True})
    world.ingest(thread, refused, reply, refused_too)  # one batch, one fold
    store = world.store
    assert store.conn.execute("SELECT DISTINCT typeof(signature), typeof(body) FROM ops").fetchall() == [
        ("blob", "blob")
    ]
    for op in world.log:
        assert store.conn.execute("SELECT signature, body FROM ops WHERE id = ?", (op.id,)).fetchone() == (
            op.signature,
            op.body,
        )
    states = {op.id: world.state(op) for op in (thread, refused, reply, refused_too)}
    assert states[thread.id] == states[reply.id] == ("accepted", None)
    for op in (refused, refused_too):
        state, reason = states[op.id]
        assert state == "rejected" and reason and "moderator" in reason


def local_rows(store: Store) -> tuple[list[tuple], list[tuple]]:
    return (
        store.conn.execute("SELECT key, value FROM meta ORDER BY key").fetchall(),
        store.conn.execute("SELECT thread_id, read_hlc FROM reads ORDER BY thread_id").fetchall(),
    )


def test_meta_and_reads_keep_their_key_once(tmp_path) -> None:
    """Every action writes `meta` and `reads`: keyed by their text key alone
    (WITHOUT ROWID, m018), each write dirties one B-tree, not a table and an
    index of it."""
    world = World(tmp_path / "group.db", members=1)
    indexes = {r[0] for r in world.store.conn.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'index'")}
    assert not indexes & {"meta", "reads"}
    for table in ("meta", "reads"):
        (sql,) = world.store.conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        assert sql.rstrip().upper().endswith("WITHOUT ROWID")


def test_a_database_from_before_m018_keeps_its_local_rows_and_folds_the_same(tmp_path) -> None:
    world = World(tmp_path / "group.db", members=1)
    (bo,) = world.members
    thread = world.accepted(bo, "thread.start", {"title": "Crumb", "body": "open or tight?", "tags": []})
    world.accepted(bo, "post.reply", {"thread": thread.id, "body": "tight, for me"})
    store = world.store
    store.conn.execute("INSERT INTO reads (thread_id, read_hlc) VALUES (?, ?)", (thread.id, thread.hlc))
    before = local_rows(store)
    dump = store.canonical_dump()
    # As an older version left it: both as rowid tables, and no m018.
    store.conn.executescript(
        """
        CREATE TABLE meta_old (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta_old SELECT key, value FROM meta; DROP TABLE meta; ALTER TABLE meta_old RENAME TO meta;
        CREATE TABLE reads_old (thread_id TEXT PRIMARY KEY, read_hlc INTEGER NOT NULL);
        INSERT INTO reads_old SELECT thread_id, read_hlc FROM reads; DROP TABLE reads;
        ALTER TABLE reads_old RENAME TO reads;
        DELETE FROM _sqlite_migrations WHERE name = 'm018_writes_keyed_local_tables';
        """
    )
    assert store.conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE tbl_name = 'meta' AND type = 'index'"
    ).fetchone()[0]
    store.close()
    reopened = Store(store.path)
    try:
        assert local_rows(reopened) == before
        assert reopened.canonical_dump() == dump
        (sql,) = reopened.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'meta'").fetchone()
        assert sql.upper().endswith("WITHOUT ROWID")
        world.store = reopened
        world.accepted(bo, "post.reply", {"thread": thread.id, "body": "and after the move"})
        fresh = new_store(tmp_path / "fresh.db", world.group_id)
        try:
            fresh.ingest(world.log)
            assert reopened.canonical_dump() == fresh.canonical_dump()
        finally:
            fresh.close()
    finally:
        reopened.close()
