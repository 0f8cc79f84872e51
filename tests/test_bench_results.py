"""`run_all.py --json` reads back every table a benchmark printed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_printed_tables_come_back_as_figures_with_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("_common", "run_all"):
        sys.modules.pop(name, None)
    import _common
    import run_all

    results = tmp_path / "results.jsonl"
    monkeypatch.setenv(_common.RESULTS_ENV, str(results))
    _common.table(
        ["figure", "ms", "target", "result"], [["floor", "1.0", "", ""], ["inbox", "250", "< 200 ms", "FAIL"]]
    )
    _common.table(["figure", "ratio", "target", "result"], [["post", "1.1x", "<= 1.2x", "PASS"]])

    assert run_all.rows_of(results) == [
        {"figure": "floor", "ms": "1.0", "target": "", "result": "", "pass": None},
        {"figure": "inbox", "ms": "250", "target": "< 200 ms", "result": "FAIL", "pass": False},
        {"figure": "post", "ratio": "1.1x", "target": "<= 1.2x", "result": "PASS", "pass": True},
    ]
    assert run_all.rows_of(tmp_path / "none.jsonl") == []  # a script that printed no table
