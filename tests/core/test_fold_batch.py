"""Batching on the import path, which must not change any result:

- the fold's write-behind (FoldContext.flush): runs of thread.start,
  post.reply and post.react are written as one batch, and live_thread and
  live_post are answered from memory meanwhile; the views must be those of
  folding op by op;
- Store.file (sync's import batches): ops filed in the log as accepted before
  one ingest folds them all must end as if ingested at once.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tablespace.core import fold, schema
from tablespace.core import store as store_module
from tablespace.core.fold import FoldContext
from tablespace.core.fold import context as context_module
from tablespace.core.ops import Op

from .opkit import World, new_store, op_state
from .test_convergence import op_sets


def _fold_op_by_op(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write each op's rows before the next op, and forget every cached thread and post."""
    real = fold.apply_op

    def apply_and_flush(ctx: FoldContext, op: Op) -> str | None:
        reason = real(ctx, op)
        ctx.flush()
        ctx._threads.clear()
        ctx._posts.clear()
        return reason

    monkeypatch.setattr(fold, "apply_op", apply_and_flush)  # the store looks it up there at each fold


def _dump_of(path: Path, group_id: str, ops: list[Op], *, chunk: int) -> str:
    store = new_store(path, group_id)
    for i in range(0, len(ops), chunk):
        store.ingest(ops[i : i + chunk])
    dump = store.canonical_dump()
    store.close()
    return dump


@pytest.mark.slow
@settings(max_examples=60)
@given(op_sets())
def test_batched_fold_gives_the_views_of_an_op_by_op_fold(generated) -> None:
    gid, ops = generated
    ordered = sorted(ops, key=lambda op: op.order_key)
    with tempfile.TemporaryDirectory() as tmp:
        batched = _dump_of(Path(tmp) / "batched.db", gid, ordered, chunk=len(ordered))
        in_chunks = _dump_of(Path(tmp) / "chunks.db", gid, ordered, chunk=3)
        with pytest.MonkeyPatch.context() as mp:
            _fold_op_by_op(mp)
            one_by_one = _dump_of(Path(tmp) / "single.db", gid, ordered, chunk=len(ordered))
    assert batched == one_by_one == in_chunks


def test_a_batch_sees_its_own_threads_and_whatever_interrupts_it(tmp_path) -> None:
    world = World(tmp_path / "w.db", members=1)
    ada, bo = world.founder, world.members[0]
    thread = world.sign(bo, "thread.start", {"title": "Starter", "body": "help", "tags": ["rye"]})
    first = world.sign(ada, "post.reply", {"thread": thread.id, "body": "feed it"})
    gone = world.sign(bo, "post.delete", {"post": thread.id})  # not a batched kind: writes the batch first
    late = world.sign(ada, "post.reply", {"thread": thread.id, "body": "too late"})
    other = world.sign(bo, "thread.start", {"title": "Wins", "body": "", "tags": []})
    replies = [world.sign(ada, "post.reply", {"thread": other.id, "body": f"yes {i}"}) for i in range(3)]
    world.ingest(thread, first, gone, late, other, *replies)

    assert world.state(first) == ("accepted", None)
    assert world.state(late) == ("rejected", "the thread has been deleted")
    assert world.one("SELECT replies, last_activity_hlc FROM threads WHERE id = ?", other.id) == (3, replies[-1].hlc)
    assert world.one("SELECT count(*) FROM thread_tags WHERE thread_id = ?", thread.id) == (0,)
    # A later ingest replies to a thread already in the table.
    world.do(bo, "post.reply", {"thread": other.id, "body": "and again"})
    assert world.one("SELECT replies FROM threads WHERE id = ?", other.id) == (4,)


def test_reactions_in_a_batch_count_once_and_follow_their_post(tmp_path) -> None:
    world = World(tmp_path / "w.db", members=1)
    ada, bo = world.founder, world.members[0]
    thread = world.sign(bo, "thread.start", {"title": "Crumb", "body": "open", "tags": []})
    reply = world.sign(ada, "post.reply", {"thread": thread.id, "body": "tight", "quote": thread.id})
    liked = world.sign(bo, "post.react", {"post": reply.id, "emoji": "👍"})
    again = world.sign(bo, "post.react", {"post": reply.id, "emoji": "👍"})  # the same reaction: kept once
    cheered = world.sign(ada, "post.react", {"post": thread.id, "emoji": "🎉"})
    taken_back = world.sign(ada, "post.unreact", {"post": thread.id, "emoji": "🎉"})
    kept = world.sign(bo, "post.react", {"post": thread.id, "emoji": "🔥"})
    gone = world.sign(ada, "post.delete", {"post": reply.id})  # takes its reactions along
    late = world.sign(bo, "post.react", {"post": reply.id, "emoji": "🔥"})
    world.ingest(thread, reply, liked, again, cheered, taken_back, kept, gone, late)

    assert [world.state(op)[0] for op in (reply, liked, again, cheered, taken_back, kept)] == ["accepted"] * 6
    assert world.one("SELECT quote FROM posts WHERE id = ?", reply.id) == (thread.id,)
    assert world.state(late) == ("rejected", "the post has been deleted")
    assert world.store.conn.execute("SELECT post_id, author, emoji FROM reactions").fetchall() == [
        (thread.id, bo.id, "🔥")
    ]


def test_an_edit_in_a_batch_changes_the_text_and_keeps_the_checks_true(tmp_path) -> None:
    world = World(tmp_path / "w.db", members=1)
    ada, bo = world.founder, world.members[0]
    thread = world.sign(bo, "thread.start", {"title": "Levain", "body": "day one", "tags": []})
    reply = world.sign(ada, "post.reply", {"thread": thread.id, "body": "looks lively"})
    edited = world.sign(ada, "post.edit", {"post": reply.id, "body": "looks lively, @Bo"})
    retitled = world.sign(bo, "post.edit", {"post": thread.id, "title": "Levain, day two", "body": "day two"})
    gone = world.sign(bo, "post.delete", {"post": thread.id})
    late = world.sign(ada, "post.reply", {"thread": thread.id, "body": "where did it go"})
    world.ingest(thread, reply, edited, retitled)
    assert world.one("SELECT body FROM posts WHERE id = ?", reply.id) == ("looks lively, @Bo",)
    assert world.one("SELECT title FROM threads WHERE id = ?", thread.id) == ("Levain, day two",)
    assert world.one("SELECT count(*) FROM mentions WHERE post_id = ?", reply.id) == (1,)
    world.ingest(gone, late)
    assert world.state(late) == ("rejected", "the thread has been deleted")


def test_the_weekly_cap_counts_posts_still_in_the_batch(tmp_path) -> None:
    world = World(tmp_path / "w.db", members=1)
    ada, bo = world.founder, world.members[0]
    world.accepted(ada, "group.edit", {"post_cap": 2})
    ops = [world.sign(bo, "thread.start", {"title": f"t{i}", "body": "", "tags": []}) for i in range(3)]
    world.ingest(*ops)
    assert [world.state(op)[0] for op in ops] == ["accepted", "accepted", "rejected"]


@pytest.mark.slow
@settings(max_examples=60)
@given(op_sets(), st.randoms(use_true_random=False))
def test_ops_filed_in_batches_then_ingested_end_as_if_ingested_at_once(generated, rng) -> None:
    gid, ops = generated
    delivery = list(ops)
    rng.shuffle(delivery)
    with tempfile.TemporaryDirectory() as tmp:
        expected = _dump_of(Path(tmp) / "once.db", gid, sorted(ops, key=lambda op: op.order_key), chunk=len(ops))
        store = new_store(Path(tmp) / "filed.db", gid)
        folded_before = rng.randint(0, len(delivery))
        store.ingest(delivery[:folded_before])
        rest = delivery[folded_before:]
        cuts = sorted(rng.sample(range(len(rest) + 1), k=min(3, len(rest) + 1)))
        with store.db.atomic():
            for start, end in zip([0, *cuts], cuts, strict=False):
                store.file(rest[start:end])
            store.ingest(rest[cuts[-1] :] if cuts else rest)
        assert store.conn.execute("SELECT count(*) FROM filed_ops").fetchone() == (0,)
        assert store.canonical_dump() == expected
        store.close()


def test_a_failed_import_leaves_nothing_filed(tmp_path) -> None:
    world = World(tmp_path / "w.db", members=1)
    bo = world.members[0]
    ops = [world.sign(bo, "thread.start", {"title": f"t{i}", "body": "", "tags": []}) for i in range(3)]
    with pytest.raises(RuntimeError), world.store.db.atomic():
        world.store.file(ops[:2])
        raise RuntimeError("the import stops here")
    assert world.store.conn.execute("SELECT count(*) FROM filed_ops").fetchone() == (0,)
    world.ingest(*ops)
    assert [world.state(op) for op in ops] == [("accepted", None)] * 3


def test_filed_ops_of_a_removed_member_are_rejected_without_a_refold(tmp_path, monkeypatch) -> None:
    """Filed ops are in the log as accepted before they are folded: a removal
    folded in the same pass must not take them for ops accepted earlier."""
    world = World(tmp_path / "w.db", members=1)
    monkeypatch.setattr(world.store, "refold", lambda: pytest.fail("refolded"))
    ada, bo = world.founder, world.members[0]
    world.accepted(bo, "thread.start", {"title": "hello", "body": "", "tags": []})
    removal = world.sign(ada, "member.remove", {"member": bo.id, "last_seq": bo.seq})
    late = [world.sign(bo, "thread.start", {"title": f"late {i}", "body": "", "tags": []}) for i in range(2)]
    with world.store.db.atomic():
        world.store.file(late)
        world.store.ingest([removal])
    assert world.state(removal) == ("accepted", None)
    assert [world.state(op)[0] for op in late] == ["rejected", "rejected"]


@pytest.mark.disk_flushes
def test_a_big_import_swaps_the_wal_for_a_rollback_journal_only_when_alone(tmp_path) -> None:
    """Store.bulk_import: a rollback journal writes a backlog's new pages once,
    not twice; but another open connection keeps the WAL (SQLite refuses the
    switch at once), and the mode and sync level are back as they were after."""
    import sqlite3
    import time

    from tablespace.core.store import Store

    store = new_store(tmp_path / "group.db", "ab" * 16)

    def modes() -> tuple[str, int]:
        return (
            store.conn.execute("PRAGMA journal_mode").fetchone()[0],
            store.conn.execute("PRAGMA synchronous").fetchone()[0],
        )

    with store.bulk_import():
        assert modes() == ("wal", 1)  # a big import but not a huge one: the WAL as usual
    with store.bulk_import(rollback_journal=True), store.db.atomic():
        assert modes() == ("delete", 2)  # FULL: a power cut mid-import cannot corrupt it
        store.set_meta("imported", "first")
        # the app or another command opening the group meanwhile reads what was there
        opened = Store(tmp_path / "group.db")
        assert opened.get_meta("imported") is None
    assert modes() == ("wal", 1)
    assert opened.get_meta("imported") == "first"
    opened.close()
    other = sqlite3.connect(tmp_path / "group.db")
    try:
        other.execute("SELECT count(*) FROM ops").fetchone()
        started = time.monotonic()
        with store.bulk_import(rollback_journal=True), store.db.atomic():
            assert modes() == ("wal", 1)
            store.set_meta("imported", "yes")
        # the refusal is taken at once, not after the 5 s busy timeout (which stays as it was)
        assert time.monotonic() - started < 2.5
        assert store.conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
        assert other.execute("SELECT value FROM meta WHERE key = 'imported'").fetchone() == ("yes",)
    finally:
        other.close()
    assert modes() == ("wal", 1)


def test_an_edit_of_an_older_post_or_of_a_batched_one_leaves_the_batch_growing(tmp_path, monkeypatch) -> None:
    """An edit reads and writes its own post's rows only: of a post already
    in the table it runs beside the pending batch; of one still in the batch
    it edits the pending row (text, title, mentions, edit time). Either way
    the views, mentions' times and thread_newest (kept by triggers in a fold
    this small) are those of folding op by op."""
    world = World(tmp_path / "w.db", members=2)
    ada, bo, cy = world.founder, *world.members
    older = world.do(bo, "thread.start", {"title": "Starter", "body": "help", "tags": []})
    first = world.sign(ada, "post.reply", {"thread": older.id, "body": "feed it"})
    edit_older = world.sign(bo, "post.edit", {"post": older.id, "body": "help @Ada", "title": "Starter, fed"})
    second = world.sign(ada, "post.reply", {"thread": older.id, "body": "and wait"})
    fresh = world.sign(bo, "thread.start", {"title": "Wins", "body": "thanks @Ada", "tags": []})
    edit_fresh = world.sign(bo, "post.edit", {"post": fresh.id, "body": "a loaf, @ADA and @cy", "title": "Wins!"})
    third = world.sign(ada, "post.reply", {"thread": fresh.id, "body": "well done"})
    edit_third = world.sign(ada, "post.edit", {"post": third.id, "body": "well done, bo"})
    written: list[int] = []
    real_flush = FoldContext.flush

    def counted(ctx: FoldContext) -> None:
        if ctx._batch:
            written.append(len(ctx._batch.posts))
        real_flush(ctx)

    monkeypatch.setattr(FoldContext, "flush", counted)
    world.ingest(first, edit_older, second, fresh, edit_fresh, third, edit_third)

    assert written == [4]  # first, second, fresh and third: no edit wrote the batch
    assert world.one("SELECT title, replies FROM threads WHERE id = ?", older.id) == ("Starter, fed", 2)
    assert world.one("SELECT body, edited_hlc FROM posts WHERE id = ?", older.id) == ("help @Ada", edit_older.hlc)
    assert world.one("SELECT member FROM mentions WHERE post_id = ?", older.id) == (ada.id,)
    assert world.one("SELECT title, replies FROM threads WHERE id = ?", fresh.id) == ("Wins!", 1)
    assert world.one("SELECT body, edited_hlc FROM posts WHERE id = ?", fresh.id) == (
        "a loaf, @ADA and @cy",
        edit_fresh.hlc,
    )
    assert world.store.conn.execute(
        "SELECT member, hlc FROM mentions WHERE post_id = ? ORDER BY hlc", (fresh.id,)
    ).fetchall() == [(ada.id, fresh.hlc), (cy.id, edit_fresh.hlc)]  # a kept mention keeps its time
    assert world.one("SELECT body, edited_hlc FROM posts WHERE id = ?", third.id) == ("well done, bo", edit_third.hlc)
    newest = world.store.conn.execute("SELECT thread_id, hlc FROM thread_newest ORDER BY thread_id").fetchall()
    batched = world.store.canonical_dump()
    monkeypatch.setattr(FoldContext, "flush", real_flush)
    _fold_op_by_op(monkeypatch)
    world.store.rebuild()
    assert world.store.canonical_dump() == batched
    assert dict(newest) == {older.id: second.hlc, fresh.id: edit_third.hlc}


def test_a_bulk_fold_indexes_text_as_the_triggers_do_and_keeps_the_small_term_buffer(tmp_path, monkeypatch) -> None:
    """A bulk fold drops the FTS triggers and rebuilds each index in one pass
    with a big term buffer ('hashsize'); search must find the same posts as
    row-by-row indexing, and later transactions get the default buffer back."""

    def searchable(bulk_min: int, name: str) -> tuple[list[str], tuple | None]:
        monkeypatch.setattr(store_module, "BULK_FOLD_MIN", bulk_min)
        world = World(tmp_path / name, members=1)
        ops = []
        for i, word in enumerate(["rye", "spelt", "rye"]):
            thread = world.sign(
                world.members[0], "thread.start", {"title": f"loaf {i}", "body": f"a {word} starter", "tags": []}
            )
            ops += [thread, world.sign(world.founder, "post.reply", {"thread": thread.id, "body": f"more {word}"})]
        world.store.ingest(ops)  # one batch: bulk when bulk_min <= 6
        found = [
            r[0]
            for r in world.store.conn.execute(
                "SELECT body FROM posts WHERE rowid IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH 'rye') "
                "ORDER BY body"
            )
        ]
        hashsize = world.one("SELECT v FROM posts_fts_config WHERE k = 'hashsize'")
        world.store.close()
        return found, hashsize

    by_triggers, untouched = searchable(10_000, "triggers.db")
    assert by_triggers == ["a rye starter", "a rye starter", "more rye", "more rye"]
    assert untouched is None  # row by row: the buffer was never set
    by_rebuild, restored = searchable(1, "bulk.db")
    assert by_rebuild == by_triggers
    assert restored == (store_module.FTS_HASH_BYTES,)  # the rebuild ran, and set the buffer back


def test_a_bulk_fold_keeps_thread_newest_as_the_triggers_do_and_puts_them_back(tmp_path, monkeypatch) -> None:
    """A bulk fold drops thread_newest's triggers with the search index's, and
    the log's indexes while it writes the log, and catches the table up in one
    statement: each thread's newest post, edit or reaction, as row-by-row
    triggers give; after it every trigger and index is back as it was and
    keeps the table as before."""

    def newest(bulk_min: int, name: str) -> tuple[list[tuple], list[tuple], list[tuple]]:
        monkeypatch.setattr(store_module, "BULK_FOLD_MIN", bulk_min)
        world = World(tmp_path / name, members=1)
        bo = world.members[0]
        ops = []
        for i in range(3):
            thread = world.sign(bo, "thread.start", {"title": f"loaf {i}", "body": "a starter", "tags": []})
            reply = world.sign(world.founder, "post.reply", {"thread": thread.id, "body": "more"})
            ops += [thread, reply]
            if i > 0:
                ops.append(world.sign(bo, "post.react", {"post": reply.id, "emoji": "👍"}))
            if i > 1:
                ops.append(world.sign(world.founder, "post.edit", {"post": reply.id, "body": "much more"}))
        world.store.ingest(ops)  # one batch: bulk when bulk_min <= len(ops)
        after = _thread_newest(world)
        schema = world.store.conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'index') ORDER BY name"
        ).fetchall()
        later = world.sign(bo, "post.reply", {"thread": ops[0].id, "body": "still here"})
        world.ingest(later)  # row by row again
        then = _thread_newest(world)
        world.store.close()
        return after, schema, then

    by_triggers = newest(10_000, "triggers.db")
    # from the first thread: its reply; the second's reaction; the third's edit
    assert [hlc for _, hlc in by_triggers[0]] == [1, 4, 8]
    assert newest(1, "bulk.db") == by_triggers


def _thread_newest(world: World) -> list[tuple]:
    base = world.one("SELECT min(created_hlc) FROM threads")[0]
    return world.store.conn.execute(
        "SELECT t.title, n.hlc - ? FROM thread_newest n JOIN threads t ON t.id = n.thread_id ORDER BY t.title", (base,)
    ).fetchall()


def _dumps_by_chunking(tmp_path: Path, world: World, ops: list[Op]) -> dict[str, str]:
    """The canonical dump of a fresh replica of `world`'s group after each way
    of taking in `world.log` and then `ops`: at once, in chunks of three, one
    op per ingest, and folding op by op (flushing after each)."""
    ordered = sorted([*world.log, *ops], key=lambda op: op.order_key)
    dumps = {
        "at once": _dump_of(tmp_path / "once.db", world.group_id, ordered, chunk=len(ordered)),
        "in threes": _dump_of(tmp_path / "threes.db", world.group_id, ordered, chunk=3),
        "one by one": _dump_of(tmp_path / "ones.db", world.group_id, ordered, chunk=1),
    }
    with pytest.MonkeyPatch.context() as mp:
        _fold_op_by_op(mp)
        dumps["op by op"] = _dump_of(tmp_path / "op_by_op.db", world.group_id, ordered, chunk=len(ordered))
    return dumps


def _ways_that_agree(dumps: dict[str, str]) -> list[list[str]]:
    groups: dict[str, list[str]] = {}
    for way, dump in dumps.items():
        groups.setdefault(dump, []).append(way)
    return list(groups.values())


def test_a_refusal_in_a_time_out_ended_later_names_the_end_it_had(tmp_path) -> None:
    """A time-out that reaches back makes the store fold again with the
    windows the last pass found, one of them since ended early. An op refused
    inside it names the end the time-out had at that op, in every way of
    taking the ops in, not the later early end."""
    world = World(tmp_path / "w.db", members=1)
    ada, bo = world.founder, world.members[0]
    unseen = world.sign(bo, "thread.start", {"title": "unseen", "body": "", "tags": []})
    timeout = world.sign(ada, "member.timeout", {"member": bo.id, "last_seq": 0, "until": "2025-01-07T12:00:00Z"})
    during = world.sign(bo, "thread.start", {"title": "during", "body": "", "tags": []})
    end = world.sign(ada, "member.timeout_end", {"member": bo.id})
    dumps = _dumps_by_chunking(tmp_path, world, [unseen, timeout, during, end])

    assert _ways_that_agree(dumps) == [list(dumps)]
    once = new_store(tmp_path / "check.db", world.group_id)
    once.ingest([*world.log, unseen, timeout, during, end])
    assert op_state(once, during) == ("rejected", "the author is timed out until 2025-01-07T12:00:00Z")
    assert op_state(once, unseen) == ("rejected", "the author is timed out until 2025-01-07T12:00:00Z")
    once.close()


def _world_where_bo_sorts(tmp_path: Path, before_ada: bool) -> World:
    """A World whose member Bo's ops sort before the founder's at the same time, or after."""
    for attempt in range(64):
        world = World(tmp_path / f"{before_ada}-{attempt}.db", members=1)
        if (world.members[0].id < world.founder.id) == before_ada:
            return world
        world.store.close()
    raise AssertionError("no such pair of keys in 64 tries")


@pytest.mark.parametrize("before_ada", [True, False], ids=["sorting-before-the-end", "sorting-after-the-end"])
def test_an_op_dated_at_a_time_out_end_gets_one_verdict_in_any_chunking(tmp_path, before_ada) -> None:
    """An op of the timed-out member with the same time as the early end,
    sorting before it or after it (by author): one verdict however the ops
    arrive, although a refold knows of the end before it reaches the op."""
    world = _world_where_bo_sorts(tmp_path, before_ada)
    ada, bo = world.founder, world.members[0]
    unseen = world.sign(bo, "thread.start", {"title": "unseen", "body": "", "tags": []})
    timeout = world.sign(ada, "member.timeout", {"member": bo.id, "last_seq": 0, "until": "2025-01-07T12:00:00Z"})
    end = world.sign(ada, "member.timeout_end", {"member": bo.id})
    same_time = world.sign(bo, "thread.start", {"title": "at the end", "body": "", "tags": []}, hlc=end.hlc)
    after = world.sign(bo, "thread.start", {"title": "after", "body": "", "tags": []})
    dumps = _dumps_by_chunking(tmp_path, world, [unseen, timeout, end, same_time, after])
    assert _ways_that_agree(dumps) == [list(dumps)]


def test_an_early_end_leaves_a_later_time_out_whole_when_folded_again(tmp_path) -> None:
    """A second time-out after one ended early reaches back, so the store
    folds again knowing both; the end, folded before the second time-out,
    must not end it too."""
    world = World(tmp_path / "w.db", members=1)
    ada, bo = world.founder, world.members[0]
    world.accepted(ada, "member.timeout", {"member": bo.id, "last_seq": 0, "until": "2025-01-07T12:00:00Z"})
    world.accepted(ada, "member.timeout_end", {"member": bo.id})
    world.accepted(bo, "thread.start", {"title": "free again", "body": "", "tags": []})
    unseen = world.sign(bo, "thread.start", {"title": "unseen", "body": "", "tags": []})
    again = world.sign(ada, "member.timeout", {"member": bo.id, "last_seq": 1, "until": "2025-01-07T12:00:00Z"})
    world.ingest(unseen, again)
    assert world.state(unseen) == ("rejected", "the author is timed out until 2025-01-07T12:00:00Z")
    during = world.rejected(bo, "thread.start", {"title": "during", "body": "", "tags": []})
    assert during == "the author is timed out until 2025-01-07T12:00:00Z"
    dumps = _dumps_by_chunking(tmp_path, world, [])
    assert _ways_that_agree(dumps) == [list(dumps)]


def test_a_bulk_fold_folds_without_the_indexes_only_reads_use_and_makes_them_again(tmp_path, monkeypatch) -> None:
    """The indexes only reads use (schema.READ_INDEXES) are all in a new
    database; a bulk fold runs without them and leaves each as it was."""
    monkeypatch.setattr(store_module, "BULK_FOLD_MIN", 1)
    world = World(tmp_path / "w.db", members=1)
    conn = world.store.conn

    def indexes() -> dict[str, str]:
        return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))

    before = indexes()
    assert set(schema.READ_INDEXES) <= before.keys()
    seen: list[set[str]] = []
    real = fold.apply_op

    def looking(ctx: FoldContext, op: Op) -> object:
        seen.append(set(schema.READ_INDEXES) & indexes().keys())
        return real(ctx, op)

    monkeypatch.setattr(fold, "apply_op", looking)
    thread = world.sign(world.members[0], "thread.start", {"title": "loaf", "body": "@Ada", "tags": []})
    world.ingest(thread, world.sign(world.founder, "post.reply", {"thread": thread.id, "body": "more"}))
    assert seen == [set(), set()]
    assert indexes() == before
    assert world.one("SELECT count(*) FROM posts INDEXED BY posts_thread_author") == (2,)


def test_a_bulk_fold_writes_the_log_through_its_state_indexes_and_remakes_the_others(tmp_path, monkeypatch) -> None:
    """The log's partial state indexes stay through a bulk insert (its rows
    mostly fall outside them; making one again scans the whole log) and hold
    the refused op it writes; its other indexes are dropped and made again."""
    monkeypatch.setattr(store_module, "BULK_FOLD_MIN", 1)
    world = World(tmp_path / "w.db", members=1)
    conn = world.store.conn
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    (bo,) = world.members
    thread = world.sign(bo, "thread.start", {"title": "loaf", "body": "crumb", "tags": []})
    refused = world.sign(bo, "post.edit", {"post": thread.id, "body": "x", "title": "y\nz"})
    world.ingest(thread, refused)
    conn.set_trace_callback(None)
    dropped = {sql.split()[2] for sql in statements if sql.startswith("DROP INDEX ops_")}
    assert dropped == {"ops_chain", "ops_order"}
    assert op_state(world.store, refused)[0] == "rejected"
    assert conn.execute("SELECT id FROM ops INDEXED BY ops_rejected WHERE state = 'rejected'").fetchall() == [
        (refused.id,)
    ]
    assert world.one("SELECT count(*) FROM ops INDEXED BY ops_order") == world.one("SELECT count(*) FROM ops")


def test_a_long_run_of_posts_is_written_in_parts_of_at_most_batch_rows(tmp_path, monkeypatch) -> None:
    """The write-behind holds at most BATCH_ROWS posts and reactions: a
    backlog's text is not all held in memory at once. The views are the same."""
    monkeypatch.setattr(context_module, "BATCH_ROWS", 2)
    world = World(tmp_path / "w.db", members=1)
    ada, bo = world.founder, world.members[0]
    thread = world.sign(bo, "thread.start", {"title": "Starter", "body": "help", "tags": []})
    replies = [world.sign(ada, "post.reply", {"thread": thread.id, "body": f"try {i}"}) for i in range(3)]
    liked = world.sign(bo, "post.react", {"post": replies[0].id, "emoji": "👍"})
    written: list[tuple[int, int]] = []
    real_flush = FoldContext.flush

    def counted(ctx: FoldContext) -> None:
        if ctx._batch:
            written.append((len(ctx._batch.posts), len(ctx._batch.reactions)))
        real_flush(ctx)

    monkeypatch.setattr(FoldContext, "flush", counted)
    world.ingest(thread, *replies, liked)
    assert written == [(2, 0), (2, 0), (0, 1)]
    assert world.one("SELECT replies FROM threads WHERE id = ?", thread.id) == (3,)
    batched = world.store.canonical_dump()
    monkeypatch.setattr(FoldContext, "flush", real_flush)
    _fold_op_by_op(monkeypatch)
    world.store.rebuild()
    assert world.store.canonical_dump() == batched
