"""Pricing stored calls again, many at once: the rows whose price a deck change moved.
Pure: an Arrow table in, an Arrow table out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pbxctl.billing.columnar import ColumnarClassifier

# What is read of each stored outbound call (as text, NULL as null), and what is written
# back for the ones whose price changed.
STORED_PRICE_COLUMNS = ("key", "carrier", "destination", "start", "billsec",
                        "charged_seconds", "cost", "currency", "prefix", "deck_id",
                        "unrated_reason")
RERATED_COLUMNS = ("key", "charged_seconds", "cost", "currency", "prefix", "deck_id",
                   "unrated_reason")


@dataclass
class Rerated:
    """The calls whose price changed (RERATED_COLUMNS), and how many no deck priced."""

    changed: pa.Table
    unrated: int


def _same(old: pa.ChunkedArray, new: pa.Array) -> np.ndarray:
    """Element-wise equality where two nulls are equal."""
    equal = pc.fill_null(pc.equal(old, new), False)
    both_null = pc.and_(pc.is_null(old), pc.is_null(new))
    return np.asarray(pc.or_(equal, both_null).to_numpy(zero_copy_only=False), dtype=bool)


def rerate(columnar: ColumnarClassifier, stored: pa.Table) -> Rerated:
    """Price ``stored`` outbound calls (STORED_PRICE_COLUMNS, all strings; ``start`` in UTC
    as ``YYYY-MM-DD …``) with the decks as they are now."""
    billsec = np.asarray(pc.cast(stored["billsec"], pa.int64()).to_numpy(), dtype=np.int64)
    outbound = np.ones(stored.num_rows, dtype=bool)
    priced = columnar.price(outbound, billsec, stored["carrier"], stored["destination"],
                            stored["start"])
    new = priced.columns
    unchanged = (
        _same(pc.cast(stored["charged_seconds"], pa.int64()), new["charged_seconds"])
        & _same(stored["cost"], new["cost"])
        & _same(stored["currency"], new["currency"])
        & _same(stored["prefix"], new["prefix"])
        & _same(pc.cast(stored["deck_id"], pa.int64()), new["deck_id"])
        & _same(stored["unrated_reason"], new["unrated_reason"]))
    changed = pa.array(~unchanged)
    table = pa.table({"key": stored["key"], **{
        name: new[name] for name in RERATED_COLUMNS[1:]}}).filter(changed)
    return Rerated(table, priced.unrated)
