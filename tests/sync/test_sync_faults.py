"""The fault list of DESIGN.md section 3 ("Faults the sync must survive"), end
to end: real homes, a real shared folder, the real engine (and the CLI where
the exit status matters). Envelope-level damage (truncation, bit flips, bombs
fed straight to the decoder) is covered in test_sync_envelope.py; conflicted
copies, misnamed files, rollbacks and the unmounted folder in
test_sync_folder.py. Here every fault goes through `sync` on a member's home.
"""

from __future__ import annotations

import io
import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import zstandard

from tablespace import actions
from tablespace.actions import admit, create_invite, found_group, join_group, sync_group
from tablespace.core.clock import MAX_DRIFT_MS, hlc_ms, now_ms, parse_instant
from tablespace.core.group import Group, Transport
from tablespace.core.home import DB_NAME, LOCAL_NAME, Home
from tablespace.core.identity import Identity
from tablespace.core.ops import Op, sign_op
from tablespace.sync.engine import SyncReport
from tablespace.sync.envelope import (
    MAX_FILE_BYTES,
    changeset_name,
    decode_changeset,
    encode_changeset,
    frame_ops,
    peek_header,
    seal,
)
from tablespace.sync.folder import FolderStore
from tablespace.sync.keyring import Keyring
from tablespace.sync.keys import epoch_key_id
from tablespace.sync.service import pending_requests
from tests.clirun import NOW, TS

REPO = Path(__file__).resolve().parents[2]
FILLER = (
    "Fed the starter twice today, the crumb was more open than last week and "
    "the crust finally sang when it came out of the oven. "
) * 2


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    monkeypatch.delenv("TABLESPACE_HOME", raising=False)


# --- members, through the service API ---------------------------------------------------


class Member:
    def __init__(self, home: Path, name: str) -> None:
        self.home = home
        self.name = name

    @contextmanager
    def group(self) -> Iterator[Group]:
        group = Group.open(Home(self.home))
        try:
            yield group
        finally:
            group.close()

    @property
    def id(self) -> str:
        with self.group() as g:
            return g.me

    def sync(self) -> SyncReport:
        with self.group() as g:
            return sync_group(g)

    def post(self, title: str, body: str = "") -> str:
        with self.group() as g:
            return actions.post(g, title, body)

    def write(self, kind: str, payload: dict) -> Op:
        with self.group() as g:
            return g.write(kind, payload)

    def dump(self) -> str:
        with self.group() as g:
            return g.store.canonical_dump()

    def titles(self) -> set[str]:
        with self.group() as g:
            return {r[0] for r in g.conn.execute("SELECT title FROM threads WHERE deleted = 0")}

    def op_state(self, op_id: str) -> tuple[str, str | None] | None:
        with self.group() as g:
            return g.conn.execute("SELECT state, reason FROM ops WHERE id = ?", (op_id,)).fetchone()

    @property
    def db(self) -> Path:
        (path,) = self.home.glob(f"groups/*/{DB_NAME}")
        return path

    def own_ops(self) -> int:
        """Ops by this member in its own log, read with plain sqlite3 (no migrations)."""
        conn = sqlite3.connect(self.db)
        try:
            me = conn.execute("SELECT value FROM meta WHERE key = 'me'").fetchone()[0]
            return conn.execute("SELECT count(*) FROM ops WHERE author = ?", (me,)).fetchone()[0]
        finally:
            conn.close()

    def integrity(self) -> str:
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            conn.close()


def found(tmp_path: Path, folder: Path, name: str = "Ana") -> Member:
    home = tmp_path / name.lower()
    found_group(Home(home), "Sourdough circle", name, Transport(folder=folder)).close()
    member = Member(home, name)
    member.sync()
    return member


def join(tmp_path: Path, folder: Path, moderator: Member, name: str) -> Member:
    with moderator.group() as g:
        code = create_invite(g, timedelta(days=1), 1)
    moderator.sync()
    group, request = join_group(Home(tmp_path / name.lower()), code, name, Transport(folder=folder))
    group.close()
    with moderator.group() as g:
        assert [r.id for r in pending_requests(g)] == [request]
        admit(g, request[:8])
    moderator.sync()
    member = Member(tmp_path / name.lower(), name)
    member.sync()
    return member


def sync_all(*members: Member, rounds: int = 2) -> None:
    for _ in range(rounds):
        for m in members:
            m.sync()


def backlog(member: Member, n: int, label: str) -> None:
    """n posts of the member's own, in its log and not yet exported: the ops
    actions.post would make, signed and ingested in one go (fast to set up)."""
    with member.group() as g:
        seq, prev = g.store.head(g.me)
        ops = []
        for i in range(n):
            seq += 1
            op = sign_op(
                g.identity,
                group=g.id,
                seq=seq,
                prev=prev,
                hlc=g.store.clock.tick(),
                kind="thread.start",
                payload={"title": f"{label} {i}", "body": FILLER, "tags": []},
            )
            ops.append(op)
            prev = op.id
        g.store.ingest(ops)


def current_key(group: Group) -> tuple[int, bytes]:
    """The newest epoch key this member holds (one key per epoch in these tests)."""
    epochs = Keyring.load(group.path).epochs
    epoch = max(epochs)
    held = epochs[epoch]
    return epoch, held if isinstance(held, bytes) else held[0]


class Signer:
    """Writes changeset files as a member would, without going through its home:
    for hostile-but-validly-signed files and floods."""

    def __init__(self, member: Member) -> None:
        with member.group() as g:
            self.identity = g.identity
            self.group_id = g.id
            self.seq, self.prev = g.store.head(g.me)
            self.epoch, self.key = current_key(g)
            self.folder = FolderStore(g.transport.folder, g.id)  # type: ignore[arg-type]
            # after everything this member has seen (the clock is frozen in tests)
            self.hlc = max(now_ms() << 16, g.store.clock.last)

    def op(self, kind: str, payload: dict, *, advance: bool = True) -> Op:
        self.hlc += 1
        op = sign_op(
            self.identity,
            group=self.group_id,
            seq=self.seq + 1,
            prev=self.prev,
            hlc=self.hlc,
            kind=kind,
            payload=payload,
        )
        if advance:
            self.seq, self.prev = op.seq, op.id
        return op

    def fields(self, first: int, last: int, max_hlc: int, **overrides: object) -> dict:
        fields = dict(
            group_id=self.group_id,
            epoch=self.epoch,
            key_id=epoch_key_id(self.key),
            author=self.identity.author_id,
            public_key=self.identity.public_key,
            first_seq=first,
            last_seq=last,
            max_hlc=max_hlc,
        )
        fields.update(overrides)
        return fields

    def encode(self, ops: list[Op]) -> bytes:
        return encode_changeset(
            ops, group_id=self.group_id, epoch=self.epoch, epoch_key=self.key, identity=self.identity
        )

    def put(self, data: bytes, name: str | None = None) -> Path:
        """Drop bytes in the folder (plain write: the folder is not ours to be careful with)."""
        if name is None:
            try:
                name = "changes/" + changeset_name(peek_header(data))
            except Exception:
                name = f"changes/{self.identity.author_id}/{os.urandom(8).hex()}.tsc"
        path = self.folder.group_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


def new_files(folder: Path, before: set[Path]) -> list[Path]:
    return sorted(set(folder.rglob("*.tsc")) - before)


# --- kill -9 at any point of export and import ----------------------------------------------

DRIVER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from tablespace.core.group import Group
    from tablespace.core.home import Home
    from tablespace.actions import sync_group

    home, point, bulk = sys.argv[1], sys.argv[2], sys.argv[3] == "bulk"
    if bulk:  # the big-backlog path: bigger cache, rollback journal instead of the WAL
        import tablespace.sync.engine as engine
        engine.BULK_FILES = engine.ROLLBACK_JOURNAL_BYTES = 0

    def die(*_a, **_k):
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "after-rename":  # a changeset renamed into place, not yet recorded in our db
        import tablespace.core.files as files
        files.fsync_dir = die  # runs right after the rename
    elif point == "second-file":  # one changeset fully exported, killed before the next
        from tablespace.sync.folder import FolderStore
        real, calls = FolderStore.write_once, []
        def write_once(self, *a):
            calls.append(1)
            if len(calls) == 2:
                die()
            return real(self, *a)
        FolderStore.write_once = write_once
    elif point == "import-before-commit":  # every imported op written, the transaction not committed
        from tablespace.core.store import Store
        real_ingest = Store._ingest
        def _ingest(self, ops):
            ops = list(ops)
            result = real_ingest(self, ops)
            if ops:
                die()
            return result
        Store._ingest = _ingest
    elif point == "epoch-keys-save":  # saving newly granted epoch keys
        import tablespace.sync.keyring as keyring
        keyring.write_private_file = die

    group = Group.open(Home(Path(home)))
    print("go", flush=True)
    sync_group(group)
    group.close()
    print("done", flush=True)
""")


def _driver(home: Path, point: str = "none", bulk: bool = False) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))  # the sources under test
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(home), point, "bulk" if bulk else "usual"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _clean_copy(member: Member, folder: Path, into: Path) -> Member:
    """A byte copy of the member's home and of the folder, wired to each other:
    the replica the interrupted one must end up equal to."""
    shutil.copytree(folder, into / "shared")
    shutil.copytree(member.home, into / "home")
    (local,) = (into / "home").glob(f"groups/*/{LOCAL_NAME}")
    local.write_text(json.dumps({"transport": {"folder": str(into / "shared")}}))
    return Member(into / "home", member.name + "-clean")


def _two_with_backlogs(tmp_path: Path, folder: Path, theirs: int, ours: int) -> tuple[Member, Member]:
    ana = found(tmp_path, folder)
    ben = join(tmp_path, folder, ana, "Ben")
    backlog(ana, theirs, "from Ana")
    assert ana.sync().exported == theirs  # several files for Ben to import
    backlog(ben, ours, "from Ben")  # and Ben's own, waiting to be exported
    return ana, ben


def _check_after_kill(ben: Member, own: int) -> int:
    assert ben.integrity() == "ok"
    now_own = ben.own_ops()
    assert now_own >= own, "a local op was lost"
    return now_own


def _finish_and_compare(ana: Member, ben: Member, clean: Member) -> None:
    report = ben.sync()
    assert report.quarantined == [] and report.pending == 0
    assert ben.integrity() == "ok"
    clean_report = clean.sync()
    assert clean_report.quarantined == []
    assert ben.dump() == clean.dump()
    # and the others read everything Ben wrote, however many times he was cut off
    report = ana.sync()
    assert report.quarantined == [] and report.pending == 0
    assert ana.dump() == ben.dump()


KILLS = 12  # kill -9 landing inside a round, at random moments
KILL_ATTEMPTS = 40  # rounds started at most to get them (a round that ends first is no kill)


def _one_round(proc: subprocess.Popen, kill_after: float | None = None) -> float | None:
    """Let a driver's sync round run, and kill -9 it `kill_after` seconds into
    the round (after "go") if it is still going. Returns the round's length if it
    ended on its own, or None if the kill cut it off before it was done."""
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert proc.stdout.readline().strip() == "go", proc.stderr.read()
        started = time.perf_counter()
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        took = time.perf_counter() - started
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode in (0, -signal.SIGKILL), err
    return took if "done" in out else None  # killed after "done" is a round that finished


@pytest.mark.xdist_group("kill9")
@pytest.mark.slow
def test_kill_9_at_random_points_of_export_and_import(tmp_path, folder) -> None:
    ana, ben = _two_with_backlogs(tmp_path, folder, theirs=2500, ours=2000)
    clean = _clean_copy(ben, folder, tmp_path / "clean")
    pristine = tmp_path / "pristine"
    shutil.copytree(ben.home, pristine / "home")
    shutil.copytree(folder, pristine / "shared")
    own = ben.own_ops()

    def restore() -> None:  # back to the big backlog, so the next run has work to be cut off in
        for src, dst in ((pristine / "home", ben.home), (pristine / "shared", folder)):
            shutil.rmtree(dst)
            shutil.copytree(src, dst)

    # How long one uninterrupted round takes, so the kills spread over all of it.
    # Every whole round that ends on its own measures it again: on a machine whose
    # load comes and goes, the kill moments stretch and shrink with the round.
    full = _one_round(_driver(_clean_copy(ben, folder, tmp_path / "probe").home))
    assert full is not None
    rng = random.Random(20261123)
    kills, finished, whole = 0, 0, True  # whole: the next round starts from the full backlog
    for _attempt in range(KILL_ATTEMPTS):  # counted in rounds, not seconds: a slow machine gets as many kills
        if kills == KILLS:
            break
        proc = _driver(ben.home, bulk=bool(kills % 2))  # every other run as a big backlog's import
        took = _one_round(proc, kill_after=rng.uniform(0, full))
        own = _check_after_kill(ben, own)
        if took is None:
            kills, whole = kills + 1, False
        else:
            finished += 1
            full = took if whole else full
            restore()
            whole = True
    assert kills >= 10, (kills, finished, full)
    print(f"{kills} kills, {finished} runs finished, one round {full:.2f}s")
    _finish_and_compare(ana, ben, clean)


@pytest.mark.xdist_group("kill9")
@pytest.mark.slow
@pytest.mark.parametrize(
    "point, bulk",
    [("after-rename", False), ("second-file", False), ("import-before-commit", False), ("import-before-commit", True)],
)
def test_kill_9_at_chosen_points_is_all_or_nothing(tmp_path, folder, point, bulk) -> None:
    ana, ben = _two_with_backlogs(tmp_path, folder, theirs=1500, ours=1500)
    clean = _clean_copy(ben, folder, tmp_path / "clean")
    own = ben.own_ops()
    with ben.group() as g:
        imported_before = g.conn.execute("SELECT count(*) FROM ops WHERE author != ?", (g.me,)).fetchone()[0]
    proc = _driver(ben.home, point, bulk)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, (out, err)
    # the big-backlog import was cut off with a rollback journal, which the next open rolls back
    assert Path(str(ben.db) + "-journal").exists() == bulk
    _check_after_kill(ben, own)
    with ben.group() as g:
        imported = g.conn.execute("SELECT count(*) FROM ops WHERE author != ?", (g.me,)).fetchone()[0]
    if point.startswith("import"):
        assert imported == imported_before  # the import round is one transaction: nothing of it landed
    else:  # killed while exporting, which follows the import: that landed whole
        assert imported == imported_before + 1500
    _finish_and_compare(ana, ben, clean)
    # re-import is idempotent: nothing new, nothing quarantined
    again = ben.sync()
    assert (again.imported, again.exported, again.quarantined) == (0, 0, [])


@pytest.mark.xdist_group("kill9")
def test_kill_9_while_saving_granted_epoch_keys(tmp_path, folder) -> None:
    ana = found(tmp_path, folder)
    with ana.group() as g:
        code = create_invite(g, timedelta(days=1), 1)
    ana.sync()
    group, request = join_group(Home(tmp_path / "ben"), code, "Ben", Transport(folder=folder))
    group.close()
    with ana.group() as g:
        admit(g, request[:8])
    ana.post("Welcome Ben")
    ana.sync()
    ben = Member(tmp_path / "ben", "Ben")
    proc = _driver(ben.home, "epoch-keys-save")  # Ben's first sync after admission receives the grant
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert ben.integrity() == "ok"
    ben.sync()  # must recover: the grant is still in the folder
    assert "Welcome Ben" in ben.titles()


# --- I/O errors -----------------------------------------------------------------------------


def _ben_posts(tmp_path: Path, folder: Path) -> tuple[Member, Member, Path]:
    ana = found(tmp_path, folder)
    ben = join(tmp_path, folder, ana, "Ben")
    ben.post("Ben's good news")
    ben.sync()
    with ben.group() as g:
        return ana, ben, folder / g.id / "changes" / g.me


def test_links_and_odd_entries_are_quarantined_unopened_and_the_rest_imports(tmp_path, folder) -> None:
    ana, ben, ben_dir = _ben_posts(tmp_path, folder)
    # A symlink to /proc/self/mem would fail every read with EIO; a dangling
    # link goes nowhere. Neither is opened: both are reported, the rest imports.
    broken = ben_dir / "00000050-00000050-eeeeeeeeeeeeeeee.tsc"
    broken.symlink_to("/proc/self/mem")
    (ben_dir / "00000051-00000051-dddddddddddddddd.tsc").mkdir()  # a directory where a file is expected
    dangling = ben_dir / "00000052-00000052-cccccccccccccccc.tsc"
    dangling.symlink_to(tmp_path / "nowhere")
    report = ana.sync()
    assert "Ben's good news" in ana.titles()
    reasons = {Path(q.file).name: q.reason for q in report.quarantined}
    assert set(reasons) == {broken.name, dangling.name}
    assert all("not a regular file" in r for r in reasons.values())
    broken.unlink()
    dangling.unlink()
    report = ana.sync()  # gone again: a missing file is never a delete, nothing breaks
    assert report.quarantined == [] and "Ben's good news" in ana.titles()


def test_a_fifo_in_the_folder_does_not_hang_sync(tmp_path, folder) -> None:
    ana, ben, ben_dir = _ben_posts(tmp_path, folder)
    os.mkfifo(ben_dir / "00000060-00000060-ffffffffffffffff.tsc")
    proc = _driver(ana.home)
    try:
        proc.communicate(timeout=8)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("sync blocked on a FIFO in the shared folder")
    assert proc.returncode == 0
    assert "Ben's good news" in ana.titles()


# --- one author flooding the folder ---------------------------------------------------------


@pytest.mark.slow
def test_one_author_flooding_thousands_of_files(tmp_path, folder) -> None:
    ana = found(tmp_path, folder)
    ben = join(tmp_path, folder, ana, "Ben")
    signer = Signer(ben)
    n = 3000
    for i in range(n):
        op = signer.op("thread.start", {"title": f"flood {i}", "body": "spam " * 20, "tags": []})
        signer.put(signer.encode([op]))
    assert len(list(folder.rglob("*.tsc"))) > n
    t0 = time.perf_counter()
    report = ana.sync()
    took = time.perf_counter() - t0
    assert report.imported == n and report.quarantined == [] and report.pending == 0
    assert len([t for t in ana.titles() if t.startswith("flood ")]) == n
    assert took < 30, f"importing {n} one-op files took {took:.1f}s"
    t0 = time.perf_counter()
    again = ana.sync()  # every file is known by (path, size, mtime): nothing is read again
    assert again.imported == 0
    assert time.perf_counter() - t0 < max(2.0, took / 4)


# --- an HLC far in the future -----------------------------------------------------------------


def test_an_hlc_far_in_the_future_is_held_and_does_not_drag_our_clock(tmp_path, folder, monkeypatch) -> None:
    ana = found(tmp_path, folder)
    ben = join(tmp_path, folder, ana, "Ben")
    ahead = parse_instant(NOW) + timedelta(days=2)
    monkeypatch.setenv("TABLESPACE_NOW", ahead.isoformat())  # Ben's machine runs two days fast
    ben.post("From the future")
    ben.sync()
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    report = ana.sync()
    assert report.imported == 1 and report.quarantined == []
    assert report.pending == 1  # held, and counted
    assert "From the future" not in ana.titles()
    ana.post("Ana, on time")
    with ana.group() as g:
        (hlc,) = g.conn.execute("SELECT max(hlc) FROM ops WHERE author = ?", (g.me,)).fetchone()
        assert hlc_ms(hlc) - now_ms() < MAX_DRIFT_MS  # not dragged two days ahead
        assert hlc_ms(g.store.clock.last) - now_ms() < MAX_DRIFT_MS
    # Two days later Ana's clock has caught up; Ben writes again: both apply.
    later = (ahead + timedelta(minutes=1)).isoformat()
    monkeypatch.setenv("TABLESPACE_NOW", later)
    ben.post("Still ahead")
    ben.sync()
    report = ana.sync()
    assert report.pending == 0
    assert {"From the future", "Still ahead"} <= ana.titles()
    sync_all(ana, ben)
    assert ana.dump() == ben.dump()


def test_a_held_future_op_is_applied_by_a_quiet_sync(tmp_path, folder, monkeypatch) -> None:
    ana = found(tmp_path, folder)
    ben = join(tmp_path, folder, ana, "Ben")
    ahead = parse_instant(NOW) + timedelta(days=2)
    monkeypatch.setenv("TABLESPACE_NOW", ahead.isoformat())
    ben.post("From the future")
    ben.sync()
    monkeypatch.setenv("TABLESPACE_NOW", NOW)
    assert ana.sync().pending == 1
    monkeypatch.setenv("TABLESPACE_NOW", (ahead + timedelta(minutes=1)).isoformat())
    report = ana.sync()  # nothing new in the folder, nothing written by Ana
    assert report.pending == 0 and "From the future" in ana.titles()


# --- replays ------------------------------------------------------------------------------------


def test_a_replayed_old_membership_change_changes_nothing(tmp_path, folder) -> None:
    ana = found(tmp_path, folder)
    ben = join(tmp_path, folder, ana, "Ben")
    admission_files = set(folder.rglob("*.tsc"))
    cat = join(tmp_path, folder, ana, "Cat")
    admission = [p for p in new_files(folder, admission_files) if ana.id in str(p)]
    before = set(folder.rglob("*.tsc"))
    ana.write("role.grant", {"member": ben.id, "role": "moderator"})
    ana.sync()
    # the grant's file, and one with the moderators' key that the new moderator set brings
    grant, _ = sorted(new_files(folder, before))
    ana.write("role.revoke", {"member": ben.id, "role": "moderator"})
    ana.post("Later news")
    sync_all(ana, ben, cat)
    dumps = [m.dump() for m in (ana, ben, cat)]
    assert dumps[0] == dumps[1] == dumps[2]
    # The old files come back under new names: a byte copy, and the same ops
    # sealed again (fresh salt, so different bytes), as a restored machine would.
    for old in [grant, *admission]:
        shutil.copy(old, old.parent / f"00000001-99999999-{os.urandom(8).hex()}.tsc")
    with ana.group() as g:
        ops = decode_changeset(grant.read_bytes(), group_id=g.id, epoch_keys=Keyring.load(g.path).epochs).ops
        epoch, key = current_key(g)
        resealed = encode_changeset(ops, group_id=g.id, epoch=epoch, epoch_key=key, identity=g.identity)
    (grant.parent.parent / "replayed").mkdir()
    (grant.parent.parent / "replayed" / "old.tsc").write_bytes(resealed)
    for m, dump in zip((ana, ben, cat), dumps, strict=True):
        report = m.sync()
        assert (report.imported, report.quarantined, report.forks, report.pending) == (0, [], 0, 0)
        assert m.dump() == dump
    with ben.group() as g:
        assert g.conn.execute("SELECT role FROM roles WHERE member_id = ?", (g.me,)).fetchall() == []


# --- forged authors ------------------------------------------------------------------------------


def test_a_forged_author_is_quarantined_and_the_rest_imports(tmp_path, folder) -> None:
    ana = found(tmp_path, folder)
    ben = join(tmp_path, folder, ana, "Ben")
    cat = join(tmp_path, folder, ana, "Cat")
    mallory = Identity.generate()
    signer = Signer(ben)
    seq = signer.seq + 1
    op = sign_op(
        mallory,
        group=signer.group_id,
        seq=seq,
        prev=signer.prev,
        hlc=signer.hlc,
        kind="thread.start",
        payload={"title": "Ben says: send me your keys", "body": "", "tags": []},
    )
    body = zstandard.ZstdCompressor(write_content_size=True).compress(frame_ops([op.to_wire()]))
    # 1. Ben's id in the header, Mallory's key and signature.
    claim_id = seal(
        signer.fields(seq, seq, op.hlc, public_key=mallory.public_key), body, epoch_key=signer.key, signer=mallory
    )
    # 2. Ben's id and Ben's public key in the header, Mallory's signature.
    claim_key = seal(signer.fields(seq, seq, op.hlc), body, epoch_key=signer.key, signer=mallory)
    forged = [
        signer.put(claim_id, f"changes/{ben.id}/{seq:08d}-{seq:08d}-{'1' * 16}.tsc"),
        signer.put(claim_key, f"changes/{ben.id}/{seq:08d}-{seq:08d}-{'2' * 16}.tsc"),
    ]
    ben.post("Really Ben")
    ana.post("Ana too")
    sync_all(ben, ana)
    report = cat.sync()
    reasons = {Path(q.file).name: q.reason for q in report.quarantined}
    assert set(reasons) == {p.name for p in forged}
    assert "forged author" in reasons[forged[0].name]
    assert "signature does not verify" in reasons[forged[1].name]
    titles = cat.titles()
    assert {"Really Ben", "Ana too"} <= titles and not any("keys" in t for t in titles)
    assert all(p.exists() for p in forged)  # never deleted from the folder
    assert len(list(cat.home.rglob("quarantine/*.json"))) == 2


# --- oversized files, bombs, hostile payloads -------------------------------------------------------


def test_an_oversized_file_is_quarantined_without_being_read(tmp_path, folder, monkeypatch) -> None:
    ana, ben, ben_dir = _ben_posts(tmp_path, folder)
    huge = ben_dir / "00000070-00000070-9999999999999999.tsc"
    with huge.open("wb") as f:
        f.truncate(4 << 30)  # 4 GiB, sparse: costs nothing on disk, a lot to read
    just_over = ben_dir / "00000071-00000071-8888888888888888.tsc"
    with just_over.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)
    read: list[str] = []
    real_read = FolderStore.read
    monkeypatch.setattr(
        FolderStore, "read", lambda self, path, limit: read.append(path) or real_read(self, path, limit)
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    report = ana.sync()
    assert time.perf_counter() - t0 < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 64 * 1024  # KiB
    reasons = {Path(q.file).name: q.reason for q in report.quarantined}
    assert set(reasons) == {huge.name, just_over.name}
    assert all(f"over the {MAX_FILE_BYTES} byte limit" in r for r in reasons.values())
    assert not any(p.endswith((huge.name, just_over.name)) for p in read)
    assert "Ben's good news" in ana.titles()
    assert not list(ana.home.rglob("quarantine/*.tsc"))  # no copy of a huge file is kept


def _zeros_frame(total: int, declared: int | None) -> bytes:
    buf = io.BytesIO()
    kwargs = {"size": declared} if declared is not None else {}
    cctx = zstandard.ZstdCompressor(level=1, write_content_size=declared is not None)
    chunk = bytes(1 << 20)
    with cctx.stream_writer(buf, closefd=False, **kwargs) as writer:
        for _ in range(total // len(chunk)):
            writer.write(chunk)
    return buf.getvalue()


def test_decompression_bombs_from_an_admitted_member_are_quarantined(tmp_path, folder) -> None:
    ana, ben, _ = _ben_posts(tmp_path, folder)
    signer = Signer(ben)
    seq = signer.seq + 1
    fields = signer.fields(seq, seq, signer.hlc + 1)
    declared = _zeros_frame(256 << 20, declared=256 << 20)  # 256 MiB, says so
    liar = _zeros_frame(256 << 20, declared=256 << 20)
    liar = liar[:6] + (1 << 20).to_bytes(4, "little") + liar[10:]  # ...claims 1 MiB
    assert zstandard.get_frame_parameters(liar).content_size == 1 << 20
    silent = _zeros_frame(64 << 20, declared=None)
    bombs = {
        signer.put(seal(fields, frame, epoch_key=signer.key, signer=signer.identity)): match
        for frame, match in [(declared, "limit"), (liar, "lies about its size"), (silent, "does not declare")]
    }
    assert all(p.stat().st_size < 64 * 1024 for p in bombs)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = ana.sync()
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100 * 1024  # KiB
    reasons = {Path(q.file).name: q.reason for q in report.quarantined}
    assert set(reasons) == {p.name for p in bombs}
    for path, match in bombs.items():
        assert match in reasons[path.name]
    ben.post("Still here")
    ben.sync()
    ana.sync()
    assert {"Ben's good news", "Still here"} <= ana.titles()


def test_deeply_nested_and_huge_payloads_are_quarantined_or_rejected(tmp_path, folder) -> None:
    ana, ben, _ = _ben_posts(tmp_path, folder)
    signer = Signer(ben)
    seq = signer.seq + 1
    # A payload nested 50 deep, signed and sealed by Ben: the op itself is invalid.
    nested: dict = {}
    cursor = nested
    for _ in range(50):
        cursor["x"] = {}
        cursor = cursor["x"]
    deep = signer.op("thread.start", {"title": "deep", "body": "", "tags": [], "x": nested}, advance=False)
    deep_file = signer.put(signer.encode([deep]))
    # A 300 KiB op (over the 256 KiB op limit), framed by hand: sign_op refuses to make one.
    body = b'{"d":"' + b"x" * (300 * 1024) + b'"}'
    wire = signer.identity.sign(body) + body
    frame = zstandard.ZstdCompressor(write_content_size=True).compress(frame_ops([wire]))
    big_file = signer.put(
        seal(signer.fields(seq, seq, signer.hlc + 1), frame, epoch_key=signer.key, signer=signer.identity)
    )
    # Valid ops whose payloads are absurd: the fold rejects them, the next op still applies.
    long_title = signer.op("thread.start", {"title": "t" * 150_000, "body": "", "tags": []})
    many_tags = signer.op("thread.start", {"title": "tags", "body": "", "tags": [f"t{i}" for i in range(20_000)]})
    fine = signer.op("thread.start", {"title": "After the junk", "body": "", "tags": []})
    signer.put(signer.encode([long_title, many_tags, fine]))
    report = ana.sync()
    reasons = {Path(q.file).name: q.reason for q in report.quarantined}
    assert set(reasons) == {deep_file.name, big_file.name}
    assert "invalid" in reasons[deep_file.name] and "invalid length" in reasons[big_file.name]
    assert report.pending == 0
    for op in (long_title, many_tags):
        state, reason = ana.op_state(op.id)
        assert state == "rejected" and reason
    assert ana.op_state(fine.id)[0] == "accepted"
    assert "After the junk" in ana.titles() and "deep" not in ana.titles()
    sync_all(ben, ana)
    assert ana.dump() == ben.dump()


# --- order, forks, an empty folder ---------------------------------------------------------------------


def test_seq_n_plus_2_before_n_plus_1_is_held_then_applied(tmp_path, folder) -> None:
    ana = found(tmp_path, folder)
    ben = join(tmp_path, folder, ana, "Ben")
    before = set(folder.rglob("*.tsc"))
    ben.post("First")
    ben.sync()
    (first,) = new_files(folder, before)
    before = set(folder.rglob("*.tsc"))
    ben.post("Second")
    ben.sync()
    (second,) = new_files(folder, before)
    assert peek_header(second.read_bytes()).first_seq == peek_header(first.read_bytes()).last_seq + 1
    hidden = folder / "hidden.bin"  # outside the group's directory: not seen by sync
    first.rename(hidden)
    report = ana.sync()
    assert report.imported == 1 and report.pending == 1 and report.quarantined == []
    assert not {"First", "Second"} & ana.titles()
    hidden.rename(first)  # the late file arrives
    report = ana.sync()
    assert report.imported == 1 and report.pending == 0
    assert {"First", "Second"} <= ana.titles()
    assert ana.dump() == ben.dump()


def test_a_fork_from_a_restored_home_is_kept_as_evidence_everywhere(tmp_path, folder) -> None:
    ana = found(tmp_path, folder)
    ben = join(tmp_path, folder, ana, "Ben")
    cat = join(tmp_path, folder, ana, "Cat")
    sync_all(ana, ben, cat)
    backup = tmp_path / "ben-backup"
    shutil.copytree(ben.home, backup)
    original = ben.post("Written before the disk died")
    ben.sync()
    sync_all(ana, cat)
    shutil.rmtree(ben.home)
    shutil.copytree(backup, ben.home)  # restored from last week's backup
    rewritten = ben.post("Written after the restore")
    report = ben.sync()
    assert report.forks == 1
    sync_all(ana, cat, ben)
    dumps = []
    for m in (ana, ben, cat):
        with m.group() as g:
            seq = g.conn.execute("SELECT seq FROM ops WHERE id = ?", (original,)).fetchone()[0]
            assert g.conn.execute("SELECT author, seq FROM forks").fetchall() == [(ben.id, seq)]
            ids = {r[0] for r in g.conn.execute("SELECT id FROM ops WHERE author = ? AND seq = ?", (ben.id, seq))}
            assert ids == {original, rewritten}  # both kept as evidence
        dumps.append(m.dump())
    assert dumps[0] == dumps[1] == dumps[2]


def test_an_emptied_folder_is_a_clear_error_and_nothing_is_created(tmp_path, folder, monkeypatch) -> None:
    ana = found(tmp_path, folder)
    ben = join(tmp_path, folder, ana, "Ben")
    ben.post("Written while the folder was rolled back")
    with ana.group() as g:
        group_dir = folder / g.id
    shutil.rmtree(group_dir)  # the folder rolled back to before the group existed
    (folder / "somebody-elses-stuff").mkdir()
    for member in (ana, ben):
        cli = TS(member.home, monkeypatch)
        ops = cli.ops()
        message = cli.error("sync", code=1)
        assert "any more" in message and group_dir.name in message
        assert cli.ops() == ops
    assert sorted(p.name for p in folder.iterdir()) == ["somebody-elses-stuff"]
    assert not group_dir.exists()
