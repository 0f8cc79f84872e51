"""Building groups out of raw signed ops, without the service API.

A `Feed` is one author's hash chain; a `World` is a founded group (genesis +
member.add ops) with a fresh Store in a temp directory and a shared HLC
counter, for tests that need several authors acting in one group.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tablespace.core.clock import datetime_to_hlc
from tablespace.core.home import KEY_NAME
from tablespace.core.identity import Identity
from tablespace.core.ops import Op, sign_op
from tablespace.core.store import Store

# Safely in the past: never "too far ahead" of any wall clock, so never held.
BASE_HLC = datetime_to_hlc(datetime(2025, 1, 6, 12, 0, tzinfo=UTC))
_UNSET: Any = object()


class Feed:
    """One author's chain of ops: seq and prev are filled in as ops are signed."""

    def __init__(self, identity: Identity, group_id: str | None = None) -> None:
        self.identity = identity
        self.group_id = group_id
        self.seq = 0
        self.prev: str | None = None

    @property
    def id(self) -> str:
        return self.identity.author_id

    def op(self, kind: str, payload: dict[str, Any], *, hlc: int, group: str | None = _UNSET) -> Op:
        op = sign_op(
            self.identity,
            group=self.group_id if group is _UNSET else group,
            seq=self.seq + 1,
            prev=self.prev,
            hlc=hlc,
            kind=kind,
            payload=payload,
        )
        self.seq, self.prev = op.seq, op.id
        return op


def genesis_payload(name: str = "Sourdough Circle", founder_name: str = "Ada") -> dict[str, Any]:
    """What Group.found puts in a group.create op."""
    return {"name": name, "founder_name": founder_name, "purpose": "bake together", "rules": "be kind"}


def found(founder: Identity, hlc: int = BASE_HLC, **kw: str) -> tuple[Op, Feed]:
    """The genesis op (group=None; its id is the group id) and the founder's feed after it."""
    feed = Feed(founder, None)
    genesis = feed.op("group.create", genesis_payload(**kw), hlc=hlc, group=None)
    feed.group_id = genesis.id
    return genesis, feed


def member_add_payload(identity: Identity, name: str) -> dict[str, Any]:
    return {"member": identity.author_id, "name": name, "public_key": identity.public_key.hex()}


def new_store(path: Path, group_id: str) -> Store:
    """A fresh replica: an empty Store that knows which group it holds, with
    a member's key beside it, as in a home (it seals deleted text: core/seal.py)."""
    key = path.parent / KEY_NAME
    if not key.exists():
        Identity.generate().save(key)
    store = Store(path)
    store.set_meta("group_id", group_id)
    return store


def op_state(store: Store, op: Op) -> tuple[str, str | None]:
    row = store.conn.execute("SELECT state, reason FROM ops WHERE id = ?", (op.id,)).fetchone()
    assert row is not None, f"op {op.kind} {op.id} is not in the log"
    return row[0], row[1]


class World:
    """A group founded by "Ada" with members "Bo", "Cy", ... admitted, all as raw ops."""

    NAMES = ("Bo", "Cy", "Di", "Ed")

    def __init__(self, path: Path, members: int = 2) -> None:
        self.hlc = BASE_HLC
        self.log: list[Op] = []
        genesis, self.founder = found(Identity.generate(), hlc=self.hlc)
        self.group_id = genesis.id
        self.store = new_store(path, self.group_id)
        self.ingest(genesis)
        self.members: list[Feed] = []
        for name in self.NAMES[:members]:
            feed = Feed(Identity.generate(), self.group_id)
            self.do(self.founder, "member.add", member_add_payload(feed.identity, name))
            self.members.append(feed)

    def next_hlc(self) -> int:
        self.hlc += 1
        return self.hlc

    def ingest(self, *ops: Op) -> None:
        self.log.extend(ops)
        self.store.ingest(ops)

    def sign(self, feed: Feed, kind: str, payload: dict[str, Any], **kw: Any) -> Op:
        """Sign the author's next op without ingesting it."""
        kw.setdefault("hlc", self.next_hlc())
        return feed.op(kind, payload, **kw)

    def do(self, feed: Feed, kind: str, payload: dict[str, Any], **kw: Any) -> Op:
        op = self.sign(feed, kind, payload, **kw)
        self.ingest(op)
        return op

    def state(self, op: Op) -> tuple[str, str | None]:
        return op_state(self.store, op)

    def accepted(self, feed: Feed, kind: str, payload: dict[str, Any], **kw: Any) -> Op:
        op = self.do(feed, kind, payload, **kw)
        assert self.state(op) == ("accepted", None), (kind, self.state(op))
        return op

    def rejected(self, feed: Feed, kind: str, payload: dict[str, Any], **kw: Any) -> str:
        """Do an op that must be rejected (and stay in the log); returns the reason."""
        op = self.do(feed, kind, payload, **kw)
        state, reason = self.state(op)
        assert state == "rejected", (kind, state)
        assert reason
        return reason

    def one(self, sql: str, *args: object) -> tuple | None:
        return self.store.conn.execute(sql, args).fetchone()
