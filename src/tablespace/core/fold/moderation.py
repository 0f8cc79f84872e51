"""Moderators' tools: hiding a reported post, archiving threads, the sealed
moderation record and the moderators' key it is sealed to."""

from __future__ import annotations

import base64
import json
import re

from tablespace.core import limits
from tablespace.core.errors import Rejected
from tablespace.core.fold.content import tombstone
from tablespace.core.fold.context import FoldContext
from tablespace.core.fold.ids import mod_key_id, record_id
from tablespace.core.fold.registry import handles
from tablespace.core.ops import Op

# Every device of a current moderator that has published an exchange key
# (signing key id, key): who a moderators' key is wrapped for (here and in
# sync/moderator_key.py). A moderator's first device is their member id,
# unless they removed it; the devices they added and kept follow.
MODERATORS_WITH_KEYS = """SELECT m.id, m.exchange_key FROM members m
    JOIN roles r ON r.member_id = m.id AND r.role = 'moderator'
    WHERE m.status = 'active' AND m.exchange_key IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = m.id AND d.status = 'removed')
    UNION ALL
    SELECT d.id, d.exchange_key FROM devices d JOIN members m ON m.id = d.member
    JOIN roles r ON r.member_id = m.id AND r.role = 'moderator'
    WHERE m.status = 'active' AND d.id != d.member AND d.status = 'active' AND d.exchange_key IS NOT NULL"""
MOD_RECORD_MAX_BYTES = 48 * 1024  # base64 text of one sealed record
KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")
REPLY_MAX_CHARS = 4096  # base64 of the moderators' word to a reporter, sealed
BASE64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}")


@handles("post.hide")
def post_hide(ctx: FoldContext, op: Op) -> None:
    """A moderator's decision on a report: gone for everyone like a delete,
    marked as hidden (the moderators' record keeps what was reported)."""
    ctx.require_role(op, "moderator", "hide posts")
    post = limits.ref(op.payload, "post", label="post")
    circle = ctx.one("SELECT circle_id FROM circle_activity WHERE op_id = ?", post)
    thread = ctx.live_post(post)[0] if circle is None else _held_in_circle(ctx, post, circle[0])
    if thread is not None:
        tombstone(ctx, post, thread)
        ctx.run("UPDATE posts SET hidden = 1 WHERE id = ?", post)


def _held_in_circle(ctx: FoldContext, post: str, circle: str) -> str | None:
    """The thread of a reported post written in a circle, if this replica
    holds it live. The moderator hiding it may be outside the circle and know
    only that it was written there, so every replica accepts the hide alike
    and whoever holds the post hides it."""
    ctx.circle = circle
    try:
        return ctx.live_post(post)[0]
    except Rejected:
        return None  # not read here (outside the circle), or gone already
    finally:
        ctx.circle = None


@handles("thread.archive")
def thread_archive(ctx: FoldContext, op: Op) -> None:
    """Moderators archive stale threads: out of the list, read-only, still
    found by search; `archived: false` brings one back."""
    ctx.require_role(op, "moderator", "archive threads")
    thread = limits.ref(op.payload, "thread", label="thread")
    archived = limits.flag(op.payload, "archived", label="archived")
    row = ctx.one("SELECT deleted, archived, circle_id FROM threads WHERE id = ?", thread)
    if row is None or row[0] or row[2] is not None:  # a circle's thread is not the group's to archive
        raise Rejected.missing("no such thread")
    if bool(row[1]) == archived:
        raise Rejected.conflict("the thread is already archived" if archived else "the thread is not archived")
    ctx.run("UPDATE threads SET archived = ?, pinned = 0 WHERE id = ?", int(archived), thread)


@handles("mod.record")
def mod_record(ctx: FoldContext, op: Op) -> None:
    """A moderators-only record (a report, a decision, a note), sealed to a
    moderators' key. The fold checks who wrote it and keeps the ciphertext;
    only a moderator's home can open it (sync/sealing.py)."""
    ctx.require_role(op, "moderator", "write to the moderation record")
    key_id, sealed, data = sealed_record(ctx, op)
    ctx.run(
        "INSERT INTO mod_records (op_id, author, hlc, seq, key_id, sealed, record_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        op.id,
        op.author,
        op.hlc,
        op.seq,
        key_id,
        sealed,
        record_id(data),
    )
    _mark_handled(ctx, op)


def sealed_record(ctx: FoldContext, op: Op) -> tuple[str, str, bytes]:
    """The payload's `key` and `sealed`: (key id, base64 text, bytes) of a
    record sealed to an announced moderators' key, for this group. The fold
    cannot open it; it checks the frame every replica can see."""
    key_id = op.payload.get("key")
    if not isinstance(key_id, str) or not KEY_ID_RE.match(key_id):
        raise Rejected.invalid("bad moderators' key id")
    if ctx.one("SELECT 1 FROM mod_keys WHERE key_id = ?", key_id) is None:
        raise Rejected.missing("sealed to a moderators' key nobody announced")
    sealed = op.payload.get("sealed")
    if not isinstance(sealed, str) or not sealed or len(sealed) > MOD_RECORD_MAX_BYTES:
        raise Rejected.invalid("bad sealed record")
    try:
        data = base64.b64decode(sealed, validate=True)
    except ValueError:
        raise Rejected.invalid("bad sealed record") from None
    header = data[:28]
    if header[:4] != b"TSM1" or header[4:20].hex() != ctx.group_id or header[20:28].hex() != key_id:
        raise Rejected.invalid("the sealed record's header does not match this group and key")
    return key_id, sealed, data


def _mark_handled(ctx: FoldContext, op: Op) -> None:
    """A resolution may say in the open which report it handles, by the
    report's id alone: its reporter, who alone knows that id is theirs,
    learns it was handled; the decision, notes and who else reported stay
    sealed. An id that names no filed report is ignored, as an older
    version that does not know the field ignores it."""
    report = op.payload.get("handled")
    if not isinstance(report, str) or not limits.ID_RE.match(report):
        return
    if ctx.one("SELECT 1 FROM mod_records WHERE record_id = ?", report) is None:
        return
    ctx.run("INSERT OR IGNORE INTO handled_reports (report, hlc, reply) VALUES (?, ?, ?)", report, op.hlc, _reply(op))


def _reply(op: Op) -> str | None:
    """The moderators' word to the reporter, sealed to the reporting device:
    opaque here; a malformed one is dropped, as an unknown field would be."""
    reply = op.payload.get("reply")
    if not isinstance(reply, str) or not 0 < len(reply) <= REPLY_MAX_CHARS or not BASE64_RE.fullmatch(reply):
        return None
    return reply


@handles("modkey.rotate")
def modkey_rotate(ctx: FoldContext, op: Op) -> None:
    """A moderator announces a new moderators' key: its public half (anyone
    can seal a report to it), its private half wrapped for each moderator's
    devices, and the previous private key boxed under it, so moderators keep
    history."""
    ctx.require_role(op, "moderator", "rotate the moderators' key")
    p = op.payload
    epoch = p.get("epoch")
    (newest,) = ctx.aggregate("SELECT coalesce(max(epoch), -1) FROM mod_keys")
    if type(epoch) is not int or not 0 <= epoch <= newest + 1:
        raise Rejected.invalid("bad epoch number: the next key is the newest epoch's successor")
    public = p.get("public")
    if not isinstance(public, str) or not re.fullmatch(r"[0-9a-f]{64}", public):
        raise Rejected.invalid("bad public key")
    wrapped = p.get("wrapped")
    if (
        not isinstance(wrapped, dict)
        or not 0 < len(wrapped) <= 150
        or not all(
            limits.ID_RE.match(m) and isinstance(w, str) and re.fullmatch(r"[0-9a-f]{160}", w)
            for m, w in wrapped.items()
        )
    ):
        raise Rejected.invalid("bad wrapped keys")
    moderators = {r[0] for r in ctx.conn.execute(MODERATORS_WITH_KEYS)}
    if set(wrapped) != moderators:
        raise Rejected.refused("a moderators' key must be wrapped for exactly the current moderators' devices")
    previous_key_id, previous = p.get("previous_key"), p.get("previous")
    if previous_key_id is not None and not (
        isinstance(previous_key_id, str)
        and KEY_ID_RE.match(previous_key_id)
        and isinstance(previous, str)
        and re.fullmatch(r"[0-9a-f]{120}", previous)
    ):
        raise Rejected.invalid("bad link to the previous key")
    ctx.run(
        """INSERT OR IGNORE INTO mod_keys (epoch, key_id, public, created_hlc, created_by, recipients,
                                                 wrapped, previous_key_id, previous)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        epoch,
        mod_key_id(bytes.fromhex(public)),
        public,
        op.hlc,
        op.author,
        ",".join(sorted(wrapped)),
        json.dumps(wrapped, sort_keys=True),
        previous_key_id,
        previous if previous_key_id else None,
    )
