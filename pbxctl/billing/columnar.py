"""Classifying and rating a block of cdr_csv rows column by column (Arrow and NumPy), with
exactly the results of ``records.Classifier`` row by row. Pure, no I/O.

Rows the vectorised checks cannot vouch for (odd dates, non-numeric seconds, unknown
dispositions, non-ASCII channel names, keys that need a hash) are left to the row-by-row
path, which quarantines or classifies them; everything else is priced here in integer
units, each (carrier, day) resolved to its deck once and each deck's prefixes matched by
hash lookups per prefix length. The rows come out typed as the ``cdrs`` table's columns
(STORED_SCHEMA), ready for a binary ``COPY``.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import sha1
from itertools import pairwise

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pbxctl import names
from pbxctl.billing.periods import QUARTER_SECONDS
from pbxctl.billing.rate_table import Ints, RateTable, charged_seconds, cost_units
from pbxctl.billing.rating import RateBook
from pbxctl.billing.records import (
    ACCOUNT,
    BILLSEC,
    CHANNEL,
    DISPOSITION,
    DISPOSITIONS,
    DST,
    DSTCHANNEL,
    DURATION,
    END,
    SEQUENCE,
    SRC,
    START,
    STORED_COLUMNS,
    UNIQUEID,
    UNIQUEID_RE,
    WIDTH,
)

NAMES = tuple(f"c{n}" for n in range(WIDTH))
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_TIME_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"
_TIME_WIDTH = len("YYYY-MM-DD HH:MM:SS")
_DIGIT_POSITIONS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]   # of YYYY-MM-DD HH:MM:SS
_SEPARATOR_POSITIONS = [4, 7, 10, 13, 16]
_SEPARATORS = np.frombuffer(b"-- ::", np.uint8)
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)
_CHANNEL_SUFFIX_DIGITS = "0123456789abcdef"
_SECONDS_DIGITS = 7     # records._SECONDS_RE: 1 to 7 ASCII digits
_DISPOSITIONS = pa.array(sorted(DISPOSITIONS), pa.string())
_UTC = pa.timestamp("us", tz="UTC")
COST = pa.decimal128(19, 4)      # units of 0.0001 as a decimal (numeric(14, 4) in cdrs)
_INT4 = {"duration", "billsec", "charged_seconds", "deck_id"}
# STORED_COLUMNS as the cdrs table types them: times in UTC, int4 counts, the cost exact.
STORED_SCHEMA = pa.schema([
    (name, _UTC if name in ("start", "answer", "end") else COST if name == "cost"
     else pa.int32() if name in _INT4 else pa.string())
    for name in STORED_COLUMNS])


@dataclass
class Classified:
    """A block's rows priced column-wise, and the rows left to the row-by-row path."""

    table: pa.Table          # STORED_SCHEMA, one row per regular row
    irregular: list[int]     # positions in the block, ascending
    outbound: int
    unrated: int
    totals: pa.Table         # the rows' cost totals (``block_totals``)


def normalise_table(table: pa.Table) -> pa.Table:
    """A block read with 16 to 21 columns in the 21-column layout (``records.normalise``,
    column-wise)."""
    count = table.num_columns
    cols = list(table.columns)
    empty = pa.repeat(pa.scalar("", pa.string()), table.num_rows)
    if count == 21:
        out = cols
    elif count == 18:
        out = cols + [empty] * 3
    elif count == 16:
        out = cols + [empty] * 5
    elif count == 19:
        out = cols[:16] + [empty] * 2 + cols[16:]
    elif count in (17, 20):
        extra = cols[16]
        is_id = pc.match_substring_regex(extra, f"^(?:{UNIQUEID_RE.pattern})$")
        ids = [pc.if_else(is_id, extra, ""), pc.if_else(is_id, "", extra)]
        out = cols[:16] + ids + (cols[17:] if count == 20 else [empty] * 3)
    else:
        raise ValueError(f"no cdr_csv layout has {count} columns")
    return pa.table(out, names=list(NAMES))


def _whole_seconds(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Whether each value is 1 to 7 ASCII digits (``records._SECONDS_RE``; two plain
    kernels cost less than the regular expression)."""
    return pc.and_(pc.ascii_is_decimal(column),
                   pc.less_equal(pc.binary_length(column), _SECONDS_DIGITS))


def _time(column: pa.ChunkedArray, optional: bool) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """(the time in UTC, or null when empty or not a time; whether it is a canonical
    ``YYYY-MM-DD HH:MM:SS`` on the calendar, as ``records.check`` accepts it)."""
    shaped = _time_shaped(column)
    try:    # Arrow's ISO parser checks the calendar; one bad day fails the whole cast
        parsed = pc.cast(pc.if_else(shaped, column, pa.scalar(None, pa.string())),
                         pa.timestamp("s"))
        valid = shaped
    except pa.ArrowInvalid:
        parsed = pc.strptime(column, format=_TIME_FORMAT, unit="s", error_is_null=True)
        valid = pc.and_(shaped, pc.fill_null(
            pc.equal(pc.strftime(parsed, format=_TIME_FORMAT), column), False))
        parsed = pc.if_else(valid, parsed, pa.scalar(None, pa.timestamp("s")))
    if optional:
        valid = pc.or_(valid, pc.equal(column, ""))
    return pc.cast(parsed, _UTC), valid


def _time_shaped(column: pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Whether each value reads ``YYYY-MM-DD HH:MM:SS`` with a year from 0001: by byte
    position when every value has that length or is empty (a file's times do), else by
    regular expression."""
    values = column.combine_chunks()
    lengths = np.asarray(pc.binary_length(values).to_numpy(zero_copy_only=False))
    full = lengths == _TIME_WIDTH
    if values.null_count or not np.all(full | (lengths == 0)):
        return pc.and_(pc.match_substring_regex(column, _TIME_RE),
                       pc.invert(pc.starts_with(column, "0000")))
    if not full.any():
        return pa.array(full)
    first = _offsets(values)[0]
    text = np.frombuffer(values.buffers()[2], np.uint8, int(full.sum()) * _TIME_WIDTH,
                         first).reshape(-1, _TIME_WIDTH)
    digits = text[:, _DIGIT_POSITIONS] - ord("0")      # uint8: below "0" wraps past 9
    ok = (np.all(digits <= 9, axis=1) & np.all(text[:, _SEPARATOR_POSITIONS] == _SEPARATORS,
                                               axis=1)
          & np.any(digits[:, :4] != 0, axis=1))
    shaped = np.zeros(len(values), dtype=bool)
    shaped[full] = ok
    return pa.array(shaped)


def _endpoint(channel: pa.ChunkedArray) -> pa.ChunkedArray:
    """``PJSIP/tele2-0000000b`` -> ``tele2``; empty for anything else (``records._endpoint``
    column-wise: what comes before the last ``-`` of a PJSIP channel). Asterisk's suffixes
    are lower-case hex digits: trimming them leaves the ``-`` to cut at; a channel with
    any other suffix is split at its last ``-`` instead (slower)."""
    pjsip = pc.starts_with(channel, "PJSIP/")
    trimmed = pc.utf8_rtrim(channel, characters=_CHANNEL_SUFFIX_DIGITS)
    at_dash = pc.ends_with(trimmed, "-")
    endpoint = pc.if_else(pc.and_(pjsip, at_dash), pc.utf8_slice_codeunits(trimmed, 6, -1), "")
    other_suffix = pc.and_(pjsip, pc.invert(at_dash))
    if not pc.any(other_suffix).as_py():
        return endpoint
    parts = pc.split_pattern(channel, "-", max_splits=1, reverse=True)
    head = pc.if_else(pc.equal(pc.list_value_length(parts), 2),
                      pc.utf8_slice_codeunits(pc.list_element(parts, 0), 6), "")
    return pc.if_else(other_suffix, head, endpoint)


def _is_carrier(endpoint: pa.ChunkedArray) -> pa.ChunkedArray:
    """``records._is_carrier`` column-wise: neither a phone (digits) nor the edge."""
    return pc.and_(pc.and_(pc.not_equal(endpoint, ""),
                           pc.invert(pc.ascii_is_decimal(endpoint))),
                   pc.not_equal(endpoint, names.ASTERISK.edge_endpoint))


def _keys(node: str, c: list[pa.ChunkedArray]) -> pa.Array | pa.ChunkedArray:
    """``records.cdr_key`` for every row: node, uniqueid and sequence, else the start's
    digits and a hash of the row (hashed one by one: only files without unique ids need
    it)."""
    has_ids = pc.and_(pc.not_equal(c[UNIQUEID], ""), pc.not_equal(c[SEQUENCE], ""))
    if pc.all(has_ids).as_py() is not False:
        return _id_keys(node, c)
    without = pc.invert(has_ids)
    rows = c if pc.all(without).as_py() else [pc.filter(col, without) for col in c]
    joined = _join_fields(rows, "\x1f").combine_chunks()  # UTF-8
    hashed = pc.binary_join_element_wise(f"{node}:row", _start_digits(rows[START]),
                                         _sha1_hex(joined), ":")
    if rows is c:
        return hashed
    return pc.replace_with_mask(_id_keys(node, c).combine_chunks(), without.combine_chunks(),
                                hashed)


def _id_keys(node: str, c: list[pa.ChunkedArray]) -> pa.ChunkedArray:
    """``node:uniqueid:sequence`` for every row."""
    return pc.binary_join_element_wise(node, c[UNIQUEID], c[SEQUENCE], ":")


def _join_fields(columns: list[pa.ChunkedArray], separator: str) -> pa.ChunkedArray:
    """``separator.join`` of each row's fields, as ``records.cdr_key`` joins them. A run
    of columns empty in every row (an older layout's missing ones) is joined as one
    string of separators: a fifth less work for a 16-column file."""
    args: list[pa.ChunkedArray | pa.Scalar] = []
    empty_run = 0
    for column in [*columns, None]:
        if column is not None and _all_empty(column):
            empty_run += 1
            continue
        if empty_run:
            args.append(pa.scalar(separator * (empty_run - 1), pa.string()))
            empty_run = 0
        if column is not None:
            args.append(column)
    if all(isinstance(arg, pa.Scalar) for arg in args):   # no rows
        args = list(columns)
    return pc.binary_join_element_wise(*args, separator)


def _all_empty(column: pa.ChunkedArray) -> bool:
    """Whether every value is the empty string (no character in any chunk)."""
    return all(len(chunk) == 0 or (chunk.null_count == 0 and _text_bytes(chunk) == 0)
               for chunk in column.chunks)


def _text_bytes(strings: pa.StringArray) -> int:
    """The bytes of all the strings together (from the offsets, reading no text)."""
    offsets = _offsets(strings)
    return int(offsets[-1] - offsets[0])


def _offsets(strings: pa.StringArray) -> np.ndarray:
    """The array's Arrow offsets (where each value starts in the data buffer, and one
    past the last), as a view."""
    return np.frombuffer(strings.buffers()[1], np.int32, len(strings) + 1, strings.offset * 4)


def _start_digits(start: pa.ChunkedArray) -> pa.StringArray:
    """``YYYY-MM-DD HH:MM:SS`` (every value exactly that, as ``_time`` checked) ->
    ``YYYYMMDDHHMMSS``, by picking the digits' byte positions."""
    column = start.combine_chunks()
    count = len(column)
    text = np.frombuffer(column.buffers()[2], np.uint8, count * _TIME_WIDTH,
                         _offsets(column)[0])
    digits = np.ascontiguousarray(text.reshape(count, _TIME_WIDTH)[:, _DIGIT_POSITIONS])
    return _fixed_width_strings(digits)


def _sha1_hex(values: pa.StringArray) -> pa.StringArray:
    """The hex SHA-1 of each value's UTF-8 bytes (one hashlib call per value, over
    views of Arrow's buffer; the hex digits are made column-wise)."""
    count = len(values)
    offsets = _offsets(values).tolist()
    data = memoryview(values.buffers()[2] or b"")
    digests = b"".join([sha1(data[begin:end], usedforsecurity=False).digest()
                        for begin, end in pairwise(offsets)])
    raw = np.frombuffer(digests, np.uint8).reshape(count, 20)
    hexed = np.empty((count, 40), np.uint8)
    hexed[:, 0::2] = _HEX_DIGITS[raw >> 4]
    hexed[:, 1::2] = _HEX_DIGITS[raw & 15]
    return _fixed_width_strings(hexed)


def _fixed_width_strings(chars: np.ndarray) -> pa.StringArray:
    """An ASCII string per row of a C-contiguous (rows, width) uint8 array."""
    count, width = chars.shape
    offsets = np.arange(0, width * (count + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(chars))


def _money(units: Ints) -> pa.Array:
    """Amounts in units of 0.0001 as exact decimals: 12345 -> 1.2345."""
    return pc.cast(pa.array(units), pa.decimal128(19, 0)).view(COST)


def _cut(column: pa.ChunkedArray, characters: int) -> pa.ChunkedArray:
    """The strings cut to ``characters`` (a no-op, skipped, when none is that long)."""
    if (pc.max(pc.binary_length(column)).as_py() or 0) <= characters:
        return column
    return pc.utf8_slice_codeunits(column, 0, characters)


def _ints(column: pa.ChunkedArray) -> Ints:
    return np.asarray(column.to_numpy(), dtype=np.int64)


class ColumnarClassifier:
    """``records.Classifier`` for whole blocks: the same directions, keys and prices."""

    def __init__(self, carriers: frozenset[str], book: RateBook,
                 rates: pa.Table | None = None) -> None:
        """``rates``: the book's rates as ``rate_table.RATE_COLUMNS``, when the caller
        read them so."""
        self._carriers = pa.array(sorted(carriers), pa.string())
        self._book = book
        self._table = RateTable(book, rates)

    def classify(self, node: str, block: pa.Table) -> Classified:
        """Price the regular rows of ``block`` (the 21 normalised columns as strings)."""
        c = block.columns
        start, start_ok = _time(c[START], optional=False)
        answer, answer_ok = _time(c[10], optional=True)
        end, end_ok = _time(c[END], optional=True)
        regular = pc.and_(pc.and_(start_ok, answer_ok), end_ok)
        for seconds in (c[DURATION], c[BILLSEC]):
            regular = pc.and_(regular, _whole_seconds(seconds))
        regular = pc.and_(regular, pc.is_in(c[DISPOSITION], value_set=_DISPOSITIONS))
        regular = pc.and_(regular, pc.and_(pc.string_is_ascii(c[CHANNEL]),
                                           pc.string_is_ascii(c[DSTCHANNEL])))
        mask = np.asarray(regular.to_numpy(zero_copy_only=False), dtype=bool)
        irregular = np.flatnonzero(~mask).tolist()
        rows = block
        if irregular:
            keep = pa.array(mask)
            rows = block.filter(keep)
            start, answer, end = (pc.filter(x, keep) for x in (start, answer, end))
        c = rows.columns

        src_endpoint, dst_endpoint = _endpoint(c[CHANNEL]), _endpoint(c[DSTCHANNEL])
        outbound = _is_carrier(dst_endpoint)
        inbound = pc.and_(pc.invert(outbound), _is_carrier(src_endpoint))
        direction = pc.if_else(outbound, "outbound", pc.if_else(inbound, "inbound", "internal"))
        null_text = pa.scalar(None, pa.string())
        carrier = pc.if_else(outbound, dst_endpoint, pc.if_else(inbound, src_endpoint,
                                                                null_text))
        destination = pc.if_else(pc.or_(outbound, inbound),
                                 _cut(c[DST], 32), null_text)
        billsec = _ints(pc.cast(c[BILLSEC], pa.int64()))
        priced = self.price(np.asarray(outbound.to_numpy(zero_copy_only=False), dtype=bool),
                             billsec, carrier, destination, c[START])
        key = _keys(node, c)
        department = _cut(c[ACCOUNT], 32)
        table = pa.table({
            "key": key, "node": pa.repeat(pa.scalar(node, pa.string()), rows.num_rows),
            "start": start, "answer": answer, "end": end,
            "src": _cut(c[SRC], 80),
            "dst": _cut(c[DST], 80),
            "channel": _cut(c[CHANNEL], 80),
            "dstchannel": _cut(c[DSTCHANNEL], 80),
            "disposition": c[DISPOSITION],
            "duration": c[DURATION], "billsec": pa.array(billsec),
            "department": department,
            "uniqueid": _cut(c[UNIQUEID], 64),
            "direction": direction, "carrier": carrier, "destination": destination,
            **priced.columns}).cast(STORED_SCHEMA)
        seconds = _ints(pc.cast(pc.cast(start, pa.timestamp("s", tz="UTC")), pa.int64()))
        # In order of start, so nearly in order of key (keys begin with the start's
        # epoch or digits): PostgreSQL then appends to the key index's last pages.
        in_order = table.take(pa.array(np.argsort(seconds, kind="stable")))
        return Classified(in_order, irregular, int(pc.sum(outbound).as_py() or 0),
                          priced.unrated, block_totals(seconds, department, priced))

    def price(self, outbound: np.ndarray, billsec: Ints, carrier: pa.ChunkedArray,
               destination: pa.ChunkedArray, start: pa.ChunkedArray) -> Priced:
        """The rating columns (charged_seconds, cost as text, currency, prefix, deck_id,
        unrated_reason): what ``Classifier.rate`` says of each call where ``outbound``;
        ``start`` is the call's UTC time as text, its first 10 characters the day."""
        n = len(billsec)
        billable = outbound & (billsec > 0)
        known = billable & np.asarray(pc.fill_null(pc.is_in(carrier, value_set=self._carriers),
                                                   False).to_numpy(zero_copy_only=False),
                                      dtype=bool)
        deck = self._decks(known, carrier, start)
        with_deck = deck >= 0
        rate = np.full(n, -1, dtype=np.int64)
        digits = pc.utf8_ltrim(pc.fill_null(destination, ""), characters="+")
        for ordinal in np.unique(deck[with_deck]).tolist():
            where = np.flatnonzero(deck == ordinal)
            rate[where] = self._table.match(ordinal, pc.take(digits, pa.array(where)))
        matched = rate >= 0
        t = self._table
        row = np.where(matched, rate, t.no_rate)
        charged = np.where(matched, charged_seconds(
            billsec, t.min_seconds[row], t.increment_seconds[row]), 0).astype(np.int64)
        units = cost_units(charged, np.where(matched, t.rate_micros[row], 0),
                           np.where(matched, t.fee_micros[row], 0))
        if units is None:
            raise OverflowError("a charge too big for int64")
        reason = np.full(n, None, dtype=object)
        unknown = np.flatnonzero(billable & ~known)
        if len(unknown):
            names = pc.take(carrier, pa.array(unknown)).to_pylist()
            reason[unknown] = [f"unknown carrier {name[:40]}" for name in names]
        reason[known & ~with_deck] = "no rate deck valid at the call's date"
        reason[with_deck & ~matched] = "no prefix of the deck matches"
        deck_row = np.where(with_deck, deck, t.no_deck)
        currency = pc.if_else(pa.array(with_deck), pc.take(t.currencies, pa.array(deck_row)),
                              pa.scalar(None, pa.string()))
        return Priced({
            "charged_seconds": pa.array(charged),
            "cost": _money(units),
            "currency": currency,
            "prefix": pc.if_else(pa.array(matched), pc.take(t.prefix, pa.array(row)),
                                 pa.scalar(None, pa.string())),
            "deck_id": pa.array(t.deck_ids[deck_row], mask=~with_deck),
            "unrated_reason": pa.array(reason, pa.string()),
        }, int(billable.sum() - matched.sum()), billable, matched, billsec, charged, units)

    def _decks(self, known: np.ndarray, carrier: pa.ChunkedArray, start: pa.ChunkedArray
               ) -> Ints:
        """The deck ordinal valid for each known carrier's call on its day; -1 elsewhere."""
        deck = np.full(len(known), -1, dtype=np.int64)
        where = np.flatnonzero(known)
        if not len(where):
            return deck
        pairs = pc.binary_join_element_wise(
            pc.take(carrier, pa.array(where)),
            pc.utf8_slice_codeunits(pc.take(start, pa.array(where)), 0, 10), "\x1f")
        encoded = pc.dictionary_encode(pairs).combine_chunks()
        ordinals = np.array([
            self._table.ordinal(self._book.deck(*_carrier_day(pair)))
            for pair in encoded.dictionary.to_pylist()], dtype=np.int64)
        deck[where] = ordinals[encoded.indices.to_numpy(zero_copy_only=False)]
        return deck


def _carrier_day(pair: str) -> tuple[str, str]:
    carrier, _, day = pair.rpartition("\x1f")
    return carrier, day


@dataclass
class Priced:
    """The rating columns of a block, how many billable calls no deck priced, and the
    figures the cost totals add up."""

    columns: dict[str, pa.Array | pa.ChunkedArray]
    unrated: int
    billable: np.ndarray       # outbound with billable seconds
    matched: np.ndarray        # priced (a deck's prefix matched)
    billsec: Ints
    charged: Ints
    units: Ints                # cost in units of 0.0001


# The cost totals' key and sums: the table ``cost_totals`` and the column-wise tables
# below (whose ``cost`` is in units of 0.0001) share these names.
TOTALS_KEYS = ("quarter_hour", "department", "currency")
TOTALS_SUMS = ("calls", "billsec", "charged_seconds", "cost", "unrated")


def block_totals(start: Ints, department: pa.ChunkedArray, priced: Priced) -> pa.Table:
    """``cost_totals.CallTotals`` column-wise for a priced block (``start`` in seconds
    since 1970, UTC)."""
    quarter = start // QUARTER_SECONDS
    return call_totals(quarter, department, priced.columns["currency"], priced.billable,
                       priced.matched, priced.billsec, priced.charged, priced.units)


def call_totals(quarter: Ints, department: pa.ChunkedArray, currency: pa.ChunkedArray,
                counted: np.ndarray, rated: np.ndarray, billsec: Ints, charged: Ints,
                units: Ints, sign: int = 1) -> pa.Table:
    """The ``counted`` calls' totals per quarter hour, department and currency (empty for
    none), each in a column of its name: the ``rated`` ones' count, billsec, charged
    seconds and cost in ``units`` of 0.0001, and the count of the others; ``sign`` -1
    takes the calls away."""
    where = np.flatnonzero(counted)
    at = pa.array(where)
    priced = rated[where]
    table = pa.table({
        "quarter_hour": pa.array(quarter[where]),
        "department": pc.take(department, at),
        "currency": pc.fill_null(pc.take(currency, at), ""),
        "calls": pa.array(sign * priced.astype(np.int64)),
        "billsec": pa.array(sign * np.where(priced, billsec[where], 0)),
        "charged_seconds": pa.array(sign * np.where(priced, charged[where], 0)),
        "cost": pa.array(sign * np.where(priced, units[where], 0)),
        "unrated": pa.array(sign * (~priced).astype(np.int64))})
    return sum_by_key(table)


def sum_by_key(totals: pa.Table) -> pa.Table:
    """Totals (``block_totals``' columns) summed per quarter hour, department and
    currency."""
    grouped = totals.group_by(list(TOTALS_KEYS)).aggregate(
        [(name, "sum") for name in TOTALS_SUMS])
    return grouped.select([*(f"{name}_sum" for name in TOTALS_SUMS), *TOTALS_KEYS]
                          ).rename_columns([*TOTALS_SUMS, *TOTALS_KEYS])
