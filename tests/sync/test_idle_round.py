"""An idle sync round costs what changed: directories of the folder that are
as the last round left them are not listed again, and no file is read."""

from __future__ import annotations

import json
import os
import sqlite3
import time

from tablespace.core import folder_queries, group_queries, sync_files
from tablespace.sync import folder as folder_module
from tests.clirun import founder
from tests.sync.test_sync_hygiene import joined, posted_in_rounds


def scanned_and_read(monkeypatch) -> tuple[list[str], list[str]]:
    """The directories listed and the files read from now on (real calls, counted)."""
    scanned: list[str] = []
    read: list[str] = []
    real_scandir = os.scandir
    real_listdir = os.listdir
    real_read = folder_module.FolderStore.read

    def listed(path) -> None:  # type: ignore[no-untyped-def]
        scanned.append(os.readlink(f"/proc/self/fd/{path}") if isinstance(path, int) else str(path))

    def counting_scandir(path):  # type: ignore[no-untyped-def]
        listed(path)
        return real_scandir(path)

    def counting_listdir(path):  # type: ignore[no-untyped-def]
        listed(path)
        return real_listdir(path)

    def counting_read(self, path: str, limit: int) -> bytes:  # type: ignore[no-untyped-def]
        read.append(path)
        return real_read(self, path, limit)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    monkeypatch.setattr(os, "listdir", counting_listdir)
    monkeypatch.setattr(folder_module.FolderStore, "read", counting_read)
    return scanned, read


def settle() -> None:
    """Let the folder's times age past the window in which a directory's
    time cannot be trusted (a change in the same tick as a listing)."""
    time.sleep(folder_module.RACY_SECONDS + 0.05)


def test_an_idle_round_lists_no_unchanged_directory_and_reads_no_file(tmp_path, folder, monkeypatch) -> None:
    monkeypatch.setattr(folder_module, "RACY_SECONDS", 0.2)
    ana = founder(tmp_path, folder, monkeypatch)
    ana.folder = folder
    ben = joined(tmp_path, folder, monkeypatch, ana)
    ana_files = posted_in_rounds(ana, *(f"Thread {i}" for i in range(12)))
    ben.json("sync")
    settle()
    ben.json("sync")  # trusts the directories it saw settled
    scanned, read = scanned_and_read(monkeypatch)
    report = ben.json("sync")
    assert (report["imported"], report["exported"]) == (0, 0)
    assert read == []  # not even our key grant, whose keys we hold
    assert str(ana_files[0].parent) not in scanned
    assert scanned  # the group's directory and changes/ are still looked at


def test_a_file_landing_in_a_trusted_directory_is_seen(tmp_path, folder, monkeypatch) -> None:
    monkeypatch.setattr(folder_module, "RACY_SECONDS", 0.2)
    ana = founder(tmp_path, folder, monkeypatch)
    ben = joined(tmp_path, folder, monkeypatch, ana)
    ana.folder = folder
    posted_in_rounds(ana, "One", "Two")
    ben.json("sync")
    settle()
    ben.json("sync")
    posted_in_rounds(ana, "Three")
    assert ben.json("sync")["imported"] == 1
    assert "Three" in {t["title"] for t in ben.json("threads")}


def trusted_record(member) -> dict:  # type: ignore[no-untyped-def]
    (db,) = member.home.glob("groups/*/group.db")
    with sqlite3.connect(db) as conn:
        (value,) = conn.execute("SELECT value FROM meta WHERE key = ?", (sync_files.TRUSTED_DIRS_META,)).fetchone()
    return json.loads(value)


def test_an_idle_round_leaves_the_record_of_trusted_directories_as_it_was(tmp_path, folder, monkeypatch) -> None:
    monkeypatch.setattr(folder_module, "RACY_SECONDS", 0.2)
    ana = founder(tmp_path, folder, monkeypatch)
    ana.folder = folder
    ben = joined(tmp_path, folder, monkeypatch, ana)
    (one,) = posted_in_rounds(ana, "One")
    ben.json("sync")
    settle()
    ben.json("sync")
    before = trusted_record(ben)
    assert f"changes/{one.parent.name}" in before["dirs"]
    ben.json("sync")
    assert trusted_record(ben) == before  # only its time would change: not written
    settle()
    posted_in_rounds(ana, "Two")
    assert ben.json("sync")["imported"] == 1
    after = trusted_record(ben)
    assert after["at"] > before["at"]
    assert after["dirs"][f"changes/{one.parent.name}"] != before["dirs"][f"changes/{one.parent.name}"]


def test_a_file_rewritten_in_place_is_seen_at_the_next_full_listing(tmp_path, folder, monkeypatch) -> None:
    monkeypatch.setattr(folder_module, "RACY_SECONDS", 0.2)
    ana = founder(tmp_path, folder, monkeypatch)
    ana.folder = folder
    ben = joined(tmp_path, folder, monkeypatch, ana)
    (one,) = posted_in_rounds(ana, "One")
    ben.json("sync")
    settle()
    ben.json("sync")
    one.write_bytes(one.read_bytes()[:-10] + os.urandom(10))  # damaged in place: its directory is as it was
    monkeypatch.setattr(folder_module, "FULL_LISTING_SECONDS", 0.0)
    report = ben.json("sync")
    assert [q["file"] for q in report["quarantined"] if q["new"]] == [str(one.relative_to(one.parents[2]))]


def test_a_rounds_questions_about_file_statuses_read_few_rows(group) -> None:
    """sync_files holds a row per folder file; asking for ours, the waiting
    and the quarantined ones must not read every row (counted in SQLite's
    virtual machine steps, not timed)."""
    conn = group.conn
    for i in range(5000):
        sync_files.record_file(conn, f"changes/a/{i:08}.tsc", 100, 1, f"d{i}", "imported", None)
    sync_files.record_file(conn, "changes/me/1.tsc", 100, 1, "mine1", "mine", None, 1, 1)
    questions = [
        folder_queries.files_we_wrote,
        folder_queries.our_changesets,
        folder_queries.waiting_file_paths,
        folder_queries.waiting_file_count,
        folder_queries.quarantined_files,
        group_queries.quarantined_count,
    ]
    for ask in questions:
        assert vm_steps(conn, ask) < 5000, ask.__name__


def vm_steps(conn, ask) -> int:  # type: ignore[no-untyped-def]
    """About how many SQLite virtual machine steps `ask(conn)` takes (to 100)."""
    calls = 0

    def count() -> int:
        nonlocal calls
        calls += 1
        return 0

    conn.set_progress_handler(count, 100)
    try:
        ask(conn)
    finally:
        conn.set_progress_handler(None, 0)
    return calls * 100


def test_an_idle_round_skips_the_key_upkeep_that_follows_from_the_log(tmp_path, folder, monkeypatch) -> None:
    """Granting keys someone was left out of, supplying our other devices and
    renewing stale circle keys read every key and member: an idle round, with
    neither the log nor our keys changed, runs none of them; a new op does."""
    from tablespace.sync import engine, roster

    ana = founder(tmp_path, folder, monkeypatch)
    ana.folder = folder
    ben = joined(tmp_path, folder, monkeypatch, ana)
    ben.json("sync")
    ran: list[str] = []
    for module, name in (
        (roster, "_grant_keys_we_left_out"),
        (engine, "supply_my_devices"),
        (engine, "renew_stale_circle_keys"),
    ):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name: ran.append(_name) or _real(*a))
    ben.json("sync")
    assert ran == []
    posted_in_rounds(ana, "Something new")
    ben.json("sync")
    assert set(ran) == {"_grant_keys_we_left_out", "renew_stale_circle_keys", "supply_my_devices"}


def test_a_round_reads_our_other_devices_once(tmp_path, folder) -> None:
    """Read marks taken, keys supplied to our other devices and read marks
    shared all ask which other devices we have: the round asks once."""
    from tablespace import actions
    from tablespace.core.group import Transport
    from tablespace.core.home import Home

    group = actions.found_group(Home(tmp_path / "ana"), "Sourdough circle", "Ana", Transport(folder=folder))
    actions.sync_group(group)
    actions.post(group, "Rye", "Fed the starter.")  # the log changed: the devices' upkeep runs too
    asked: list[str] = []
    group.conn.set_trace_callback(asked.append)
    try:
        actions.sync_group(group)
    finally:
        group.conn.set_trace_callback(None)
        group.close()
    assert len([sql for sql in asked if sql.startswith("SELECT id, exchange_key, added_hlc FROM devices")]) == 1
