"""Bounded work through the real CLI: a busy database, clock values out of
range, and inputs over their size limits each end in one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tablespace.core import database
from tests.clirun import TS


@pytest.fixture
def ts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TS:
    shared = tmp_path / "shared"
    shared.mkdir()
    cli = TS(tmp_path / "home", monkeypatch)
    cli.out("init", "Circle", "--as", "Ana", "--folder", str(shared))
    return cli


# --- a busy database --------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('held', '1')")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def hold_write_lock(ts: TS, seconds: float) -> subprocess.Popen:
    """Another process takes the group database's write lock (as a long sync
    would), writes, and commits after `seconds`."""
    (db,) = ts.home.glob("groups/*/group.db")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_command_waits_for_a_busy_database_then_succeeds(ts: TS) -> None:
    ts.out("threads")  # the group is open once, so the command below reads before it writes
    holder = hold_write_lock(ts, 0.5)
    try:
        thread = ts.out("post", "Made it", "--body", "after the wait")
    finally:
        holder.wait(timeout=10)
    assert "Made it" in ts.out("show", thread)


def test_a_database_busy_past_the_timeout_says_busy_not_doctor(ts: TS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 300)
    before = ts.ops()
    holder = hold_write_lock(ts, 1.5)
    try:
        message = ts.error("post", "Too soon", "--body", "x")
    finally:
        holder.wait(timeout=10)
    assert "busy, try again" in message and "doctor" not in message
    assert ts.ops() == before


# --- inputs over their size limits ------------------------------------------------

HUGE = 8 * 1024 * 1024


class CountingReader:
    """A binary stream of `size` bytes of `x` that counts what was read from it."""

    def __init__(self, size: int) -> None:
        self.left, self.read_bytes = size, 0

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        self.read_bytes += n
        return b"x" * n


def test_a_huge_body_file_is_refused_with_its_limit(ts: TS, tmp_path: Path) -> None:
    huge = tmp_path / "huge.md"
    huge.write_bytes(b"x" * HUGE)
    before = ts.ops()
    message = ts.error("post", "Huge", "--body-file", str(huge))
    assert "huge.md is over the limit for a post: the limit is 32768 bytes" in message
    thread = ts.out("post", "Small")
    assert "over the limit" in ts.error("reply", thread, "--body-file", str(huge))
    assert "over the limit" in ts.error("edit", thread, "--body-file", str(huge))
    assert ts.ops() == before + 1


def test_a_huge_body_on_stdin_is_refused_with_its_limit(ts: TS) -> None:
    before = ts.ops()
    result = ts.run("post", "Huge", "--body-file", "-", input="x" * HUGE, code=1)
    message = result.stderr
    assert len(message.strip().splitlines()) == 1
    assert "stdin is over the limit for a post: the limit is 32768 bytes" in message
    assert ts.ops() == before


def test_a_body_at_the_limit_still_posts(ts: TS, tmp_path: Path) -> None:
    exact = tmp_path / "exact.md"
    exact.write_bytes("é".encode() * (16 * 1024))  # 32768 bytes
    thread = ts.out("post", "Exact", "--body-file", str(exact))
    assert ts.json("show", thread)["posts"][0]["body"] == "é" * (16 * 1024)


def test_huge_settings_files_are_refused_with_their_limit(ts: TS, tmp_path: Path) -> None:
    huge = tmp_path / "rules.md"
    huge.write_bytes(b"x" * HUGE)
    before = ts.ops()
    assert "over the limit for house rules: the limit is 32000 bytes" in ts.error("settings", "--rules-file", str(huge))
    assert "over the limit for a code of conduct" in ts.error("settings", "--conduct-file", str(huge))
    assert ts.ops() == before


def test_the_reader_stops_one_byte_past_the_limit() -> None:
    from tablespace.core.files import TooBig, read_at_most

    stream = CountingReader(HUGE)
    with pytest.raises(TooBig):
        read_at_most(stream, 1000)  # type: ignore[arg-type]
    assert stream.read_bytes == 1001
    assert read_at_most(CountingReader(1000), 1000) == b"x" * 1000  # type: ignore[arg-type]
