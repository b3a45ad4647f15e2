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


# A book's rates as columns, one row per rate: what ``RateTable`` is made of.
RATE_COLUMNS = ("deck_id", "prefix", "rate_micros", "fee_micros", "min_seconds",
                "increment_seconds")


def rate_columns(decks: list[Deck]) -> pa.Table:
    """The rates of ``decks`` as RATE_COLUMNS."""
    prefixes: list[str] = []
    numbers: dict[str, list[int]] = {name: [] for name in RATE_COLUMNS if name != "prefix"}
    for deck in decks:
        rates = deck.rates
        prefixes += [r.prefix for r in rates]
        numbers["deck_id"] += [deck.deck_id] * len(rates)
        numbers["rate_micros"] += [_micros(r.rate_per_minute) for r in rates]
        numbers["fee_micros"] += [_micros(r.connect_fee) for r in rates]
        numbers["min_seconds"] += [r.min_seconds for r in rates]
        numbers["increment_seconds"] += [r.increment_seconds for r in rates]
    return pa.table({name: pa.array(prefixes, pa.string()) if name == "prefix"
                     else pa.array(numbers[name], pa.int64()) for name in RATE_COLUMNS})


class RateTable:
    """Every deck's rates in flat arrays (one row per rate) and, per deck, its prefixes
    grouped by length (longest first) for the lookup."""

    def __init__(self, book: RateBook, rates: pa.Table | None = None) -> None:
        """``rates``: the book's rates as RATE_COLUMNS when the caller has them so (a
        long deck's are read faster as columns than as ``Rate`` objects); else they
        are taken from the decks."""
        self.decks: list[Deck] = book.decks()
        if rates is None:
            rates = rate_columns(self.decks)
        deck_ids = np.asarray(rates["deck_id"].to_numpy(), dtype=np.int64)
        ordinals = np.full(len(deck_ids), -1, dtype=np.int64)
        for n, deck in enumerate(self.decks):
            ordinals[deck_ids == deck.deck_id] = n
        known = np.flatnonzero(ordinals >= 0)
        ordinals = ordinals[known]
        prefix = pc.take(rates["prefix"], pa.array(known)).combine_chunks()
        lengths = np.asarray(pc.binary_length(prefix).to_numpy(zero_copy_only=False))
        self._lookups: list[list[_Lookup]] = []
        for n in range(len(self.decks)):
            in_deck = np.flatnonzero(ordinals == n)
            by_length = []
            for length in sorted(set(lengths[in_deck].tolist()), reverse=True):
                rows = in_deck[lengths[in_deck] == length]
                by_length.append(_Lookup(length, pc.take(prefix, pa.array(rows)), rows))
            self._lookups.append(by_length)

        def column(name: str, last: int) -> Ints:
            values = np.asarray(rates[name].to_numpy(), dtype=np.int64)[known]
            return np.append(values, last)

        # A last row and a last deck no lookup returns: where nothing matched, the arrays
        # are indexed there and the result masked.
        self.no_rate, self.no_deck = len(known), len(self.decks)
        self.prefix = pa.concat_arrays([prefix, pa.array([""], pa.string())])
        self.rate_micros = column("rate_micros", 0)
        self.fee_micros = column("fee_micros", 0)
        self.min_seconds = column("min_seconds", 0)
        self.increment_seconds = column("increment_seconds", 1)
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
