"""The headline property: same op set, any arrival order, duplicates included,
any chunking, restarts in between -> byte-identical view tables, equal to a
rebuild from the log.

Ops are built directly with sign_op by deterministic identities (so Hypothesis
can replay and shrink an example exactly): a founder's genesis, member.add ops
for 2-4 members, then random ops by random authors (an outsider included) whose
HLCs sometimes follow causality, sometimes collide exactly with another
author's, and sometimes are back-dated before what they refer to.
"""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tablespace.core.circles import OpPlace, new_circle_key, seal_box, seal_prev_keys, sealed_prev_aad, wrap_for
from tablespace.core.fold import derived_id
from tablespace.core.home import EXCHANGE_KEY_NAME
from tablespace.core.identity import Identity, save_private_key
from tablespace.core.ops import Op
from tablespace.core.store import Store

from .opkit import BASE_HLC, Feed, found, member_add_payload, new_store, op_state

POOL = [Identity(Ed25519PrivateKey.from_private_bytes(bytes([i + 1]) * 32)) for i in range(6)]
FOUNDER, OUTSIDER = POOL[0], POOL[5]
# Added devices of members: keys of their own, writing as the member who certified them
DEVICES = [Identity(Ed25519PrivateKey.from_private_bytes(bytes([i + 40]) * 32)) for i in range(2)]
NAMES = ["Ada", "Bo", "Cy", "Di", "Ed"]
FAKE_ID = "f" * 32
TAGS = ["bread", "rye", "wins", "Bad Tag"]  # the last one is invalid
EMOJI = ["👍", "🎉", "bread"]
OCCURRENCES = ["2025-01-02T09:00:00Z", "2025-01-03T09:00:00Z", "2025-01-03T10:30:00Z"]  # the last is off-schedule

KINDS = (
    ["poll.open", "poll.vote", "poll.vote"]
    + ["thread.start"] * 4
    + ["post.reply"] * 4
    + ["post.edit"] * 2
    + ["post.delete"] * 2
    + ["post.react"] * 2
    + [
        "post.unreact",
        "thread.tag",
        "thread.pin",
        "library.add",
        "library.remove",
        "ritual.add",
        "ritual.occur",
        "role.grant",
        "role.revoke",
        "member.profile",
        "event.add",
        "event.rsvp",
        "event.rsvp",
    ]
)


# Only drawn once a member has added a device: removals by its member, and
# the moderators' rules every device of a member must follow.
DEVICE_KINDS = ["device.remove", "device.remove", "member.timeout", "member.timeout_end", "member.remove"]


def device_add_payload(identity: Identity) -> dict[str, str]:
    exchange = X25519PrivateKey.from_private_bytes(identity.public_key[:32]).public_key().public_bytes_raw()
    return {
        "device": identity.author_id,
        "public_key": identity.public_key.hex(),
        "exchange_key": exchange.hex(),
        "name": "laptop",
    }


@st.composite
def op_sets(draw) -> tuple[str, list[Op]]:
    n_members = draw(st.integers(2, 4))
    genesis, founder = found(FOUNDER, hlc=BASE_HLC)
    gid = genesis.id
    feeds = [founder] + [Feed(identity, gid) for identity in POOL[1 : 1 + n_members]]
    ops = [genesis]
    hlc = BASE_HLC
    admitted = [founder]
    for feed, name in zip(feeds[1:], NAMES[1:], strict=False):
        step = draw(st.integers(0, 1))  # admissions may share one HLC (the founder's later one is refused)
        hlc += step
        ops.append(founder.op("member.add", member_add_payload(feed.identity, name), hlc=hlc))
        if step:
            admitted.append(feed)
    devices = []
    owners: dict[str, Feed] = {}  # device id -> the member's first key
    for identity in DEVICES[: draw(st.integers(0, 2))]:
        owner = draw(st.sampled_from(admitted))  # a member's certificate: their devices' ops are theirs
        hlc += 1  # after every admission: the certificate counts, so the device's ops are the member's
        ops.append(owner.op("device.add", device_add_payload(identity), hlc=hlc))
        devices.append(Feed(identity, gid))
        owners[identity.author_id] = owner
    # the outsider's ops are all rejected; a device's count as its member's
    authors = feeds + devices + [Feed(OUTSIDER, gid)]
    member_ids = [f.id for f in authors]

    threads: list[str] = []
    posts: list[str] = []
    resources: list[str] = []
    rituals: list[str] = []
    events: list[str] = []
    polls: list[str] = []
    timed_out: list[str] = []
    # whom a time-out or a removal falls on: a member with devices (not the founder) as often as anyone
    with_devices = sorted({owner.id for owner in owners.values() if owner is not founder})
    latest = hlc

    def pick(items: list[str]) -> str:
        return draw(st.sampled_from(items)) if items and draw(st.integers(0, 9)) else FAKE_ID

    for _ in range(draw(st.integers(1, 30))):
        author = draw(st.sampled_from(authors[:-1]) if draw(st.integers(0, 14)) else st.just(authors[-1]))
        kind = draw(st.sampled_from(KINDS + (DEVICE_KINDS if devices else [])))
        removed: Feed | None = None
        if kind == "device.remove" and (how := draw(st.integers(0, 3))):
            removed = draw(st.sampled_from(devices))
            author = owners[removed.id]  # mostly its member's first key, which may remove it
            if how == 3:  # or the device removes that key: with the key's, a mutual removal
                removed, author = author, removed
        if kind == "member.timeout_end" or kind in ("member.timeout", "member.remove") and draw(st.integers(0, 3)):
            author = feeds[0]  # mostly the founder, a moderator
        mode = draw(st.sampled_from(["causal", "causal", "causal", "collide", "backdate"]))
        if mode == "causal":
            stamp = latest + draw(st.integers(1, 3))
        elif mode == "collide":
            stamp = latest  # equal HLC with whoever wrote last (often another author)
        else:
            stamp = draw(st.integers(BASE_HLC, latest))
        latest = max(latest, stamp)

        if kind == "thread.start":
            payload = {
                "title": draw(st.sampled_from(["Hello", "Starter help", "Wins"])),
                "body": draw(st.sampled_from(["", "feed it daily", "rye or wheat?"])),
                "tags": sorted(draw(st.sets(st.sampled_from(TAGS[:3]), max_size=2))),
            }
        elif kind == "post.reply":
            payload = {"thread": pick(threads), "body": draw(st.sampled_from(["yes", "try 75% hydration", " "]))}
        elif kind == "post.edit":
            payload = {"post": pick(posts), "body": draw(st.sampled_from(["edited", "fixed a typo"]))}
            if draw(st.booleans()):
                payload["title"] = "Retitled"
        elif kind == "post.delete":
            payload = {"post": pick(posts)}
        elif kind in ("post.react", "post.unreact"):
            payload = {"post": pick(posts), "emoji": draw(st.sampled_from(EMOJI))}
        elif kind == "thread.tag":
            payload = {
                "thread": pick(threads),
                "add": sorted(draw(st.sets(st.sampled_from(TAGS), max_size=2))),
                "remove": sorted(draw(st.sets(st.sampled_from(TAGS[:3]), max_size=1))),
            }
        elif kind == "thread.pin":
            payload = {"thread": pick(threads), "pinned": draw(st.booleans())}
        elif kind == "library.add":
            payload = {
                "title": "Tartine",
                "summary": "",
                "url": draw(st.sampled_from(["https://example.org/tartine", "not a link"])),
                "tags": sorted(draw(st.sets(st.sampled_from(TAGS[:3]), max_size=2))),
            }
        elif kind == "library.remove":
            payload = {"resource": pick(resources)}
        elif kind == "ritual.add":
            payload = {
                "name": "Daily bake",
                "prompt": "What did you bake?",
                "rrule": "FREQ=DAILY",
                "start": "2025-01-01",
            }
        elif kind == "ritual.occur":
            payload = {"ritual": pick(rituals), "at": draw(st.sampled_from(OCCURRENCES))}
        elif kind in ("role.grant", "role.revoke"):
            payload = {
                "member": draw(st.sampled_from(member_ids)),
                "role": draw(st.sampled_from(["moderator", "curator"])),
            }
        elif kind == "event.add":
            payload = {
                "title": "AMA",
                "at": draw(st.sampled_from(["2025-01-06T18:00:00Z", "2025-01-06T12:00:10Z", "2020-01-01T00:00:00Z"])),
                "tz": draw(st.sampled_from(["UTC", "Europe/Berlin", "Mars/Base"])),
                "minutes": draw(st.sampled_from([60, 0])),
                "where": "https://meet.example.org/ama",
            }
        elif kind == "event.rsvp":
            payload = {"event": pick(events), "answer": draw(st.sampled_from(["going", "maybe", "no", "perhaps"]))}
        elif kind == "poll.open":
            payload = {
                "title": "Bake day?",
                "body": "",
                "options": draw(st.sampled_from([["Sat", "Sun"], ["Sat", "Sun", "Mon"], ["Sat"]])),
                "multi": draw(st.booleans()),
            }
            # no closing time, one already past (refused), one ahead
            closes = draw(st.sampled_from([None, "2025-01-06T12:00:00Z", "2025-02-01T00:00:00Z"]))
            if closes is not None:
                payload["closes"] = closes
        elif kind == "poll.vote":
            payload = {"poll": pick(polls), "options": draw(st.sampled_from([[0], [1], [0, 1], [2], []]))}
        elif kind == "device.remove":  # by its member's other key, or by anyone else (refused)
            device = removed.id if removed else draw(st.sampled_from([d.id for d in devices]))
            payload = {"device": device, "last_seq": draw(st.integers(0, 3))}
        elif kind in ("member.timeout", "member.remove"):
            # device_seqs names some of the member's devices, or none: a time-out
            # or a removal must reach every device of theirs all the same
            payload = {
                "member": draw(st.sampled_from(with_devices + [f.id for f in admitted[1:] or feeds])),
                "last_seq": draw(st.integers(0, 3)),
                "device_seqs": {d.id: draw(st.integers(0, 3)) for d in devices if draw(st.booleans())},
            }
            if kind == "member.timeout":
                payload["until"] = draw(st.sampled_from(["2025-01-07T12:00:00Z", "2025-01-06T11:00:00Z"]))
                timed_out.append(payload["member"])
        elif kind == "member.timeout_end":
            payload = {"member": draw(st.sampled_from(timed_out or [f.id for f in feeds]))}
            if timed_out:  # after the time-out, so that it can end it
                stamp = latest = latest + 1
        else:  # member.profile
            payload = {"name": draw(st.sampled_from(["Bea", "Cyd"]))}

        op = author.op(kind, payload, hlc=stamp)
        ops.append(op)
        if kind == "thread.start":
            threads.append(op.id)
            posts.append(op.id)
        elif kind == "post.reply":
            posts.append(op.id)
        elif kind == "poll.open":
            threads.append(op.id)
            posts.append(op.id)
            polls.append(op.id)
        elif kind == "library.add":
            resources.append(op.id)
        elif kind == "ritual.add":
            rituals.append(op.id)
        elif kind == "event.add":
            events.append(op.id)
            threads.append(op.id)
            posts.append(op.id)
        elif kind == "ritual.occur":
            derived = derived_id("ritual.occur", payload["ritual"], payload["at"])
            threads.append(derived)
            posts.append(derived)
    return gid, ops


def deliver(store: Store, ops: list[Op], rng: random.Random, path: Path) -> Store:
    """Ingest ops in random chunk sizes, closing and reopening the store (a
    restart) once, at a random point."""
    restart_at = rng.randint(0, len(ops))
    i = 0
    while i < len(ops):
        size = rng.randint(1, 6)
        store.ingest(ops[i : i + size])
        if i <= restart_at < i + size:
            store.close()
            store = Store(path)
        i += size
    return store


@pytest.mark.slow
@given(op_sets(), st.randoms(use_true_random=False), st.integers(2, 3))
def test_any_order_any_chunking_with_duplicates_converges(generated, rng, replicas):
    gid, ops = generated
    with tempfile.TemporaryDirectory() as tmp:
        reference = new_store(Path(tmp) / "reference.db", gid)
        reference.ingest(sorted(ops, key=lambda op: op.order_key))
        expected = reference.canonical_dump()
        assert reference.conn.execute("SELECT count(*) FROM ops").fetchone()[0] == len(ops)
        assert reference.conn.execute("SELECT count(*) FROM ops WHERE state = 'held'").fetchone()[0] == 0
        assert "## members" in expected and op_state(reference, ops[0]) == ("accepted", None)

        for n in range(replicas):
            delivery = list(ops)
            rng.shuffle(delivery)
            for dup in rng.sample(ops, k=min(len(ops), rng.randint(0, 5))):
                delivery.insert(rng.randint(0, len(delivery)), dup)  # duplicates, anywhere
            path = Path(tmp) / f"replica{n}.db"
            store = deliver(new_store(path, gid), delivery, rng, path)
            assert store.canonical_dump() == expected
            store.rebuild()
            assert store.canonical_dump() == expected
            store.close()

        reference.rebuild()
        assert reference.canonical_dump() == expected
        reference.close()


@pytest.mark.slow
def test_the_generated_op_sets_reach_accepted_device_ops():
    """The property above is only as good as what it folds: the drawn sets
    must hold device certificates and removals that count, ops an added
    device signs that count, a time-out or removal that stops a device, and
    two devices of a member removing each other."""
    seen: Counter[str] = Counter()
    device_ids = {identity.author_id for identity in DEVICES}

    @settings(max_examples=150, derandomize=True, database=None, deadline=None)
    @given(op_sets())
    def fold(generated: tuple[str, list[Op]]) -> None:
        gid, ops = generated
        pairs = {(op.author, op.payload["device"]) for op in ops if op.kind == "device.remove"}
        seen["mutual removals"] += any((b, a) in pairs for a, b in pairs)
        with tempfile.TemporaryDirectory() as tmp:
            store = new_store(Path(tmp) / "reference.db", gid)
            store.ingest(sorted(ops, key=lambda op: op.order_key))
            for kind, author, state, reason in store.conn.execute("SELECT kind, author, state, reason FROM ops"):
                if state == "accepted" and kind.startswith(("device.", "member.timeout", "member.remove")):
                    seen[kind] += 1
                elif author in device_ids and state == "accepted":
                    seen["by a device"] += 1
                elif (
                    author in device_ids
                    and reason
                    and any(stop in reason for stop in ("timed out", "had ended", "had been removed"))
                ):
                    seen["a device stopped"] += 1
            store.close()

    fold()
    assert all(
        seen[what] for what in ("device.add", "device.remove", "by a device", "a device stopped", "mutual removals")
    ), seen
    assert seen["member.timeout"] + seen["member.remove"], seen


def test_seq_n_plus_2_before_n_plus_1_is_held_then_applied(tmp_path):
    genesis, founder = found(FOUNDER, hlc=BASE_HLC)
    one = founder.op("thread.start", {"title": "One", "body": "", "tags": []}, hlc=BASE_HLC + 1)
    two = founder.op("post.reply", {"thread": one.id, "body": "two"}, hlc=BASE_HLC + 2)
    three = founder.op("post.reply", {"thread": one.id, "body": "three"}, hlc=BASE_HLC + 3)

    store = new_store(tmp_path / "a.db", genesis.id)
    store.ingest([genesis, one])
    result = store.ingest([three])  # seq 4 before seq 3
    assert (result.added, result.held, result.folded) == (1, 1, 0)
    assert op_state(store, three) == ("held", None)
    assert store.conn.execute("SELECT count(*) FROM posts").fetchone()[0] == 1

    result = store.ingest([two])
    assert result.held == 0 and result.folded == 2
    assert op_state(store, two) == ("accepted", None)
    assert op_state(store, three) == ("accepted", None)
    assert [r[0] for r in store.conn.execute("SELECT body FROM posts ORDER BY created_hlc")] == ["", "two", "three"]

    in_order = new_store(tmp_path / "b.db", genesis.id)
    in_order.ingest([genesis, one, two, three])
    assert store.canonical_dump() == in_order.canonical_dump()


def test_held_op_with_wrong_prev_never_applies(tmp_path):
    genesis, founder = found(FOUNDER, hlc=BASE_HLC)
    one = founder.op("thread.start", {"title": "One", "body": "", "tags": []}, hlc=BASE_HLC + 1)
    impostor = Feed(FOUNDER, genesis.id)
    impostor.seq, impostor.prev = 2, "0" * 32  # claims seq 3 but links to a prev that is not seq 2
    bad = impostor.op("post.reply", {"thread": one.id, "body": "x"}, hlc=BASE_HLC + 3)
    store = new_store(tmp_path / "a.db", genesis.id)
    store.ingest([genesis, bad, one])
    two = founder.op("post.reply", {"thread": one.id, "body": "two"}, hlc=BASE_HLC + 2)
    result = store.ingest([two])
    assert result.held == 1
    assert op_state(store, bad) == ("held", None)


def test_late_op_that_sorts_before_the_head_refolds(tmp_path):
    """A delete that arrives after a later reply, but sorts before it, must make
    the reply rejected, exactly as if it had arrived first."""
    genesis, founder = found(FOUNDER, hlc=BASE_HLC)
    bo = Feed(POOL[1], genesis.id)
    add = founder.op("member.add", member_add_payload(bo.identity, "Bo"), hlc=BASE_HLC + 1)
    thread = founder.op("thread.start", {"title": "T", "body": "b", "tags": []}, hlc=BASE_HLC + 2)
    delete = founder.op("post.delete", {"post": thread.id}, hlc=BASE_HLC + 3)
    reply = bo.op("post.reply", {"thread": thread.id, "body": "late"}, hlc=BASE_HLC + 4)

    store = new_store(tmp_path / "a.db", genesis.id)
    store.ingest([genesis, add, thread, reply])
    assert op_state(store, reply) == ("accepted", None)
    result = store.ingest([delete])
    assert result.refolded
    assert op_state(store, reply) == ("rejected", "the thread has been deleted")

    other = new_store(tmp_path / "b.db", genesis.id)
    other.ingest([genesis, add, thread, delete, reply])
    assert store.canonical_dump() == other.canonical_dump()


def test_a_fork_converges_whichever_side_arrives_first(tmp_path):
    """Two different ops for one (author, seq): both stay in the log as
    evidence, the author's ops from that seq on are set aside, and every
    replica ends with the same views whatever order they arrived in."""
    genesis, founder = found(FOUNDER, hlc=BASE_HLC)
    a = founder.op("thread.start", {"title": "A", "body": "", "tags": []}, hlc=BASE_HLC + 1)
    a_next = founder.op("thread.start", {"title": "A2", "body": "", "tags": []}, hlc=BASE_HLC + 2)
    founder.seq, founder.prev = 1, genesis.id  # the same author signs a second seq 2
    b = founder.op("thread.start", {"title": "B", "body": "", "tags": []}, hlc=BASE_HLC + 1)
    one, two = new_store(tmp_path / "1.db", genesis.id), new_store(tmp_path / "2.db", genesis.id)
    one.ingest([genesis, a, a_next])
    assert op_state(one, a) == ("accepted", None)
    assert one.ingest([b]).forks == [b.id]
    assert two.ingest([genesis, b, a_next, a]).forks == [a.id]
    assert one.canonical_dump() == two.canonical_dump()
    for store in (one, two):
        assert op_state(store, genesis) == ("accepted", None)
        for op in (a, a_next, b):
            state, reason = op_state(store, op)
            assert state == "rejected" and "fork" in reason
        assert store.conn.execute("SELECT count(*) FROM threads").fetchone()[0] == 0


# --- circles ---------------------------------------------------------------------------
# Ada (the founder) and Bo are in the circle, Cy is not; each replica is one of
# them, with that member's exchange key beside the database as in a home.
CIRCLE_IN, CIRCLE_OUT = (0, 1), (2,)
EXCHANGE = [X25519PrivateKey.from_private_bytes(bytes([40 + i]) * 32) for i in range(5)]
CIRCLE_WORDS = ("Rye pod", "crumb shot", "open crumb")


@st.composite
def circle_op_sets(draw: st.DrawFn) -> tuple[str, list[Op]]:
    """A circle of Ada and Bo, then sealed ops in it by any of the three
    (Cy's are refused by whoever can check), and group replies aimed at its
    threads, which no replica may accept."""
    genesis, founder = found(FOUNDER, hlc=BASE_HLC)
    gid = genesis.id
    feeds = [founder] + [Feed(identity, gid) for identity in POOL[1:3]]
    hlc = BASE_HLC + 1
    ops = [genesis]
    ops += [
        founder.op("member.add", member_add_payload(f.identity, n), hlc=hlc)
        for f, n in zip(feeds[1:], NAMES[1:], strict=False)
    ]
    ops += [f.op("member.keys", {"exchange_key": _public(i)}, hlc=hlc + 1) for i, f in enumerate(feeds)]
    members = sorted(feeds[i].id for i in CIRCLE_IN)
    key = new_circle_key()
    create_hlc = hlc + 2 + draw(st.integers(0, 1))
    place = OpPlace(gid, founder.id, founder.seq + 1, create_hlc)
    wrapped = {f.id: wrap_for(key, bytes.fromhex(_public(i)), place) for i, f in enumerate(feeds) if i in CIRCLE_IN}
    details = seal_box(key, {"name": CIRCLE_WORDS[0], "purpose": "", "ends": None}, place.binding("details"))
    create = founder.op(
        "circle.create", {"members": members, "epoch": 0, "wrapped": wrapped, **details}, hlc=create_hlc
    )
    ops.append(create)
    threads, posts, latest = [], [], create_hlc
    for _ in range(draw(st.integers(1, 14))):
        feed = feeds[draw(st.integers(0, 2))]
        latest += draw(st.integers(0, 2))
        stamp = latest if draw(st.integers(0, 4)) else draw(st.integers(BASE_HLC, latest))
        kind = draw(st.sampled_from(["thread.start", "post.reply", "post.react", "post.delete", "group.reply"]))
        target = draw(st.sampled_from(threads if kind == "post.reply" else posts)) if threads else FAKE_ID
        payload: dict = {
            "thread.start": {"title": CIRCLE_WORDS[1], "body": CIRCLE_WORDS[2], "tags": []},
            "post.reply": {"thread": target, "body": CIRCLE_WORDS[2]},
            "post.react": {"post": target, "emoji": "🍞"},
            "post.delete": {"post": target},
            "group.reply": {"thread": target, "body": "out in the open"},  # a group op on a circle thread
        }[kind]
        if kind == "group.reply":
            op = feed.op("post.reply", payload, hlc=stamp)
        else:
            place = OpPlace(gid, feed.id, feed.seq + 1, stamp)
            box = seal_box(key, {"kind": kind, "payload": payload}, place.binding("op", create.id, "0"))
            op = feed.op("circle.sealed", {"circle": create.id, "epoch": 0, **box}, hlc=stamp)
        ops.append(op)
        if kind == "thread.start":
            threads.append(op.id)
        if kind in ("thread.start", "post.reply"):
            posts.append(op.id)
    return gid, ops


def _public(i: int) -> str:
    return EXCHANGE[i].public_key().public_bytes_raw().hex()


def _replica(path: Path, gid: str, member: int) -> Store:
    """A replica in a home of its own: `member`'s exchange key beside it, and who they are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_private_key(EXCHANGE[member], path.parent / EXCHANGE_KEY_NAME)
    store = new_store(path, gid)
    store.set_meta("me", POOL[member].author_id)
    return store


@pytest.mark.slow
@given(circle_op_sets(), st.randoms(use_true_random=False))
def test_circles_converge_among_members_and_among_outsiders(generated, rng):
    gid, ops = generated
    with tempfile.TemporaryDirectory() as tmp:
        dumps: dict[int, str] = {}
        for member in (*CIRCLE_IN, *CIRCLE_OUT):
            path = Path(tmp) / f"home{member}" / "group.db"
            store = _replica(path, gid, member)
            delivery = list(ops)
            rng.shuffle(delivery)
            store = deliver(store, delivery, rng, path)
            dumps[member] = store.canonical_dump()
            assert store.conn.execute("SELECT count(*) FROM posts WHERE body = 'out in the open'").fetchone()[0] == 0
            store.rebuild()
            assert store.canonical_dump() == dumps[member]
            store.close()
        inside, outside = {dumps[m] for m in CIRCLE_IN}, {dumps[m] for m in CIRCLE_OUT}
        assert len(inside) == 1 and len(outside) == 1
        (insider,), (outsider,) = inside, outside
        assert CIRCLE_WORDS[0] in insider  # the members opened it
        assert not any(word in outsider for word in CIRCLE_WORDS)


# Who is in the circle changes: Ada makes it with Bo and Cy; then posts,
# invites (of Di and Ed), leaves, removals (by the maker, or refused) and new
# keys come in random order, each key op wrapping for whoever its author
# believed was in. Public circle rows are the same everywhere; each member's
# replica is the same whatever order the ops come in; and whoever was never
# let in holds none of the circle's words.
PUBLIC_CIRCLE_TABLES = ("circles", "circle_members", "circle_epochs")


@st.composite
def circle_membership_op_sets(draw: st.DrawFn) -> tuple[str, list[Op], int]:
    genesis, founder = found(FOUNDER, hlc=BASE_HLC)
    gid = genesis.id
    feeds = [founder] + [Feed(identity, gid) for identity in POOL[1:5]]
    hlc = BASE_HLC + 1
    ops = [genesis]
    ops += [
        founder.op("member.add", member_add_payload(f.identity, n), hlc=hlc)
        for f, n in zip(feeds[1:], NAMES[1:], strict=True)
    ]
    ops += [f.op("member.keys", {"exchange_key": _public(i)}, hlc=hlc + 1) for i, f in enumerate(feeds)]
    inside = {0, 1, 2}
    key, latest = new_circle_key(), hlc + 2
    place = OpPlace(gid, founder.id, founder.seq + 1, latest)
    wrapped = {feeds[i].id: wrap_for(key, bytes.fromhex(_public(i)), place) for i in inside}
    details = seal_box(key, {"name": CIRCLE_WORDS[0], "purpose": "", "ends": None}, place.binding("details"))
    members = sorted(wrapped)
    create = founder.op("circle.create", {"members": members, "epoch": 0, "wrapped": wrapped, **details}, hlc=latest)
    ops.append(create)
    circle, keys, epoch, ever = create.id, {0: [key]}, 0, set(inside)

    def key_op(author: int, kind: str, wrap: set[int], extra: dict) -> Op:
        nonlocal key, epoch
        feed, new = feeds[author], new_circle_key()
        at = OpPlace(gid, feed.id, feed.seq + 1, latest)
        stanzas = {feeds[i].id: wrap_for(new, bytes.fromhex(_public(i)), at) for i in wrap}
        prev = seal_prev_keys(new, keys, sealed_prev_aad(at.binding("key")))
        epoch += 1
        keys.setdefault(epoch, []).append(new)
        key = new
        payload = {"circle": circle, **extra, "epoch": epoch, "wrapped": stanzas, **prev}
        return feed.op(kind, payload, hlc=latest)

    for _ in range(draw(st.integers(2, 12))):
        latest += draw(st.integers(0, 2))
        author = draw(st.integers(0, 4))
        step = draw(st.sampled_from(["post", "post", "invite", "leave", "remove", "rekey"]))
        if step == "post":
            feed = feeds[author]
            at = OpPlace(gid, feed.id, feed.seq + 1, latest)
            inner = {"kind": "thread.start", "payload": {"title": CIRCLE_WORDS[1], "body": CIRCLE_WORDS[2], "tags": []}}
            box = seal_box(key, inner, at.binding("op", circle, str(epoch)))
            ops.append(feed.op("circle.sealed", {"circle": circle, "epoch": epoch, **box}, hlc=latest))
        elif step == "invite":
            newcomer = draw(st.integers(0, 4))
            ops.append(key_op(author, "circle.invite", inside | {newcomer}, {"member": feeds[newcomer].id}))
            if author in inside and newcomer not in inside and len(inside) < 12:
                inside.add(newcomer)
                ever.add(newcomer)
        elif step == "leave":
            ops.append(feeds[author].op("circle.leave", {"circle": circle}, hlc=latest))
            inside.discard(author)
        elif step == "remove":
            target = draw(st.integers(0, 4))
            ops.append(feeds[author].op("circle.remove", {"circle": circle, "member": feeds[target].id}, hlc=latest))
            if author == 0 and 0 in inside and target != 0:
                inside.discard(target)
        else:
            ops.append(key_op(author, "circle.rekey", set(inside), {}))
    never = next((i for i in range(5) if i not in ever), -1)
    return gid, ops, never


def _public_rows(store: Store) -> list:
    return [store.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall() for table in PUBLIC_CIRCLE_TABLES] + [
        store.conn.execute("SELECT op_id, circle_id, author, hlc FROM circle_activity ORDER BY 1").fetchall()
    ]


@pytest.mark.slow
@given(circle_membership_op_sets(), st.randoms(use_true_random=False), st.integers(3, 5))
def test_circle_invites_leaves_removals_and_new_keys_converge(generated, rng, replicas):
    gid, ops, never = generated
    with tempfile.TemporaryDirectory() as tmp:
        public = []
        for member in range(replicas):
            dumps = set()
            for copy in range(2):
                path = Path(tmp) / f"home{member}-{copy}" / "group.db"
                store = _replica(path, gid, member)
                delivery = list(ops)
                rng.shuffle(delivery)
                store = deliver(store, delivery, rng, path)
                dumps.add(store.canonical_dump())
                public.append(_public_rows(store))
                store.rebuild()
                dumps.add(store.canonical_dump())
                store.close()
            assert len(dumps) == 1, member  # one member's replica, whatever the order or a rebuild
            (dump,) = dumps
            if member == never:
                assert not any(word in dump for word in CIRCLE_WORDS)
        assert all(rows == public[0] for rows in public)  # what everyone may know of the circle
