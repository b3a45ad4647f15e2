"""Arrow tables in PostgreSQL's binary ``COPY`` format: the server reads the values as
they are (no text to parse for times, numbers and amounts)."""

from __future__ import annotations

import pgpq
import pyarrow as pa


def binary_copy(table: pa.Table) -> bytes:
    """``table`` as the data of ``COPY … (FORMAT binary)``; its Arrow types must be the
    target columns' (int32 for integer, timestamp for timestamptz, decimal for numeric,
    string for text)."""
    encoder = pgpq.ArrowToPostgresBinaryEncoder(table.schema)
    return b"".join([encoder.write_header(),
                     *(encoder.write_batch(batch) for batch in table.to_batches()),
                     encoder.finish()])
