"""`tablespace metrics [--json]` (shared/spec/cli.md, "Definitions used by metrics")."""

from __future__ import annotations

from tests.clirun import NOW, TS

KEYS = {"members", "weekly_active_pct", "contributor_ratio", "median_first_reply_s", "reply_coverage", "wins"}


def test_metrics_json_of_a_new_group_has_the_contract_keys_and_nulls(ts: TS) -> None:
    data = ts.json("metrics")
    assert set(data) >= KEYS
    assert data["members"] == 1
    assert data["weekly_active_pct"] == 100.0  # founding the group is an accepted op, made now
    assert data["contributor_ratio"] == 0.0
    assert data["median_first_reply_s"] is None and data["reply_coverage"] is None
    assert data["wins"] == 0
    assert data["end"] == NOW and data["start"] == "2026-11-16T09:00:00Z"
    for key in KEYS - {"median_first_reply_s", "reply_coverage"}:
        assert isinstance(data[key], (int, float)) and not isinstance(data[key], bool)


def test_metrics_counts_what_was_just_written(ts: TS) -> None:
    thread = ts.out("post", "First loaf", "--body", "It rose", "--tag", "win")
    ts.out("reply", thread[:6], "--body", "and it tastes great")  # own reply: not a first reply
    ts.out("post", "Starter help", "--body", "Flat?")
    data = ts.json("metrics")
    assert (data["members"], data["weekly_active_pct"], data["contributor_ratio"]) == (1, 100.0, 1.0)
    assert data["reply_coverage"] == 0.0 and data["median_first_reply_s"] is None
    assert data["wins"] == 2  # the win thread's opening post and its reply


def test_metrics_human_output_is_a_small_table(ts: TS) -> None:
    out = ts.out("metrics")
    lines = out.splitlines()
    assert lines[0].startswith("Group health, last 7 days")
    for label in ("members", "weekly active", "contributor ratio", "median first reply", "reply coverage", "wins"):
        assert any(line.strip().startswith(label) for line in lines[1:]), label
    assert "100.0%" in out and "—" in out
