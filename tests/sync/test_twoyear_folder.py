"""The benchmarks' two-year folder, built through the real action and sync
path, imports in a fresh home and converges with what its writers wrote."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.slow
def test_built_folder_imports_in_a_fresh_home_and_converges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLESPACE_BENCH_OUT", str(tmp_path / "bench-out"))
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("_common", "_twoyear"):
        sys.modules.pop(name, None)
    import _twoyear

    cache = _twoyear.build(40, 3, members=5, log=lambda _line: None)
    meta = json.loads((cache / "meta.json").read_text())
    stats = _twoyear.folder_stats(cache / "shared")
    assert stats["packs"] > 0  # the writers' clients packed their history

    home = _twoyear.newcomer_copy(cache, tmp_path / "newcomer")
    group = _twoyear.open_newcomer(home)
    from tablespace.sync.service import engine_for

    report = engine_for(group).run()
    assert report.quarantined == [] and report.pending == 0
    conn: sqlite3.Connection = group.conn
    assert _twoyear.posts_digest(conn) == meta["reader_posts"]
    assert _twoyear.ops_digest(conn) == meta["writers_ops"]  # every op each writer wrote, and no other
    group.close()
