"""The column-wise import must store exactly what the row-by-row reader stores: same keys,
directions, prices and quarantined lines, whatever the file holds."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbxctl.billing.binary_copy import binary_copy
from pbxctl.billing.block_import import prepare_block, read_block
from pbxctl.billing.columnar import ColumnarClassifier
from pbxctl.billing.csv_blocks import Block, blocks, complete_rows, parse
from pbxctl.billing.periods import quarter_hour
from pbxctl.billing.rating import Deck, Rate, RateBook, call_cost
from pbxctl.billing.records import Classifier
from pbxctl.billing.rerating import STORED_PRICE_COLUMNS, rerate

DECKS = {
    "mts": [Deck(1, date(2026, 1, 1), "RUB", [
        Rate("7", "Russia", Decimal("1.5"), Decimal("0.1"), 0, 60),
        Rate("7843", "Kazan", Decimal("0.95"), Decimal("0"), 1, 1),
        Rate("79", "Mobile", Decimal("2.123456"), Decimal("0.000001"), 30, 6),
        Rate("4670", "Sweden mobile", Decimal("12.5"), Decimal("1"), 60, 60)]),
        Deck(2, date(2026, 10, 15), "RUB", [
            Rate("7", "Russia", Decimal("1.75"), Decimal("0"), 0, 1)])],
    "tele2": [Deck(3, date(2026, 10, 20), "EUR", [
        Rate("49", "Germany", Decimal("0.031"), Decimal("0"), 0, 1)])],
}
CARRIERS = frozenset({"mts", "tele2", "megafon"})     # megafon has no deck
CHANNELS = ["PJSIP/201-0000000a", "PJSIP/mts-0000000c", "PJSIP/tele2-00000001",
            "PJSIP/megafon-01", "PJSIP/beeline-0f", "PJSIP/a-b-c-00000001", "PJSIP/",
            "PJSIP/mts", "SIP/mts-01", "Local/201@x-0001;1", "", "PJSIP/²-01",
            "PJSIP/ткань-01", "PJSIP/301-0000000c", "PJSIP/pbxctl_edge-0000000d",
            # suffixes other than Asterisk's lower-case hex, and none at all
            "PJSIP/mts-0000000C", "PJSIP/tele2-x1", "PJSIP/beef", "PJSIP/-01", "PJSIP/mts-",
            "PJSIP/mts-01-", "PJSIP/a-b-zz"]
NUMBERS = ["+78432000000", "78432123456", "+79161234567", "+46701234567", "+4930123",
           "201", "", "+", "++7", "7", "8" * 40, "+4930" + "1" * 30]
TIMES = ["2026-10-23 19:03:26", "2026-10-14 23:59:59", "2026-10-21 00:00:00",
         "2026-02-30 10:00:00", "2026-10-01 24:00:00", "2026-10-1 10:00:00",
         "2026-10-01T10:00:00", "0000-01-01 00:00:00", "2026/10/01 10:00:00",
         "2026-1a-01 10:00:00", "0001-01-01 00:00:00", "", "yesterday"]
DISPOSITIONS = ["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION", "answered", ""]
SECONDS = ["0", "1", "29", "30", "31", "61", "3600", "9999999", "10000000", "-1", "1.5", "",
           "٣"]


def classifiers() -> tuple[ColumnarClassifier, Classifier]:
    book = RateBook(DECKS)
    return ColumnarClassifier(CARRIERS, book), Classifier(CARRIERS, book)


@st.composite
def cdr_rows(draw: st.DrawFn, layouts: tuple[int, ...] = (16, 17, 18, 19, 20, 21)) -> list[str]:
    start = draw(st.sampled_from(TIMES[:4]))
    row = [draw(st.sampled_from(["kazan", "omsk", "x" * 40, "Казань"])),
           draw(st.sampled_from(["201", "+78432000000", "a" * 90])),
           draw(st.sampled_from(NUMBERS)), "pbxctl-out-kazan", '"Anna" <201>',
           draw(st.sampled_from(CHANNELS)), draw(st.sampled_from(CHANNELS)), "Dial", "x,y",
           draw(st.sampled_from(TIMES)) if draw(st.booleans()) else start,
           draw(st.sampled_from(TIMES)), draw(st.sampled_from(TIMES)),
           draw(st.sampled_from(SECONDS)), draw(st.sampled_from(SECONDS)),
           draw(st.sampled_from(DISPOSITIONS)), "DOCUMENTATION"]
    layout = draw(st.sampled_from(layouts))
    uniqueid = draw(st.sampled_from(["1795460606.10", "1795460607.11", ""]))
    if layout == 17:
        row.append(uniqueid)
    elif layout == 18:
        row += [uniqueid, "vip"]
    elif layout == 19:                  # newcdrcolumns: peeraccount, linkedid, sequence
        row += ["", uniqueid, draw(st.sampled_from(["1", ""]))]
    elif layout == 20:
        row += [uniqueid, "vip", "", uniqueid]
    elif layout == 21:
        row += [uniqueid, "", "", uniqueid, draw(st.sampled_from(["1", "2", ""]))]
    return row


def to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue().encode()


def columnar_items(data: bytes, block_bytes: int) -> tuple[list[tuple[object, ...]], list[object]]:
    """(stored rows as tuples, quarantined lines) the column-wise import prepares."""
    columnar, classifier = classifiers()
    stored: list[tuple[object, ...]] = []
    quarantined: list[object] = []
    for block in blocks(io.BytesIO(data), block_bytes):
        prepared = prepare_block(block, "local", columnar, classifier)
        quarantined += prepared.quarantine
        stored += [tuple(row) for row in prepared.rows]
        if prepared.priced_rows:    # what the block's COPY data holds, as a table
            table = parse(block)
            assert table is not None
            priced = columnar.classify("local", table).table
            assert (priced.num_rows, binary_copy(priced)) == (prepared.priced_rows,
                                                              prepared.priced_copy)
            stored += [tuple(row.values()) for row in priced.to_pylist()]
    return stored, quarantined


def row_by_row(data: bytes) -> tuple[list[tuple[object, ...]], list[object]]:
    _, classifier = classifiers()
    items = list(read_block(Block.of(data, 1, last=True), "local", classifier))
    return ([tuple(i) for i in items if isinstance(i, tuple)],
            [i for i in items if not isinstance(i, tuple)])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cdr_rows(), min_size=1, max_size=40), st.sampled_from([300, 2_000, 10**6]))
def test_columnar_import_stores_what_the_row_reader_stores(rows: list[list[str]],
                                                           block_bytes: int) -> None:
    data = to_csv(rows)
    expected_rows, expected_quarantine = row_by_row(data)
    got_rows, got_quarantine = columnar_items(data, block_bytes)
    assert sorted(got_rows, key=repr) == sorted(expected_rows, key=repr)
    assert sorted(got_quarantine, key=repr) == sorted(expected_quarantine, key=repr)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([16, 17, 18, 19, 20, 21]).flatmap(
    lambda layout: st.lists(cdr_rows((layout,)), min_size=1, max_size=40)),
    st.sampled_from([2_000, 10**6]))
def test_a_file_of_one_layout_is_priced_column_wise_as_row_by_row(rows: list[list[str]],
                                                                  block_bytes: int) -> None:
    """Every row of a block in one layout: the block goes column-wise (columns empty in
    every row of it included)."""
    data = to_csv(rows)
    assert sorted(columnar_items(data, block_bytes), key=repr) == sorted(
        row_by_row(data), key=repr)


def test_blank_lines_bad_bytes_and_a_truncated_end_take_the_row_path() -> None:
    good = to_csv([["kazan", "201", "+78432000000", "c", "clid", "PJSIP/201-01",
                    "PJSIP/mts-02", "Dial", "x", "2026-10-23 19:03:26", "2026-10-23 19:03:30",
                    "2026-10-23 19:04:27", "61", "57", "ANSWERED", "DOCUMENTATION",
                    "1795460606.10", "", "", "1795460606.10", str(n)] for n in range(1, 30)])
    data = good + b"\n" + good.replace(b"Dial", b"Di\xffal", 1) + good[:50]
    got_rows, got_quarantine = columnar_items(data, 1_000)
    expected_rows, expected_quarantine = row_by_row(data)
    assert sorted(got_rows, key=repr) == sorted(expected_rows, key=repr)
    assert sorted(got_quarantine, key=repr) == sorted(expected_quarantine, key=repr)
    assert len(expected_quarantine) == 2   # the line with a bad byte, the truncated end


def test_a_charge_too_big_for_integers_is_priced_exactly() -> None:
    huge = RateBook({"mts": [Deck(9, date(2026, 1, 1), "RUB", [
        Rate("7", "Russia", Decimal("99999999.999999"), Decimal("99999999.999999"), 0, 1)])]})
    row = ["kazan", "201", "+78432000000", "c", "clid", "PJSIP/201-01", "PJSIP/mts-02", "Dial",
           "x", "2026-10-23 19:03:26", "2026-10-23 19:03:30", "2026-10-23 19:04:27", "61",
           "9999999", "ANSWERED", "DOCUMENTATION", "1795460606.10", "", "", "1795460606.10",
           "1"]
    (block,) = blocks(io.BytesIO(to_csv([row])))
    prepared = prepare_block(block, "local", ColumnarClassifier(frozenset({"mts"}), huge),
                             Classifier(frozenset({"mts"}), huge))
    (stored,) = prepared.rows
    assert prepared.priced_rows == 0
    assert (stored.charged_seconds, stored.cost) == call_cost(9999999, huge.decks()[0].rates[0])


def test_rerating_reports_only_the_calls_whose_price_moved() -> None:
    columnar, _ = classifiers()
    stored = pa.table({name: pa.array(values, pa.string()) for name, values in zip(
        STORED_PRICE_COLUMNS, zip(
            ("a", "mts", "+78432000000", "2026-10-23 19:03:26", "60", "60", "0.9500", "RUB",
             "7843", "2", None, "kazan"),   # Oct 23: deck 2 prices it now at 1.75
            ("b", "mts", "+78432000000", "2026-10-01 10:00:00", "60", "60", "0.9500", "RUB",
             "7843", "1", None, "kazan"),   # unchanged
            ("c", "beeline", "+7", "2026-10-01 10:00:00", "5", "0", "0.0000", None, None,
             None, "unknown carrier beeline", "kazan"),   # unchanged, still unrated
            ("d", "mts", "+7", "2026-10-01 10:00:00", "0", "0", "0.0000", None, None, None,
             None, "kazan"), strict=True), strict=True)})
    result = rerate(columnar, stored)
    assert result.changed.to_pylist() == [{
        "key": "a", "charged_seconds": 60, "cost": Decimal("1.7500"), "currency": "RUB",
        "prefix": "7", "deck_id": 2, "unrated_reason": None}]
    assert result.unrated == 1
    # the call counts as before, 0.80 dearer
    assert result.totals.to_pylist() == [{
        "quarter_hour": quarter_hour(datetime(2026, 10, 23, 19, 3, 26, tzinfo=UTC)),
        "department": "kazan", "currency": "RUB", "calls": 0,
        "billsec": 0, "charged_seconds": 0, "cost": 8000, "unrated": 0}]


def test_a_stream_is_cut_after_whole_rows_only() -> None:
    data = b'a,"x\ny",1\nb,"z",2\nc,"open\n'
    assert complete_rows(data) == data.index(b"c,")
    assert complete_rows(b'a,"x\ny') == 0
    assert complete_rows(b"a,1\n") == 4
