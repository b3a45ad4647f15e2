"""Reading a cdr_csv file in blocks of whole lines, each parsed by Arrow's C++ CSV reader
into string columns; a block Arrow cannot read exactly as ``csv.reader`` would (not
UTF-8, a blank line, mixed column counts, a line break inside a field) is left to the
row-by-row path. Memory stays bounded by the block size, whatever the file's size."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from pbxctl.billing.columnar import normalise_table

BLOCK_BYTES = 8 * 1024 * 1024
FIRST_BLOCK_BYTES = 1024 * 1024
_WRITE_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="needed")
_LAYOUTS = range(16, 22)
_LINE_END = ord("\n")


@dataclass(frozen=True)
class Block:
    """Whole lines of the file, from line ``first_line`` (1-based); ``lines`` of them (a
    last one without a line end counts)."""

    data: bytes
    first_line: int
    last: bool      # the file's end: a last line without a line end is truncated
    lines: int

    @classmethod
    def of(cls, data: bytes, first_line: int, last: bool) -> Block:
        """The block of ``data``, its lines counted. (Counted once here, not on first
        use: Python 3.11's ``cached_property`` takes a lock, which a worker forked while
        the file's reader held it would wait for for ever.)"""
        ends = int(np.count_nonzero(np.frombuffer(data, np.uint8) == _LINE_END))
        return cls(data, first_line, last, ends + (1 if data and not data.endswith(b"\n")
                                                    else 0))


def blocks(stream: BinaryIO, size: int = BLOCK_BYTES) -> Iterator[Block]:
    """The stream cut into blocks of about ``size`` bytes, each ending at a line end
    (the last one maybe not). The first block is smaller, so that writing starts early."""
    carry = b""
    line = 1
    want = min(size, FIRST_BLOCK_BYTES)
    while True:
        chunk = stream.read(want)
        want = size
        if not chunk:
            if carry:
                yield Block.of(carry, line, last=True)
            return
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        carry = data[cut:]
        block = Block.of(data[:cut], line, last=False)
        line += block.lines
        yield block


def parse(block: Block) -> pa.Table | None:
    """The block's rows in the 21-column layout, one per line, all strings; None when the
    block needs the row-by-row reader."""
    if block.last and not block.data.endswith(b"\n"):
        return None                       # the truncated line is quarantined there
    first = block.data[:block.data.find(b"\n")]
    try:
        width = len(next(csv.reader([first.decode("utf-8")])))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    if width not in _LAYOUTS:
        return None
    names = [f"c{n}" for n in range(width)]
    try:
        table = pacsv.read_csv(
            pa.py_buffer(block.data),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False,
                                           block_size=len(block.data) + 1),
            parse_options=pacsv.ParseOptions(newlines_in_values=False,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:
        return None
    if table.num_rows != block.lines:
        return None
    return normalise_table(table)


def table_csv(table: pa.Table) -> memoryview:
    """The table as CSV without a header, for ``COPY … (FORMAT csv)``: NULL is an
    unquoted empty field, an empty string a quoted one. A view of Arrow's buffer (no
    copy of a block's megabytes)."""
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(table, buffer, _WRITE_OPTIONS)
    return memoryview(buffer.getvalue())


def complete_rows(data: bytes | bytearray) -> int:
    """Where the last complete CSV row of ``data`` (which starts at a row) ends: after
    its last line end outside quotes; 0 when there is none."""
    end = data.rfind(b"\n")
    while end >= 0 and data.count(b'"', 0, end) % 2:
        end = data.rfind(b"\n", 0, end)
    return end + 1


def read_csv_text(data: bytes, columns: Sequence[str]) -> pa.Table:
    """CSV as ``COPY … TO (FORMAT csv)`` writes it, every column a string; an unquoted
    empty field is NULL."""
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=list(columns)),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in columns}, null_values=[""],
            strings_can_be_null=True, quoted_strings_can_be_null=False))
