"""Pricing stored calls again, many at once: the rows whose price a deck change moved.
Pure: an Arrow table in, an Arrow table out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pbxctl.billing.columnar import COST, ColumnarClassifier, call_totals, sum_by_key
from pbxctl.billing.periods import QUARTER_SECONDS

# What is read of each stored outbound call (as text, NULL as null), and what is written
# back for the ones whose price changed.
STORED_PRICE_COLUMNS = ("key", "carrier", "destination", "start", "billsec",
                        "charged_seconds", "cost", "currency", "prefix", "deck_id",
                        "unrated_reason", "department")
RERATED_COLUMNS = ("key", "charged_seconds", "cost", "currency", "prefix", "deck_id",
                   "unrated_reason")


@dataclass
class Rerated:
    """The calls whose price changed (RERATED_COLUMNS), how many no deck priced, and what
    the change does to the cost totals (``columnar.call_totals``)."""

    changed: pa.Table
    unrated: int
    totals: pa.Table


def _same(old: pa.ChunkedArray, new: pa.Array) -> np.ndarray:
    """Element-wise equality where two nulls are equal."""
    equal = pc.fill_null(pc.equal(old, new), False)
    both_null = pc.and_(pc.is_null(old), pc.is_null(new))
    return np.asarray(pc.or_(equal, both_null).to_numpy(zero_copy_only=False), dtype=bool)


def rerate(columnar: ColumnarClassifier, stored: pa.Table) -> Rerated:
    """Price ``stored`` outbound calls (STORED_PRICE_COLUMNS, all strings; ``start`` in UTC
    as ``YYYY-MM-DD HH:MM:SS[.ffffff]``, ``cost`` with its four decimals) with the decks
    as they are now."""
    billsec = np.asarray(pc.cast(stored["billsec"], pa.int64()).to_numpy(), dtype=np.int64)
    outbound = np.ones(stored.num_rows, dtype=bool)
    priced = columnar.price(outbound, billsec, stored["carrier"], stored["destination"],
                            stored["start"])
    new = priced.columns
    unchanged = (
        _same(pc.cast(stored["charged_seconds"], pa.int64()), new["charged_seconds"])
        & _same(pc.cast(stored["cost"], COST), new["cost"])
        & _same(stored["currency"], new["currency"])
        & _same(stored["prefix"], new["prefix"])
        & _same(pc.cast(stored["deck_id"], pa.int64()), new["deck_id"])
        & _same(stored["unrated_reason"], new["unrated_reason"]))
    changed = pa.array(~unchanged)
    table = pa.table({"key": stored["key"], **{
        name: new[name] for name in RERATED_COLUMNS[1:]}}).filter(changed)
    micros = pc.cast(pc.cast(stored["start"], pa.timestamp("us")), pa.int64())
    quarter = np.asarray(micros.to_numpy(), dtype=np.int64) // (QUARTER_SECONDS * 1_000_000)
    moved = priced.billable & ~unchanged
    old_units = pc.cast(pc.replace_substring(stored["cost"], ".", ""), pa.int64())
    totals = sum_by_key(pa.concat_tables([
        call_totals(quarter, stored["department"], new["currency"], moved, priced.matched,
                    billsec, priced.charged, priced.units),
        call_totals(quarter, stored["department"], stored["currency"], moved,
                    np.asarray(pc.is_null(stored["unrated_reason"]).to_numpy(
                        zero_copy_only=False), dtype=bool), billsec,
                    _ints(stored["charged_seconds"]), _ints(old_units), sign=-1)]))
    return Rerated(table, priced.unrated, totals)


def _ints(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.cast(column, pa.int64()).to_numpy(), dtype=np.int64)
