"""Rating: increments, minimums, connection fees, zero billsec, longest prefix, deck dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pbxctl.billing.decks import parse_deck
from pbxctl.billing.rating import Deck, Rate, RateBook, call_cost, charged_seconds, round_money
from pbxctl.errors import ValidationError


def rate(prefix: str = "7", per_minute: str = "1.2000", fee: str = "0", minimum: int = 0,
         increment: int = 60) -> Rate:
    return Rate(prefix, "x", Decimal(per_minute), Decimal(fee), minimum, increment)


@pytest.mark.parametrize(("billsec", "minimum", "increment", "charged"), [
    (0, 60, 60, 0), (1, 60, 60, 60), (60, 60, 60, 60), (61, 60, 60, 120), (119, 60, 60, 120),
    (0, 1, 1, 0), (1, 1, 1, 1), (59, 1, 1, 59),
    (1, 30, 6, 30), (30, 30, 6, 30), (31, 30, 6, 36), (36, 30, 6, 36), (37, 30, 6, 42),
    (0, 0, 1, 0), (1, 0, 1, 1), (3599, 0, 1, 3599),
    (1, 0, 60, 60), (61, 0, 60, 120),
])
def test_charged_seconds(billsec: int, minimum: int, increment: int, charged: int) -> None:
    assert charged_seconds(billsec, minimum, increment) == charged


def test_cost_is_fee_plus_rate_per_charged_minute_rounded_half_up() -> None:
    assert call_cost(61, rate(per_minute="1.5000", fee="0.1000")) == (120, Decimal("3.1000"))
    # 1/1 at 0.0007/min for 1 s = 0.0000116… -> 0.0000; for 43 s = 0.000501… -> 0.0005
    assert call_cost(43, rate(per_minute="0.0007", increment=1))[1] == Decimal("0.0005")
    # exactly half a unit of the 4th place rounds up: 1 s at 0.0030/min = 0.00005
    assert call_cost(1, rate(per_minute="0.0030", increment=1))[1] == Decimal("0.0001")


def test_zero_billsec_costs_nothing_not_even_the_fee() -> None:
    assert call_cost(0, rate(fee="0.5000")) == (0, Decimal("0.0000"))


def test_connection_fee_is_charged_once() -> None:
    assert call_cost(1, rate(per_minute="0", fee="0.2500")) == (60, Decimal("0.2500"))


def test_report_rounding_is_half_up() -> None:
    assert round_money(Decimal("0.005")) == Decimal("0.01")
    assert round_money(Decimal("2.3449")) == Decimal("2.34")


def test_longest_prefix_wins() -> None:
    deck = Deck(1, date(2026, 1, 1), "RUB", [rate("7"), rate("79"), rate("7916"), rate("46")])
    assert deck.match("79161234567").prefix == "7916"
    assert deck.match("79031234567").prefix == "79"
    assert deck.match("78432000000").prefix == "7"
    assert deck.match("4312345678") is None


def test_the_deck_valid_at_the_call_date_prices_it() -> None:
    old = Deck(1, date(2026, 10, 1), "RUB", [rate(per_minute="1.0000")])
    new = Deck(2, date(2026, 10, 15), "RUB", [rate(per_minute="2.0000")])
    book = RateBook({"tele2": [new, old]})
    assert book.deck("tele2", "2026-09-30") is None
    assert book.deck("tele2", "2026-10-14").deck_id == 1
    assert book.deck("tele2", "2026-10-15").deck_id == 2
    assert book.deck("mts", "2026-10-15") is None


def test_a_deck_with_a_non_ascii_digit_is_refused_by_line() -> None:
    deck = ("prefix,destination,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
            "7,Russia,1.0000,0.0000,\u00b2,1\n")
    with pytest.raises(ValidationError, match="line 2: min_seconds '²' is not a whole number"):
        parse_deck(deck, date(2026, 1, 1))
