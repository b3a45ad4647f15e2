"""Rating: what one call costs under one rate. Pure, exact (Decimal), no I/O."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

CALL_COST_PLACES = Decimal("0.0001")
REPORT_PLACES = Decimal("0.01")
MAX_PREFIX_LENGTH = 15
_SIXTY = Decimal(60)


@dataclass(frozen=True)
class Rate:
    """A deck row: the price of calls to numbers starting with ``prefix``."""

    prefix: str
    destination: str
    rate_per_minute: Decimal
    connect_fee: Decimal
    min_seconds: int
    increment_seconds: int


def charged_seconds(billsec: int, min_seconds: int, increment_seconds: int) -> int:
    """Seconds billed: 0 for an unanswered call, at least ``min_seconds``, then whole
    increments rounded up."""
    if billsec <= 0:
        return 0
    if billsec <= min_seconds:
        return min_seconds
    if increment_seconds <= 1:
        return billsec
    beyond = billsec - min_seconds
    return min_seconds + -(-beyond // increment_seconds) * increment_seconds


def call_cost(billsec: int, rate: Rate) -> tuple[int, Decimal]:
    """(charged seconds, cost rounded half-up to 4 places); a call with no billable
    seconds costs nothing, not even the connection fee."""
    charged = charged_seconds(billsec, rate.min_seconds, rate.increment_seconds)
    if charged == 0:
        return 0, Decimal("0.0000")
    cost = rate.connect_fee + rate.rate_per_minute * charged / _SIXTY
    return charged, cost.quantize(CALL_COST_PLACES, rounding=ROUND_HALF_UP)


def round_money(amount: Decimal) -> Decimal:
    """An amount for a report: half-up to 2 places."""
    return amount.quantize(REPORT_PLACES, rounding=ROUND_HALF_UP)


class Deck:
    """One deck version: longest-prefix lookup over its rates (given, or made by a
    callable at their first use: a long deck priced column-wise never needs them)."""

    def __init__(self, deck_id: int, valid_from: date, currency: str,
                 rates: list[Rate] | Callable[[], list[Rate]]) -> None:
        self.deck_id = deck_id
        self.valid_from = valid_from
        self.currency = currency
        self._rates = rates

    @cached_property
    def _by_prefix(self) -> dict[str, Rate]:
        rates = self._rates() if callable(self._rates) else self._rates
        return {r.prefix: r for r in rates}

    @cached_property
    def _lengths(self) -> list[int]:
        return sorted({len(p) for p in self._by_prefix}, reverse=True)

    @property
    def rates(self) -> list[Rate]:
        """The deck's rates, one per prefix."""
        return list(self._by_prefix.values())

    def match(self, digits: str) -> Rate | None:
        """The rate with the longest prefix of ``digits`` (E.164 without '+')."""
        by_prefix = self._by_prefix
        for length in self._lengths:
            rate = by_prefix.get(digits[:length])
            if rate is not None:
                return rate
        return None


class RateBook:
    """Every carrier's decks by date: the deck valid at a call's start prices it."""

    def __init__(self, decks: dict[str, list[Deck]]) -> None:
        self._decks = {carrier: sorted(ds, key=lambda d: d.valid_from)
                       for carrier, ds in decks.items()}
        self._starts = {carrier: [d.valid_from.isoformat() for d in ds]
                        for carrier, ds in self._decks.items()}

    def decks(self) -> list[Deck]:
        """Every deck of every carrier."""
        return [deck for decks in self._decks.values() for deck in decks]

    def deck(self, carrier: str, day: str) -> Deck | None:
        """The deck of ``carrier`` valid on ``day`` (ISO date string, UTC)."""
        starts = self._starts.get(carrier)
        if not starts:
            return None
        index = bisect_right(starts, day) - 1
        return self._decks[carrier][index] if index >= 0 else None
