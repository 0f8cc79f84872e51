"""The hybrid logical clock: one int, never backwards, merges remote time
within reason, and survives restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tablespace.core.clock import SHIFT, HybridClock, datetime_to_hlc, hlc_ms, iso, now_ms
from tablespace.core.errors import TablespaceError
from tablespace.core.store import Store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def set_now(monkeypatch):
    def at(moment: datetime) -> None:
        monkeypatch.setenv("TABLESPACE_NOW", iso(moment))

    at(T0)
    return at


def test_tick_follows_the_wall_clock(set_now):
    clock = HybridClock()
    first = clock.tick()
    assert first == datetime_to_hlc(T0)
    set_now(T0 + timedelta(seconds=5))
    assert clock.tick() == datetime_to_hlc(T0 + timedelta(seconds=5))


def test_never_backwards_when_the_wall_clock_moves_back(set_now):
    clock = HybridClock()
    seen = [clock.tick()]
    set_now(T0 - timedelta(hours=3))
    for _ in range(5):
        seen.append(clock.tick())
    set_now(T0 - timedelta(days=400))
    seen.append(clock.tick())
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert hlc_ms(seen[-1]) == hlc_ms(seen[0])  # held at the high-water mark, counting up


def test_frozen_wall_clock_counts_up_in_the_low_bits(set_now):
    clock = HybridClock()
    a, b, c = clock.tick(), clock.tick(), clock.tick()
    assert (b - a, c - b) == (1, 1)
    assert hlc_ms(a) == hlc_ms(c) == now_ms()


def test_counter_overflow_carries_into_the_milliseconds_and_stays_monotonic(set_now):
    base = datetime_to_hlc(T0)
    clock = HybridClock(last=base + (1 << SHIFT) - 3)  # three ticks before the counter is full
    values = [clock.tick() for _ in range((1 << SHIFT) + 10)]
    assert all(b > a for a, b in zip(values, values[1:], strict=False))
    assert values[2] == base + (1 << SHIFT) - 1 + 1  # the carry: next millisecond, counter 0
    assert hlc_ms(values[2]) == hlc_ms(base) + 1 and values[2] & ((1 << SHIFT) - 1) == 0
    assert hlc_ms(values[-1]) == hlc_ms(base) + 2


def test_observe_merges_a_remote_timestamp(set_now):
    clock = HybridClock()
    clock.tick()
    remote = datetime_to_hlc(T0 + timedelta(minutes=2)) + 7  # a peer whose clock runs ahead
    clock.observe(remote)
    assert clock.tick() == remote + 1


def test_observe_ignores_an_older_remote_timestamp(set_now):
    clock = HybridClock()
    mine = clock.tick()
    clock.observe(mine - 1000)
    assert clock.tick() == mine + 1


def test_far_future_remote_does_not_drag_the_clock(set_now):
    clock = HybridClock()
    clock.tick()
    far = datetime_to_hlc(T0 + timedelta(days=30))
    assert clock.is_too_far_ahead(far)
    clock.observe(far)
    nxt = clock.tick()
    assert nxt < far
    assert hlc_ms(nxt) == now_ms()
    # a few minutes ahead is normal skew, and is merged
    near = datetime_to_hlc(T0 + timedelta(minutes=4))
    assert not clock.is_too_far_ahead(near)


def test_store_persists_the_clock_across_reopen(tmp_path, set_now):
    path = tmp_path / "g.db"
    store = Store(path)
    with store.db.atomic():
        issued = [store.next_hlc() for _ in range(3)]
    store.close()

    set_now(T0 - timedelta(minutes=4))  # the machine's clock was set back while we were closed
    reopened = Store(path)
    assert reopened.clock.last == issued[-1]
    with reopened.db.atomic():
        assert reopened.next_hlc() == issued[-1] + 1
    reopened.close()


def test_a_clock_set_back_past_the_drift_allowance_gets_no_timestamp(tmp_path, set_now):
    """A timestamp more than MAX_DRIFT_MS ahead of the wall clock would be held
    by every replica (ours too) until then: refuse it, saying why, and leave
    the persisted clock as it was."""
    store = Store(tmp_path / "g.db")
    with store.db.atomic():
        issued = store.next_hlc()
    set_now(T0 - timedelta(hours=1))
    with (
        pytest.raises(TablespaceError, match="clock says 2026-03-02T08:00:00Z.*runs to 2026-03-02T09:00:00Z"),
        store.db.atomic(),
    ):
        store.next_hlc()
    assert store.get_meta("hlc") == str(issued)
    store.close()


def test_store_persists_an_observed_remote_time_across_reopen(tmp_path, set_now):
    from tablespace.core.identity import Identity

    from .opkit import found, new_store

    genesis, _ = found(Identity.generate(), hlc=datetime_to_hlc(T0 + timedelta(minutes=3)))
    store = new_store(tmp_path / "g.db", genesis.id)
    store.ingest([genesis])
    store.close()
    reopened = Store(tmp_path / "g.db")
    with reopened.db.atomic():
        assert reopened.next_hlc() == genesis.hlc + 1


def test_store_holds_a_far_future_op_and_keeps_its_clock(tmp_path, set_now):
    from tablespace.core.identity import Identity

    from .opkit import found, new_store, op_state

    genesis, _ = found(Identity.generate(), hlc=datetime_to_hlc(T0 + timedelta(days=2)))
    store = new_store(tmp_path / "g.db", genesis.id)
    result = store.ingest([genesis])
    assert result.held == 1 and op_state(store, genesis) == ("held", None)
    with store.db.atomic():
        assert store.next_hlc() < genesis.hlc
    set_now(T0 + timedelta(days=2))  # its time has come: the next ingest releases it
    assert store.ingest([]).held == 0
    assert op_state(store, genesis) == ("accepted", None)


@pytest.mark.parametrize(
    "fixed",
    [
        "1999-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
        "9999-12-31T00:00:00Z",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "1970-01-01",
    ],
)
def test_a_tablespace_now_outside_the_supported_range_is_refused_naming_it(monkeypatch, fixed):
    from tablespace.core.clock import now

    monkeypatch.setenv("TABLESPACE_NOW", fixed)
    with pytest.raises(TablespaceError, match=r"^TABLESPACE_NOW.*supported range \(2000-01-01 to 2999-12-31 UTC\)"):
        now()


@pytest.mark.parametrize("fixed", ["2000-01-01T00:00:00Z", "2999-12-31T23:59:59Z"])
def test_the_edges_of_the_supported_range_are_in_it(monkeypatch, fixed):
    from tablespace.core.clock import hlc_in_range, now, parse_instant

    monkeypatch.setenv("TABLESPACE_NOW", fixed)
    assert now() == parse_instant(fixed)
    assert hlc_in_range(datetime_to_hlc(now())) and hlc_in_range(HybridClock().tick())


def test_a_garbled_tablespace_now_names_the_variable(monkeypatch):
    from tablespace.core.clock import now

    monkeypatch.setenv("TABLESPACE_NOW", "soon")
    with pytest.raises(TablespaceError, match="^TABLESPACE_NOW: not an ISO-8601 instant"):
        now()


def test_a_duration_that_ends_past_the_range_is_refused(set_now):
    from tablespace.core.clock import from_now

    set_now(datetime(2999, 12, 30, tzinfo=UTC))
    assert from_now(timedelta(hours=23), what="x") == datetime(2999, 12, 30, 23, tzinfo=UTC)
    with pytest.raises(TablespaceError, match=r"the end \(3000-01-06T00:00:00Z\) is outside the supported range"):
        from_now(timedelta(days=7), what="the end")


def test_hlcs_outside_the_range_are_told_apart():
    from tablespace.core.clock import hlc_in_range

    assert not hlc_in_range(1) and not hlc_in_range(2**63 - 1)
    assert not hlc_in_range(datetime_to_hlc(datetime(3000, 1, 1, tzinfo=UTC)))
    assert hlc_in_range(datetime_to_hlc(T0))
