"""The database schema, as sqlite-utils migrations.

Three kinds of table:
- the log: `ops` (every op we hold, with its fold state), and two indexes of
  it: `forks`, every (author, seq) the author signed more than one op for, and
  `text_edits`, what each edit in it changes (m013);
- views: everything the fold writes, a pure function of the log (VIEW_TABLES);
- local: `meta`, `reads`, `follows`, `mutes` and `my_reports`, this member's
  own bookkeeping, never folded or synced (a rebuild leaves them alone).
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import TypeAlias

    from sqlite_utils import Database

    Migration: TypeAlias = Callable[[Database], None]

# Fold states a query asks for by name (m014); 'accepted' is all the rest.
UNSETTLED_STATES = ("held", "ready", "rejected")


class _Registry:
    """Collects the migrations like sqlite_utils' `Migrations` (same decorator,
    same names and order), without importing sqlite_utils: opening a database
    that is up to date needs only `pending()`, a plain sqlite3 query, which keeps
    ~60-100 ms of imports (sqlite_utils, click, pluggy, plugin discovery) off
    the TUI's cold start. `migrate` builds the real `Migrations` when needed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.registered: list[tuple[str, Migration, bool]] = []

    def __call__(self, *, name: str | None = None, transactional: bool = True) -> Callable[[Migration], Migration]:
        def inner(fn: Migration) -> Migration:
            self.registered.append((name or fn.__name__, fn, transactional))
            return fn

        return inner

    def pending(self, conn: sqlite3.Connection) -> list[str]:
        """Names not yet applied (the table is sqlite_utils' `_sqlite_migrations`)."""
        try:
            done = {
                row[0]
                for row in conn.execute("SELECT name FROM _sqlite_migrations WHERE migration_set = ?", (self.name,))
            }
        except sqlite3.OperationalError:  # no such table: a new database
            done = set()
        return [name for name, _fn, _t in self.registered if name not in done]

    def apply(self, db: Database) -> None:
        from sqlite_utils import Migrations

        real = Migrations(self.name)
        for name, fn, transactional in self.registered:
            real(name=name, transactional=transactional)(fn)
        real.apply(db)


migrations = _Registry("tablespace")

# Fold output, with the column order that the canonical dump sorts by.
VIEW_TABLES: dict[str, tuple[str, ...]] = {
    "settings": ("key",),
    "members": ("id",),
    "roles": ("member_id", "role"),
    "threads": ("id",),
    "thread_tags": ("thread_id", "tag"),
    "posts": ("id",),
    "reactions": ("post_id", "author", "emoji"),
    "resources": ("id",),
    "resource_tags": ("resource_id", "tag"),
    "rituals": ("id",),
    "ritual_skips": ("ritual_id", "at"),
    "quiet_spells": ("id",),
    "events": ("id",),
    "event_rsvps": ("event_id", "member"),
    "invites": ("id",),
    "join_decisions": ("request",),
    "cutoffs": ("member",),
    "epochs": ("epoch", "key_id"),
    "timeouts": ("member", "last_seq", "until_hlc"),
    "mod_keys": ("epoch", "key_id"),
    "mod_records": ("op_id",),
    "role_windows": ("member", "role", "last_seq"),
    "mentions": ("post_id", "member"),
    "handled_reports": ("report",),
    "polls": ("thread_id",),
    "poll_options": ("thread_id", "idx"),
    "poll_votes": ("thread_id", "member", "idx"),
    "surveys": ("thread_id",),
    "survey_answers": ("survey_id", "member"),
    "circles": ("id",),
    "circle_members": ("circle_id", "member"),
    "circle_epochs": ("circle_id", "key_op"),
    "circle_details": ("circle_id",),
    "circle_activity": ("op_id",),
    "circle_periods": ("circle_id", "member", "joined_hlc"),
    "circle_refused": ("op_id",),
    "devices": ("id",),
}

FTS_TABLES: dict[str, list[str]] = {
    "threads": ["title"],
    "posts": ["body"],
    "resources": ["title", "summary"],
}


@migrations()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        -- state: held (waiting for its chain predecessor), accepted, rejected
        CREATE TABLE ops (
            id TEXT PRIMARY KEY,
            author TEXT NOT NULL,
            seq INTEGER NOT NULL,
            prev TEXT,
            hlc INTEGER NOT NULL,
            kind TEXT NOT NULL,
            signature BLOB NOT NULL,
            body BLOB NOT NULL,
            state TEXT NOT NULL DEFAULT 'held',
            reason TEXT
        );
        CREATE INDEX ops_chain ON ops (author, seq);
        CREATE INDEX ops_order ON ops (hlc, author, seq);
        CREATE INDEX ops_state ON ops (state);

        CREATE TABLE forks (
            author TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (author, seq)
        );

        CREATE TABLE reads (thread_id TEXT PRIMARY KEY, read_hlc INTEGER NOT NULL);

        CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE members (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            public_key TEXT NOT NULL,
            joined_hlc INTEGER NOT NULL
        );
        CREATE TABLE roles (
            member_id TEXT NOT NULL,
            role TEXT NOT NULL,
            PRIMARY KEY (member_id, role)
        );
        CREATE TABLE threads (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            author TEXT NOT NULL,
            created_hlc INTEGER NOT NULL,
            last_activity_hlc INTEGER NOT NULL,
            replies INTEGER NOT NULL DEFAULT 0,
            pinned INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0,
            ritual_id TEXT,
            occurrence TEXT
        );
        CREATE INDEX threads_activity ON threads (deleted, pinned, last_activity_hlc);
        CREATE TABLE thread_tags (
            thread_id TEXT NOT NULL,
            tag TEXT NOT NULL,
            PRIMARY KEY (thread_id, tag)
        );
        CREATE INDEX thread_tags_tag ON thread_tags (tag);
        CREATE TABLE posts (
            id TEXT PRIMARY KEY,
            thread_id TEXT NOT NULL,
            author TEXT NOT NULL,
            body TEXT NOT NULL,
            created_hlc INTEGER NOT NULL,
            edited_hlc INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX posts_thread ON posts (thread_id, created_hlc);
        CREATE TABLE reactions (
            post_id TEXT NOT NULL,
            author TEXT NOT NULL,
            emoji TEXT NOT NULL,
            hlc INTEGER NOT NULL,
            PRIMARY KEY (post_id, author, emoji)
        );
        CREATE TABLE resources (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            url TEXT NOT NULL,
            summary TEXT NOT NULL,
            added_by TEXT NOT NULL,
            created_hlc INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE resource_tags (
            resource_id TEXT NOT NULL,
            tag TEXT NOT NULL,
            PRIMARY KEY (resource_id, tag)
        );
        CREATE TABLE rituals (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            prompt TEXT NOT NULL,
            rrule TEXT NOT NULL,
            start TEXT NOT NULL,
            paused INTEGER NOT NULL DEFAULT 0,
            author TEXT NOT NULL,
            created_hlc INTEGER NOT NULL
        );
        """
    )
    # External-content FTS5 kept current by triggers: the fold only touches the
    # real tables, and a tombstoned row (text blanked) leaves nothing to find.
    for table, columns in FTS_TABLES.items():
        db.table(table).enable_fts(columns, create_triggers=True, tokenize="porter unicode61")


def migrate(db: Database) -> None:
    migrations.apply(db)


def needs_migration(conn: sqlite3.Connection) -> bool:
    return bool(migrations.pending(conn))


@migrations()
def m002_sync_files(db: Database) -> None:
    """Local bookkeeping of files seen in the shared folder (never folded).

    status: imported, quarantined (bad: copied to the home with its reason),
    waiting (signed but under an epoch key we do not hold yet), mine (we wrote it).
    """
    db.executescript(
        """
        CREATE TABLE sync_files (
            path TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            digest TEXT,
            status TEXT NOT NULL,
            reason TEXT,
            first_seq INTEGER,
            last_seq INTEGER
        );
        CREATE INDEX sync_files_digest ON sync_files (digest);
        """
    )


@migrations()
def m003_membership(db: Database) -> None:
    """Invites and join decisions (fold output), and members' exchange keys."""
    db.executescript(
        """
        ALTER TABLE members ADD COLUMN exchange_key TEXT;
        CREATE TABLE invites (
            id TEXT PRIMARY KEY,
            secret TEXT NOT NULL,
            expires_hlc INTEGER NOT NULL,
            uses INTEGER NOT NULL,
            used INTEGER NOT NULL DEFAULT 0,
            created_by TEXT NOT NULL
        );
        CREATE TABLE join_decisions (
            request TEXT PRIMARY KEY,
            decision TEXT NOT NULL,
            member TEXT,
            reason TEXT,
            decided_by TEXT NOT NULL,
            decided_hlc INTEGER NOT NULL
        );
        """
    )


@migrations()
def m004_thread_list_indexes(db: Database) -> None:
    """Thread lists sort on (pinned, last activity, id), all descending, so
    SQLite walks an index backwards instead of sorting every row, and deep
    pages of a 100k-thread list stay cheap."""
    db.executescript(
        """
        DROP INDEX IF EXISTS threads_activity;
        CREATE INDEX threads_pinned_activity ON threads (deleted, pinned, last_activity_hlc, id);
        CREATE INDEX threads_activity ON threads (deleted, last_activity_hlc, id);
        """
    )


@migrations()
def m005_faster_writes(db: Database) -> None:
    """Measured by benchmarks/: (1) finding an author's held ops scanned all
    their ops, so writes grew quadratic; (2) the FTS update triggers re-indexed
    a thread's title on every reply count change. Index by (state, author, seq),
    and re-index only when the indexed text changes."""
    db.execute("DROP INDEX IF EXISTS ops_state")
    db.execute("CREATE INDEX ops_state ON ops (state, author, seq)")
    for table, columns in FTS_TABLES.items():
        db.execute(f"DROP TRIGGER IF EXISTS {table}_au")
        old = ", ".join(f"old.{c}" for c in columns)
        new = ", ".join(f"new.{c}" for c in columns)
        names = ", ".join(columns)
        db.execute(
            f"""CREATE TRIGGER {table}_au AFTER UPDATE OF {names} ON {table} BEGIN
                  INSERT INTO {table}_fts ({table}_fts, rowid, {names}) VALUES ('delete', old.rowid, {old});
                  INSERT INTO {table}_fts (rowid, {names}) VALUES (new.rowid, {new});
                END"""
        )


def fts_trigger_names() -> list[str]:
    return [f"{table}_{suffix}" for table in FTS_TABLES for suffix in ("ai", "ad", "au")]


def derived_trigger_names() -> list[str]:
    """The triggers that keep tables derived from the views (the search
    indexes, thread_newest) in step row by row. A bulk fold drops them and
    brings those tables up to date once at its end (Store._derived_in_bulk):
    row by row they cost more than the rows they follow."""
    return fts_trigger_names() + [f"thread_newest_{name}" for name in THREAD_NEWEST_TRIGGERS]


@migrations()
def m006_leaving_and_epochs(db: Database) -> None:
    """Removal, leaving and time-outs; announced epoch keys.

    cutoffs: a member who left or was removed, and the last seq of theirs that
    counts; anything they sign after it is rejected wherever it sorts.
    epochs: every epoch key a moderator announced, with who it was wrapped for.
    """
    db.executescript(
        """
        ALTER TABLE members ADD COLUMN last_seq INTEGER;
        ALTER TABLE members ADD COLUMN left_hlc INTEGER;
        ALTER TABLE members ADD COLUMN timeout_until_hlc INTEGER;
        CREATE TABLE cutoffs (member TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
        CREATE TABLE epochs (
            epoch INTEGER NOT NULL,
            key_id TEXT NOT NULL,
            created_hlc INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            recipients TEXT NOT NULL,
            PRIMARY KEY (epoch, key_id)
        );
        """
    )


@migrations()
def m007_timeout_windows(db: Database) -> None:
    """Time-outs, like removals, name the member's last seq the moderator had
    seen: an op they sign after it, dated inside the window, is refused
    wherever it sorts (a back-dated clock cannot slip a post in)."""
    db.execute(
        """CREATE TABLE timeouts (
               member TEXT NOT NULL,
               last_seq INTEGER NOT NULL,
               until_hlc INTEGER NOT NULL,
               PRIMARY KEY (member, last_seq, until_hlc)
           )"""
    )


@migrations()
def m008_moderation(db: Database) -> None:
    """Moderation: the moderators' keys, their sealed records, hidden posts,
    archived threads (the thread-list indexes gain `archived` after
    `deleted`, so the list of live threads stays an index walk), and an index
    for the weekly post cap.

    mod_keys: every moderators' key announced in the log (the public half, and
    the private half wrapped for each moderator of the time).
    mod_records: moderators' sealed records (reports, decisions, notes) as
    base64 ciphertext; only a moderator's home can open them.
    """
    db.executescript(
        """
        CREATE TABLE mod_keys (
            epoch INTEGER NOT NULL,
            key_id TEXT NOT NULL,
            public TEXT NOT NULL,
            created_hlc INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            recipients TEXT NOT NULL,
            wrapped TEXT NOT NULL,
            previous_key_id TEXT,
            previous TEXT,
            PRIMARY KEY (epoch, key_id)
        );
        CREATE TABLE mod_records (
            op_id TEXT PRIMARY KEY,
            author TEXT NOT NULL,
            hlc INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            key_id TEXT NOT NULL,
            sealed TEXT NOT NULL
        );
        ALTER TABLE posts ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE threads ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX posts_author_time ON posts (author, created_hlc);
        DROP INDEX threads_pinned_activity;
        DROP INDEX threads_activity;
        CREATE INDEX threads_pinned_activity ON threads (deleted, archived, pinned, last_activity_hlc, id);
        CREATE INDEX threads_activity ON threads (deleted, archived, last_activity_hlc, id);
        """
    )


@migrations()
def m009_role_windows(db: Database) -> None:
    """A revoked role, like a removal, names the member's last seq the
    moderator had seen: ops they sign after it cannot use the role wherever
    they sort, until a re-grant (which names their seq then)."""
    db.execute(
        """CREATE TABLE role_windows (
               member TEXT NOT NULL,
               role TEXT NOT NULL,
               last_seq INTEGER NOT NULL,
               until_seq INTEGER,
               PRIMARY KEY (member, role, last_seq)
           )"""
    )


@migrations()
def m010_record_ids(db: Database) -> None:
    """Each sealed record's id as a column: a moderator's sync asks "is this
    report filed already?" without hashing every record it holds."""
    from tablespace.core.fold import record_id

    db.execute("ALTER TABLE mod_records ADD COLUMN record_id TEXT")
    rows = db.execute("SELECT op_id, sealed FROM mod_records").fetchall()
    db.conn.executemany(
        "UPDATE mod_records SET record_id = ? WHERE op_id = ?",
        [(record_id(base64.b64decode(sealed)), op_id) for op_id, sealed in rows],
    )
    db.execute("CREATE INDEX mod_records_record_id ON mod_records (record_id)")


@migrations()
def m011_refold_for_the_clock_rule(db: Database) -> None:
    """The fold now refuses an op dated before its author's previous one.
    Views folded before that may hold such an op: re-fold once, on the next
    open (Store), so this replica agrees with one that folds from scratch."""
    _refold_on_next_open(db)


@migrations()
def m012_refold_for_key_renewal_rules(db: Database) -> None:
    """Any active member may now renew the group key, but not one who has gone
    (by an op dated after they went), only to the next epoch number, and only
    with themselves among the recipients. Re-fold once, as for m011."""
    _refold_on_next_open(db)


@migrations()
def m013_seal_deleted_text(db: Database) -> None:
    """Deleted text (of posts and library resources) is now sealed in the log
    too (core/seal.py). text_edits: which post, thread or resource each edit
    in the log (fold.EDITS) changes, so sealing one finds its edits without
    parsing them all; filled as ops enter the log (Store._insert), never
    folded. Then re-fold once, as for m011: that seals what was deleted before."""
    _build_text_edits(db)
    _refold_on_next_open(db)


@migrations()
def m014_partial_state_indexes(db: Database) -> None:
    """An index per unsettled state in place of ops_state (state, author, seq).
    Nearly every op in the log is accepted, and each one went into that
    index: one B-tree insert in five per op of an import. The queries that
    need it (held ops, ready ones inside a transaction, our own refused ones)
    each name one state, and SQLite uses a partial index only when a query
    repeats its WHERE term: hence one index per state, each holding only the
    few rows in it. The two queries that asked it for accepted ops are no
    slower: the moderation log walks ops_order back from the newest and stops
    at its limit, the fold's check of an author's later ops uses ops_chain."""
    db.execute("DROP INDEX IF EXISTS ops_state")
    for state in UNSETTLED_STATES:
        db.execute(f"CREATE INDEX ops_{state} ON ops (author, seq) WHERE state = '{state}'")


@migrations()
def m015_text_edits_after_the_first_m013(db: Database) -> None:
    """The first m013 (one day on main) indexed edits with a partial index
    ops_edits instead; a database that ran it never got text_edits, and its
    first edit failed. Build the table there; elsewhere there is nothing to do."""
    db.execute("DROP INDEX IF EXISTS ops_edits")
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'text_edits'").fetchone():
        _build_text_edits(db)


@migrations()
def m016_unique_display_names(db: Database) -> None:
    """Display names are now unique in a group by their key (core/names.py),
    checked in the fold, which finds a name's holder through an index of the
    keys. A log that let two members share a name before now refuses the
    later of the two (their admission or rename, and so what they wrote
    after): re-fold once, as for m011, so this replica agrees with one that
    folds from scratch."""
    from tablespace.core.names import name_key

    db.execute("ALTER TABLE members ADD COLUMN name_key TEXT")
    rows = db.execute("SELECT id, name FROM members").fetchall()
    db.conn.executemany("UPDATE members SET name_key = ? WHERE id = ?", [(name_key(n), i) for i, n in rows])
    db.execute("CREATE INDEX members_name_key ON members (name_key)")
    _refold_on_next_open(db)


@migrations()
def m017_refusal_kinds(db: Database) -> None:
    """A refused op keeps its refusal's kind (core/errors.py RefusalKind),
    which decides the exit code and how it is worded for its author, and
    the data it is worded from. Ops refused before have neither: re-fold
    once, as for m011, which gives them both."""
    db.execute("ALTER TABLE ops ADD COLUMN reason_kind TEXT")
    db.execute("ALTER TABLE ops ADD COLUMN reason_data TEXT")
    _refold_on_next_open(db)


@migrations()
def m018_writes_keyed_local_tables(db: Database) -> None:
    """`meta` and `reads` keyed by their text key alone (WITHOUT ROWID).
    As rowid tables each kept its key twice, in the table and in an index
    of it, and a write dirtied a page of each: every action writes `meta`
    (the clock, the fold head) and `reads` (our own post is read), so two
    of the ~21 pages it committed were these copies (bench_write)."""
    for table, columns in (
        ("meta", "key TEXT PRIMARY KEY, value TEXT NOT NULL"),
        ("reads", "thread_id TEXT PRIMARY KEY, read_hlc INTEGER NOT NULL"),
    ):
        names = ", ".join(column.split()[0] for column in columns.split(", "))
        db.execute(f"CREATE TABLE {table}_keyed ({columns}) WITHOUT ROWID")
        db.execute(f"INSERT INTO {table}_keyed ({names}) SELECT {names} FROM {table}")
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {table}_keyed RENAME TO {table}")


@migrations()
def m019_inbox_mentions_and_follows(db: Database) -> None:
    """Mentions, quotes, the inbox, follow and mute.

    Fold output: `mentions`, who each post names (core/mentions.py) and by
    what name key, resolved against the roster at that point of the order;
    `posts.quote`, the post a reply quotes; `handled_reports`, reports a
    moderator marked handled in the open (by id only: the report stays sealed).
    Local, never folded or synced: `follows` and `mutes` (threads and
    members), and `my_reports`, the reports this member filed, so the inbox
    can tell them their report was handled. Then re-fold once, as for m011,
    which finds the mentions in what is already there."""
    db.executescript(
        """
        ALTER TABLE posts ADD COLUMN quote TEXT;
        CREATE TABLE mentions (
            post_id TEXT NOT NULL,
            member TEXT NOT NULL,
            name_key TEXT NOT NULL,
            hlc INTEGER NOT NULL,
            PRIMARY KEY (post_id, member)
        );
        CREATE INDEX mentions_member ON mentions (member, hlc);
        CREATE TABLE handled_reports (report TEXT PRIMARY KEY, hlc INTEGER NOT NULL);
        CREATE INDEX threads_author ON threads (author);
        CREATE TABLE follows (thread_id TEXT PRIMARY KEY);
        CREATE TABLE mutes (kind TEXT NOT NULL, target TEXT NOT NULL, PRIMARY KEY (kind, target));
        CREATE TABLE my_reports (
            id TEXT PRIMARY KEY,
            post_id TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            filed_hlc INTEGER NOT NULL
        );
        """
    )
    _refold_on_next_open(db)


# FTS5 keeps a second index of each word's first 3 and 4 letters, so a
# prefix query of that length reads one doclist instead of merging every
# word that starts with it (what the app sends as a reader types, from
# MIN_PREFIX letters on). A longer prefix matches few words and merges cheaply.
FTS_PREFIXES = "3 4"


@migrations()
def m020_search_prefix_index(db: Database) -> None:
    """Rebuild the search indexes with FTS_PREFIXES prefix indexes. The
    triggers that keep them current name the FTS tables, not their layout,
    so they stay as they are."""
    for table, columns in FTS_TABLES.items():
        fts = f"{table}_fts"
        names = ", ".join(columns)
        db.execute(f"DROP TABLE {fts}")
        db.execute(
            f"""CREATE VIRTUAL TABLE {fts} USING fts5({names}, tokenize='porter unicode61',
                content='{table}', prefix='{FTS_PREFIXES}')"""
        )
        db.execute(f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')")


@migrations()
def m021_rituals_zones_and_quiet(db: Database) -> None:
    """Rituals gain a time zone (an IANA name; UTC for every ritual before,
    which keeps its schedule exactly) and an end to a pause; an occurrence
    can be skipped; quiet spells keep every ritual closed for a while. No
    op folded before changes meaning, so nothing is folded again."""
    db.executescript(
        """
        ALTER TABLE rituals ADD COLUMN tz TEXT NOT NULL DEFAULT 'UTC';
        ALTER TABLE rituals ADD COLUMN paused_until TEXT;
        CREATE TABLE ritual_skips (
            ritual_id TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (ritual_id, at)
        );
        CREATE TABLE quiet_spells (
            id TEXT PRIMARY KEY,
            starts TEXT NOT NULL,
            ends TEXT NOT NULL,
            reason TEXT NOT NULL,
            author TEXT NOT NULL,
            created_hlc INTEGER NOT NULL
        );
        """
    )


@migrations()
def m022_idle_sync_files_status(db: Database) -> None:
    """Every sync round asks sync_files for the files of one status (ours,
    those waiting for a key, the quarantined): few rows of a table that holds
    one per folder file, so without an index each question read them all."""
    db.execute("CREATE INDEX sync_files_status ON sync_files (status)")


@migrations()
def m023_events_and_rsvps(db: Database) -> None:
    """Events: a thread with a time (a UTC instant and the IANA zone it was
    given in), a length and a place or link; and each member's latest answer
    to it. Older logs hold no event ops, so nothing is folded again."""
    db.executescript(
        """
        CREATE TABLE events (
            id TEXT PRIMARY KEY,
            at TEXT NOT NULL,
            at_hlc INTEGER NOT NULL,
            tz TEXT NOT NULL,
            minutes INTEGER NOT NULL,
            place TEXT NOT NULL,
            author TEXT NOT NULL,
            created_hlc INTEGER NOT NULL
        );
        CREATE INDEX events_at ON events (at_hlc);
        CREATE TABLE event_rsvps (
            event_id TEXT NOT NULL,
            member TEXT NOT NULL,
            answer TEXT NOT NULL,
            hlc INTEGER NOT NULL,
            PRIMARY KEY (event_id, member)
        );
        """
    )


@migrations()
def m024_polls_surveys_tables(db: Database) -> None:
    """Polls and surveys, both threads: a poll's options and each member's
    current vote; a survey's questions and each member's current answers,
    sealed to the moderators' key (only the ciphertext is ever here). New
    op kinds only: nothing folded before changes meaning."""
    db.executescript(
        """
        CREATE TABLE polls (
            thread_id TEXT PRIMARY KEY,
            multi INTEGER NOT NULL,
            closes_at TEXT
        );
        CREATE TABLE poll_options (
            thread_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            text TEXT NOT NULL,
            PRIMARY KEY (thread_id, idx)
        );
        CREATE TABLE poll_votes (
            thread_id TEXT NOT NULL,
            member TEXT NOT NULL,
            idx INTEGER NOT NULL,
            hlc INTEGER NOT NULL,
            PRIMARY KEY (thread_id, member, idx)
        );
        CREATE TABLE surveys (
            thread_id TEXT PRIMARY KEY,
            questions TEXT NOT NULL,
            closes_at TEXT
        );
        CREATE TABLE survey_answers (
            survey_id TEXT NOT NULL,
            member TEXT NOT NULL,
            op_id TEXT NOT NULL,
            hlc INTEGER NOT NULL,
            key_id TEXT NOT NULL,
            sealed TEXT NOT NULL,
            PRIMARY KEY (survey_id, member)
        );
        """
    )


@migrations()
def m025_circles_tables(db: Database) -> None:
    """Circles (core/circles.py). Everyone folds a circle's existence, its
    members, its wrapped keys and one row per op written in it
    (circle_activity, counted as activity but opaque); only its members fold
    its details and threads (threads.circle_id; NULL is the group's room).
    New op kinds only: nothing folded before changes meaning."""
    db.executescript(
        """
        ALTER TABLE threads ADD COLUMN circle_id TEXT;
        CREATE INDEX threads_circle ON threads (circle_id) WHERE circle_id IS NOT NULL;
        CREATE TABLE circles (
            id TEXT PRIMARY KEY,
            maker TEXT NOT NULL,
            created_hlc INTEGER NOT NULL,
            epoch INTEGER NOT NULL
        );
        CREATE TABLE circle_members (
            circle_id TEXT NOT NULL,
            member TEXT NOT NULL,
            PRIMARY KEY (circle_id, member)
        );
        CREATE INDEX circle_members_member ON circle_members (member);
        CREATE TABLE circle_epochs (
            circle_id TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            wrapped TEXT NOT NULL,
            place BLOB NOT NULL,
            PRIMARY KEY (circle_id, epoch)
        );
        CREATE TABLE circle_details (
            circle_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            purpose TEXT NOT NULL,
            ends TEXT
        );
        CREATE TABLE circle_activity (
            op_id TEXT PRIMARY KEY,
            circle_id TEXT NOT NULL,
            author TEXT NOT NULL,
            hlc INTEGER NOT NULL
        );
        """
    )


@migrations()
def m026_circles_rekeys(db: Database) -> None:
    """Invites, removals and new keys in circles (core/circles.py). A circle
    may hold several keys of one epoch (two members renewed it at once), so
    each key is named by the op that made it (key_op); `circles.key_op` is
    the one written under next. circle_activity keeps whether this member
    opened each op (a member let in later re-folds to read the history);
    circle_details.dm marks a direct conversation (a two-person circle).
    Re-folded on next open: every circle's first key gets its name."""
    db.executescript(
        """
        DROP TABLE circle_epochs;
        CREATE TABLE circle_epochs (
            circle_id TEXT NOT NULL,
            key_op TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            wrapped TEXT NOT NULL,
            place BLOB NOT NULL,
            prev TEXT,
            PRIMARY KEY (circle_id, key_op)
        );
        CREATE INDEX circle_epochs_epoch ON circle_epochs (circle_id, epoch);
        ALTER TABLE circles ADD COLUMN key_op TEXT NOT NULL DEFAULT '';
        ALTER TABLE circle_activity ADD COLUMN opened INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE circle_details ADD COLUMN dm INTEGER NOT NULL DEFAULT 0;
        """
    )
    _refold_on_next_open(db)


@migrations()
def m027_devices_table(db: Database) -> None:
    """A member's devices (core/fold/devices.py): each signing key a member
    certified after their first, which is the member id itself and gets a
    row only once they add a second. `last_seq` is set when the device is
    removed: nothing it signs after that counts."""
    db.executescript(
        """
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            member TEXT NOT NULL,
            name TEXT NOT NULL,
            public_key TEXT NOT NULL,
            exchange_key TEXT,
            added_hlc INTEGER NOT NULL,
            status TEXT NOT NULL DEFAULT 'active',
            last_seq INTEGER,
            removed_hlc INTEGER
        );
        CREATE INDEX devices_member ON devices (member);
        """
    )


@migrations()
def m028_reports_reply(db: Database) -> None:
    """`handled_reports.reply`: a word the moderators chose to send the
    reporter with their decision, sealed to the reporting device's exchange
    key (only that home can open it); `my_reports.reply` holds it opened,
    in that home alone. Existing resolutions carry none: refold to fill."""
    db.execute("ALTER TABLE handled_reports ADD COLUMN reply TEXT")
    db.execute("ALTER TABLE my_reports ADD COLUMN reply TEXT")
    _refold_on_next_open(db)


@migrations()
def m029_circles_rituals(db: Database) -> None:
    """Rituals and polls written in a circle (core/circles.py INNER_KINDS):
    a ritual belongs to a room like a thread (rituals.circle_id; NULL is the
    group's). circle_activity keeps each sealed op's epoch, so a key that
    arrives late finds what it opens. Re-folded on next open: sealed ritual
    and poll ops refused by an older fold now count, and sealed ops a member
    could not open are kept unopened instead of refused."""
    db.executescript(
        """
        ALTER TABLE rituals ADD COLUMN circle_id TEXT;
        ALTER TABLE circle_activity ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX circle_activity_unopened ON circle_activity (circle_id, epoch) WHERE opened = 0;
        """
    )
    _refold_on_next_open(db)


@migrations()
def m030_reads_inbox_indexes(db: Database) -> None:
    """Reads that stay a screen's worth on a big group. Each reply keeps its
    thread's author and each reaction its post's author (fold output), so
    "replies in my threads" and "reactions to my posts" are each one index
    walked newest first, holding only what is someone else's; and posts are
    indexed by time, for the digest's and the recap's windows."""
    db.executescript(
        """
        ALTER TABLE posts ADD COLUMN thread_author TEXT;
        UPDATE posts SET thread_author = (SELECT t.author FROM threads t WHERE t.id = posts.thread_id);
        ALTER TABLE reactions ADD COLUMN post_author TEXT;
        UPDATE reactions SET post_author = (SELECT p.author FROM posts p WHERE p.id = reactions.post_id);
        CREATE INDEX posts_replies_to ON posts (thread_author, created_hlc, thread_id) WHERE author != thread_author;
        CREATE INDEX reactions_to ON reactions (post_author, hlc) WHERE author != post_author;
        CREATE INDEX posts_created ON posts (created_hlc);
        """
    )


# Each thread's newest post, edit or reaction time, never lowered (a
# removed reaction leaves it where it was): an upper bound on the time of
# every inbox entry the thread holds (a mention is timed by its post, or by
# the edit that added it). Kept by triggers on what the fold writes, like
# the search index, and outside the views (not in the dump).
THREAD_NEWEST_FILL = """
    DELETE FROM thread_newest;
    INSERT INTO thread_newest (thread_id, hlc)
    SELECT thread_id, max(hlc) FROM (
        SELECT thread_id, max(created_hlc, coalesce(edited_hlc, 0)) AS hlc FROM posts
        UNION ALL SELECT p.thread_id, x.hlc FROM reactions x JOIN posts p ON p.id = x.post_id
    ) GROUP BY thread_id;
"""


# thread_newest raised to what the views hold, never lowered: what the
# triggers below would have written for the rows a bulk fold wrote without
# them, but for reactions removed in that fold, which no entry holds.
THREAD_NEWEST_CATCH_UP = """
    INSERT INTO thread_newest (thread_id, hlc)
    SELECT thread_id, max(hlc) FROM (
        SELECT thread_id, max(created_hlc, coalesce(edited_hlc, 0)) AS hlc FROM posts
        UNION ALL SELECT p.thread_id, x.hlc FROM reactions x JOIN posts p ON p.id = x.post_id
    ) WHERE true GROUP BY thread_id
    ON CONFLICT (thread_id) DO UPDATE SET hlc = max(hlc, excluded.hlc)
"""
# The triggers' names (thread_newest_<name>), as m031 made them.
THREAD_NEWEST_TRIGGERS = ("post", "edit", "reaction")


def _newest_trigger(name: str, event: str, thread: str, hlc: str) -> str:
    return f"""
    CREATE TRIGGER thread_newest_{name} AFTER {event} BEGIN
        INSERT INTO thread_newest (thread_id, hlc) SELECT {thread}, {hlc} WHERE {thread} IS NOT NULL
        ON CONFLICT (thread_id) DO UPDATE SET hlc = max(hlc, excluded.hlc);
    END;"""


# Indexes that only reads use (lists, the inbox, the recap), never a check
# or write of the fold, which finds posts, threads, reactions and mentions by
# id, thread, author and time or circle. A bulk fold drops them and makes
# them again once at its end (Store._derived_in_bulk): one sort per index
# costs less than a B-tree insert per row, and a thread's activity updates
# then touch no index. A name missing from a database is skipped.
READ_INDEXES = (
    "posts_created",
    "posts_replies_to",
    "posts_thread_author",
    "threads_pinned_activity",
    "threads_activity",
    "threads_author",
    "threads_created",
    "threads_ritual",
    "reactions_to",
    "mentions_member",
)


@migrations()
def m031_reads_thread_newest(db: Database) -> None:
    """The inbox walks only the threads with something unread, newest first
    (core/inbox.py), and the recap reads the threads started in its week."""
    db.executescript(
        "CREATE TABLE thread_newest (thread_id TEXT PRIMARY KEY, hlc INTEGER NOT NULL);"
        "CREATE INDEX thread_newest_hlc ON thread_newest (hlc);"
        "CREATE INDEX threads_created ON threads (created_hlc);"
        + _newest_trigger("post", "INSERT ON posts", "NEW.thread_id", "NEW.created_hlc")
        + _newest_trigger("edit", "UPDATE OF edited_hlc ON posts", "NEW.thread_id", "NEW.edited_hlc")
        + _newest_trigger(
            "reaction", "INSERT ON reactions", "(SELECT thread_id FROM posts WHERE id = NEW.post_id)", "NEW.hlc"
        )
        + THREAD_NEWEST_FILL
    )


@migrations()
def m032_devices_refold_for_device_rules(db: Database) -> None:
    """Two fold rules changed for members with added devices: a time-out
    holds every device of its member, and the moderators' key is wrapped
    for each moderator's device. Re-fold on the next open."""
    _refold_on_next_open(db)


@migrations()
def m033_inbox_thread_indexes(db: Database) -> None:
    """The section bar counts unread ritual threads from the ritual threads
    alone, not from every thread; the inbox finds reactions to my posts in
    a thread from my posts there, not from all of its posts; and the walk
    of threads newest first (for what is unread) reads the index alone."""
    db.executescript(
        """
        CREATE INDEX threads_ritual ON threads (ritual_id) WHERE ritual_id IS NOT NULL;
        CREATE INDEX posts_thread_author ON posts (thread_id, author);
        DROP INDEX thread_newest_hlc;
        CREATE INDEX thread_newest_hlc ON thread_newest (hlc, thread_id);
        """
    )


@migrations()
def m034_circles_periods(db: Database) -> None:
    """Who was in each circle when (circle_periods): a circle's health
    figures for a past week count the members it had then. Filled by the
    fold: re-folded on next open."""
    db.executescript(
        """
        CREATE TABLE circle_periods (
            circle_id TEXT NOT NULL,
            member TEXT NOT NULL,
            joined_hlc INTEGER NOT NULL,
            left_hlc INTEGER,
            PRIMARY KEY (circle_id, member, joined_hlc)
        );
        """
    )
    _refold_on_next_open(db)


@migrations()
def m035_circles_refused(db: Database) -> None:
    """Sealed ops whose circle checks passed but whose inner op this member
    opened and the fold refused (circle_refused): a key that arrives later
    folds them again with the rest of their circle's room (Store.reopen_circles).
    Filled by the fold: re-folded on next open."""
    db.executescript(
        """
        CREATE TABLE circle_refused (
            op_id TEXT PRIMARY KEY,
            circle_id TEXT NOT NULL,
            epoch INTEGER NOT NULL
        );
        CREATE INDEX circle_refused_circle ON circle_refused (circle_id);
        """
    )


@migrations()
def m036_timeouts_ended(db: Database) -> None:
    """A time-out ended early keeps the end it was set with beside the time
    it ended: a refusal inside it names the end it had at that op, however
    the ops were taken in. Re-fold on the next open to fill it."""
    db.execute("ALTER TABLE timeouts ADD COLUMN ended_hlc INTEGER")
    _refold_on_next_open(db)


@migrations()
def m037_device_removal_refusals(db: Database) -> None:
    """An op of a removed device that sorts before its removal is refused as
    a removed device's, not as a member's who went: re-fold on the next open
    so the refusals already folded say so."""
    _refold_on_next_open(db)


@migrations()
def m038_shared_reads(db: Database) -> None:
    """Read marks shared between a member's own devices (sync/read_marks.py):
    the mark each thread had when all of them last got it, and the marks
    from another device past what this home holds of the thread yet. Local
    tables, never folded."""
    db.executescript(
        """
        CREATE TABLE reads_shared (thread_id TEXT PRIMARY KEY, read_hlc INTEGER NOT NULL);
        CREATE TABLE reads_waiting (thread_id TEXT PRIMARY KEY, read_hlc INTEGER NOT NULL);
        """
    )


def _build_text_edits(db: Database) -> None:
    """text_edits from the log, as Store._insert fills it for ops entering it.
    The fold's own list of edits, not a copy: the table must agree with it."""
    from tablespace.core.fold import EDITS, text_edit_rows
    from tablespace.core.ops import decode_trusted
    from tablespace.core.seal import unsealed_sql

    db.execute("CREATE TABLE text_edits (target TEXT NOT NULL, op_id TEXT NOT NULL)")
    db.execute("CREATE INDEX text_edits_target ON text_edits (target)")
    # A sealed edit (of text deleted already) needs no entry: nothing seals it again.
    rows = db.execute(
        f"SELECT id, signature, body FROM ops WHERE kind IN ({', '.join('?' * len(EDITS))}) AND {unsealed_sql('body')}",
        EDITS,
    ).fetchall()
    db.conn.executemany(
        "INSERT INTO text_edits (target, op_id) VALUES (?, ?)",
        text_edit_rows(decode_trusted(bytes(body), bytes(sig), op_id) for op_id, sig, body in rows),
    )


def _refold_on_next_open(db: Database) -> None:
    """For a migration whose fold rules changed: Store re-folds once when it opens."""
    if db.execute("SELECT 1 FROM ops LIMIT 1").fetchone():
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('refold_pending', '1')")


@migrations()
def m039_thread_newest_counts_an_edited_insert(db: Database) -> None:
    """The fold applies an edit of a post it has not written yet to the
    pending row, so a post can enter the table already edited: its thread's
    newest time counts that edit as the update trigger would have."""
    db.executescript(
        "DROP TRIGGER IF EXISTS thread_newest_post;"
        + _newest_trigger(
            "post", "INSERT ON posts", "NEW.thread_id", "max(NEW.created_hlc, coalesce(NEW.edited_hlc, 0))"
        )
    )
