"""`ritual edit/pause/resume/skip/remove`, `--tz`, `settings --tz` and
`quiet`, through the real CLI (TABLESPACE_NOW is Monday 23 Nov 2026 09:00 UTC)."""

from __future__ import annotations

from tests.clirun import TS


def add(ts: TS, name: str, *extra: str) -> str:
    return ts.out(
        "ritual", "add", name, "--prompt", "How goes?", "--rrule", "FREQ=DAILY", "--start", "2026-11-20", *extra
    )


def row(ts: TS, ritual: str) -> dict:
    return next(r for r in ts.json("rituals") if r["id"] == ritual)


def test_tz_and_the_groups_zone(ts: TS) -> None:
    utc = add(ts, "Utc")
    assert row(ts, utc)["tz"] == "UTC" and row(ts, utc)["next"] == "2026-11-23T09:00:00Z"
    berlin = add(ts, "Berlin", "--tz", "Europe/Berlin")
    assert row(ts, berlin)["next"] == "2026-11-24T08:00:00Z"  # 09:00 CET
    ts.run("settings", "--tz", "America/New_York")
    assert ts.json("settings")["tz"] == "America/New_York"
    new_york = add(ts, "NY")
    assert row(ts, new_york)["tz"] == "America/New_York" and row(ts, new_york)["next"] == "2026-11-23T14:00:00Z"
    assert row(ts, utc)["tz"] == "UTC"  # rituals added before keep their zone
    before = ts.ops()
    assert "unknown time zone 'Mars/Base'" in ts.error(
        "ritual", "add", "X", "--prompt", "x", "--rrule", "FREQ=DAILY", "--tz", "Mars/Base"
    )
    assert "unknown time zone" in ts.error("settings", "--tz", "CEST")
    assert ts.ops() == before


def test_edit_pause_resume_skip_remove(ts: TS) -> None:
    ritual = add(ts, "Check-in")
    ts.run("ritual", "edit", ritual[:8], "--name", "Morning", "--tz", "Europe/Berlin")
    edited = row(ts, ritual)
    assert edited["name"] == "Morning" and edited["tz"] == "Europe/Berlin" and edited["next"] == "2026-11-24T08:00:00Z"
    assert "nothing to change" in ts.error("ritual", "edit", ritual)

    ts.run("ritual", "pause", ritual, "--until", "2026-11-26")
    paused = row(ts, ritual)
    assert paused["paused"] is True and paused["paused_until"] == "2026-11-25T23:00:00Z"  # midnight in Berlin
    assert paused["next"] == "2026-11-26T08:00:00Z"
    ts.run("ritual", "pause", ritual)
    assert row(ts, ritual)["next"] is None and row(ts, ritual)["paused_until"] is None
    ts.run("ritual", "resume", ritual)
    assert row(ts, ritual)["paused"] is False

    skipped = ts.run("ritual", "skip", ritual).stderr
    assert "skipped" in skipped
    assert row(ts, ritual)["next"] == "2026-11-25T08:00:00Z"
    ts.run("ritual", "skip", ritual, "--undo")
    assert row(ts, ritual)["next"] == "2026-11-24T08:00:00Z"
    assert "has no occurrence on 2026-11-19" in ts.error("ritual", "skip", ritual, "--at", "2026-11-19")

    ts.run("ritual", "remove", ritual)
    assert ts.json("rituals") == []
    assert "no ritual with id" in ts.error("ritual", "resume", ritual)


def test_quiet_spell(ts: TS) -> None:
    ritual = add(ts, "Check-in")
    said = ts.run("quiet", "--from", "2026-11-24", "--until", "2026-11-30", "--reason", "holidays").stderr
    assert "quiet from 2026-11-24 until 2026-11-30 (holidays)" in said
    assert row(ts, ritual)["next"] == "2026-11-23T09:00:00Z"  # today's is before the spell
    said = ts.run("quiet", "--from", "2026-11-23", "--until", "2026-11-25").stderr
    assert "quiet from 2026-11-23 until 2026-11-25" in said and "holidays" not in said  # this spell's own words
    assert row(ts, ritual)["next"] == "2026-11-30T09:00:00Z"
    ts.run("quiet", "--end")
    assert row(ts, ritual)["next"] == "2026-11-23T09:00:00Z"
    assert "no quiet spell to end" in ts.error("quiet", "--end")
    assert "--from DATE and --until DATE" in ts.error("quiet", "--from", "2026-11-24", code=2)
    assert "ends after it starts" in ts.error("quiet", "--from", "2026-11-24", "--until", "2026-11-24")
