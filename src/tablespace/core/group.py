"""One member in one group: their replica (key, local settings, database),
the single write path for their ops, and what they typed resolved to ids.

`Group.write` signs an op and hands it to Store.append_local; the fold
decides whether it is allowed. The actions a person takes are built on it
in the application layer (tablespace/actions/).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tablespace.core import group_queries, limits, log_queries
from tablespace.core.circles import OpPlace
from tablespace.core.clock import HybridClock, datetime_to_hlc, now
from tablespace.core.database import busy_as_refusal
from tablespace.core.errors import PermissionDenied, Rejected, TablespaceError, UsageError
from tablespace.core.home import DB_NAME, KEY_NAME, LOCAL_NAME, GroupEntry, Home
from tablespace.core.identity import Identity
from tablespace.core.names import NO_VISIBLE_CHARACTERS, name_key
from tablespace.core.ops import Op, sign_op
from tablespace.core.refs import resolve_id, resolve_member
from tablespace.core.store import Store

LINKING_META = "linking"  # set by `device link`: this home waits for the member's other device


@dataclass(frozen=True)
class Transport:
    """Where this member's replica exchanges changesets: a folder or a git remote."""

    folder: Path | None = None
    git: str | None = None

    def to_json(self) -> dict[str, str]:
        return {"folder": str(self.folder)} if self.folder else {"git": self.git or ""}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Transport:
        if data.get("folder"):
            return cls(folder=Path(data["folder"]))
        return cls(git=data.get("git"))

    @classmethod
    def choose(cls, folder: str | None, git: str | None) -> Transport:
        if bool(folder) == bool(git):
            raise UsageError("give exactly one of --folder PATH or --git URL")
        if git:
            return cls(git=git)
        path = Path(folder).expanduser().absolute()  # type: ignore[arg-type]
        if not path.is_dir():
            raise TablespaceError(
                f"the shared folder {path} does not exist; create or mount it first (tablespace never creates it)"
            )
        return cls(folder=path)


def _check(check: Callable[..., str], *args: Any, **kwargs: Any) -> str:
    """Run a limits check outside the fold, as a user-facing error."""
    try:
        return check(*args, **kwargs)
    except Rejected as exc:
        raise exc.refusal.error() from None


def check_display_name(name: str) -> str:
    """A display name as typed, checked as the fold will check it, but for
    whether a member has it (which only the group's log can tell)."""
    checked = _check(limits.one_line, {"n": name}, "n", label="display name", max_chars=limits.NAME_MAX)
    if not name_key(checked):
        raise TablespaceError(NO_VISIBLE_CHARACTERS)
    return checked


class Group:
    def __init__(self, home: Home, entry: GroupEntry) -> None:
        self.home = home
        self.path = entry.path
        self.store = Store(self.path / DB_NAME)
        self.id = self.store.group_id
        recorded = self.store.get_meta("me")
        # The signing key's id, our chain: the member id (`me`) on a member's
        # first device, its own on a device they added (core/fold/devices.py).
        signer = self.store.get_meta("device") or recorded
        # Our author id is recorded at creation, so reading the group needs no
        # key parsing; the key is checked against it at the first signature.
        self.identity = Identity.load(self.path / KEY_NAME, expected_author=signer)
        self.me = recorded or self.identity.author_id
        self.device = signer or self.me
        self.conn = self.store.conn

    # --- opening and founding -----------------------------------------------

    @classmethod
    def open(cls, home: Home, selector: str | None = None) -> Group:
        entry = home.resolve(selector)
        group = cls(home, entry)
        if home.config().get("last_group") != group.id:
            home.update_config(last_group=group.id)
        return group

    @classmethod
    def found(
        cls, home: Home, name: str, display_name: str, transport: Transport, purpose: str = "", rules: str = ""
    ) -> Group:
        payload = {
            "name": _check(limits.one_line, {"n": name}, "n", label="group name", max_chars=limits.NAME_MAX * 2),
            "founder_name": check_display_name(display_name),
            "purpose": _check(
                limits.text, {"p": purpose}, "p", label="purpose", max_chars=limits.SUMMARY_MAX, required=False
            ),
            "rules": rules or DEFAULT_RULES,
        }
        home.ensure()
        identity = Identity.generate()
        genesis = sign_op(
            identity, group=None, seq=1, prev=None, hlc=HybridClock().tick(), kind="group.create", payload=payload
        )
        path = _make_replica(home, genesis.id, identity, transport, first_op=genesis)
        home.update_config(last_group=genesis.id)
        return cls(home, GroupEntry(genesis.id, payload["name"], path))

    @classmethod
    def create_replica(cls, home: Home, group_id: str, transport: Transport) -> Group:
        """An empty replica of a group we are joining: our own identity and an
        empty log, filled by sync once a moderator admits us."""
        home.ensure()
        if (home.groups_dir / group_id).exists():
            raise TablespaceError(
                f"this home already has that group ({home.groups_dir / group_id}); use another --home to join twice"
            )
        path = _make_replica(home, group_id, Identity.generate(), transport)
        home.update_config(last_group=group_id)
        return cls(home, GroupEntry(group_id, group_id[:8], path))

    def close(self) -> None:
        self.store.close()

    @property
    def transport(self) -> Transport:
        try:
            data = json.loads((self.path / LOCAL_NAME).read_text())
            return Transport.from_json(data["transport"])
        except (FileNotFoundError, KeyError, ValueError):
            raise TablespaceError(f"{self.path / LOCAL_NAME} is missing or damaged; run `tablespace doctor`") from None

    # --- the write path ------------------------------------------------------

    def write(self, kind: str, payload: dict[str, Any] | Callable[[OpPlace], dict[str, Any]]) -> Op:
        """Sign one op of ours and fold it; raises (changing nothing) if refused.
        A payload that seals something bound to the op's place (a circle's
        boxes: core/circles.py) is given as a function of that place."""
        with busy_as_refusal(), self.store.db.atomic():
            seq, prev = self.store.head(self.device)
            hlc = self.store.next_hlc()
            op = sign_op(
                self.identity,
                group=self.id,
                seq=seq + 1,
                prev=prev,
                hlc=hlc,
                kind=kind,
                payload=payload(OpPlace(self.id, self.device, seq + 1, hlc)) if callable(payload) else payload,
            )
            self.store.append_local(op)
            self._mark_own_read(op)
        return op

    def _mark_own_read(self, op: Op) -> None:
        row = self.conn.execute(
            "SELECT thread_id FROM posts WHERE id = ?", (op.payload.get("post") or op.payload.get("thread") or op.id,)
        ).fetchone()
        if row:
            self._mark_read(row[0])

    @property
    def waiting_for_my_device(self) -> bool:
        """A home linked to a member's other device (`device link`) whose
        certificate has not arrived yet: it waits for that device, not for
        a moderator."""
        return self.device == self.me and self.store.get_meta(LINKING_META) is not None

    def take_up_device(self) -> bool:
        """On a device paired with a member's other one: once the log holds
        the certificate of our key (device.add), we are that member, writing
        on our own chain. Re-folds, so what the member's keys open (their
        circles) is read as theirs. Returns whether it happened now, here or
        on another connection to this home since this one last looked."""
        if self.device != self.me:
            return False
        taken_up = self.store.get_meta("device")
        if taken_up and taken_up != self.device:
            # Another connection to this home took it up (the app syncs on a
            # connection of its own): read ourselves from the home again.
            self.device, self.me = taken_up, self.store.get_meta("me") or self.me
            self.store.circle_keys.forget_me()
            return True
        member = log_queries.member_of_signer(self.conn).get(self.me)
        if member is None or member == self.me:
            return False
        with self.store.db.atomic():
            self.store.set_meta("device", self.me)
            self.store.set_meta("me", member)
            self.device, self.me = self.me, member
            self.store.circle_keys.forget_me()
            self.store.refold()
        return True

    # --- resolving what a user typed ------------------------------------------

    def thread_id(self, ref: str) -> str:
        return resolve_id(self.conn, "thread", ref)

    def post_id(self, ref: str) -> str:
        return resolve_id(self.conn, "post", ref)

    def resource_id(self, ref: str) -> str:
        return resolve_id(self.conn, "resource", ref)

    def ritual_id(self, ref: str) -> str:
        return resolve_id(self.conn, "ritual", ref)

    def member_id(self, ref: str) -> str:
        return resolve_member(self.conn, ref)

    # --- local state -------------------------------------------------------------

    def mark_read(self, thread_id: str) -> None:
        with self.store.db.atomic():
            self._mark_read(thread_id)

    def _mark_read(self, thread_id: str) -> None:
        """Read up to the newest thing in the thread: its last post, and the
        newest edit, reaction, mention or outcome of our report there, each
        of which can be an inbox entry. One statement: inside a transaction
        it needs no savepoint of its own."""
        from tablespace.core.inbox import NEWEST_IN_THREAD  # on first use: opening a group to read it needs no inbox

        self.conn.execute(
            f"""INSERT INTO reads (thread_id, read_hlc)
                SELECT id, {NEWEST_IN_THREAD} FROM threads t WHERE id = :thread
                ON CONFLICT (thread_id) DO UPDATE SET read_hlc = excluded.read_hlc""",
            {"thread": thread_id, "now": self.now_hlc()},
        )

    def remember_report(self, report_id: str, post_id: str, thread_id: str) -> None:
        """A report we filed, kept in the home only: the inbox tells us when a
        moderator marks it handled."""
        with self.store.db.atomic():
            self.conn.execute(
                "INSERT OR IGNORE INTO my_reports (id, post_id, thread_id, filed_hlc) VALUES (?, ?, ?, ?)",
                (report_id, post_id, thread_id, self.now_hlc()),
            )

    def remember_report_reply(self, report_id: str, text: str) -> None:
        """The moderators' word on a report we filed, opened in this home."""
        with self.store.db.atomic():
            self.conn.execute("UPDATE my_reports SET reply = ? WHERE id = ?", (text, report_id))

    def set_follow(self, thread_id: str, *, on: bool) -> None:
        """Follow a thread (its replies reach our inbox), or stop. Ours alone:
        a local table, never an op."""
        with self.store.db.atomic():
            if on:
                self.conn.execute("INSERT OR IGNORE INTO follows (thread_id) VALUES (?)", (thread_id,))
            else:
                self.conn.execute("DELETE FROM follows WHERE thread_id = ?", (thread_id,))

    def set_mute(self, kind: str, target: str, *, on: bool) -> None:
        """Mute a thread or a member (`kind`: 'thread' or 'member'): nothing of
        it reaches our inbox. Ours alone, like follows."""
        with self.store.db.atomic():
            if on:
                self.conn.execute("INSERT OR IGNORE INTO mutes (kind, target) VALUES (?, ?)", (kind, target))
            else:
                self.conn.execute("DELETE FROM mutes WHERE kind = ? AND target = ?", (kind, target))

    def mark_welcomed(self) -> None:
        """The onboarding walk was seen (or left): it no longer opens by itself."""
        with self.store.db.atomic():
            self.store.set_meta("welcomed", "1")

    @property
    def needs_welcome(self) -> bool:
        """Whether the app opens the onboarding walk by itself: for a member
        admitted by a moderator (not the founder) who has not walked it yet."""
        if self.my_status != "active" or self.store.get_meta("welcomed"):
            return False
        return group_queries.settings(self.conn).get("founder") != self.me

    # --- reading -----------------------------------------------------------------

    def name(self) -> str:
        return group_queries.settings(self.conn).get("name", self.id[:8])

    @property
    def my_status(self) -> str | None:
        """Our membership as the log has it: 'active' (a time-out does not
        change it), 'left', 'removed', or 'device_removed' when another of our
        devices took this one away; None while a joiner waits to be admitted."""
        row = self.conn.execute(
            "SELECT status, (SELECT status FROM devices WHERE id = ?) FROM members WHERE id = ?", (self.device, self.me)
        ).fetchone()
        if row is None:
            return None
        return "device_removed" if row[1] == "removed" and row[0] == "active" else str(row[0])

    def my_roles(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT role FROM roles WHERE member_id = ?", (self.me,))}

    @property
    def is_moderator(self) -> bool:
        return "moderator" in self.my_roles()

    def require_moderator(self) -> None:
        """Refuse a moderator's action up front (the fold refuses a forged one anyway)."""
        if not self.is_moderator:
            raise PermissionDenied("only a moderator can do that")

    def now_hlc(self) -> int:
        return datetime_to_hlc(now())


def _make_replica(
    home: Home, group_id: str, identity: Identity, transport: Transport, first_op: Op | None = None
) -> Path:
    """A group's directory in the home: key, local settings and database,
    created all or nothing. The founder's genesis op goes in as `first_op`."""
    path = home.groups_dir / group_id
    try:
        path.mkdir(mode=0o700)
        identity.save(path / KEY_NAME)
        (path / LOCAL_NAME).write_text(json.dumps({"transport": transport.to_json()}, indent=2))
        store = Store(path / DB_NAME)
        with store.db.atomic():
            store.set_meta("group_id", group_id)
            store.set_meta("me", identity.author_id)
            if first_op is not None:
                store.append_local(first_op)
        store.close()
        (path / DB_NAME).chmod(0o600)  # SQLite gives its -wal/-shm files the same mode
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


DEFAULT_RULES = """\
1. Be kind. Assume good intent; ask before you judge.
2. Share what you tried, not just what you think.
3. No promotion outside the promo thread.
4. What is said at the table stays at the table.
5. Moderators listen, clarify, decide and document.
"""
