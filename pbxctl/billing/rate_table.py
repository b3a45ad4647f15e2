"""Every rate of every deck as columns, for pricing many calls at once: longest-prefix
lookups by hash join, charges in integer micro-units. Pure, exact, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pbxctl.billing.rating import Deck, RateBook

MICROS = 1_000_000           # rates and fees are stored with 6 places (Numeric(12, 6))
# A charge's numerator (60 × fee + rate × seconds, in micro-units) must stay below this
# for int64 arithmetic to be exact; a bigger one is priced by the Decimal path instead.
SAFE_NUMERATOR = 2**62

Ints = npt.NDArray[np.int64]


def _micros(amount: Decimal) -> int:
    scaled = amount * MICROS
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than 6 decimal places")
    return int(scaled)


@dataclass(frozen=True)
class _Lookup:
    """The prefixes of one deck that have one length, and their rows in the table."""

    length: int
    prefixes: pa.Array
    rows: Ints


class RateTable:
    """Every deck's rates in flat arrays (one row per rate) and, per deck, its prefixes
    grouped by length (longest first) for the lookup."""

    def __init__(self, book: RateBook) -> None:
        self.decks: list[Deck] = book.decks()
        prefixes: list[str] = []
        rate: list[int] = []
        fee: list[int] = []
        minimum: list[int] = []
        increment: list[int] = []
        self._lookups: list[list[_Lookup]] = []
        for deck in self.decks:
            by_length: dict[int, tuple[list[str], list[int]]] = {}
            for r in deck.rates:
                group = by_length.setdefault(len(r.prefix), ([], []))
                group[0].append(r.prefix)
                group[1].append(len(prefixes))
                prefixes.append(r.prefix)
                rate.append(_micros(r.rate_per_minute))
                fee.append(_micros(r.connect_fee))
                minimum.append(r.min_seconds)
                increment.append(r.increment_seconds)
            self._lookups.append([
                _Lookup(length, pa.array(group[0], pa.string()),
                        np.array(group[1], dtype=np.int64))
                for length, group in sorted(by_length.items(), reverse=True)])
        # A last row and a last deck no lookup returns: where nothing matched, the arrays
        # are indexed there and the result masked.
        self.no_rate, self.no_deck = len(prefixes), len(self.decks)
        prefixes.append("")
        rate.append(0)
        fee.append(0)
        minimum.append(0)
        increment.append(1)
        self.prefix = pa.array(prefixes, pa.string())
        self.rate_micros = np.array(rate, dtype=np.int64)
        self.fee_micros = np.array(fee, dtype=np.int64)
        self.min_seconds = np.array(minimum, dtype=np.int64)
        self.increment_seconds = np.array(increment, dtype=np.int64)
        self.deck_ids = np.array([d.deck_id for d in self.decks] + [0], dtype=np.int64)
        self.currencies = pa.array([d.currency for d in self.decks] + [""], pa.string())
        self._ordinal = {id(deck): n for n, deck in enumerate(self.decks)}

    def ordinal(self, deck: Deck | None) -> int:
        """The deck's position in ``decks``; -1 for no deck."""
        return -1 if deck is None else self._ordinal[id(deck)]

    def match(self, deck: int, digits: pa.Array) -> Ints:
        """For each string of ``digits``, the table row of the deck's rate with the longest
        prefix of it, or -1 (what ``Deck.match`` answers, for many numbers at once)."""
        found = np.full(len(digits), -1, dtype=np.int64)
        for lookup in self._lookups[deck]:
            heads = pc.utf8_slice_codeunits(digits, 0, lookup.length)
            positions = pc.index_in(heads, value_set=lookup.prefixes).to_numpy(
                zero_copy_only=False)
            hit = ~np.isnan(positions) if positions.dtype.kind == "f" else positions >= 0
            take = hit & (found < 0)
            found[take] = lookup.rows[positions[take].astype(np.int64)]
        return found


def charged_seconds(billsec: Ints, minimum: Ints, increment: Ints) -> Ints:
    """``rating.charged_seconds`` for many calls at once."""
    beyond = np.maximum(billsec - minimum, 0)
    step = np.maximum(increment, 1)
    rounded = minimum + -(-beyond // step) * step
    charged = np.where(billsec <= minimum, minimum, np.where(increment <= 1, billsec, rounded))
    return np.where(billsec <= 0, 0, charged).astype(np.int64)


def cost_units(charged: Ints, rate_micros: Ints, fee_micros: Ints) -> Ints | None:
    """``rating.call_cost`` for many calls at once, in units of 0.0001 (half-up); None
    when a product is too big for exact int64 arithmetic."""
    if len(charged) and int(rate_micros.max(initial=0)) * int(charged.max(initial=0)) \
            + 60 * int(fee_micros.max(initial=0)) >= SAFE_NUMERATOR:
        return None
    numerator = 60 * fee_micros + rate_micros * charged   # micro-units × 60
    units = (2 * numerator + 6000) // 12000               # 0.0001 = 100 micro; × 60
    return np.where(charged > 0, units, 0).astype(np.int64)
