"""Named questions sync asks of the signed log, its signers, keys and join requests, so that every SQL statement on core's tables lives in core. Rows come back as the tuples sync unpacks."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tablespace.core.database import one_int


def chain_seqs(conn: sqlite3.Connection, member: str) -> dict[str, int]:
    """The newest seq we hold of each device `member` added (signing key ->
    seq): what a removal, time-out or role change names for each."""
    return {
        device: last_seq(conn, device)
        for (device,) in conn.execute("SELECT id FROM devices WHERE member = ? AND id != member", (member,))
    }


def last_seq(conn: sqlite3.Connection, author: str) -> int:
    """The newest seq of `author`'s we hold (0 if none)."""
    return one_int(conn, "SELECT coalesce(max(seq), 0) FROM ops WHERE author = ?", (author,))


def has_ops_by(conn: sqlite3.Connection, author: str) -> bool:
    return conn.execute("SELECT 1 FROM ops WHERE author = ?", (author,)).fetchone() is not None


def has_ops_after(conn: sqlite3.Connection, author: str, seq: int) -> bool:
    return conn.execute("SELECT 1 FROM ops WHERE author = ? AND seq > ? LIMIT 1", (author, seq)).fetchone() is not None


# (id, signature, body) of an op in the log, as Store.read_op takes them
OpRow = tuple[str, bytes, bytes]


def ops_after(conn: sqlite3.Connection, author: str, seq: int) -> list[OpRow]:
    """(id, signature, body) of `author`'s ops after `seq`, in seq order."""
    return conn.execute(
        "SELECT id, signature, body FROM ops WHERE author = ? AND seq > ? ORDER BY seq", (author, seq)
    ).fetchall()


def accepted_op_at(conn: sqlite3.Connection, author: str, hlc: int, kind: str) -> OpRow | None:
    """(id, signature, body) of `author`'s accepted op of `kind` at `hlc`, if any."""
    row: OpRow | None = conn.execute(
        "SELECT id, signature, body FROM ops WHERE author = ? AND hlc = ? AND state = 'accepted' AND kind = ?",
        (author, hlc, kind),
    ).fetchone()
    return row


def accepted_leave_seq(conn: sqlite3.Connection, author: str) -> int | None:
    """The seq of `author`'s accepted leave, if they left."""
    row = conn.execute(
        "SELECT seq FROM ops WHERE author = ? AND kind = 'member.leave' AND state = 'accepted'", (author,)
    ).fetchone()
    return None if row is None else int(row[0])


def refused_ops_of_kind(conn: sqlite3.Connection, kind: str) -> list[OpRow]:
    """(id, signature, body) of every op of `kind` the fold refused."""
    return conn.execute("SELECT id, signature, body FROM ops WHERE kind = ? AND state = 'rejected'", (kind,)).fetchall()


def authors_with_held_ops(conn: sqlite3.Connection) -> list[str]:
    """Authors some of whose ops are held (waiting for a predecessor or their time)."""
    return [row[0] for row in conn.execute("SELECT DISTINCT author FROM ops WHERE state = 'held' ORDER BY author")]


def held_op_count(conn: sqlite3.Connection) -> int:
    """Ops held back until their time comes (dated ahead of our clock)."""
    return one_int(conn, "SELECT count(*) FROM ops WHERE state = 'held'")


def first_forks(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    """(author, first forked seq) of each author who signed two ops for one seq."""
    return conn.execute("SELECT author, min(seq) FROM forks GROUP BY author ORDER BY author").fetchall()


def departed_members(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """(id, joined HLC, left HLC) of every member removed or gone, and (id,
    added HLC, removed HLC) of every device a member removed: each key that
    may hold the group's key and must not read what follows."""
    return conn.execute(
        """SELECT id, joined_hlc, left_hlc FROM members WHERE status IN ('removed', 'left')
           UNION ALL
           SELECT id, added_hlc, removed_hlc FROM devices WHERE status = 'removed'"""
    ).fetchall()


# The signing keys that hold the group's keys: every member's first key (the
# member id) unless they removed it as a device, and every device they added
# and kept; `{members}` is the condition on the member's row `m`.
HOLDERS_SQL = """
    SELECT m.id, m.exchange_key FROM members m WHERE ({members}) AND ({first})
      AND NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = m.id AND d.status = 'removed' AND {removed})
    UNION ALL
    SELECT d.id, d.exchange_key FROM devices d JOIN members m ON m.id = d.member
     WHERE d.id != d.member AND ({members}) AND ({added}) AND (d.status = 'active' OR NOT {removed})"""


def members_after_departure(conn: sqlite3.Connection, departed: int, me: str) -> list[tuple[str, str | None]]:
    """(signing key id, exchange key) of who still counts as a member after
    the departure at HLC `departed`: the keys of the active, and of those who
    went later, but no device removed by then; each with an exchange key to
    be granted a key by, or `me` (our own signing key)."""
    sql = HOLDERS_SQL.format(
        members="m.status = 'active' OR (m.status IN ('removed', 'left') AND m.left_hlc > :departed)",
        first="m.exchange_key IS NOT NULL OR m.id = :me",
        added="d.exchange_key IS NOT NULL OR d.id = :me",
        removed="d.removed_hlc <= :departed",
    )
    return conn.execute(sql, {"departed": departed, "me": me}).fetchall()


def members_to_grant(conn: sqlite3.Connection, me: str) -> list[tuple[str, str]]:
    """(signing key id, exchange key) of every other key of an active member
    (their first and their devices, not one removed) that has one published."""
    sql = HOLDERS_SQL.format(
        members="m.status = 'active'",
        first="m.exchange_key IS NOT NULL AND m.id != :me",
        added="d.exchange_key IS NOT NULL AND d.id != :me",
        removed="1",
    )
    return conn.execute(sql, {"me": me}).fetchall()


def newest_op_row(conn: sqlite3.Connection) -> int:
    """The rowid of the op that entered the log last: it moves whenever the
    log does. Rowids follow the order ops reached this home, so it also marks
    where the log ends now (a digest's mark: the next one lists what arrives
    late, written before the mark's time but synced after it)."""
    return int(conn.execute("SELECT coalesce(max(rowid), 0) FROM ops").fetchone()[0])


def holders_at(conn: sqlite3.Connection, hlc: int, me: str) -> list[tuple[str, str]]:
    """(signing key id, exchange key) of every other key that held the
    group's keys at `hlc`, as the log reads now: a member's first key from
    when they joined and a device from when it was added, until they went
    or it was removed (later than `hlc`, or not at all). Who a key made at
    `hlc` was for."""
    sql = HOLDERS_SQL.format(
        members="(m.status = 'active' OR (m.status IN ('removed', 'left') AND m.left_hlc > :at))"
        " AND m.joined_hlc <= :at",
        first="m.exchange_key IS NOT NULL AND m.id != :me",
        added="d.exchange_key IS NOT NULL AND d.id != :me AND d.added_hlc <= :at",
        removed="d.removed_hlc <= :at",
    )
    return conn.execute(sql, {"at": hlc, "me": me}).fetchall()


def signing_ids(conn: sqlite3.Connection, members: set[str]) -> set[str]:
    """The signing keys of `members`: each one's first key (their id) and
    every device they added, removed or not (what they signed still counts)."""
    devices = {d for d, m in conn.execute("SELECT id, member FROM devices") if m in members}
    return members | devices


def member_of_signer(conn: sqlite3.Connection) -> dict[str, str]:
    """Signing key -> member, for every added device (a first key is its member's id)."""
    return dict(conn.execute("SELECT id, member FROM devices"))


def moderators_with_keys(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(signing key id, exchange key) of every device of the current
    moderators that has published one: a moderator's first device is their
    member id."""
    # One statement for the fold and for sync; imported here so the read-only
    # questions above stay independent of the fold.
    from tablespace.core.fold import MODERATORS_WITH_KEYS

    return conn.execute(MODERATORS_WITH_KEYS).fetchall()


def announced_epoch_keys(conn: sqlite3.Connection) -> set[tuple[int, str]]:
    """(epoch, key id) of every group key announced in the log."""
    return {(row[0], row[1]) for row in conn.execute("SELECT epoch, key_id FROM epochs")}


def epoch_recipients(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    """(epoch, key id, comma-separated member ids it was wrapped for)."""
    return conn.execute("SELECT epoch, key_id, recipients FROM epochs").fetchall()


def epoch_creators(conn: sqlite3.Connection) -> list[tuple[int, str, str]]:
    """(epoch, key id, the member who made it)."""
    return conn.execute("SELECT epoch, key_id, created_by FROM epochs").fetchall()


def epochs_made_by(conn: sqlite3.Connection, signer: str) -> list[tuple[int, str, int, str]]:
    """(epoch, key id, created HLC, comma-separated recipients) of every key
    the signing key `signer` announced."""
    return conn.execute(
        "SELECT epoch, key_id, created_hlc, recipients FROM epochs WHERE created_by = ?", (signer,)
    ).fetchall()


def epochs_with_makers(conn: sqlite3.Connection) -> list[tuple[int, str, int, str, str]]:
    """(epoch, key id, created HLC, the signing key that made it,
    comma-separated recipients) of every key announced."""
    return conn.execute("SELECT epoch, key_id, created_hlc, created_by, recipients FROM epochs").fetchall()


def current_signers(conn: sqlite3.Connection) -> set[str]:
    """The signing keys of every active member: their first key and each
    device they added, but none removed."""
    sql = HOLDERS_SQL.format(members="m.status = 'active'", first="1", added="1", removed="1")
    return {row[0] for row in conn.execute(sql)}


def epochs_created(conn: sqlite3.Connection) -> dict[tuple[int, str], int]:
    """(epoch, key id) of every group key announced -> when it was made."""
    return {(e, k): hlc for e, k, hlc in conn.execute("SELECT epoch, key_id, created_hlc FROM epochs")}


# Another device of a member's: (id, exchange key, added HLC).
Sibling = tuple[str, str, int]


def sibling_devices(conn: sqlite3.Connection, member: str, me: str) -> list[Sibling]:
    """(id, exchange key, added HLC) of each device of `member` not removed,
    but the signing key `me`."""
    return conn.execute(
        """SELECT id, exchange_key, added_hlc FROM devices
           WHERE member = ? AND id != ? AND status = 'active' AND exchange_key IS NOT NULL""",
        (member, me),
    ).fetchall()


def removed_devices(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT id FROM devices WHERE status = 'removed'")}


def epoch_created_hlc(conn: sqlite3.Connection, epoch: int, key_id: str) -> int:
    return one_int(conn, "SELECT created_hlc FROM epochs WHERE epoch = ? AND key_id = ?", (epoch, key_id))


def newest_epoch(conn: sqlite3.Connection) -> int:
    """The newest epoch announced, -1 before the first."""
    return one_int(conn, "SELECT coalesce(max(epoch), -1) FROM epochs")


def newest_mod_key(conn: sqlite3.Connection) -> tuple[int, str, str, str] | None:
    """(epoch, key id, public key, recipients) of the moderators' key new
    records are sealed to: the newest epoch's lowest key id."""
    row: tuple[int, str, str, str] | None = conn.execute(
        "SELECT epoch, key_id, public, recipients FROM mod_keys ORDER BY epoch DESC, key_id LIMIT 1"
    ).fetchone()
    return row


def mod_keys(conn: sqlite3.Connection) -> list[tuple[str, str, str | None, str | None, str]]:
    """(key id, wrapped stanzas JSON, previous key id, previous key boxed, public) of
    every moderators' key, newest first."""
    return conn.execute(
        "SELECT key_id, wrapped, previous_key_id, previous, public FROM mod_keys ORDER BY epoch DESC, key_id"
    ).fetchall()


def mod_records(conn: sqlite3.Connection) -> list[tuple[str, str, int, str, str]]:
    """(op id, author, HLC, sealed base64, record id) of every moderators' record, in log order."""
    return conn.execute(
        "SELECT op_id, author, hlc, sealed, record_id FROM mod_records ORDER BY hlc, author, seq"
    ).fetchall()


def mod_record_filed(conn: sqlite3.Connection, record_id: str) -> bool:
    return conn.execute("SELECT 1 FROM mod_records WHERE record_id = ?", (record_id,)).fetchone() is not None


def invite_secrets_in_the_open(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(invite id, secret hex) of invites made before secrets were sealed to the moderators."""
    return conn.execute("SELECT id, secret FROM invites WHERE secret != ''").fetchall()


def invite_uses(conn: sqlite3.Connection) -> dict[str, tuple[int, int, int]]:
    """invite id -> (expiry HLC, uses allowed, uses made)."""
    return {row[0]: row[1:] for row in conn.execute("SELECT id, expires_hlc, uses, used FROM invites")}


def decided_requests(conn: sqlite3.Connection, *, decision: str | None = None) -> set[str]:
    """Join requests a moderator decided (only those with `decision`, if given)."""
    if decision is None:
        return {row[0] for row in conn.execute("SELECT request FROM join_decisions")}
    return {row[0] for row in conn.execute("SELECT request FROM join_decisions WHERE decision = ?", (decision,))}


def op_count_between(conn: sqlite3.Connection, author: str, first: int, last: int) -> int:
    """How many ops of `author` the log holds from seq `first` to `last`
    (more than the seqs when their chain forked)."""
    return one_int(conn, "SELECT count(*) FROM ops WHERE author = ? AND seq BETWEEN ? AND ?", (author, first, last))


def held_seq_count(conn: sqlite3.Connection, author: str, first: int, last: int) -> int:
    """How many of `author`'s seqs from `first` to `last` the log holds an op for."""
    return one_int(
        conn, "SELECT count(DISTINCT seq) FROM ops WHERE author = ? AND seq BETWEEN ? AND ?", (author, first, last)
    )


def newest_op_hlcs(conn: sqlite3.Connection, author: str, ranges: Sequence[tuple[int, int]]) -> list[int]:
    """The largest HLC among `author`'s ops in each (first seq, last seq)
    range, 0 for a range with none: one statement for many ranges (a sync
    round asks for every file of ours)."""
    found: list[int] = []
    for i in range(0, len(ranges), 200):
        chunk = ranges[i : i + 200]
        found += [
            row[0]
            for row in conn.execute(
                f"""WITH r (i, first, last) AS (VALUES {", ".join("(?, ?, ?)" for _ in chunk)})
                    SELECT (SELECT coalesce(max(hlc), 0) FROM ops WHERE author = ? AND seq BETWEEN r.first AND r.last)
                    FROM r ORDER BY r.i""",
                [*(v for n, (first, last) in enumerate(chunk) for v in (n, first, last)), author],
            )
        ]
    return found


def ops_between(conn: sqlite3.Connection, author: str, first: int, last: int) -> list[OpRow]:
    """(id, signature, body) of `author`'s ops from seq `first` to `last`, in seq order."""
    return conn.execute(
        "SELECT id, signature, body FROM ops WHERE author = ? AND seq BETWEEN ? AND ? ORDER BY seq, id",
        (author, first, last),
    ).fetchall()


def device_of(conn: sqlite3.Connection, signer: str) -> tuple[str, str | None] | None:
    """The member a signing key belongs to and its exchange key: a device a
    member added, or a member's first key (whose id is the member's)."""
    row = conn.execute(
        """SELECT member, exchange_key FROM devices WHERE id = :signer
        UNION ALL SELECT id, exchange_key FROM members WHERE id = :signer LIMIT 1""",
        {"signer": signer},
    ).fetchone()
    return (row[0], row[1]) if row else None


def report_replies_waiting(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(report, sealed word) for reports filed from this home whose
    resolution carries a word to the reporter not opened here yet."""
    return conn.execute(
        """SELECT mr.id, h.reply FROM my_reports mr JOIN handled_reports h ON h.report = mr.id
        WHERE h.reply IS NOT NULL AND mr.reply IS NULL"""
    ).fetchall()
