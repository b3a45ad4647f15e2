"""What one block of a cdr_csv file becomes before it is stored: the rows priced
column-wise, ready for a binary ``COPY``, the rows classified one by one, the quarantined
lines.
Pure: bytes in, data out (run in a worker thread while the block before is written;
each block counts its own figures)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from pbxctl.billing.binary_copy import binary_copy
from pbxctl.billing.columnar import ColumnarClassifier
from pbxctl.billing.csv_blocks import Block, parse
from pbxctl.billing.records import (
    Classifier,
    Quarantined,
    StoredCdr,
    classify_lines,
    prepare_lines,
)


@dataclass
class PreparedBlock:
    """A block ready to store."""

    size: int                                   # bytes of the file it covers
    priced_copy: bytes | memoryview = b""       # the rows priced column-wise, as binary
    priced_rows: int = 0                        # COPY data (STORED_SCHEMA)
    rows: list[StoredCdr] = field(default_factory=list)
    quarantine: list[Quarantined] = field(default_factory=list)
    outbound: int = 0
    unrated: int = 0
    totals: pa.Table | None = None              # of the priced rows (block_totals)


def read_block(block: Block, node: str, classifier: Classifier
               ) -> Iterator[StoredCdr | Quarantined]:
    """Every line of the block as a stored row or a quarantined line, row by row."""
    lines, quarantined = prepare_lines(block.data, block.first_line, block.last)
    yield from quarantined
    yield from classify_lines(lines, block.first_line, node, classifier)


def prepare_block(block: Block, node: str, columnar: ColumnarClassifier,
                  classifier: Classifier) -> PreparedBlock:
    """Price the block column-wise where Arrow can read it; the rest row by row."""
    prepared = PreparedBlock(len(block.data))
    table = parse(block)
    if table is not None:
        try:
            classified = columnar.classify(node, table)
        except OverflowError:       # a charge beyond int64: the Decimal path prices it
            table = None
    if table is None:
        _add_rows(prepared, read_block(block, node, classifier))
        return prepared
    prepared.priced_copy = binary_copy(classified.table)
    prepared.priced_rows = classified.table.num_rows
    prepared.outbound, prepared.unrated = classified.outbound, classified.unrated
    prepared.totals = classified.totals
    if classified.irregular:
        lines = block.data.split(b"\n")
        _add_rows(prepared, (
            item for index in classified.irregular
            for item in classify_lines([lines[index].decode()], block.first_line + index,
                                       node, classifier)))
    return prepared


def _add_rows(prepared: PreparedBlock, items: Iterator[StoredCdr | Quarantined]) -> None:
    for item in items:
        if isinstance(item, Quarantined):
            prepared.quarantine.append(item)
        else:
            prepared.rows.append(item)
            prepared.outbound += item.direction == "outbound"
            prepared.unrated += item.unrated_reason is not None
