"""Display names are unique in a group, as the fold decides: no member can
take a name another member has (or had), whatever case, width or invisible
characters set the two apart, by admission, rename or a crafted op."""

from __future__ import annotations

import pytest

from tablespace.core.identity import Identity
from tablespace.core.refs import resolve_member
from tablespace.core.store import Store

from .opkit import Feed, World, found, member_add_payload, new_store, op_state

# Each of these is "Ada" to a reader (the founder's name in World).
SAME_AS_ADA = [
    "ada",
    "ADA",
    "ａｄａ",  # case, full width
    "A\u200bda",
    "Ad\u2060a",
    "A\u00adda",
    "Ada\ufeff",
    "Ada\u2063",  # invisible characters
    "Ａda",
]


@pytest.fixture
def world(tmp_path) -> World:
    """Ada (founder, moderator), Bo and Cy (members)."""
    return World(tmp_path / "world.db", members=2)


def newcomer(world: World, name: str) -> tuple[Feed, str | None]:
    """A moderator's admission of someone new under `name`: their feed and the
    fold's reason for refusing it (None: admitted)."""
    feed = Feed(Identity.generate(), world.group_id)
    op = world.do(world.founder, "member.add", member_add_payload(feed.identity, name))
    return feed, world.state(op)[1]


def names(world: World) -> list[str]:
    return sorted(r[0] for r in world.store.conn.execute("SELECT name FROM members"))


@pytest.mark.parametrize("name", SAME_AS_ADA)
def test_an_admission_under_a_name_a_member_has_is_refused(world, name) -> None:
    feed, reason = newcomer(world, name)
    assert reason is not None and "display name is taken" in reason and "'Ada'" in reason
    assert world.one("SELECT 1 FROM members WHERE id = ?", feed.id) is None
    assert names(world) == ["Ada", "Bo", "Cy"]


def test_a_turkish_dotted_capital_i_is_the_same_letter(world) -> None:
    newcomer(world, "alice")
    assert newcomer(world, "ALİCE")[1] is not None


@pytest.mark.parametrize("name", ["Adam", "A da", "Adá", "Eve"])
def test_a_different_name_is_admitted(world, name) -> None:
    assert newcomer(world, name)[1] is None


def test_a_name_of_invisible_characters_only_is_refused(world) -> None:
    assert newcomer(world, "\u200b\u2060")[1] == "display name has no visible characters"


def test_a_rename_to_another_members_name_is_refused(world) -> None:
    bo = world.members[0]
    for name in ("ADA", "ｃｙ", "C\u200by"):
        assert "display name is taken" in world.rejected(bo, "member.profile", {"name": name})
    assert names(world) == ["Ada", "Bo", "Cy"]


def test_a_member_may_rename_to_another_form_of_their_own_name(world) -> None:
    bo = world.members[0]
    world.accepted(bo, "member.profile", {"name": "BO"})
    assert names(world) == ["Ada", "BO", "Cy"]


def test_a_name_given_up_by_a_rename_is_free_again(world) -> None:
    """Posts show their author's current name: "Bo" no longer names anyone."""
    bo = world.members[0]
    world.accepted(bo, "member.profile", {"name": "Bob"})
    assert newcomer(world, "bo")[1] is None


@pytest.mark.parametrize("departure", ["member.leave", "member.remove"])
def test_the_name_of_a_member_who_went_stays_taken(world, departure) -> None:
    """Their old posts still show it: a newcomer must not pass as them."""
    cy = world.members[1]
    if departure == "member.leave":
        world.accepted(cy, "member.leave", {})
    else:
        world.accepted(world.founder, "member.remove", {"member": cy.id, "last_seq": cy.seq})
    assert "display name is taken" in newcomer(world, "CY")[1]


def test_a_member_who_went_may_come_back_under_their_own_name(world) -> None:
    cy = world.members[1]
    world.accepted(cy, "member.leave", {})
    world.accepted(world.founder, "member.add", member_add_payload(cy.identity, "cy"))
    assert world.one("SELECT name, status FROM members WHERE id = ?", cy.id) == ("cy", "active")


def test_a_founder_name_of_invisible_characters_only_is_refused(tmp_path) -> None:
    genesis, _ = found(Identity.generate(), founder_name="\u200b")
    store = new_store(tmp_path / "g.db", genesis.id)
    store.ingest([genesis])
    assert op_state(store, genesis) == ("rejected", "display name has no visible characters")


def two_admissions_of_one_name(world: World) -> tuple[Feed, Feed, list]:
    """Two moderators (Ada, and Bo made one) admit two people as "Eve" and
    "EVE", Bo's one HLC later: each signed without seeing the other's."""
    bo = world.members[0]
    world.accepted(world.founder, "role.grant", {"member": bo.id, "role": "moderator"})
    first, second = Feed(Identity.generate(), world.group_id), Feed(Identity.generate(), world.group_id)
    hlc = world.next_hlc()
    ops = [
        world.founder.op("member.add", member_add_payload(first.identity, "Eve"), hlc=hlc),
        bo.op("member.add", member_add_payload(second.identity, "EVE"), hlc=hlc + 1),
    ]
    world.hlc = hlc + 1
    return first, second, ops


def test_two_admissions_of_one_name_leave_one_winner_in_any_arrival_order(world, tmp_path) -> None:
    first, second, ops = two_admissions_of_one_name(world)
    dumps = []
    for order, ops_in in (("in", ops), ("reversed", ops[::-1])):
        store = new_store(tmp_path / f"{order}.db", world.group_id)
        store.ingest(world.log)
        for op in ops_in:  # one at a time: the later one arrives in a sync of its own
            store.ingest([op])
        assert op_state(store, ops[0]) == ("accepted", None)
        assert op_state(store, ops[1])[0] == "rejected" and "display name is taken" in op_state(store, ops[1])[1]
        assert store.conn.execute("SELECT id FROM members WHERE name_key = 'eve'").fetchall() == [(first.id,)]
        dumps.append(store.canonical_dump())
        store.rebuild()
        assert store.canonical_dump() == dumps[-1]
        store.close()
    assert dumps[0] == dumps[1]


def test_resolving_a_member_by_name_compares_names_as_the_fold_does(world) -> None:
    bo = world.members[0]
    for typed in ("bo", "ＢＯ", "B\u200bo", " Bo "):
        assert resolve_member(world.store.conn, typed) == bo.id


def test_a_log_that_let_two_members_share_a_name_folds_again_on_opening(tmp_path) -> None:
    """A replica folded before names were unique holds "Eve" twice. On
    opening it, the migration re-folds once: the later admission is refused
    (and what its member wrote with it), nothing crashes, nothing leaves the
    log, and the views equal those of a replica folding the log afresh."""
    world = World(tmp_path / "old.db", members=1)
    first, second, ops = two_admissions_of_one_name(world)
    world.ingest(*ops)
    post = world.sign(second, "thread.start", {"title": "hi", "body": "it is me", "tags": []})
    world.ingest(post)
    store = world.store
    # As an older version left it: both admitted, no name keys, and no m016.
    store.conn.execute("UPDATE ops SET state = 'accepted', reason = NULL WHERE id IN (?, ?)", (ops[1].id, post.id))
    store.conn.execute(
        "INSERT INTO members (id, name, status, public_key, joined_hlc) VALUES (?, 'EVE', 'active', ?, ?)",
        (second.id, second.identity.public_key.hex(), ops[1].hlc),
    )
    store.conn.execute("DROP INDEX members_name_key")
    store.conn.execute("ALTER TABLE members DROP COLUMN name_key")
    store.conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm016_unique_display_names'")
    store.close()
    reopened = Store(store.path)
    fresh = new_store(tmp_path / "fresh.db", world.group_id)
    try:
        assert op_state(reopened, ops[1])[0] == "rejected"
        assert op_state(reopened, post) == ("rejected", "the author is not a member of this group")
        assert reopened.conn.execute("SELECT count(*) FROM ops").fetchone()[0] == len(world.log)
        assert reopened.conn.execute("SELECT id, name FROM members WHERE name_key = 'eve'").fetchall() == [
            (first.id, "Eve")
        ]
        fresh.ingest(world.log)
        assert reopened.canonical_dump() == fresh.canonical_dump()
    finally:
        reopened.close()
        fresh.close()
