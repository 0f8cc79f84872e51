"""What a handler folds with: the view tables "just before this op", read and
written through a FoldContext, and the checks most handlers share (is the
author an active member, has their role, is the thread live).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from tablespace.core.circles import CircleKeys
from tablespace.core.clock import hlc_to_datetime, iso
from tablespace.core.errors import Rejected
from tablespace.core.fold.device_removals import Standing
from tablespace.core.mentions import resolve_mentions
from tablespace.core.ops import Op

WEEK_MS = 7 * 24 * 3600 * 1000
# Posts and reactions the write-behind holds at most: a long run of them
# (a first sync has few ops that write the batch out) is written in parts,
# so the batch never holds a whole backlog's text in memory.
BATCH_ROWS = 2048

# A row as sqlite3 returns it: each column's type is the query's to say.
Row = tuple[Any, ...]
# (status, last_seq, timeout_until_hlc) of a member's row in `members`
Membership = tuple[str, int | None, int | None]


class TimeOutWindow(NamedTuple):
    """A time-out as it holds one signing key: content signed after
    `last_seq` (what the moderator had seen), dated before `until` (the end
    the moderator set), is refused wherever it sorts. An early end sets
    `ended`, its time: content dated after it is free again. A refusal names
    `until`, the end the time-out had at any op it holds, so a refold that
    knows of an early end from its last pass words it as a fold op by op does."""

    last_seq: int
    until: int
    ended: int | None = None

    def holds(self, op: Op) -> bool:
        return op.seq > self.last_seq and op.hlc < self.until and (self.ended is None or op.hlc <= self.ended)


PendingPost = tuple[str, str, str, str, int, str | None, str, int | None]


@dataclass
class PostBatch:
    """Rows of thread.start / post.reply / post.react ops not written yet
    (FoldContext.flush). An import is mostly these, interleaved: one
    executemany per table instead of two or three statements per op
    (bench_import, bench_first_sync)."""

    # new threads, in fold order: id -> row (the columns add_thread writes, of
    # several types), replies and last activity kept current
    threads: dict[str, list[Any]] = field(default_factory=dict)
    # (id, thread, author, body, created hlc, quote, thread author, edited hlc)
    posts: list[PendingPost] = field(default_factory=list)
    # post id -> member -> (name key, hlc): who each new post mentions
    mentions: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    tags: list[tuple[str, str]] = field(default_factory=list)
    # threads already in the table: id -> [replies added, latest reply hlc]
    activity: dict[str, list[int]] = field(default_factory=dict)
    # (post_id, author, emoji, hlc), written INSERT OR IGNORE in fold order
    reactions: list[tuple[str, str, str, int, str]] = field(default_factory=list)
    # id -> its place in `posts` (FoldContext.edit_post, run_on_text)
    post_ids: dict[str, int] = field(default_factory=dict)

    def add_post(self, row: PendingPost) -> None:
        self.post_ids[row[0]] = len(self.posts)
        self.posts.append(row)

    def mention_rows(self) -> list[tuple[str, str, str, int]]:
        return [
            (post, member, key, hlc) for post, found in self.mentions.items() for member, (key, hlc) in found.items()
        ]

    def __bool__(self) -> bool:
        return bool(self.posts or self.reactions)  # every new thread or reply pends a post


@dataclass(frozen=True)
class CircleState:
    """A circle as folded so far: who made it, its newest epoch, who is in it."""

    maker: str
    newest: int
    members: frozenset[str]


@dataclass
class FoldContext:
    # Handlers use `conn`, `one` and `run`, which write the pending batch first.
    _conn: sqlite3.Connection
    group_id: str
    forks: dict[str, int] = field(default_factory=dict)  # author -> first seq they forked at
    # author -> last seq that counts (they left or were removed); grows as the
    # fold accepts removals
    cutoffs: dict[str, int] = field(default_factory=dict)
    # signing key -> the windows of its time-outs: held wherever it sorts
    # (TimeOutWindow); grows as the fold accepts time-outs, and a refold
    # starts with those the last pass found
    timeouts: dict[str, list[TimeOutWindow]] = field(default_factory=dict)
    # (member, role) -> {last_seq: until_seq or None}: a revoked role, from the
    # member's seq after `last_seq` (what the revoker had seen of them) until a
    # re-grant's seq; their ops in that window cannot use the role wherever
    # they sort, so a back-dated op cannot slip in before the revoke
    role_windows: dict[tuple[str, str], dict[int, int | None]] = field(default_factory=dict)
    # set when a removal reaches back into ops already folded: the store re-folds
    needs_refold: bool = False
    # circles whose sealed ops this member can now read further (a key or
    # their joining arrived after them): the store folds their rooms again
    reopen: set[str] = field(default_factory=set)
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
    _membership: dict[str, Membership | None] = field(default_factory=dict)
    # name key -> id of the member in the group who has it, or None: who a
    # mention names; cleared with `_membership`
    _named: dict[str, str | None] = field(default_factory=dict)
    # the weekly post cap (0: none), read once per fold; group.edit clears it
    _post_cap: int | None = None
    # signing key -> the member an added device of theirs speaks for, or None
    # (a member's first key, or a stranger): asked once per op (apply_op);
    # device.add and device.remove clear it
    _devices: dict[str, str | None] = field(default_factory=dict)
    # Write-behind for runs of thread.start / post.reply / post.react. Any
    # SQL through `conn`, `one` or `run` writes the batch out first, so every
    # check reads the state just before its op; `_threads` answers
    # live_thread meanwhile (id -> (author, deleted, archived, circle)) and holds
    # every thread the batch touches, `_posts` answers post_row (id ->
    # (thread_id, author, created_hlc, deleted)) and holds every post the
    # batch adds. SQL that may write (`conn`, `run`) drops both; a write of
    # text alone (`run_on_text`) keeps them.
    _batch: PostBatch = field(default_factory=PostBatch)
    _threads: dict[str, tuple[str, int, int, str | None]] = field(default_factory=dict)
    _posts: dict[str, tuple[str, str, int, int]] = field(default_factory=dict)
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
    # The circle keys this member can open (core/circles.py), and the circle
    # whose inner op is being folded (None: the group's room). A thread
    # belongs to one room: an op in another finds no such thread.
    circle_keys: CircleKeys | None = None
    circle: str | None = None
    # The circles this member is in at the end of the fold (the last pass's,
    # Store.refold): they read a circle's history from before they joined.
    joined_circles: frozenset[str] = frozenset()
    # The signing keys a device removal cut off (the last pass's, Store.refold,
    # and those this pass removes): an op of one that sorts before its removal
    # is refused as a removed device's, not as a member's who went.
    removed_devices: set[str] = field(default_factory=set)
    # The device certificates and removals this pass folded (the log may not
    # hold them yet), and what the removals decide (device_removals.py): kept
    # for the pass in a refold, whose log holds every op; otherwise as of the
    # last device op folded (devices.note_device_op).
    device_ops: dict[str, Op] = field(default_factory=dict)
    standing: Standing | None = None
    # What every op written in a circle asks of it (circle_state, and the keys
    # circle_keys_for gives), kept from one op to the next: a run of sealed
    # ops then reads the circle tables once, not several times an op. Any
    # write to circles, circle_members or circle_epochs drops both
    # (forget_circles).
    _circles: dict[str, CircleState | None] = field(default_factory=dict)
    _keys_at: dict[tuple[str, int], list[bytes]] = field(default_factory=dict)

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
        self._posts.clear()
        return self._conn

    def flush(self) -> None:
        """Write the pending batch; the store calls this after its last op."""
        batch = self._batch
        if not batch:
            return
        self._batch = PostBatch()
        self._conn.executemany(
            """INSERT INTO threads
               (id, title, author, created_hlc, last_activity_hlc, replies, ritual_id, occurrence, circle_id)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            batch.threads.values(),
        )
        self._conn.executemany(
            """INSERT INTO posts (id, thread_id, author, body, created_hlc, quote, thread_author, edited_hlc)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            batch.posts,
        )
        self._conn.executemany(
            "INSERT INTO mentions (post_id, member, name_key, hlc) VALUES (?, ?, ?, ?)", batch.mention_rows()
        )
        self._conn.executemany("INSERT INTO thread_tags (thread_id, tag) VALUES (?, ?)", batch.tags)
        self._conn.executemany(
            "UPDATE threads SET replies = replies + ?, last_activity_hlc = max(last_activity_hlc, ?) WHERE id = ?",
            [(count, hlc, thread) for thread, (count, hlc) in batch.activity.items()],
        )
        self._conn.executemany(
            "INSERT OR IGNORE INTO reactions (post_id, author, emoji, hlc, post_author) VALUES (?, ?, ?, ?, ?)",
            batch.reactions,
        )

    def add_thread(
        self,
        thread_id: str,
        title: str,
        author: str,
        hlc: int,
        body: str,
        tags: list[str],
        ritual_id: str | None,
        occurrence: str | None,
    ) -> None:
        """A new thread (the id is not in the table), its opening post and tags."""
        self._make_room()
        self._batch.threads[thread_id] = [thread_id, title, author, hlc, hlc, 0, ritual_id, occurrence, self.circle]
        self._batch.add_post((thread_id, thread_id, author, body, hlc, None, author, None))
        self._add_mentions(thread_id, body, hlc)
        self._batch.tags.extend((thread_id, tag) for tag in tags)
        self._threads[thread_id] = (author, 0, 0, self.circle)
        self._posts[thread_id] = (thread_id, author, hlc, 0)

    def add_reply(
        self,
        post_id: str,
        thread_id: str,
        author: str,
        body: str,
        hlc: int,
        quote: str | None = None,
        *,
        thread_author: str,
    ) -> None:
        """A reply to a live thread started by `thread_author` (live_thread has
        put it in `_threads`), quoting `quote`, a post of that thread, or nothing."""
        self._make_room()
        self._batch.add_post((post_id, thread_id, author, body, hlc, quote, thread_author, None))
        self._posts[post_id] = (thread_id, author, hlc, 0)
        self._add_mentions(post_id, body, hlc)
        row = self._batch.threads.get(thread_id)
        if row is None:
            row = self._batch.activity.setdefault(thread_id, [0, hlc])
            row[0] += 1
            row[1] = max(row[1], hlc)
        else:
            row[5] += 1
            row[4] = max(row[4], hlc)

    def add_reaction(self, post_id: str, post_author: str, author: str, emoji: str, hlc: int) -> None:
        """A reaction to a live post by `post_author`; kept if the author has
        not reacted so already."""
        self._make_room()
        self._batch.reactions.append((post_id, author, emoji, hlc, post_author))

    def _make_room(self) -> None:
        """Write the batch out when it is full (BATCH_ROWS); the cached rows
        stay true, as after any flush."""
        if len(self._batch.posts) + len(self._batch.reactions) >= BATCH_ROWS:
            self.flush()

    def _add_mentions(self, post_id: str, body: str, hlc: int) -> None:
        if "@" not in body:  # most posts: nothing to find, on every import of the whole log
            return
        if found := resolve_mentions(body, self.member_named):
            self._batch.mentions[post_id] = {member: (key, hlc) for member, key in found.items()}

    def member_named(self, key: str) -> str | None:
        """The member in the group (active or timed out) whose name has this
        key, at this point of the order: who `@name` mentions."""
        try:
            return self._named[key]
        except KeyError:
            # members is never batched: no flush needed
            row = self._conn.execute(
                "SELECT id FROM members WHERE name_key = ? AND status IN ('active', 'timed_out')", (key,)
            ).fetchone()
            self._named[key] = row[0] if row else None
            return self._named[key]

    def forget_members(self) -> None:
        """After an op that may have changed the members table."""
        self._membership.clear()
        self._named.clear()

    def edit_post(self, post_id: str, thread_id: str, body: str, hlc: int, title: str | None) -> None:
        """A post's new text at `hlc` (and an opening post's new title). A post
        the pending batch holds is edited there, so the batch goes on growing:
        members mostly edit what they just wrote, and each such edit wrote the
        batch out. The row then enters the table edited, as the triggers and
        the views would have it after an insert and an update."""
        batch = self._batch
        at = batch.post_ids.get(post_id)
        if at is None:
            self.run_on_text("UPDATE posts SET body = ?, edited_hlc = ? WHERE id = ?", body, hlc, post_id, post=post_id)
            self.remention(post_id, body, hlc)
            if title is not None:
                self.run_on_text("UPDATE threads SET title = ? WHERE id = ?", title, thread_id, post=post_id)
            return
        post, thread, author, _, created, quote, thread_author, _ = batch.posts[at]
        batch.posts[at] = (post, thread, author, body, created, quote, thread_author, hlc)
        kept = batch.mentions.pop(post_id, {})
        found = resolve_mentions(body, self.member_named)
        if found:
            batch.mentions[post_id] = {
                member: (key, kept[member][1] if member in kept else hlc) for member, key in found.items()
            }
        if title is not None:
            batch.threads[thread_id][1] = title  # an opening post is pending with its thread

    def remention(self, post_id: str, body: str, hlc: int) -> None:
        """An edit: who the new text mentions, resolved now. Mentions the edit
        keeps keep their time (they are not news); new ones take the edit's."""
        found = resolve_mentions(body, self.member_named)
        kept = {r[0] for r in self.run_on_text("SELECT member FROM mentions WHERE post_id = ?", post_id, post=post_id)}
        gone = kept - set(found)
        # mentions only (run_on_text): the cached post and thread rows stay
        self._conn.executemany(
            "DELETE FROM mentions WHERE post_id = ? AND member = ?", [(post_id, member) for member in sorted(gone)]
        )
        self._conn.executemany(
            "UPDATE mentions SET name_key = ? WHERE post_id = ? AND member = ?",
            [(key, post_id, member) for member, key in found.items() if member in kept],
        )
        self._conn.executemany(
            "INSERT INTO mentions (post_id, member, name_key, hlc) VALUES (?, ?, ?, ?)",
            [(post_id, member, key, hlc) for member, key in found.items() if member not in kept],
        )

    def membership(self, author: str) -> Membership | None:
        try:
            return self._membership[author]
        except KeyError:
            # members is never batched: no flush needed
            row: Membership | None = self._conn.execute(
                "SELECT status, last_seq, timeout_until_hlc FROM members WHERE id = ?", (author,)
            ).fetchone()
            self._membership[author] = row
            return row

    def one(self, sql: str, *args: object) -> Row | None:
        self.flush()
        row: Row | None = self._conn.execute(sql, args).fetchone()
        return row

    def aggregate(self, sql: str, *args: object) -> Row:
        """The one row an aggregate query (count, max, ...) always returns."""
        self.flush()
        row: Row = self._conn.execute(sql, args).fetchone()
        return row

    def run(self, sql: str, *args: object) -> None:
        self.conn.execute(sql, args)

    def unbatched(self, sql: str, *args: object) -> sqlite3.Cursor:
        """SQL on the circle tables (circles, circle_members, circle_periods,
        circle_epochs, circle_activity), which the batch never writes and no cached row
        depends on: no flush first and the caches stay, so a run of posts
        with circle ops among them keeps batching."""
        return self._conn.execute(sql, args)

    def run_on_text(self, sql: str, *args: object, post: str) -> sqlite3.Cursor:
        """A write that changes only text (a post's body, a thread's title,
        when they were edited) or mentions: never which posts and threads
        exist, whose they are, where or when they were written, nor whether
        they are deleted or archived, so the rows `_threads` and `_posts`
        hold stay true and are kept. An edit, the commonest write an import
        makes outside the batch, then leaves the next ops' checks answered
        from memory.

        It reads and writes only the rows of `post` (its mentions, and its
        thread's when it opens one), so the batch is written first only if
        it holds that post: an edit of an older post leaves the batch
        growing, and a run of replies around it stays one batch."""
        if post in self._batch.post_ids:
            self.flush()
        return self._conn.execute(sql, args)

    def member_status(self, member: str) -> str | None:
        row = self.one("SELECT status FROM members WHERE id = ?", member)
        return row[0] if row else None

    def has_role(self, member: str, role: str) -> bool:
        return self.one("SELECT 1 FROM roles WHERE member_id = ? AND role = ?", member, role) is not None

    def require_active(self, op: Op) -> Membership:
        """The author's membership, if they may act: active, or gone after signing `op`."""
        row = self.membership(op.author)
        if row is None:
            raise Rejected.not_member()
        status, last_seq, _ = row
        if status == "active":
            return row
        if op.device:  # the removal named a last seq for each of the member's chains
            last_seq = self.cutoffs.get(op.device)
        if status in ("removed", "left") and last_seq is not None and op.seq <= last_seq:
            return row  # signed before they went; it arrived (or sorts) late
        raise Rejected.gone(status.replace("_", " "))

    def member_of_device(self, signer: str) -> str | None:
        """The member whose added device `signer` is; None for a member's
        first key (the member id itself) or a key no member certified."""
        try:
            return self._devices[signer]
        except KeyError:
            # devices is never batched: no flush needed
            row = self._conn.execute("SELECT member FROM devices WHERE id = ? AND member != id", (signer,)).fetchone()
            self._devices[signer] = row[0] if row else None
            return self._devices[signer]

    def device_status(self, device: str) -> str | None:
        """'active' or 'removed'; None for a key no member certified."""
        # devices is never batched: no flush needed
        row = self._conn.execute("SELECT status FROM devices WHERE id = ?", (device,)).fetchone()
        return str(row[0]) if row else None

    def forget_devices(self) -> None:
        self._devices.clear()

    def member_chains(self, member: str) -> list[str]:
        """The signing keys of a member: their first key, and every device
        they added (removed or not)."""
        rows = self.conn.execute("SELECT id FROM devices WHERE member = ? AND id != member", (member,))
        return [member, *sorted(r[0] for r in rows)]

    def chain_seqs(self, op: Op, member: str, known: dict[str, int]) -> dict[str, int]:
        """The last seq that counts of each of `member`'s chains: `known`
        (the chain `op` names a seq of directly), and for the others what
        the payload's `device_seqs` (signing key -> seq) names. A chain it
        does not name (a device added where the writer had not seen yet) is
        left out: after a removal or a leave its ops that sort later are
        refused (require_active), as a member's were before seqs."""
        named = op.payload.get("device_seqs", {})
        if not isinstance(named, dict) or len(named) > 64:
            raise Rejected.invalid("bad device seqs")
        seqs = dict(known)
        for chain in self.member_chains(member):
            seq = named.get(chain)
            if chain in seqs or seq is None:
                continue
            if type(seq) is not int or not 0 <= seq < 2**63:
                raise Rejected.invalid("bad device seqs")
            seqs[chain] = seq
        return seqs

    def is_last_moderator(self, member: str) -> bool:
        (count,) = self.aggregate("SELECT count(*) FROM roles WHERE role = 'moderator'")
        return count <= 1 and self.has_role(member, "moderator")

    def time_out(self, member: str, last_seq: int, until: int) -> None:
        self.run(
            "INSERT OR IGNORE INTO timeouts (member, last_seq, until_hlc) VALUES (?, ?, ?)", member, last_seq, until
        )
        # A refold starts with the windows the last pass found (an early end
        # may have closed this one already): keep that.
        windows = self.timeouts.setdefault(member, [])
        if not any(w.last_seq == last_seq and w.until == until for w in windows):
            windows.append(TimeOutWindow(last_seq, until))
        if self._folded_after(member, last_seq):
            self.needs_refold = True

    def end_time_outs(self, member: str, hlc: int) -> None:
        """An early end at `hlc` closes the windows open at this point of the
        order: those of time-outs folded so far (the table's), not a later
        time-out's that a refold knows of from its last pass."""
        open_windows = {
            (last_seq, until)
            for last_seq, until in self.conn.execute(
                "SELECT last_seq, until_hlc FROM timeouts WHERE member = ? AND until_hlc > ? AND ended_hlc IS NULL",
                (member, hlc),
            )
        }
        if not open_windows:
            return
        self.run(
            "UPDATE timeouts SET ended_hlc = ? WHERE member = ? AND until_hlc > ? AND ended_hlc IS NULL",
            hlc,
            member,
            hlc,
        )
        self.timeouts[member] = [
            w._replace(ended=hlc if w.ended is None else min(w.ended, hlc))
            if (w.last_seq, w.until) in open_windows
            else w
            for w in self.timeouts.get(member, ())
        ]

    def time_out_holding(self, op: Op) -> int | None:
        """The end (as set) of the longest time-out window holding `op`'s
        signing key at `op`, if any: one answer whatever order the windows
        were found in."""
        windows = self.timeouts.get(op.author)
        if not windows:  # nearly every op: no generator to build
            return None
        return max((w.until for w in windows if w.holds(op)), default=None)

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
        return (
            self.one(
                """SELECT 1 FROM ops WHERE author = ? AND seq > ? AND state IN ('accepted', 'rejected')
               AND (hlc, author, seq) <= (?, ?, ?)""",
                member,
                last_seq,
                *(self.head or (-1, "", 0)),
            )
            is not None
        )

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
        (count, oldest) = self.aggregate(
            """SELECT count(*), min(created_hlc) FROM posts p WHERE author = ? AND created_hlc > ?
               AND created_hlc <= ? AND hidden = 0
               AND NOT EXISTS (SELECT 1 FROM threads t WHERE t.id = p.id AND t.ritual_id IS NOT NULL)
               AND NOT EXISTS (SELECT 1 FROM threads t WHERE t.id = p.thread_id AND t.circle_id IS NOT NULL)""",
            op.author,
            op.hlc - (WEEK_MS << 16),
            op.hlc,
        )
        if count >= self._post_cap:
            again = iso(hlc_to_datetime(oldest + (WEEK_MS << 16)))
            raise Rejected.post_cap(count, self._post_cap, again)

    def require_role(self, op: Op, role: str, action: str) -> None:
        self.require_active(op)
        if not self.has_role(op.author, role):
            raise Rejected.role_needed(role, action)
        if self.in_role_window(op, role):
            raise Rejected.role_needed(role, action, revoked=True)

    def in_role_window(self, op: Op, role: str) -> bool:
        """Whether `op` falls where its author's `role` was revoked."""
        return any(
            op.seq > last_seq and (until_seq is None or op.seq <= until_seq)
            for last_seq, until_seq in self.role_windows.get((op.signer, role), {}).items()
        )

    def holds_role(self, op: Op, role: str) -> bool:
        """Whether the author of `op` may use `role` for it (held, not revoked
        at that point of their chain)."""
        return self.has_role(op.author, role) and not self.in_role_window(op, role)

    def is_curating(self, op: Op) -> bool:
        """Whether the author tends content as a curator or a moderator."""
        return self.holds_role(op, "moderator") or self.holds_role(op, "curator")

    def close_role_window(self, member: str, role: str, until_seq: int) -> None:
        """A re-grant: the member's ops after `until_seq` may use the role again."""
        windows = self.role_windows.get((member, role), {})
        for last_seq, until in windows.items():
            if until is None and last_seq <= until_seq:
                windows[last_seq] = until_seq
                self.run(
                    "UPDATE role_windows SET until_seq = ? WHERE member = ? AND role = ? AND last_seq = ?",
                    until_seq,
                    member,
                    role,
                    last_seq,
                )

    def open_role_window(self, member: str, role: str, last_seq: int) -> None:
        # A re-fold starts with the windows the last pass found (a re-grant may
        # have closed this one already): keep that, and write the row as it is.
        until = self.role_windows.setdefault((member, role), {}).setdefault(last_seq, None)
        self.run(
            "INSERT OR IGNORE INTO role_windows (member, role, last_seq, until_seq) VALUES (?, ?, ?, ?)",
            member,
            role,
            last_seq,
            until,
        )
        if self._folded_after(member, last_seq):
            self.needs_refold = True

    def post_row(self, post_id: str) -> tuple[str, str, int, int] | None:
        """(thread_id, author, created_hlc, deleted) of a post, if it exists."""
        row = self._posts.get(post_id)
        if row is None:
            # Not in `_posts`, so not added by the pending batch, which changes
            # no other post's row: no flush needed.
            row = self._conn.execute(
                "SELECT thread_id, author, created_hlc, deleted FROM posts WHERE id = ?", (post_id,)
            ).fetchone()
            if row is None:
                return None
            self._posts[post_id] = row
        return row

    def live_post(self, post_id: str) -> tuple[str, str, int]:
        """(thread_id, author, created_hlc) of a post that exists and is not deleted."""
        row = self.post_row(post_id)
        thread = None if row is None else self._cached_thread(row[0])
        if row is None or thread is None or thread[3] != self.circle:
            raise Rejected.missing("no such post")
        if row[3]:
            raise Rejected.missing("the post has been deleted")
        return row[0], row[1], row[2]

    def live_thread(self, thread_id: str) -> str:
        """The author of a thread that exists, is not deleted and not archived
        (an archived thread is read-only)."""
        row = self._thread_row(thread_id)
        if row[1]:
            raise Rejected.missing("the thread has been deleted")
        if row[2]:
            raise Rejected.refused("the thread is archived")
        return row[0]

    def _thread_row(self, thread_id: str) -> tuple[str, int, int, str | None]:
        """(author, deleted, archived, circle) of a thread in the room being
        folded (the group's, or `circle`'s)."""
        row = self._cached_thread(thread_id)
        if row is None or row[3] != self.circle:
            raise Rejected.missing("no such thread")
        return row

    def _cached_thread(self, thread_id: str) -> tuple[str, int, int, str | None] | None:
        row = self._threads.get(thread_id)
        if row is None:
            # Not in `_threads`, so nothing pending touches it: no flush needed.
            row = self._conn.execute(
                "SELECT author, deleted, archived, circle_id FROM threads WHERE id = ?", (thread_id,)
            ).fetchone()
            if row is not None:
                self._threads[thread_id] = row
        return row

    def circle_state(self, circle: str) -> CircleState | None:
        """The circle as folded so far, or None if there is no such circle."""
        try:
            return self._circles[circle]
        except KeyError:
            row = self.unbatched(
                "SELECT c.maker, max(e.epoch) FROM circles c JOIN circle_epochs e ON e.circle_id = c.id WHERE c.id = ?",
                circle,
            ).fetchone()
            state = None
            if row is not None and row[0] is not None:
                members = self.unbatched("SELECT member FROM circle_members WHERE circle_id = ?", circle)
                state = CircleState(row[0], row[1], frozenset(m for (m,) in members))
            self._circles[circle] = state
            return state

    def forget_circles(self) -> None:
        """After a write to circles, circle_members or circle_epochs, or a key learned."""
        self._circles.clear()
        self._keys_at.clear()

    def circle_keys_for(self, circle: str, epoch: int) -> list[bytes]:
        """The keys of a circle at an epoch this member holds and reads with
        here: none once they have left it, unless they are let in again
        (`joined_circles`), so what is written after they go stays unread
        even under a key they still hold."""
        try:
            return self._keys_at[(circle, epoch)]
        except KeyError:
            keys = self.circle_keys
            held = keys.keys(self._conn, circle, epoch) if keys is not None and self.reads_circle(circle) else []
            self._keys_at[(circle, epoch)] = held  # circle_epochs: see unbatched
            return held

    def reads_circle(self, circle: str) -> bool:
        me = None if self.circle_keys is None else self.circle_keys.me(self._conn)
        if me is None:
            return False
        if circle in self.joined_circles:
            return True
        state = self.circle_state(circle)
        return state is not None and me in state.members

    def leave_circles(self, member: str, hlc: int, circle: str | None = None) -> None:
        """The member goes from `circle` (None: from every circle, as they
        leave the group) at `hlc`; circle_periods keeps when they were in it."""
        self.forget_circles()
        self.unbatched("DELETE FROM circle_members WHERE member = ? AND (?2 IS NULL OR circle_id = ?2)", member, circle)
        self.unbatched(
            "UPDATE circle_periods SET left_hlc = ? WHERE member = ? AND left_hlc IS NULL AND (?3 IS NULL OR circle_id = ?3)",
            hlc,
            member,
            circle,
        )

    def live_resource(self, resource_id: str) -> str:
        row = self.one("SELECT added_by, deleted FROM resources WHERE id = ?", resource_id)
        if row is None or row[1]:
            raise Rejected.missing("no such resource")
        added_by: str = row[0]
        return added_by

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
