"""The quarantine in a home is capped (bytes and files): the oldest copies
go first when over it, while every record (file, reason, digest, when) is
kept and `sync` still lists every quarantined file."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from tablespace.sync import engine as engine_module
from tests.clirun import TS, make_group
from tests.sync.test_hostile_names import group_dir


def plant_bad(folder: Path, names: list[str], size: int) -> None:
    where = group_dir(folder) / "changes" / ("z" * 26)
    where.mkdir(parents=True, exist_ok=True)
    for name in names:
        (where / f"{name}.tsc").write_bytes(os.urandom(size))


def copies(member: TS) -> list[Path]:
    return sorted(member.home.glob("groups/*/quarantine/*.tsc"))


def records(member: TS) -> list[dict]:
    return [json.loads(p.read_text()) for p in member.home.glob("groups/*/quarantine/*.json")]


def quarantined_rows(member: TS) -> list[tuple[str, str, str]]:
    (db,) = member.home.glob("groups/*/group.db")
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT path, reason, digest FROM sync_files WHERE status = 'quarantined'").fetchall()


def test_the_oldest_copies_go_first_and_every_record_stays(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(engine_module, "QUARANTINE_MAX_FILES", 3)
    monkeypatch.setattr(engine_module, "QUARANTINE_MAX_BYTES", 10_000)
    folder, ana, _ = make_group(tmp_path, monkeypatch)
    plant_bad(folder, ["1-1-a", "1-1-b", "1-1-c"], 1000)
    assert len(ana.json("sync")["quarantined"]) == 3
    assert len(copies(ana)) == 3
    hour_ago = time.time() - 3600
    for path in copies(ana):  # made an hour ago
        os.utime(path, (hour_ago, hour_ago))
    earlier = {p.name for p in copies(ana)}
    plant_bad(folder, ["1-1-d", "1-1-e"], 1000)
    report = ana.json("sync")
    assert len(report["quarantined"]) == 5  # all still listed
    kept = {p.name for p in copies(ana)}
    assert len(kept) == 3 and len(kept & earlier) == 1  # two of the oldest made room
    assert len(quarantined_rows(ana)) == 5
    assert {r["file"] for r in records(ana)} == {f"changes/{'z' * 26}/1-1-{c}.tsc" for c in "abcde"}
    assert all({"file", "reason", "digest", "at"} <= set(r) for r in records(ana))
    # bytes: each copy is 1000 bytes, so at most 10 fit; a big one pushes out the rest
    plant_bad(folder, ["1-1-f"], 9_500)
    ana.json("sync")
    assert sum(p.stat().st_size for p in copies(ana)) <= 10_000
    assert len(quarantined_rows(ana)) == 6
    assert len(ana.json("sync")["quarantined"]) == 6


def test_a_file_bigger_than_the_cap_keeps_only_its_record(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(engine_module, "QUARANTINE_MAX_BYTES", 4_000)
    folder, ana, _ = make_group(tmp_path, monkeypatch)
    plant_bad(folder, ["1-1-big"], 5_000)
    report = ana.json("sync")
    assert [q["file"] for q in report["quarantined"]] == [f"changes/{'z' * 26}/1-1-big.tsc"]
    assert copies(ana) == []
    assert len(records(ana)) == 1 and len(quarantined_rows(ana)) == 1


def test_the_default_cap_is_sensible() -> None:
    assert 16 * 2**20 <= engine_module.QUARANTINE_MAX_BYTES <= 256 * 2**20
    assert 100 <= engine_module.QUARANTINE_MAX_FILES <= 100_000
