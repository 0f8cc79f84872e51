"""The materializer: folds one op at a time into the view tables.

Ops arrive here in the total order (hlc, author, seq), so the view tables
always hold the state "just before this op"; every permission and validity
check reads that state. A handler validates first and writes after, raising
Rejected (before writing anything) when the op is not allowed at this point.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from tablespace.core import limits
from tablespace.core.clock import datetime_to_hlc, hlc_to_datetime, iso
from tablespace.core.errors import Rejected
from tablespace.core.identity import author_id_for
from tablespace.core.names import NO_VISIBLE_CHARACTERS, name_key
from tablespace.core.ops import Op
from tablespace.core.rituals import check_schedule, is_occurrence, parse_start

ROLES = ("moderator", "greeter", "note-taker", "curator")


class PermissionRejected(Rejected):
    """Rejected because the author lacks a role or ownership (CLI exit 3)."""


@dataclass
class PostBatch:
    """Rows of thread.start / post.reply ops not written yet (FoldContext.flush).
    An import is mostly these: one executemany per table instead of two or
    three statements per op (bench_import)."""
    # new threads, in fold order: id -> row, replies and last activity kept current
    threads: dict[str, list] = field(default_factory=dict)
    posts: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    # threads already in the table: id -> [replies added, latest reply hlc]
    activity: dict[str, list[int]] = field(default_factory=dict)


@dataclass
class FoldContext:
    # Handlers use `conn`, `one` and `run`, which write the pending batch first.
    _conn: sqlite3.Connection
    group_id: str
    forks: dict[str, int] = field(default_factory=dict)  # author -> first seq they forked at
    # author -> last seq that counts (they left or were removed); grows as the
    # fold accepts removals
    cutoffs: dict[str, int] = field(default_factory=dict)
    # author -> (last seq the moderator had seen, end) of each time-out: content
    # they sign after that seq, dated before the end, is refused wherever it sorts
    timeouts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    # (member, role) -> {last_seq: until_seq or None}: a revoked role, from the
    # member's seq after `last_seq` (what the revoker had seen of them) until a
    # re-grant's seq; their ops in that window cannot use the role wherever
    # they sort, so a back-dated op cannot slip in before the revoke
    role_windows: dict[tuple[str, str], dict[int, int | None]] = field(default_factory=dict)
    # set when a removal reaches back into ops already folded: the store re-folds
    needs_refold: bool = False
    # The store writes ops' fold states once, after the fold (one executemany),
    # so during a fold the log does not show this pass's results: `folded`
    # holds the highest seq folded (accepted or rejected) per author in this
    # pass, for cut_off. A refold sets check_log=False: the log then holds
    # the previous fold's states, which must not count.
    folded: dict[str, int] = field(default_factory=dict)
    check_log: bool = True
    # The fold head before this pass: the log may already hold this pass's ops
    # as accepted (Store.file), and they all sort after it.
    head: tuple[int, str, int] | None = None
    # author -> (status, last_seq, timeout_until_hlc) from members, or None:
    # read twice per op (require_active, the time-out check); cleared after
    # any op whose kind may change the members table (apply_op).
    _membership: dict[str, tuple | None] = field(default_factory=dict)
    # the weekly post cap (0: none), read once per fold; group.edit clears it
    _post_cap: int | None = None
    # Write-behind for runs of thread.start / post.reply. Any SQL through
    # `conn`, `one` or `run` writes the batch out first, so every check reads
    # the state just before its op; `_threads` answers live_thread meanwhile
    # (id -> (author, deleted, archived)) and holds every thread the batch
    # touches. SQL that may write (`conn`, `run`) drops it.
    _batch: PostBatch = field(default_factory=PostBatch)
    _threads: dict[str, tuple] = field(default_factory=dict)
    # op id -> hlc of every op this pass folds (the store holds their rows in
    # memory anyway): after_previous looks there first, then in the log
    hlcs: dict[str, int] = field(default_factory=dict)
    # Deleted text, for the store to seal in the log after this pass
    # (core/seal.py): ids of the posts, threads and resources this pass
    # deleted, or refused a reply or edit of (seal_if_deleted_text); and the
    # tables whose indexed text it blanked, for the store to purge from the
    # search index (FTS_TABLES' names).
    deleted_text: set[str] = field(default_factory=set)
    blanked_text: set[str] = field(default_factory=set)

    def is_deleted(self, table: str, row_id: str) -> bool:
        """Whether a post, thread or resource is deleted, asked without writing
        the pending batch first: a row still in the batch was made in this
        pass and is not deleted (a delete writes the batch: `run`)."""
        row = self._conn.execute(f"SELECT deleted FROM {table} WHERE id = ?", (row_id,)).fetchone()
        return bool(row and row[0])

    @property
    def conn(self) -> sqlite3.Connection:
        self.flush()
        self._threads.clear()
        return self._conn

    def flush(self) -> None:
        """Write the pending batch; the store calls this after its last op."""
        batch = self._batch
        if not batch.posts:  # every new thread or reply pends a post
            return
        self._batch = PostBatch()
        self._conn.executemany(
            """INSERT INTO threads (id, title, author, created_hlc, last_activity_hlc, replies, ritual_id, occurrence)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""", batch.threads.values())
        self._conn.executemany(
            "INSERT INTO posts (id, thread_id, author, body, created_hlc) VALUES (?, ?, ?, ?, ?)", batch.posts)
        self._conn.executemany("INSERT INTO thread_tags (thread_id, tag) VALUES (?, ?)", batch.tags)
        self._conn.executemany(
            "UPDATE threads SET replies = replies + ?, last_activity_hlc = max(last_activity_hlc, ?) WHERE id = ?",
            [(count, hlc, thread) for thread, (count, hlc) in batch.activity.items()])

    def add_thread(self, thread_id: str, title: str, author: str, hlc: int, body: str, tags: list[str],
                   ritual_id: str | None, occurrence: str | None) -> None:
        """A new thread (the id is not in the table), its opening post and tags."""
        self._batch.threads[thread_id] = [thread_id, title, author, hlc, hlc, 0, ritual_id, occurrence]
        self._batch.posts.append((thread_id, thread_id, author, body, hlc))
        self._batch.tags.extend((thread_id, tag) for tag in tags)
        self._threads[thread_id] = (author, 0, 0)

    def add_reply(self, post_id: str, thread_id: str, author: str, body: str, hlc: int) -> None:
        """A reply to a live thread (live_thread has put it in `_threads`)."""
        self._batch.posts.append((post_id, thread_id, author, body, hlc))
        row = self._batch.threads.get(thread_id)
        if row is None:
            row = self._batch.activity.setdefault(thread_id, [0, hlc])
            row[0] += 1
            row[1] = max(row[1], hlc)
        else:
            row[5] += 1
            row[4] = max(row[4], hlc)

    def membership(self, author: str) -> tuple | None:
        try:
            return self._membership[author]
        except KeyError:
            row = self.one("SELECT status, last_seq, timeout_until_hlc FROM members WHERE id = ?", author)
            self._membership[author] = row
            return row

    def one(self, sql: str, *args: object) -> tuple | None:
        self.flush()
        return self._conn.execute(sql, args).fetchone()

    def run(self, sql: str, *args: object) -> None:
        self.conn.execute(sql, args)

    def member_status(self, member: str) -> str | None:
        row = self.one("SELECT status FROM members WHERE id = ?", member)
        return row[0] if row else None

    def has_role(self, member: str, role: str) -> bool:
        return self.one("SELECT 1 FROM roles WHERE member_id = ? AND role = ?", member, role) is not None

    def require_active(self, op: Op) -> None:
        row = self.membership(op.author)
        if row is None:
            raise PermissionRejected("the author is not a member of this group")
        status, last_seq, _ = row
        if status == "active":
            return
        if status in ("removed", "left") and last_seq is not None and op.seq <= last_seq:
            return  # signed before they went; it arrived (or sorts) late
        raise PermissionRejected(f"the author's membership is {status.replace('_', ' ')}")

    def is_last_moderator(self, member: str) -> bool:
        (count,) = self.one("SELECT count(*) FROM roles WHERE role = 'moderator'")
        return count <= 1 and self.has_role(member, "moderator")

    def time_out(self, member: str, last_seq: int, until: int) -> None:
        self.run("INSERT OR IGNORE INTO timeouts (member, last_seq, until_hlc) VALUES (?, ?, ?)",
                 member, last_seq, until)
        self.timeouts.setdefault(member, []).append((last_seq, until))
        if self._folded_after(member, last_seq):
            self.needs_refold = True

    def cut_off(self, member: str, last_seq: int) -> None:
        """Nothing the member signs after `last_seq` counts, wherever it sorts."""
        self.run("INSERT OR REPLACE INTO cutoffs (member, last_seq) VALUES (?, ?)", member, last_seq)
        self.cutoffs[member] = last_seq
        if self._folded_after(member, last_seq):
            self.needs_refold = True

    def _folded_after(self, member: str, last_seq: int) -> bool:
        """Whether an op the member signed after `last_seq` was already folded,
        in this pass or (check_log) in an earlier one, i.e. at or before the
        head. Accepted or rejected: a new cut changes the verdict of the one
        and the reason of the other, and a rebuild must agree with both."""
        if self.folded.get(member, 0) > last_seq:
            return True
        if not self.check_log:
            return False
        return self.one(
            """SELECT 1 FROM ops WHERE author = ? AND seq > ? AND state IN ('accepted', 'rejected')
               AND (hlc, author, seq) <= (?, ?, ?)""",
            member, last_seq, *(self.head or (-1, "", 0))) is not None

    def after_previous(self, op: Op) -> bool:
        """Is `op` dated after the author's previous op? An honest clock never
        runs backwards, and a set-back one would let its owner slip posts into
        past weeks, under the post cap. A property of the two ops alone, so
        every replica decides alike whatever order they arrived in; the
        previous op is in the log or among this pass's new ops (its chain is
        complete, or `op` would not be folded)."""
        previous = self.hlcs.get(op.prev)  # type: ignore[arg-type]
        if previous is not None:
            return previous < op.hlc
        # the log's ops table is never batched: no flush needed
        row = self._conn.execute("SELECT hlc FROM ops WHERE id = ?", (op.prev,)).fetchone()
        return row is not None and row[0] < op.hlc

    def check_post_cap(self, op: Op) -> None:
        """The group's weekly post cap: threads and replies a member (not a
        moderator) wrote in the 7 days up to this op, by the ops' own times."""
        if self._post_cap is None:
            row = self.one("SELECT value FROM settings WHERE key = 'post_cap'")
            self._post_cap = int(row[0]) if row else 0
        if not self._post_cap or self.has_role(op.author, "moderator"):
            return
        # Deleting one's own post does not free a place; a post moderators hid does.
        (count, oldest) = self.one(
            """SELECT count(*), min(created_hlc) FROM posts p WHERE author = ? AND created_hlc > ?
               AND created_hlc <= ? AND hidden = 0
               AND NOT EXISTS (SELECT 1 FROM threads t WHERE t.id = p.id AND t.ritual_id IS NOT NULL)""",
            op.author, op.hlc - (WEEK_MS << 16), op.hlc)
        if count >= self._post_cap:
            again = iso(hlc_to_datetime(oldest + (WEEK_MS << 16)))
            raise Rejected(f"the author has written {count} posts in the last 7 days, the group's weekly cap"
                           f" ({self._post_cap}); the next one can go after {again}")

    def require_role(self, op: Op, role: str, action: str) -> None:
        self.require_active(op)
        if not self.has_role(op.author, role):
            raise PermissionRejected(f"only a {role} can {action}")
        for last_seq, until_seq in self.role_windows.get((op.author, role), {}).items():
            if op.seq > last_seq and (until_seq is None or op.seq <= until_seq):
                raise PermissionRejected(f"only a {role} can {action}: the author's role had been taken away")

    def close_role_window(self, member: str, role: str, until_seq: int) -> None:
        """A re-grant: the member's ops after `until_seq` may use the role again."""
        windows = self.role_windows.get((member, role), {})
        for last_seq, until in windows.items():
            if until is None and last_seq <= until_seq:
                windows[last_seq] = until_seq
                self.run("UPDATE role_windows SET until_seq = ? WHERE member = ? AND role = ? AND last_seq = ?",
                         until_seq, member, role, last_seq)

    def open_role_window(self, member: str, role: str, last_seq: int) -> None:
        # A re-fold starts with the windows the last pass found (a re-grant may
        # have closed this one already): keep that, and write the row as it is.
        until = self.role_windows.setdefault((member, role), {}).setdefault(last_seq, None)
        self.run("INSERT OR IGNORE INTO role_windows (member, role, last_seq, until_seq) VALUES (?, ?, ?, ?)",
                 member, role, last_seq, until)
        if self._folded_after(member, last_seq):
            self.needs_refold = True

    def live_post(self, post_id: str) -> tuple[str, str, int]:
        """(thread_id, author, created_hlc) of a post that exists and is not deleted."""
        row = self.one("SELECT thread_id, author, created_hlc, deleted FROM posts WHERE id = ?", post_id)
        if row is None:
            raise Rejected("no such post")
        if row[3]:
            raise Rejected("the post has been deleted")
        return row[0], row[1], row[2]

    def live_thread(self, thread_id: str) -> str:
        """The author of a thread that exists, is not deleted and not archived
        (an archived thread is read-only)."""
        row = self._threads.get(thread_id)
        if row is None:
            # Not in `_threads`, so nothing pending touches it: no flush needed.
            row = self._conn.execute(
                "SELECT author, deleted, archived FROM threads WHERE id = ?", (thread_id,)).fetchone()
            if row is None:
                raise Rejected("no such thread")
            self._threads[thread_id] = row
        if row[1]:
            raise Rejected("the thread has been deleted")
        if row[2]:
            raise Rejected("the thread is archived")
        return row[0]

    def live_resource(self, resource_id: str) -> str:
        row = self.one("SELECT added_by, deleted FROM resources WHERE id = ?", resource_id)
        if row is None or row[1]:
            raise Rejected("no such resource")
        return row[0]

    def set_tags(self, table: str, key: str, item_id: str, tags: list[str]) -> None:
        self.run(f"DELETE FROM {table} WHERE {key} = ?", item_id)
        self.conn.executemany(f"INSERT INTO {table} ({key}, tag) VALUES (?, ?)", [(item_id, t) for t in tags])

    def refresh_thread_activity(self, thread_id: str) -> None:
        self.run(
            """UPDATE threads SET
                 replies = (SELECT count(*) FROM posts WHERE thread_id = :t AND id != :t AND deleted = 0),
                 last_activity_hlc = coalesce(
                   (SELECT max(created_hlc) FROM posts WHERE thread_id = :t AND deleted = 0), created_hlc)
               WHERE id = :t""".replace(":t", "?1"),
            thread_id,
        )


# Kinds whose ops carry text of the post, thread or resource their payload
# names; the log indexes the edits among them by that name (Store, text_edits).
TEXT_TARGETS: dict[str, str] = {"post.reply": "thread", "post.edit": "post", "thread.tag": "thread",
                                "library.edit": "resource"}
# The kinds that change text written by another op (a reply is text of its own).
EDITS = tuple(kind for kind in TEXT_TARGETS if kind != "post.reply")


def text_target(op: Op) -> str | None:
    key = TEXT_TARGETS.get(op.kind)
    target = op.payload.get(key) if key else None
    return target if isinstance(target, str) else None


def text_edit_rows(ops: Iterable[Op]) -> list[tuple[str, str]]:
    """(target, edit op id) for the text_edits index: how a deleted post's
    or resource's edits are found to seal them (Store._forget_deleted_text)."""
    return [(target, op.id) for op in ops if op.kind in EDITS and (target := text_target(op)) is not None]


def seal_if_deleted_text(ctx: FoldContext, op: Op) -> None:
    """A refused reply or edit of something deleted (it arrived after the
    delete, or its author saw it accepted before the delete reached them)
    is sealed with the rest of that text, whatever the reason it was refused:
    the store seals a deleted target's refused replies and every edit of it."""
    target = text_target(op)
    if target is not None and ctx.is_deleted(f"{TEXT_TARGETS[op.kind]}s", target):
        ctx.deleted_text.add(target)


Handler = Callable[[FoldContext, Op], None]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def apply_op(ctx: FoldContext, op: Op) -> str | None:
    """Fold one op. Returns None if accepted, else the rejection reason."""
    handler = HANDLERS.get(op.kind)
    try:
        if handler is None:
            raise Rejected(f"unknown kind {op.kind!r}")
        if op.kind != "group.create" and op.group != ctx.group_id:
            raise Rejected("op belongs to another group")
        if op.prev is not None and not ctx.after_previous(op):
            raise Rejected("dated before the author's previous change (their clock was set back)")
        fork = ctx.forks.get(op.author)
        if fork is not None and op.seq >= fork:
            raise Rejected(f"the author signed two different ops as seq {fork} (a fork); their ops from there on are set aside")
        cutoff = ctx.cutoffs.get(op.author)
        if cutoff is not None and op.seq > cutoff:
            raise PermissionRejected("the author's membership had ended when they wrote this")
        if op.kind in CONTENT_KINDS:
            for last_seq, until in ctx.timeouts.get(op.author, ()):
                if op.seq > last_seq and op.hlc < until:
                    raise PermissionRejected(f"the author is timed out until {iso(hlc_to_datetime(until))}")
        handler(ctx, op)
    except Rejected as exc:
        seal_if_deleted_text(ctx, op)
        return exc.reason
    finally:
        if op.kind not in KEEPS_MEMBERS:
            ctx._membership.clear()
        if ctx.folded.get(op.author, 0) < op.seq:
            ctx.folded[op.author] = op.seq
    return None


# What a timed-out member cannot do until the time-out ends.
CONTENT_KINDS = frozenset({
    "thread.start", "post.reply", "post.edit", "post.react", "post.unreact", "thread.tag",
    "library.add", "library.edit", "ritual.occur",
})
MAX_TIMEOUT_MS = 28 * 24 * 3600 * 1000
WEEK_MS = 7 * 24 * 3600 * 1000
POST_CAP_MAX = 1000
# Kinds whose handlers never write the members table, so FoldContext's
# membership cache survives them. Any other kind (member.*, group.create, an
# unknown one) clears it: add a kind here only if its handler leaves members alone.
KEEPS_MEMBERS = CONTENT_KINDS | frozenset({
    "post.delete", "thread.pin", "library.remove", "ritual.add", "ritual.edit", "ritual.pause",
    "invite.create", "request.deny", "group.edit", "epoch.rotate", "role.grant", "role.revoke",
    "post.hide", "thread.archive", "mod.record", "modkey.rotate",
})


def is_permission_reason(reason: str) -> bool:
    return reason.startswith(("only ", "the author is not", "the author's membership", "the author is timed out"))


def derived_id(*parts: str) -> str:
    """An id every replica computes alike, for things created by more than one op."""
    return hashlib.sha256("\x1f".join(parts).encode()).digest()[:16].hex()


# --- the group and its members ----------------------------------------------


def display_name(ctx: FoldContext, payload: dict, field: str, member: str) -> tuple[str, str]:
    """A display name for `member` and its key (core/names.py). Refused when
    another member has that name: anyone ever admitted, including those who
    left or were removed, since their posts still show it and a newcomer
    must not pass as them."""
    name = limits.one_line(payload, field, label="display name", max_chars=limits.NAME_MAX)
    key = name_key(name)
    if not key:
        raise Rejected(NO_VISIBLE_CHARACTERS)
    holder = ctx.one("SELECT name FROM members WHERE name_key = ? AND id != ?", key, member)
    if holder is not None:
        raise Rejected(f"the display name is taken in this group ({name!r} is the same name as {holder[0]!r}, "
                       "a member's)")
    return name, key


@handles("group.create")
def group_create(ctx: FoldContext, op: Op) -> None:
    if op.id != ctx.group_id or op.group is not None or op.seq != 1:
        raise Rejected("not this group's genesis")
    p = op.payload
    name = limits.one_line(p, "name", label="group name", max_chars=limits.NAME_MAX * 2)
    purpose = limits.text(p, "purpose", label="purpose", max_chars=limits.SUMMARY_MAX, required=False)
    rules = limits.text(p, "rules", label="house rules", max_chars=limits.RULES_MAX, required=False)
    founder, founder_key = display_name(ctx, p, "founder_name", op.author)
    ctx.conn.executemany(
        "INSERT INTO settings (key, value) VALUES (?, ?)",
        [("name", name), ("purpose", purpose), ("rules", rules), ("founder", op.author),
         ("created_at", iso(hlc_to_datetime(op.hlc)))],
    )
    ctx.run(
        "INSERT INTO members (id, name, name_key, status, public_key, joined_hlc) VALUES (?, ?, ?, 'active', ?, ?)",
        op.author, founder, founder_key, op.public_key.hex(), op.hlc,
    )
    ctx.run("INSERT INTO roles (member_id, role) VALUES (?, 'moderator')", op.author)


@handles("group.edit")
def group_edit(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "change the group's settings")
    p = op.payload
    changes: list[tuple[str, str]] = []
    if "name" in p:
        changes.append(("name", limits.one_line(p, "name", label="group name", max_chars=limits.NAME_MAX * 2)))
    if "purpose" in p:
        changes.append(("purpose", limits.text(p, "purpose", label="purpose", max_chars=limits.SUMMARY_MAX, required=False)))
    if "rules" in p:
        changes.append(("rules", limits.text(p, "rules", label="house rules", max_chars=limits.RULES_MAX, required=False)))
    if "conduct" in p:
        changes.append(("conduct", limits.text(p, "conduct", label="code of conduct", max_chars=limits.RULES_MAX,
                                                required=False)))
    if "post_cap" in p:
        cap = p["post_cap"]
        if type(cap) is not int or not 0 <= cap <= POST_CAP_MAX:
            raise Rejected(f"the weekly post cap is a whole number from 0 (none) to {POST_CAP_MAX}")
        changes.append(("post_cap", str(cap)))
        ctx._post_cap = None
    if not changes:
        raise Rejected("nothing to change")
    ctx.conn.executemany("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", changes)


def invite_id_for(secret: bytes) -> str:
    """The public name of an invite: a hash of its one-time secret."""
    return hashlib.sha256(b"tablespace invite\x00" + secret).digest()[:16].hex()


def _hex_key(payload: dict, key: str, *, label: str, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    # Checked before decoding: bytes.fromhex raised ValueError on a hostile
    # payload, which escaped the fold and aborted the whole ingest.
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise Rejected(f"the {label} is not a valid key")
    return value.lower()


@handles("invite.create")
def invite_create(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "invite people")
    p = op.payload
    invite = limits.ref(p, "invite", label="invite")
    # The secret opens join requests, so it now travels sealed to the
    # moderators (sync/moderation.py); early invites carried it here.
    secret = p.get("secret", "")
    if secret and (not isinstance(secret, str) or not re.fullmatch(r"[0-9a-f]{32}", secret)
                   or invite_id_for(bytes.fromhex(secret)) != invite):
        raise Rejected("the invite's secret does not match its id")
    expires = datetime_to_hlc(parse_start(limits.one_line(p, "expires", label="expiry", max_chars=40)))
    uses = p.get("uses")
    if type(uses) is not int or not 1 <= uses <= 150:
        raise Rejected("an invite can be used between 1 and 150 times")
    if ctx.one("SELECT 1 FROM invites WHERE id = ?", invite):
        raise Rejected("that invite already exists")
    ctx.run("INSERT INTO invites (id, secret, expires_hlc, uses, created_by) VALUES (?, ?, ?, ?, ?)",
            invite, secret, expires, uses, op.author)


def _undecided(ctx: FoldContext, request: str) -> None:
    if ctx.one("SELECT 1 FROM join_decisions WHERE request = ?", request):
        raise Rejected("that join request has already been decided")


@handles("member.add")
def member_add(ctx: FoldContext, op: Op) -> None:
    """Admit a member: directly (a moderator adding someone they know), or on
    a join request made with one of the group's invites."""
    ctx.require_role(op, "moderator", "add members")
    p = op.payload
    member = limits.ref(p, "member", label="member")
    key_hex = _hex_key(p, "public_key", label="member's public key")
    if author_id_for(bytes.fromhex(key_hex)) != member:
        raise Rejected("the member's public key does not match their id")
    exchange = _hex_key(p, "exchange_key", label="member's exchange key", required=False)
    status = ctx.member_status(member)
    if status in ("active", "timed_out"):
        raise Rejected("already a member")
    name, key = display_name(ctx, p, "name", member)
    invite = p.get("invite")
    request = p.get("request")
    if invite is not None:
        invite = limits.ref(p, "invite", label="invite")
        row = ctx.one("SELECT expires_hlc, uses, used FROM invites WHERE id = ?", invite)
        if row is None:
            raise Rejected("no such invite")
        if op.hlc > row[0]:
            raise Rejected("the invite has expired")
        if row[2] >= row[1]:
            raise Rejected("the invite has been used up")
    if request is not None:
        request = limits.ref(p, "request", label="join request")
        _undecided(ctx, request)
    if invite is not None:
        ctx.run("UPDATE invites SET used = used + 1 WHERE id = ?", invite)
    if request is not None:
        ctx.run("""INSERT INTO join_decisions (request, decision, member, decided_by, decided_hlc)
                   VALUES (?, 'admitted', ?, ?, ?)""", request, member, op.author, op.hlc)
    ctx.run(
        """INSERT OR REPLACE INTO members (id, name, name_key, status, public_key, joined_hlc, exchange_key)
           VALUES (?, ?, ?, 'active', ?, ?, ?)""",
        member, name, key, key_hex, op.hlc, exchange,
    )


@handles("request.deny")
def request_deny(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "decide join requests")
    request = limits.ref(op.payload, "request", label="join request")
    reason = limits.text(op.payload, "reason", label="reason", max_chars=limits.SUMMARY_MAX, required=False)
    _undecided(ctx, request)
    ctx.run("""INSERT INTO join_decisions (request, decision, reason, decided_by, decided_hlc)
               VALUES (?, 'denied', ?, ?, ?)""", request, reason, op.author, op.hlc)


@handles("member.keys")
def member_keys(ctx: FoldContext, op: Op) -> None:
    """A member publishes the X25519 key epoch keys are wrapped for."""
    ctx.require_active(op)
    exchange = _hex_key(op.payload, "exchange_key", label="exchange key")
    ctx.run("UPDATE members SET exchange_key = ? WHERE id = ?", exchange, op.author)


def _leave(ctx: FoldContext, member: str, status: str, last_seq: int, hlc: int) -> None:
    ctx.run("UPDATE members SET status = ?, last_seq = ?, left_hlc = ?, timeout_until_hlc = NULL WHERE id = ?",
            status, last_seq, hlc, member)
    ctx.run("DELETE FROM roles WHERE member_id = ?", member)
    ctx.cut_off(member, last_seq)


@handles("member.remove")
def member_remove(ctx: FoldContext, op: Op) -> None:
    """Removal names the member's last seq that counts (what the moderator had
    seen of them), so a back-dated clock cannot slip later ops in."""
    ctx.require_role(op, "moderator", "remove members")
    member = limits.ref(op.payload, "member", label="member")
    last_seq = op.payload.get("last_seq")
    if type(last_seq) is not int or last_seq < 0:
        raise Rejected("the removal must name the member's last seq")
    limits.text(op.payload, "reason", label="reason", max_chars=limits.SUMMARY_MAX, required=False)
    if member == op.author:
        raise Rejected("to go yourself, leave the group")
    if ctx.member_status(member) != "active":
        raise Rejected("not a current member")
    if ctx.is_last_moderator(member):
        raise Rejected("a group needs at least one moderator")
    _leave(ctx, member, "removed", last_seq, op.hlc)


@handles("member.leave")
def member_leave(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    if ctx.is_last_moderator(op.author):
        raise Rejected("a group needs at least one moderator: make someone else a moderator first")
    _leave(ctx, op.author, "left", op.seq, op.hlc)


@handles("member.timeout")
def member_timeout(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "time members out")
    member = limits.ref(op.payload, "member", label="member")
    until = datetime_to_hlc(parse_start(limits.one_line(op.payload, "until", label="end of the time-out",
                                                        max_chars=40)))
    limits.text(op.payload, "reason", label="reason", max_chars=limits.SUMMARY_MAX, required=False)
    if member == op.author:
        raise Rejected("moderators cannot time themselves out")
    if ctx.member_status(member) != "active":
        raise Rejected("not a current member")
    last_seq = op.payload.get("last_seq")
    if type(last_seq) is not int or last_seq < 0:
        raise Rejected("the time-out must name the member's last seq")
    span = (until >> 16) - (op.hlc >> 16)
    if span <= 0:
        raise Rejected("a time-out must end in the future")
    if span > MAX_TIMEOUT_MS + 60_000:
        raise Rejected("a time-out lasts at most 28 days")
    ctx.run("UPDATE members SET timeout_until_hlc = ? WHERE id = ?", until, member)
    ctx.time_out(member, last_seq, until)


@handles("member.timeout_end")
def member_timeout_end(ctx: FoldContext, op: Op) -> None:
    """A moderator ends a time-out early: every window of it still open at
    this op now closes here. Ops dated before this op keep the verdict they
    had, so nothing already folded changes (no re-fold)."""
    ctx.require_role(op, "moderator", "end time-outs")
    member = limits.ref(op.payload, "member", label="member")
    row = ctx.one("SELECT status, timeout_until_hlc FROM members WHERE id = ?", member)
    if row is None or row[0] != "active" or not row[1] or row[1] <= op.hlc:
        raise Rejected("that member is not timed out")
    open_windows = [r[0] for r in ctx.conn.execute(
        "SELECT last_seq FROM timeouts WHERE member = ? AND until_hlc > ?", (member, op.hlc))]
    ctx.run("DELETE FROM timeouts WHERE member = ? AND until_hlc > ?", member, op.hlc)
    ctx.conn.executemany("INSERT OR IGNORE INTO timeouts (member, last_seq, until_hlc) VALUES (?, ?, ?)",
                         [(member, last_seq, op.hlc) for last_seq in open_windows])
    ctx.timeouts[member] = sorted({(ls, min(until, op.hlc)) for ls, until in ctx.timeouts.get(member, ())})
    ctx.run("UPDATE members SET timeout_until_hlc = NULL WHERE id = ?", member)


@handles("epoch.rotate")
def epoch_rotate(ctx: FoldContext, op: Op) -> None:
    """A member announces a new epoch key (by id; the key itself travels only
    wrapped) and who it was wrapped for. Any active member may: after a
    departure, whoever has something to send renews the key (sync/roster.py).
    Not someone who has gone, even with an op signed before they went and
    dated after: they would hold a key the others write under. The maker must
    be among the recipients, so their own departure renews it; and the epoch
    is at most one past the newest, so nobody can use up the numbers."""
    ctx.require_active(op)
    if ctx.membership(op.author)[0] != "active":  # require_active let in an op signed before they went
        raise PermissionRejected("someone who has gone cannot renew the group's key")
    epoch = op.payload.get("epoch")
    (newest,) = ctx.one("SELECT coalesce(max(epoch), -1) FROM epochs")
    if type(epoch) is not int or not 0 <= epoch <= newest + 1:
        raise Rejected("bad epoch number: the next key is the newest epoch's successor")
    key_id = op.payload.get("key_id")
    if not isinstance(key_id, str) or not re.fullmatch(r"[0-9a-f]{16}", key_id):
        raise Rejected("bad key id")
    recipients = op.payload.get("recipients")
    if not isinstance(recipients, list) or len(recipients) > 1000 or \
            not all(isinstance(r, str) and limits.ID_RE.match(r) for r in recipients):
        raise Rejected("bad recipient list")
    if op.author not in recipients:
        raise Rejected("the key's maker must be among its recipients")
    ctx.run("""INSERT OR IGNORE INTO epochs (epoch, key_id, created_hlc, created_by, recipients)
               VALUES (?, ?, ?, ?, ?)""", epoch, key_id, op.hlc, op.author, ",".join(sorted(set(recipients))))


@handles("member.profile")
def member_profile(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    name, key = display_name(ctx, op.payload, "name", op.author)
    ctx.run("UPDATE members SET name = ?, name_key = ? WHERE id = ?", name, key, op.author)


def _role_change(ctx: FoldContext, op: Op) -> tuple[str, str]:
    ctx.require_role(op, "moderator", "change roles")
    member = limits.ref(op.payload, "member", label="member")
    role = op.payload.get("role")
    if role not in ROLES:
        raise Rejected(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if ctx.member_status(member) not in ("active", "timed_out"):
        raise Rejected("not a current member")
    return member, role


@handles("role.grant")
def role_grant(ctx: FoldContext, op: Op) -> None:
    member, role = _role_change(ctx, op)
    if ctx.has_role(member, role):
        raise Rejected(f"already a {role}")
    since = _member_seq(op.payload, "since_seq")
    if since is not None:
        ctx.close_role_window(member, role, since)
    ctx.run("INSERT INTO roles (member_id, role) VALUES (?, ?)", member, role)


def _member_seq(payload: dict, key: str) -> int | None:
    """A seq of the member's the moderator had seen (optional: early ops lack it)."""
    value = payload.get(key)
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < 2**63:
        raise Rejected(f"bad {key}")
    return value


@handles("role.revoke")
def role_revoke(ctx: FoldContext, op: Op) -> None:
    member, role = _role_change(ctx, op)
    if not ctx.has_role(member, role):
        raise Rejected(f"not a {role}")
    if role == "moderator" and ctx.is_last_moderator(member):
        raise Rejected("a group needs at least one moderator")
    last_seq = _member_seq(op.payload, "last_seq")
    ctx.run("DELETE FROM roles WHERE member_id = ? AND role = ?", member, role)
    if last_seq is not None:
        ctx.open_role_window(member, role, last_seq)


# --- threads and posts -------------------------------------------------------


def _insert_thread(ctx: FoldContext, thread_id: str, title: str, author: str, hlc: int,
                   body: str, tags: list[str], ritual_id: str | None = None,
                   occurrence: str | None = None) -> None:
    ctx.add_thread(thread_id, title, author, hlc, body, tags, ritual_id, occurrence)


@handles("thread.start")
def thread_start(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    ctx.check_post_cap(op)
    p = op.payload
    title = limits.one_line(p, "title", label="title", max_chars=limits.TITLE_MAX)
    body = limits.body(p)
    tags = limits.tag_list(p)
    _insert_thread(ctx, op.id, title, op.author, op.hlc, body, tags)


@handles("post.reply")
def post_reply(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    ctx.check_post_cap(op)
    thread = limits.ref(op.payload, "thread", label="thread")
    ctx.live_thread(thread)
    body = limits.body(op.payload, required=True)
    ctx.add_reply(op.id, thread, op.author, body, op.hlc)


@handles("post.edit")
def post_edit(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    post = limits.ref(op.payload, "post", label="post")
    thread, author, _ = ctx.live_post(post)
    ctx.live_thread(thread)
    if author != op.author:
        raise PermissionRejected("only the author can edit a post")
    body = limits.body(op.payload, required=post != thread)
    title = None
    if "title" in op.payload:
        if post != thread:
            raise Rejected("only an opening post has a title")
        title = limits.one_line(op.payload, "title", label="title", max_chars=limits.TITLE_MAX)
    ctx.run("UPDATE posts SET body = ?, edited_hlc = ? WHERE id = ?", body, op.hlc, post)
    if title is not None:
        ctx.run("UPDATE threads SET title = ? WHERE id = ?", title, thread)


@handles("post.delete")
def post_delete(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    post = limits.ref(op.payload, "post", label="post")
    thread, author, _ = ctx.live_post(post)
    if author != op.author and not ctx.has_role(op.author, "moderator"):
        raise PermissionRejected("only the author or a moderator can delete a post")
    _tombstone(ctx, post, thread)


@handles("post.hide")
def post_hide(ctx: FoldContext, op: Op) -> None:
    """A moderator's decision on a report: gone for everyone like a delete,
    marked as hidden (the moderators' record keeps what was reported)."""
    ctx.require_role(op, "moderator", "hide posts")
    post = limits.ref(op.payload, "post", label="post")
    thread, _, _ = ctx.live_post(post)
    _tombstone(ctx, post, thread)
    ctx.run("UPDATE posts SET hidden = 1 WHERE id = ?", post)


def _tombstone(ctx: FoldContext, post: str, thread: str) -> None:
    # Tombstones keep the row (later edits and replies must still be refused)
    # but blank the text, so it leaves the views and, via the FTS triggers,
    # the search index; the store then seals it in the log (deleted_text).
    ctx.run("UPDATE posts SET body = '', deleted = 1 WHERE id = ?", post)
    ctx.deleted_text.add(post)
    ctx.blanked_text.add("posts")
    ctx.run("DELETE FROM reactions WHERE post_id = ?", post)
    if post == thread:
        # Deleting an opening post deletes the thread with all its replies.
        ctx.run("UPDATE threads SET title = '', deleted = 1, replies = 0, pinned = 0 WHERE id = ?", thread)
        ctx.blanked_text.add("threads")
        ctx.run(
            "DELETE FROM reactions WHERE post_id IN (SELECT id FROM posts WHERE thread_id = ?)", thread
        )
        ctx.deleted_text.update(row[0] for row in ctx.conn.execute(
            "UPDATE posts SET body = '', deleted = 1 WHERE thread_id = ? AND deleted = 0 RETURNING id", (thread,)))
        ctx.run("DELETE FROM thread_tags WHERE thread_id = ?", thread)
    else:
        ctx.refresh_thread_activity(thread)


def _reaction_target(ctx: FoldContext, op: Op) -> tuple[str, str]:
    ctx.require_active(op)
    post = limits.ref(op.payload, "post", label="post")
    thread, _, _ = ctx.live_post(post)
    ctx.live_thread(thread)
    return post, limits.emoji(op.payload)


@handles("post.react")
def post_react(ctx: FoldContext, op: Op) -> None:
    post, emoji = _reaction_target(ctx, op)
    ctx.run("INSERT OR IGNORE INTO reactions (post_id, author, emoji, hlc) VALUES (?, ?, ?, ?)",
            post, op.author, emoji, op.hlc)


@handles("post.unreact")
def post_unreact(ctx: FoldContext, op: Op) -> None:
    post, emoji = _reaction_target(ctx, op)
    ctx.run("DELETE FROM reactions WHERE post_id = ? AND author = ? AND emoji = ?", post, op.author, emoji)


@handles("thread.tag")
def thread_tag(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    thread = limits.ref(op.payload, "thread", label="thread")
    author = ctx.live_thread(thread)
    if author != op.author and not (ctx.has_role(op.author, "moderator") or ctx.has_role(op.author, "curator")):
        raise PermissionRejected("only the thread's author, a curator or a moderator can change its tags")
    add = limits.tag_list(op.payload, "add")
    remove = set(limits.tag_list(op.payload, "remove"))
    current = {r[0] for r in ctx.conn.execute("SELECT tag FROM thread_tags WHERE thread_id = ?", (thread,))}
    tags = sorted((current | set(add)) - remove)
    limits.tag_list({"tags": tags})
    ctx.set_tags("thread_tags", "thread_id", thread, tags)


@handles("thread.pin")
def thread_pin(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "pin threads")
    thread = limits.ref(op.payload, "thread", label="thread")
    ctx.live_thread(thread)
    pinned = limits.flag(op.payload, "pinned", label="pinned")
    ctx.run("UPDATE threads SET pinned = ? WHERE id = ?", int(pinned), thread)


# --- the resource library ----------------------------------------------------


@handles("library.add")
def library_add(ctx: FoldContext, op: Op) -> None:
    ctx.require_active(op)
    p = op.payload
    title = limits.one_line(p, "title", label="title", max_chars=limits.TITLE_MAX)
    url = limits.url(p)
    summary = limits.text(p, "summary", label="summary", max_chars=limits.SUMMARY_MAX, required=False)
    tags = limits.tag_list(p)
    ctx.run(
        "INSERT INTO resources (id, title, url, summary, added_by, created_hlc) VALUES (?, ?, ?, ?, ?, ?)",
        op.id, title, url, summary, op.author, op.hlc,
    )
    ctx.set_tags("resource_tags", "resource_id", op.id, tags)


def _resource_for_change(ctx: FoldContext, op: Op) -> str:
    ctx.require_active(op)
    resource = limits.ref(op.payload, "resource", label="resource")
    added_by = ctx.live_resource(resource)
    if added_by != op.author and not (ctx.has_role(op.author, "moderator") or ctx.has_role(op.author, "curator")):
        raise PermissionRejected("only whoever added it, a curator or a moderator can change a resource")
    return resource


@handles("library.edit")
def library_edit(ctx: FoldContext, op: Op) -> None:
    resource = _resource_for_change(ctx, op)
    p = op.payload
    updates: dict[str, str] = {}
    if "title" in p:
        updates["title"] = limits.one_line(p, "title", label="title", max_chars=limits.TITLE_MAX)
    if "url" in p:
        updates["url"] = limits.url(p)
    if "summary" in p:
        updates["summary"] = limits.text(p, "summary", label="summary", max_chars=limits.SUMMARY_MAX, required=False)
    tags = limits.tag_list(p) if "tags" in p else None
    if not updates and tags is None:
        raise Rejected("nothing to change")
    for column, value in updates.items():
        ctx.run(f"UPDATE resources SET {column} = ? WHERE id = ?", value, resource)
    if tags is not None:
        ctx.set_tags("resource_tags", "resource_id", resource, tags)


@handles("library.remove")
def library_remove(ctx: FoldContext, op: Op) -> None:
    resource = _resource_for_change(ctx, op)
    ctx.run("UPDATE resources SET title = '', url = '', summary = '', deleted = 1 WHERE id = ?", resource)
    ctx.run("DELETE FROM resource_tags WHERE resource_id = ?", resource)
    ctx.deleted_text.add(resource)
    ctx.blanked_text.add("resources")


# --- rituals -----------------------------------------------------------------


@handles("ritual.add")
def ritual_add(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "add rituals")
    p = op.payload
    name = limits.one_line(p, "name", label="ritual name", max_chars=limits.TITLE_MAX)
    prompt = limits.text(p, "prompt", label="prompt", max_chars=limits.PROMPT_MAX)
    rule = limits.one_line(p, "rrule", label="RRULE", max_chars=limits.RRULE_MAX)
    start_text = limits.one_line(p, "start", label="start", max_chars=40)
    start = parse_start(start_text)
    check_schedule(rule, start, hlc_to_datetime(op.hlc))  # the op's own time: every replica decides alike
    ctx.run(
        """INSERT INTO rituals (id, name, prompt, rrule, start, author, created_hlc)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        op.id, name, prompt, rule, iso(start), op.author, op.hlc,
    )


def _live_ritual(ctx: FoldContext, op: Op) -> tuple:
    ritual = limits.ref(op.payload, "ritual", label="ritual")
    row = ctx.one("SELECT id, name, prompt, rrule, start, paused, author FROM rituals WHERE id = ?", ritual)
    if row is None:
        raise Rejected("no such ritual")
    return row


@handles("ritual.edit")
def ritual_edit(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "edit rituals")
    ritual_id, name, prompt, rule, start, _, _ = _live_ritual(ctx, op)
    p = op.payload
    if "name" in p:
        name = limits.one_line(p, "name", label="ritual name", max_chars=limits.TITLE_MAX)
    if "prompt" in p:
        prompt = limits.text(p, "prompt", label="prompt", max_chars=limits.PROMPT_MAX)
    if "rrule" in p:
        rule = limits.one_line(p, "rrule", label="RRULE", max_chars=limits.RRULE_MAX)
    if "start" in p:
        start = iso(parse_start(limits.one_line(p, "start", label="start", max_chars=40)))
    check_schedule(rule, parse_start(start), hlc_to_datetime(op.hlc))
    ctx.run("UPDATE rituals SET name = ?, prompt = ?, rrule = ?, start = ? WHERE id = ?",
            name, prompt, rule, start, ritual_id)


@handles("ritual.pause")
def ritual_pause(ctx: FoldContext, op: Op) -> None:
    ctx.require_role(op, "moderator", "pause rituals")
    ritual_id = _live_ritual(ctx, op)[0]
    paused = limits.flag(op.payload, "paused", label="paused")
    ctx.run("UPDATE rituals SET paused = ? WHERE id = ?", int(paused), ritual_id)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@handles("ritual.occur")
def ritual_occur(ctx: FoldContext, op: Op) -> None:
    """Opens the thread for one occurrence. Any member may emit it; all replicas
    derive the same thread id from (ritual, instant), so duplicates merge."""
    ctx.require_active(op)
    ritual_id, name, prompt, rule, start, paused, author = _live_ritual(ctx, op)
    at_text = limits.one_line(op.payload, "at", label="occurrence", max_chars=40)
    at = parse_start(at_text)
    if paused:
        raise Rejected("the ritual is paused")
    if not is_occurrence(rule, start, at):
        raise Rejected("not an occurrence of the ritual's schedule")
    if at - timedelta(minutes=1) > hlc_to_datetime(op.hlc):
        raise Rejected("occurrence is in the future")
    thread_id = derived_id("ritual.occur", ritual_id, iso(at))
    if ctx.one("SELECT 1 FROM threads WHERE id = ?", thread_id):
        return  # another member opened it first: same thread, nothing to do
    # Every replica must build the same title: no locale-dependent strftime names.
    title = f"{name} · {_DAYS[at.weekday()]} {at.day:02d} {_MONTHS[at.month - 1]} {at.year}"
    _insert_thread(ctx, thread_id, title, author, op.hlc, prompt, ["ritual"], ritual_id, iso(at))


# --- moderation ------------------------------------------------------------------

# Current moderators who have published an exchange key (id, key): who a
# moderators' key is wrapped for (here and in sync/moderation.py).
MODERATORS_WITH_KEYS = """SELECT m.id, m.exchange_key FROM members m
    JOIN roles r ON r.member_id = m.id AND r.role = 'moderator'
    WHERE m.status = 'active' AND m.exchange_key IS NOT NULL"""
MOD_RECORD_MAX_BYTES = 48 * 1024  # base64 text of one sealed record
KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")


@handles("thread.archive")
def thread_archive(ctx: FoldContext, op: Op) -> None:
    """Moderators archive stale threads: out of the list, read-only, still
    found by search; `archived: false` brings one back."""
    ctx.require_role(op, "moderator", "archive threads")
    thread = limits.ref(op.payload, "thread", label="thread")
    archived = limits.flag(op.payload, "archived", label="archived")
    row = ctx.one("SELECT deleted, archived FROM threads WHERE id = ?", thread)
    if row is None or row[0]:
        raise Rejected("no such thread")
    if bool(row[1]) == archived:
        raise Rejected("the thread is already archived" if archived else "the thread is not archived")
    ctx.run("UPDATE threads SET archived = ?, pinned = 0 WHERE id = ?", int(archived), thread)


@handles("mod.record")
def mod_record(ctx: FoldContext, op: Op) -> None:
    """A moderators-only record (a report, a decision, a note), sealed to a
    moderators' key. The fold checks who wrote it and keeps the ciphertext;
    only a moderator's home can open it (sync/moderation.py)."""
    ctx.require_role(op, "moderator", "write to the moderation record")
    key_id = op.payload.get("key")
    if not isinstance(key_id, str) or not KEY_ID_RE.match(key_id):
        raise Rejected("bad moderators' key id")
    if ctx.one("SELECT 1 FROM mod_keys WHERE key_id = ?", key_id) is None:
        raise Rejected("sealed to a moderators' key nobody announced")
    sealed = op.payload.get("sealed")
    if not isinstance(sealed, str) or not sealed or len(sealed) > MOD_RECORD_MAX_BYTES:
        raise Rejected("bad sealed record")
    try:
        data = base64.b64decode(sealed, validate=True)
    except ValueError:
        raise Rejected("bad sealed record") from None
    header = data[:28]
    if header[:4] != b"TSM1" or header[4:20].hex() != ctx.group_id or header[20:28].hex() != key_id:
        raise Rejected("the sealed record's header does not match this group and key")
    ctx.run("INSERT INTO mod_records (op_id, author, hlc, seq, key_id, sealed, record_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            op.id, op.author, op.hlc, op.seq, key_id, sealed, record_id(data))


@handles("modkey.rotate")
def modkey_rotate(ctx: FoldContext, op: Op) -> None:
    """A moderator announces a new moderators' key: its public half (anyone
    can seal a report to it), its private half wrapped for each moderator,
    and the previous private key boxed under it, so moderators keep history."""
    ctx.require_role(op, "moderator", "rotate the moderators' key")
    p = op.payload
    epoch = p.get("epoch")
    (newest,) = ctx.one("SELECT coalesce(max(epoch), -1) FROM mod_keys")
    if type(epoch) is not int or not 0 <= epoch <= newest + 1:
        raise Rejected("bad epoch number: the next key is the newest epoch's successor")
    public = p.get("public")
    if not isinstance(public, str) or not re.fullmatch(r"[0-9a-f]{64}", public):
        raise Rejected("bad public key")
    wrapped = p.get("wrapped")
    if not isinstance(wrapped, dict) or not 0 < len(wrapped) <= 150 or not all(
            limits.ID_RE.match(m) and isinstance(w, str) and re.fullmatch(r"[0-9a-f]{160}", w)
            for m, w in wrapped.items()):
        raise Rejected("bad wrapped keys")
    moderators = {r[0] for r in ctx.conn.execute(MODERATORS_WITH_KEYS)}
    if set(wrapped) != moderators:
        raise Rejected("a moderators' key must be wrapped for exactly the current moderators")
    previous_key_id, previous = p.get("previous_key"), p.get("previous")
    if previous_key_id is not None and not (
            isinstance(previous_key_id, str) and KEY_ID_RE.match(previous_key_id)
            and isinstance(previous, str) and re.fullmatch(r"[0-9a-f]{120}", previous)):
        raise Rejected("bad link to the previous key")
    ctx.run("""INSERT OR IGNORE INTO mod_keys (epoch, key_id, public, created_hlc, created_by, recipients,
                                                 wrapped, previous_key_id, previous)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            epoch, mod_key_id(bytes.fromhex(public)), public, op.hlc, op.author, ",".join(sorted(wrapped)),
            json.dumps(wrapped, sort_keys=True), previous_key_id, previous if previous_key_id else None)


def mod_key_id(public: bytes) -> str:
    """A moderators' key's public name: a hash of its public half."""
    return hashlib.sha256(b"tablespace moderators key\x00" + public).digest()[:8].hex()


def record_id(data: bytes) -> str:
    """A sealed record's public name: the hash of its bytes (a report's id)."""
    return hashlib.sha256(data).digest()[:16].hex()
