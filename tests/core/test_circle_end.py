"""Whether a circle has ended is said by the reader's own clock: its end
date is its last day there, wherever the reader is."""

from __future__ import annotations

import datetime

import pytest

from tablespace.core.circles import day_words, has_ended
from tablespace.core.clock import today


def test_a_circle_ends_after_its_last_day_on_the_reader_s_clock(
    monkeypatch: pytest.MonkeyPatch, in_new_york: None
) -> None:
    monkeypatch.setenv("TABLESPACE_NOW", "2026-12-13T03:00:00Z")  # 22:00 on the 12th in New York
    assert today() == datetime.date(2026, 12, 12)
    assert not has_ended("2026-12-12", today())
    assert has_ended("2026-12-11", today())
    assert has_ended("2026-12-12", datetime.date(2026, 12, 13))  # a reader in UTC, the same instant


def test_an_end_date_that_is_no_day_never_ends_and_none_is_no_end() -> None:
    assert not has_ended(None, datetime.date(2030, 1, 1))
    assert not has_ended("2026-02-30", datetime.date(2030, 1, 1))  # the fold checks the form alone


def test_the_day_is_said_with_its_year_only_when_it_is_not_this_one() -> None:
    assert day_words(datetime.date(2026, 3, 5), datetime.date(2026, 12, 1)) == "5 Mar"
    assert day_words(datetime.date(2026, 3, 5), datetime.date(2027, 1, 1)) == "5 Mar 2026"
