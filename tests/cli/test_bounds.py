"""Bounded work through the real CLI: a busy database, clock values out of
range, and inputs over their size limits each end in one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tablespace.core import database
from tests.clirun import TS

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
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
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
        holder.kill()  # it has done its part: no need to wait out its hold
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


# --- clock values outside the supported range -------------------------------------

COMMANDS = [
    ("post", "Hello", "--body", "x"),
    ("sync",),
    ("invite",),
    ("rituals",),
    ("threads",),
    ("metrics",),
    ("members",),
    ("ritual", "add", "Weekly", "--prompt", "?", "--rrule", "FREQ=WEEKLY"),
]


@pytest.mark.parametrize(
    "fixed", ["9999-12-31T00:00:00Z", "3000-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "6500-01-01T00:00:00Z"]
)
@pytest.mark.parametrize("args", COMMANDS, ids=lambda args: " ".join(args[:2]))
def test_a_tablespace_now_out_of_range_is_one_line_for_every_command(
    ts: TS, monkeypatch: pytest.MonkeyPatch, fixed: str, args: tuple[str, ...]
) -> None:
    before = ts.ops()
    monkeypatch.setenv("TABLESPACE_NOW", fixed)
    message = ts.error(*args)
    assert message.startswith(f"tablespace: TABLESPACE_NOW={fixed} is outside the supported range"), message
    monkeypatch.setenv("TABLESPACE_NOW", "2026-11-23T09:00:00Z")
    assert ts.ops() == before


def test_at_the_end_of_the_range_what_would_leave_it_is_refused(ts: TS, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLESPACE_NOW", "2999-12-30T12:00:00Z")
    ts.out("post", "Nearly the end")  # in range: works as ever
    before = ts.ops()
    assert "the invite's expiry (3000-01-06T12:00:00Z) is outside the supported range" in ts.error(
        "invite", "--expires", "7d"
    )
    assert "outside the supported range" in ts.error(
        "ritual", "add", "Far", "--prompt", "?", "--rrule", "FREQ=WEEKLY", "--start", "3001-01-01"
    )
    assert "outside the supported range" in ts.error(
        "ritual", "add", "Old", "--prompt", "?", "--rrule", "FREQ=WEEKLY", "--start", "1999-12-31"
    )
    assert ts.ops() == before
    ts.out("invite", "--expires", "1h")


def test_a_time_out_that_would_end_past_the_range_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.clirun import make_group

    _, ana, _ = make_group(tmp_path, monkeypatch, "Ben")
    monkeypatch.setenv("TABLESPACE_NOW", "2999-12-30T12:00:00Z")
    before = ana.ops()
    assert "the end of the time-out (3000-01-06T12:00:00Z) is outside the supported range" in ana.error(
        "timeout", "ben", "--for", "7d"
    )
    assert ana.ops() == before


def test_a_changeset_dated_outside_the_range_is_quarantined_and_the_rest_syncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member's modified client dates an op in 1970 (or past 3000): every
    other member quarantines that file with the reason, and syncs the rest."""
    from tests.clirun import everyone_syncs, export_forged_post, make_group

    _, ana, members = make_group(tmp_path, monkeypatch, "Ben", "Cat")
    ben, cat = members["Ben"], members["Cat"]
    for hlc in (1 << 16, 2**63 - 1):
        export_forged_post(ben, "Undated", hlc)
    cat.out("post", "Dated rightly")
    everyone_syncs(cat, ana)
    report = ana.json("sync")
    reasons = [q["reason"] for q in report["quarantined"]]
    assert len(reasons) == 2 and all("outside the supported range" in r for r in reasons), reasons
    titles = [t["title"] for t in ana.json("threads")]
    assert "Dated rightly" in titles and "Undated" not in titles


# --- ritual schedules -------------------------------------------------------------


def test_a_schedule_that_never_fires_is_refused_at_ritual_add(ts: TS) -> None:
    before = ts.ops()
    message = ts.error("ritual", "add", "Never", "--prompt", "?", "--rrule", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")
    assert "has no occurrence in the next 5 years" in message
    message = ts.error(
        "ritual",
        "add",
        "Often",
        "--prompt",
        "?",
        "--rrule",
        "FREQ=DAILY;BYHOUR=9,10,11;BYMINUTE=" + ",".join(str(m) for m in range(0, 60, 5)),
    )
    assert "fires up to 36 times a day; the limit is 24" in message
    assert ts.ops() == before


def test_an_hourly_ritual_started_long_ago_opens_only_the_recent_ones(ts: TS) -> None:
    hourly = "FREQ=DAILY;BYHOUR=" + ",".join(str(h) for h in range(24))
    ts.out("ritual", "add", "Hourly", "--prompt", "?", "--rrule", hourly, "--start", "2000-01-01")
    ts.out("post", "Hello")
    opened = [t for t in ts.json("threads") if t["title"].startswith("Hourly")]
    assert 0 < len(opened) <= 3 * 24 + 1  # the catch-up window, not 26 years of hours
    assert ts.json("rituals")[0]["next"].startswith("2026-11-23T09:00")
