"""A refusal keeps its kind from the fold's handler to the log to the user:
the exit code and the "you" / "the author" wording come from the kind and
its data, never from the words of the reason."""

from __future__ import annotations

import pytest

from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.errors import (
    PermissionDenied,
    Refusal,
    RefusalKind,
    Rejected,
    TablespaceError,
    UsageError,
)
from tablespace.core.identity import Identity
from tablespace.core.store import Store

from .opkit import Feed, World, new_store
from .test_fold import start

DAY = 24 * 3600 * 1000 << 16


@pytest.fixture
def world(tmp_path) -> World:
    """Ada (founder, moderator), Bo and Cy (members)."""
    return World(tmp_path / "world.db", members=2)


def timed_out_reply(world: World) -> str:
    """Bo, timed out by Ada, replies anyway: the id of the refused reply."""
    ada, bo = world.founder, world.members[0]
    thread = start(world, ada)
    until = world.hlc + 3 * DAY
    world.accepted(ada, "member.timeout", {"member": bo.id, "until": iso(hlc_to_datetime(until)), "last_seq": bo.seq})
    world.rejected(bo, "post.reply", {"thread": thread, "body": "let me speak"})
    return world.log[-1].id


def refusal_columns(store: Store, op_id: str) -> tuple:
    return store.conn.execute("SELECT reason_kind, reason_data FROM ops WHERE id = ?", (op_id,)).fetchone()


def test_a_refused_op_keeps_its_kind_and_data_in_the_log(world) -> None:
    refused = timed_out_reply(world)
    kind, data = refusal_columns(world.store, refused)
    assert kind == "timed_out" and '"until"' in data
    stranger = Feed(Identity.generate(), world.group_id)
    world.rejected(stranger, "thread.start", {"title": "hi", "body": "", "tags": []})
    assert refusal_columns(world.store, world.log[-1].id) == ("not_member", "{}")
    world.rejected(world.members[1], "post.edit", {"post": "0" * 32, "body": "x"})
    assert refusal_columns(world.store, world.log[-1].id) == ("missing", None)  # the reason's text says it all


def test_the_authors_own_wording_comes_from_the_stored_kind_not_the_text(world) -> None:
    refused = timed_out_reply(world)
    bo = world.members[0]
    ((kind, refusal),) = world.store.refused_ops(bo.id).values()
    assert kind == "post.reply"
    assert refusal.kind is RefusalKind.TIMED_OUT
    assert refusal.for_author().startswith("you are timed out until 20")
    assert refusal.for_others().startswith("the author is timed out until 20")
    # Whatever the reason column says, the kind and data word it.
    world.store.conn.execute("UPDATE ops SET reason = 'only a moderator can say' WHERE id = ?", (refused,))
    ((_, again),) = world.store.refused_ops(bo.id).values()
    assert again.for_author() == refusal.for_author()


@pytest.mark.parametrize(
    ("refused", "own", "others"),
    [
        (
            Rejected.not_member(),
            "you are not a member of this group yet: a moderator has to admit you (then run `tablespace sync`)",
            "the author is not a member of this group",
        ),
        (
            Rejected.gone(),
            "you are no longer a member of this group (you left or were removed)",
            "the author's membership had ended when they wrote this",
        ),
        (Rejected.gone("removed"), "your membership is removed", "the author's membership is removed"),
        (
            Rejected.device_removed(),
            "this device was removed by another of your devices: write from one you still have",
            "the author's device had been removed when this was written",
        ),
        (
            Rejected.timed_out("2026-11-24T09:00:00Z"),
            "you are timed out until 2026-11-24T09:00:00Z",
            "the author is timed out until 2026-11-24T09:00:00Z",
        ),
        (
            Rejected.post_cap(3, 3, "2026-11-30T09:00:00Z"),
            (
                "you have written 3 posts in the last 7 days, the group's weekly cap (3); the next one can go after "
                "2026-11-30T09:00:00Z"
            ),
            (
                "the author has written 3 posts in the last 7 days, the group's weekly cap (3); the next one can go after "
                "2026-11-30T09:00:00Z"
            ),
        ),
        (
            Rejected.role_needed("moderator", "pin threads"),
            "only a moderator can pin threads",
            "only a moderator can pin threads",
        ),
        (
            Rejected.role_needed("moderator", "pin threads", revoked=True),
            "only a moderator can pin threads: your role had been taken away",
            "only a moderator can pin threads: the author's role had been taken away",
        ),
        (
            Rejected.backdated(),
            "dated before your previous change (your clock was set back)",
            "dated before the author's previous change (their clock was set back)",
        ),
        (
            Rejected.fork(4),
            "you signed two different ops as seq 4 (a fork); your ops from there on are set aside",
            "the author signed two different ops as seq 4 (a fork); their ops from there on are set aside",
        ),
        (
            Rejected.permission("only the author can edit a post"),
            "only the author can edit a post",
            "only the author can edit a post",
        ),
    ],
)
def test_a_refusal_is_worded_for_its_author_and_for_everyone_else(refused, own, others) -> None:
    refusal = refused.refusal
    assert (refusal.for_author(), refusal.for_others()) == (own, others)
    stored = Refusal.from_log(refusal.kind.value, refusal.for_others(), refusal.stored_data())
    assert (stored.for_author(), stored.for_others()) == (own, others)  # the same once read back from the log


@pytest.mark.parametrize(
    ("kind", "text", "error", "code"),
    [
        (RefusalKind.PERMISSION, "the words do not matter", PermissionDenied, 3),
        (RefusalKind.REFUSED, "only a moderator can do this", TablespaceError, 1),  # reads like one; is not
        (RefusalKind.INVALID, "only an opening post has a title", TablespaceError, 1),
        (RefusalKind.CONFLICT, "the author is not a member of this group", TablespaceError, 1),
        (RefusalKind.USAGE, "give a title", UsageError, 2),
    ],
)
def test_the_exit_code_comes_from_the_kind_not_the_words(kind, text, error, code) -> None:
    raised = Refusal(kind, text).error()
    assert type(raised) is error and raised.exit_code == code and str(raised) == text


@pytest.mark.parametrize("refused", [Rejected.not_member(), Rejected.gone(), Rejected.timed_out("then")])
def test_not_being_an_active_member_is_a_permission_refusal(refused) -> None:
    assert refused.refusal.error().exit_code == 3


def test_a_log_from_before_refusal_kinds_gets_them_on_the_next_open(world, tmp_path) -> None:
    refused = timed_out_reply(world)
    store = world.store
    # As an older version left it: reasons only, and no m017.
    store.conn.execute("ALTER TABLE ops DROP COLUMN reason_kind")
    store.conn.execute("ALTER TABLE ops DROP COLUMN reason_data")
    store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm017_refusal_kinds'")
    store.close()
    reopened = Store(store.path)
    fresh = new_store(tmp_path / "fresh.db", world.group_id)
    try:
        assert refusal_columns(reopened, refused)[0] == "timed_out"
        ((_, refusal),) = reopened.refused_ops(world.members[0].id).values()
        assert refusal.for_author().startswith("you are timed out until")
        fresh.ingest(world.log)
        assert reopened.canonical_dump() == fresh.canonical_dump()
    finally:
        reopened.close()
        fresh.close()


def test_a_rebuild_keeps_every_refusals_kind(world) -> None:
    timed_out_reply(world)
    world.rejected(Feed(Identity.generate(), world.group_id), "thread.start", {"title": "hi", "body": "", "tags": []})
    before = world.store.canonical_dump()
    assert '"timed_out"' in before and '"not_member"' in before  # the dump compares kinds too
    world.store.rebuild()
    assert world.store.canonical_dump() == before
