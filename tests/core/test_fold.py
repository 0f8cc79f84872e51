"""One test per fold rule. Rejected ops stay in the log, marked, with a reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tablespace import actions
from tablespace.core import calendar_queries, post_queries, search_queries, thread_queries
from tablespace.core.errors import PermissionDenied, TablespaceError
from tablespace.core.fold import derived_id
from tablespace.core.group import Group
from tablespace.core.home import DB_NAME, KEY_NAME, LOCAL_NAME, GroupEntry, Home
from tablespace.core.identity import Identity

from .opkit import Feed, World, member_add_payload, new_store


@pytest.fixture
def world(tmp_path) -> World:
    """Ada (founder, moderator), Bo and Cy (members)."""
    return World(tmp_path / "world.db", members=2)


def start(
    world: World,
    feed: Feed,
    title: str = "Starter help",
    body: str = "my starter is sluggish",
    tags: list[str] | None = None,
) -> str:
    return world.accepted(feed, "thread.start", {"title": title, "body": body, "tags": tags or []}).id


def reply(world: World, feed: Feed, thread: str, body: str = "feed it twice a day") -> str:
    return world.accepted(feed, "post.reply", {"thread": thread, "body": body}).id


def post_row(world: World, post: str) -> tuple:
    return world.one("SELECT body, deleted, edited_hlc FROM posts WHERE id = ?", post)


# --- editing -------------------------------------------------------------------


def test_only_the_author_edits_a_post(world):
    ada, (bo, cy) = world.founder, world.members
    thread = start(world, bo)
    answer = reply(world, cy, thread, "original")

    assert (
        world.rejected(ada, "post.edit", {"post": answer, "body": "moderator rewrite"})
        == "only the author can edit a post"
    )  # not even a moderator
    assert (
        world.rejected(bo, "post.edit", {"post": answer, "body": "thread author rewrite"})
        == "only the author can edit a post"
    )
    assert post_row(world, answer)[:2] == ("original", 0)
    assert post_row(world, answer)[2] is None

    op = world.accepted(cy, "post.edit", {"post": answer, "body": "better"})
    assert post_row(world, answer) == ("better", 0, op.hlc)


def test_title_edit_only_on_an_opening_post(world):
    bo = world.members[0]
    thread = start(world, bo, title="Old title")
    answer = reply(world, bo, thread)
    assert (
        world.rejected(bo, "post.edit", {"post": answer, "body": "x", "title": "New"})
        == "only an opening post has a title"
    )
    world.accepted(bo, "post.edit", {"post": thread, "body": "b", "title": "New title"})
    assert world.one("SELECT title FROM threads WHERE id = ?", thread) == ("New title",)


# --- deleting ------------------------------------------------------------------


def test_author_or_moderator_deletes_nobody_else(world):
    ada, (bo, cy) = world.founder, world.members
    thread = start(world, bo)
    first, second = reply(world, bo, thread, "one"), reply(world, bo, thread, "two")

    assert world.rejected(cy, "post.delete", {"post": first}) == "only the author or a moderator can delete a post"
    assert post_row(world, first)[:2] == ("one", 0)
    world.accepted(bo, "post.delete", {"post": first})  # the author
    world.accepted(ada, "post.delete", {"post": second})  # a moderator
    assert post_row(world, first)[:2] == ("", 1) and post_row(world, second)[:2] == ("", 1)
    assert world.one("SELECT replies, deleted FROM threads WHERE id = ?", thread) == (0, 0)


def test_deleting_a_reply_recomputes_thread_activity(world):
    bo, cy = world.members
    thread = start(world, bo)
    created = world.one("SELECT created_hlc FROM threads WHERE id = ?", thread)[0]
    first = reply(world, cy, thread)
    second_op = world.accepted(cy, "post.reply", {"thread": thread, "body": "two"})
    world.accepted(cy, "post.delete", {"post": second_op.id})
    first_hlc = world.one("SELECT created_hlc FROM posts WHERE id = ?", first)[0]
    assert world.one("SELECT replies, last_activity_hlc FROM threads WHERE id = ?", thread) == (1, first_hlc)
    world.accepted(cy, "post.delete", {"post": first})
    assert world.one("SELECT replies, last_activity_hlc FROM threads WHERE id = ?", thread) == (0, created)


def test_deleting_the_opening_post_deletes_the_thread(world):
    ada, (bo, cy) = world.founder, world.members
    thread = start(world, bo, tags=["bread"])
    answer = reply(world, cy, thread)
    world.accepted(cy, "post.react", {"post": answer, "emoji": "👍"})
    world.accepted(ada, "thread.pin", {"thread": thread, "pinned": True})

    world.accepted(bo, "post.delete", {"post": thread})
    assert world.one("SELECT title, deleted, replies, pinned FROM threads WHERE id = ?", thread) == ("", 1, 0, 0)
    assert world.one("SELECT count(*) FROM posts WHERE thread_id = ? AND deleted = 0", thread) == (0,)
    assert world.one("SELECT count(*) FROM posts WHERE thread_id = ? AND body != ''", thread) == (0,)
    assert world.one("SELECT count(*) FROM reactions") == (0,)
    assert world.one("SELECT count(*) FROM thread_tags WHERE thread_id = ?", thread) == (0,)
    assert thread_queries.threads(world.store.conn) == []
    with pytest.raises(TablespaceError):
        post_queries.thread(world.store.conn, thread)


def test_nothing_lands_on_a_deleted_thread_or_post_and_the_ops_stay_rejected(world):
    bo, cy = world.members
    thread = start(world, bo)
    answer = reply(world, cy, thread)
    gone = reply(world, cy, thread, "soon gone")
    world.accepted(cy, "post.delete", {"post": gone})

    # on a deleted reply
    assert world.rejected(cy, "post.edit", {"post": gone, "body": "resurrect"}) == "the post has been deleted"
    assert world.rejected(bo, "post.react", {"post": gone, "emoji": "👍"}) == "the post has been deleted"
    assert world.rejected(cy, "post.delete", {"post": gone}) == "the post has been deleted"

    # on a deleted thread
    world.accepted(bo, "post.delete", {"post": thread})
    assert world.rejected(cy, "post.reply", {"thread": thread, "body": "hello?"}) == "the thread has been deleted"
    assert world.rejected(cy, "post.edit", {"post": answer, "body": "x"}) == "the post has been deleted"
    assert world.rejected(bo, "post.react", {"post": answer, "emoji": "👍"}) == "the post has been deleted"
    assert (
        world.rejected(bo, "thread.tag", {"thread": thread, "add": ["x"], "remove": []})
        == "the thread has been deleted"
    )
    assert (
        world.rejected(world.founder, "thread.pin", {"thread": thread, "pinned": True}) == "the thread has been deleted"
    )

    rejected = world.store.conn.execute("SELECT kind, reason FROM ops WHERE state = 'rejected' ORDER BY hlc").fetchall()
    assert len(rejected) == 8 and all(reason for _, reason in rejected)
    assert world.one("SELECT count(*) FROM reactions") == (0,)
    assert world.one("SELECT count(*) FROM posts WHERE deleted = 0") == (0,)


def test_a_deleted_post_is_gone_from_the_table_and_the_search_index(world):
    bo, cy = world.members
    secret = "zanzibarcrumb"
    thread = start(world, bo, title="Nothing to see", body="plain opening")
    answer = reply(world, cy, thread, f"my {secret} recipe")
    conn = world.store.conn
    assert conn.execute("SELECT count(*) FROM posts_fts WHERE posts_fts MATCH ?", (secret,)).fetchone() == (1,)

    world.accepted(cy, "post.delete", {"post": answer})
    assert conn.execute("SELECT count(*) FROM posts_fts WHERE posts_fts MATCH ?", (secret,)).fetchone() == (0,)
    assert search_queries.search(conn, secret) == []
    # the raw row: every column, as bytes, carries nothing of the old body
    row = conn.execute("SELECT * FROM posts WHERE id = ?", (answer,)).fetchone()
    assert secret.encode() not in json.dumps(row).encode()
    assert conn.execute("SELECT CAST(body AS BLOB), length(body) FROM posts WHERE id = ?", (answer,)).fetchone() == (
        b"",
        0,
    )


def test_a_deleted_thread_title_is_gone_from_the_search_index(world):
    bo = world.members[0]
    thread = start(world, bo, title="Quokkaloaf secrets", body="about quokkaloaf")
    conn = world.store.conn
    assert {h.kind for h in search_queries.search(conn, "quokkaloaf")} == {"thread", "post"}
    world.accepted(bo, "post.delete", {"post": thread})
    for table in ("threads", "posts"):
        assert conn.execute(f"SELECT count(*) FROM {table}_fts WHERE {table}_fts MATCH 'quokkaloaf'").fetchone() == (0,)
    assert search_queries.search(conn, "quokkaloaf") == []


def test_a_removed_resource_is_gone_from_the_search_index(world):
    bo = world.members[0]
    res = world.accepted(
        bo,
        "library.add",
        {
            "title": "Wombatcrust guide",
            "url": "https://example.org/w",
            "summary": "all about wombatcrust",
            "tags": ["guide"],
        },
    ).id
    conn = world.store.conn
    assert [h.kind for h in search_queries.search(conn, "wombatcrust")] == ["resource"]
    assert world.rejected(world.members[1], "library.remove", {"resource": res}).startswith("only ")
    world.accepted(bo, "library.remove", {"resource": res})
    assert conn.execute("SELECT count(*) FROM resources_fts WHERE resources_fts MATCH 'wombatcrust'").fetchone() == (0,)
    assert world.one("SELECT title, url, summary, deleted FROM resources WHERE id = ?", res) == ("", "", "", 1)
    assert world.one("SELECT count(*) FROM resource_tags") == (0,)


# --- moderator-only actions --------------------------------------------------------


def test_only_curators_and_moderators_pin(world):
    ada, (bo, cy) = world.founder, world.members
    thread = start(world, bo)
    refusal = "only a curator or a moderator can pin threads"
    assert world.rejected(bo, "thread.pin", {"thread": thread, "pinned": True}) == refusal
    assert world.one("SELECT pinned FROM threads WHERE id = ?", thread) == (0,)
    world.accepted(ada, "thread.pin", {"thread": thread, "pinned": True})
    assert world.one("SELECT pinned FROM threads WHERE id = ?", thread) == (1,)
    world.accepted(ada, "role.grant", {"member": cy.id, "role": "curator"})
    world.accepted(cy, "thread.pin", {"thread": thread, "pinned": False})
    assert world.one("SELECT pinned FROM threads WHERE id = ?", thread) == (0,)


RITUAL = {"name": "Friday wins", "prompt": "What went well?", "rrule": "FREQ=WEEKLY;BYDAY=FR", "start": "2025-01-03"}


def test_non_moderator_cannot_add_a_ritual(world):
    bo = world.members[0]
    assert world.rejected(bo, "ritual.add", RITUAL) == "only a moderator can add rituals"
    assert world.one("SELECT count(*) FROM rituals") == (0,)
    world.accepted(world.founder, "ritual.add", RITUAL)
    assert world.one("SELECT count(*) FROM rituals") == (1,)


def test_granted_moderator_can_pin(world):
    ada, (bo, _) = world.founder, world.members
    thread = start(world, bo)
    world.accepted(ada, "role.grant", {"member": bo.id, "role": "moderator"})
    world.accepted(bo, "thread.pin", {"thread": thread, "pinned": True})


def test_outsider_ops_are_rejected(world):
    outsider = Feed(Identity.generate(), world.group_id)
    assert (
        world.rejected(outsider, "thread.start", {"title": "spam", "body": "", "tags": []})
        == "the author is not a member of this group"
    )


# --- tags ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, fragment",
    [
        (["Bread"], "not valid"),
        (["has space"], "not valid"),
        (["-lead"], "not valid"),
        (["x" * 33], "not valid"),
        ([f"t{i}" for i in range(9)], "the limit is 8"),
        ("bread", "list"),
        ([1], "list"),
    ],
)
def test_tag_validation_on_thread_start(world, tags, fragment):
    reason = world.rejected(world.members[0], "thread.start", {"title": "t", "body": "", "tags": tags})
    assert fragment in reason
    assert world.one("SELECT count(*) FROM threads") == (0,)


def test_thread_tag_add_remove_and_who_may(world):
    ada, (bo, cy) = world.founder, world.members
    thread = start(world, bo, tags=["bread"])

    def tags() -> list[str]:
        query = "SELECT tag FROM thread_tags WHERE thread_id = ? ORDER BY tag"
        return [r[0] for r in world.store.conn.execute(query, (thread,))]

    world.accepted(bo, "thread.tag", {"thread": thread, "add": ["rye", "wins"], "remove": ["bread"]})
    assert tags() == ["rye", "wins"]
    assert world.rejected(cy, "thread.tag", {"thread": thread, "add": ["spam"], "remove": []}).startswith("only ")
    assert "not valid" in world.rejected(bo, "thread.tag", {"thread": thread, "add": ["No!"], "remove": []})
    many = [f"t{i}" for i in range(7)]
    assert "the limit is 8" in world.rejected(bo, "thread.tag", {"thread": thread, "add": many, "remove": []})
    assert tags() == ["rye", "wins"]
    world.accepted(ada, "role.grant", {"member": cy.id, "role": "curator"})
    world.accepted(cy, "thread.tag", {"thread": thread, "add": ["curated"], "remove": ["wins"]})
    assert tags() == ["curated", "rye"]


# --- roles -----------------------------------------------------------------------


def test_the_last_moderator_cannot_be_revoked(world):
    ada, (bo, _) = world.founder, world.members
    assert (
        world.rejected(ada, "role.revoke", {"member": ada.id, "role": "moderator"})
        == "a group needs at least one moderator"
    )
    assert world.one("SELECT count(*) FROM roles WHERE role = 'moderator'") == (1,)

    world.accepted(ada, "role.grant", {"member": bo.id, "role": "moderator"})
    world.accepted(ada, "role.revoke", {"member": ada.id, "role": "moderator"})
    assert [r[0] for r in world.store.conn.execute("SELECT member_id FROM roles WHERE role = 'moderator'")] == [bo.id]
    assert (
        world.rejected(bo, "role.revoke", {"member": bo.id, "role": "moderator"})
        == "a group needs at least one moderator"
    )
    assert (
        world.rejected(ada, "role.grant", {"member": ada.id, "role": "moderator"})
        == "only a moderator can change roles"
    )


def test_unknown_role_and_non_member_refused(world):
    ada = world.founder
    assert "unknown role" in world.rejected(ada, "role.grant", {"member": world.members[0].id, "role": "king"})
    assert world.rejected(ada, "role.grant", {"member": "ab" * 16, "role": "curator"}) == "not a current member"


# --- members ---------------------------------------------------------------------


def test_member_add_key_must_match_and_only_once(world):
    ada = world.founder
    newcomer, other = Identity.generate(), Identity.generate()
    payload = member_add_payload(newcomer, "Di") | {"public_key": other.public_key.hex()}
    assert world.rejected(ada, "member.add", payload) == "the member's public key does not match their id"
    world.accepted(ada, "member.add", member_add_payload(newcomer, "Di"))
    assert world.rejected(ada, "member.add", member_add_payload(newcomer, "Di")) == "already a member"
    assert (
        world.rejected(world.members[0], "member.add", member_add_payload(other, "Ed"))
        == "only a moderator can add members"
    )


@pytest.mark.parametrize("key", ["zz" * 32, "é" * 64, 12, None])
def test_member_add_with_a_garbage_key_is_rejected_not_a_crash(world, key):
    newcomer = Identity.generate()
    payload = member_add_payload(newcomer, "Di") | {"public_key": key}
    assert world.rejected(world.founder, "member.add", payload) == "the member's public key is not a valid key"
    # and the store still works afterwards
    start(world, world.members[0])


# --- rituals -----------------------------------------------------------------------


def test_two_members_opening_one_occurrence_merge_into_one_thread(world, tmp_path):
    ada, (bo, cy) = world.founder, world.members
    ritual = world.accepted(ada, "ritual.add", RITUAL).id
    at = "2025-01-03T09:00:00Z"  # a Friday, at the 09:00 UTC default
    by_bo = world.sign(bo, "ritual.occur", {"ritual": ritual, "at": at})
    by_cy = world.sign(cy, "ritual.occur", {"ritual": ritual, "at": at})
    world.ingest(by_cy, by_bo)
    assert world.state(by_bo) == ("accepted", None) and world.state(by_cy) == ("accepted", None)
    expected = derived_id("ritual.occur", ritual, at)
    assert world.store.conn.execute("SELECT id, ritual_id, occurrence, author FROM threads").fetchall() == [
        (expected, ritual, at, ada.id)
    ]
    assert world.one("SELECT body FROM posts WHERE id = ?", expected) == ("What went well?",)
    assert world.one("SELECT tag FROM thread_tags WHERE thread_id = ?", expected) == ("ritual",)

    other = new_store(tmp_path / "other.db", world.group_id)
    other.ingest(reversed(world.log))
    assert other.canonical_dump() == world.store.canonical_dump()


def test_ritual_occurrence_must_be_on_schedule_not_future_not_paused(world):
    ada, (bo, _) = world.founder, world.members
    ritual = world.accepted(ada, "ritual.add", RITUAL).id
    assert (
        world.rejected(bo, "ritual.occur", {"ritual": ritual, "at": "2025-01-04T09:00:00Z"})
        == "not an occurrence of the ritual's schedule"
    )
    assert (
        world.rejected(bo, "ritual.occur", {"ritual": ritual, "at": "2025-02-07T09:00:00Z"})
        == "occurrence is in the future"
    )
    world.accepted(ada, "ritual.pause", {"ritual": ritual, "paused": True})
    assert (
        world.rejected(bo, "ritual.occur", {"ritual": ritual, "at": "2025-01-03T09:00:00Z"}) == "the ritual is paused"
    )
    assert world.rejected(bo, "ritual.occur", {"ritual": "ab" * 16, "at": "2025-01-03T09:00:00Z"}) == "no such ritual"


@pytest.mark.parametrize(
    "change",
    [
        {"rrule": "FREQ=HOURLY"},
        {"rrule": "FREQ=DAILY;INTERVAL=0"},  # dateutil loops forever on it
        {"rrule": "FREQ=DAILY;BYDAY=XX"},
        {"rrule": "DTSTART:20250101T000000Z\nRRULE:FREQ=DAILY"},
        {"start": "someday"},
        {"start": "0001-01-01T00:00:00+01:00"},  # overflows on conversion to UTC
        {"start": "0001-01-01"},
        {"start": "9999-12-31"},
    ],
    ids=lambda change: next(iter(change.values())),
)
def test_bad_ritual_schedules_are_rejected_not_a_crash(world, change):
    assert world.rejected(world.founder, "ritual.add", RITUAL | change)
    assert world.one("SELECT count(*) FROM rituals") == (0,)


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2025-01-03T09:00:00+99:00"])
def test_hostile_occurrence_instants_are_rejected_not_a_crash(world, at):
    ritual = world.accepted(world.founder, "ritual.add", RITUAL).id
    assert world.rejected(world.members[0], "ritual.occur", {"ritual": ritual, "at": at})


# --- the log keeps everything -------------------------------------------------------


def test_unknown_kind_is_rejected_but_kept(world):
    op = world.do(world.members[0], "raffle.draw", {"question": "rye?"})
    assert world.state(op) == ("rejected", "unknown kind 'raffle.draw'")
    row = world.one("SELECT kind, author, seq FROM ops WHERE id = ?", op.id)
    assert row == ("raffle.draw", world.members[0].id, op.seq)
    # the author's chain carries on past it
    start(world, world.members[0])


def test_op_for_another_group_is_rejected(world):
    bo = world.members[0]
    op = world.do(bo, "thread.start", {"title": "wrong room", "body": "", "tags": []}, group="cd" * 16)
    assert world.state(op) == ("rejected", "op belongs to another group")
    assert world.one("SELECT count(*) FROM threads") == (0,)


def test_a_second_genesis_is_rejected(world):
    stranger = Feed(Identity.generate(), None)
    op = world.do(
        stranger, "group.create", {"name": "Other", "founder_name": "Zed", "purpose": "", "rules": ""}, group=None
    )
    assert world.state(op) == ("rejected", "not this group's genesis")
    assert world.one("SELECT value FROM settings WHERE key = 'name'") == ("Sourdough Circle",)


def test_rejections_survive_a_rebuild(world):
    bo, cy = world.members
    thread = start(world, bo)
    world.rejected(cy, "post.edit", {"post": thread, "body": "nope"})
    before = world.store.canonical_dump()
    world.store.rebuild()
    assert world.store.canonical_dump() == before


# --- Group level: a refused action changes nothing -----------------------------------


def snapshot(group: Group) -> tuple[str, tuple, str | None]:
    return group.store.canonical_dump(), group.store.head(group.me), group.store.get_meta("fold_head")


def member_group(founder: Group, home: Home, name: str = "Bo") -> Group:
    """A second member's replica of the founder's group, in its own home."""
    identity = Identity.generate()
    founder.write("member.add", member_add_payload(identity, name))
    home.ensure()
    path = home.groups_dir / founder.id
    path.mkdir(mode=0o700)
    identity.save(path / KEY_NAME)
    (path / LOCAL_NAME).write_text(json.dumps({"transport": founder.transport.to_json()}))
    store = new_store(path / DB_NAME, founder.id)
    store.ingest(founder.store.all_ops())
    store.close()
    return Group(home, GroupEntry(founder.id, founder.name(), path))


def test_refused_local_actions_raise_and_change_nothing(group):
    thread = actions.post(group, "Welcome", "say hi", ["welcome"])
    before = snapshot(group)
    refusals = [
        (TablespaceError, lambda: actions.reply(group, thread, "   ")),  # empty body
        (TablespaceError, lambda: actions.tag(group, thread, add=["No Spaces Allowed"])),
        (TablespaceError, lambda: group.write("role.revoke", {"member": group.me, "role": "moderator"})),
        (TablespaceError, lambda: group.write("poll.open", {})),
        (TablespaceError, lambda: actions.library_add(group, "x", "not a url")),
        (TablespaceError, lambda: actions.ritual_add(group, "r", "p", "FREQ=MINUTELY")),
    ]
    for error, action in refusals:
        with pytest.raises(error):
            action()
        assert snapshot(group) == before
    assert group.conn.execute("SELECT count(*) FROM ops WHERE state = 'rejected'").fetchone() == (0,)


def test_refused_permission_raises_permission_denied_and_changes_nothing(group, tmp_path):
    thread = actions.post(group, "Welcome", "say hi")
    bo = member_group(group, Home(tmp_path / "bo-home"))
    assert bo.my_roles() == set()
    before = snapshot(bo)
    for action in (
        lambda: actions.pin(bo, thread),
        lambda: actions.edit(bo, thread, "hijack"),
        lambda: actions.delete(bo, thread),
        lambda: actions.ritual_add(bo, "Daily", "hi", "FREQ=DAILY"),
        lambda: bo.write("role.grant", {"member": bo.me, "role": "moderator"}),
    ):
        with pytest.raises(PermissionDenied):
            action()
        assert snapshot(bo) == before
    # and an allowed action still goes through afterwards, with the next seq
    actions.reply(bo, thread, "hello!")
    assert bo.store.head(bo.me)[0] == 1
    bo.close()


def test_refused_action_on_a_deleted_thread(group):
    thread = actions.post(group, "Soon gone", "x")
    actions.delete(group, thread)
    before = snapshot(group)
    with pytest.raises(TablespaceError):
        actions.reply(group, thread, "too late")  # the id no longer resolves
    with pytest.raises(TablespaceError):
        group.write("post.reply", {"thread": thread, "body": "raw"})  # and the fold refuses it too
    assert snapshot(group) == before


# --- hostile payloads never crash the fold ---------------------------------------------

FIELDS = [
    "title",
    "body",
    "tags",
    "thread",
    "post",
    "emoji",
    "pinned",
    "member",
    "name",
    "public_key",
    "role",
    "resource",
    "url",
    "summary",
    "ritual",
    "rrule",
    "start",
    "prompt",
    "at",
    "add",
    "remove",
    "paused",
    "purpose",
    "rules",
]
KINDS = [
    "group.edit",
    "member.add",
    "member.profile",
    "role.grant",
    "role.revoke",
    "thread.start",
    "post.reply",
    "post.edit",
    "post.delete",
    "post.react",
    "post.unreact",
    "thread.tag",
    "thread.pin",
    "library.add",
    "library.edit",
    "library.remove",
    "ritual.add",
    "ritual.edit",
    "ritual.pause",
    "ritual.occur",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
plausible = st.sampled_from(
    [
        "",
        " ",
        "x",
        "Bread",
        "ab" * 16,
        "0" * 64,
        "zz" * 32,
        "2025-01-03",
        "2025-01-03T09:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "FREQ=DAILY",
        "FREQ=WEEKLY;BYDAY=FR",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=MONTHLY;BYMONTHDAY=31",
        "RRULE:FREQ=YEARLY",
        "FREQ=DAILY;UNTIL=2025",
        "https://example.org",
        "mailto:a@b",
        "moderator",
        "curator",
        "👍",
        "\x00",
        "a\nb",
        "🍞" * 20000,
    ]
)


@pytest.mark.slow
@given(
    batch=st.lists(
        st.tuples(
            st.sampled_from(KINDS),
            st.dictionaries(
                st.sampled_from(FIELDS),
                json_values | plausible | st.sampled_from(["<thread>", "<ritual>", "<member>"]),
                max_size=6,
            ),
        ),
        min_size=1,
        max_size=8,
    )
)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_hostile_payloads_are_accepted_or_rejected_never_a_crash(fuzz_world, batch):
    world = fuzz_world
    real = {"<thread>": world.thread, "<ritual>": world.ritual, "<member>": world.members[0].id}
    ops = []
    for kind, payload in batch:
        payload = {k: real.get(v, v) if isinstance(v, str) else v for k, v in payload.items()}
        ops.append(world.sign(world.founder, kind, payload))  # the moderator: every check past permissions runs
    world.ingest(*ops)  # must not raise
    states = {world.state(op)[0] for op in ops}
    assert states <= {"accepted", "rejected"}
    calendar_queries.rituals(world.store.conn, datetime(2025, 2, 1, tzinfo=UTC))  # listing still works
    thread_queries.threads(world.store.conn)


@pytest.fixture
def fuzz_world(tmp_path) -> World:
    world = World(tmp_path / "fuzz.db", members=1)
    world.thread = start(world, world.members[0])
    world.ritual = world.accepted(world.founder, "ritual.add", RITUAL).id
    return world


def test_the_member_cap_holds_in_the_fold_at_the_boundary(world):
    ada, (bo, _) = world.founder, world.members
    assert world.rejected(bo, "group.edit", {"member_cap": 4}) == "only a moderator can change the group's settings"
    assert world.rejected(ada, "group.edit", {"member_cap": 0}).startswith("the member cap is a whole number")
    world.accepted(ada, "group.edit", {"member_cap": 4})  # three members now: one place left
    world.accepted(ada, "member.add", member_add_payload(Identity.generate(), "Di"))
    refusal = world.rejected(ada, "member.add", member_add_payload(Identity.generate(), "Eve"))
    assert refusal.startswith("the group is at its member cap (4 of 4)")
    assert world.one("SELECT count(*) FROM members") == (4,)
    before = world.store.canonical_dump()
    world.store.rebuild()
    assert world.store.canonical_dump() == before


def test_a_revoked_curator_cannot_back_date_a_pin(world):
    ada, (bo, cy) = world.founder, world.members
    thread = start(world, cy)
    world.accepted(ada, "role.grant", {"member": bo.id, "role": "curator", "since_seq": bo.seq})
    world.accepted(bo, "thread.pin", {"thread": thread, "pinned": True})  # while a curator
    revoke = world.accepted(ada, "role.revoke", {"member": bo.id, "role": "curator", "last_seq": bo.seq})
    back_dated = world.sign(bo, "thread.pin", {"thread": thread, "pinned": False}, hlc=revoke.hlc - 1)
    world.ingest(back_dated)
    assert world.state(back_dated)[0] == "rejected"
    assert world.one("SELECT pinned FROM threads WHERE id = ?", thread) == (1,)


def test_the_first_win_must_be_a_live_resource(world):
    ada = world.founder
    missing = "ab" * 16
    assert world.rejected(ada, "group.edit", {"first_win": missing}) == "no such resource"
    resource = world.accepted(ada, "library.add", {"title": "Start", "url": "https://example.org", "tags": []}).id
    world.accepted(ada, "group.edit", {"first_win": resource, "welcome": "Hello", "intro_template": "I am"})
    world.accepted(ada, "group.edit", {"first_win": ""})
