"""Months in the branch's zone and prorated number rental."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from pbxctl.billing.periods import month_range_utc, parse_month, rental_share
from pbxctl.errors import ValidationError


def test_a_month_starts_at_local_midnight() -> None:
    start, end = month_range_utc(2026, 10, "Europe/Moscow")
    assert start == datetime(2026, 9, 30, 21, 0, tzinfo=UTC)
    assert end == datetime(2026, 10, 31, 21, 0, tzinfo=UTC)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(("start", "end", "days", "amount"), [
    ("2026-09-01T00:00+03:00", None, 31, Decimal("310")),                 # whole month
    ("2026-10-11T09:30+03:00", None, 21, Decimal("210")),                 # added on the 11th
    ("2026-09-01T00:00+03:00", "2026-10-11T09:30+03:00", 10, Decimal("100")),  # released
    ("2026-10-05T12:00+03:00", "2026-10-05T18:00+03:00", 0, Decimal("0")),  # same day
    ("2026-11-02T00:00+03:00", None, 0, Decimal("0")),                    # later month
    ("2026-10-31T22:30+00:00", None, 0, Decimal("0")),                    # Nov 1st in Moscow
])
def test_rental_is_prorated_by_days(start: str, end: str | None, days: int,
                                    amount: Decimal) -> None:
    got_days, got = rental_share(Decimal("310.00"), _at(start), _at(end) if end else None,
                                 2026, 10, "Europe/Moscow")
    assert (got_days, got) == (days, amount)


def test_a_move_between_branches_splits_the_fee_exactly() -> None:
    moved = _at("2026-10-11T10:00+03:00")
    first = rental_share(Decimal("350.00"), _at("2026-01-01T00:00+03:00"), moved, 2026, 10,
                         "Europe/Moscow")[1]
    second = rental_share(Decimal("350.00"), moved, None, 2026, 10, "Europe/Moscow")[1]
    assert first + second == Decimal("350.00")


@pytest.mark.parametrize("text", ["2026-13", "26-10", "2026/10", "2026-1"])
def test_bad_months_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_month("--month", text)
