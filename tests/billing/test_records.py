"""Reading cdr_csv files: every column layout, keys, classification, quarantine."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pbxctl.billing.block_import import read_block
from pbxctl.billing.csv_blocks import Block
from pbxctl.billing.rating import Deck, Rate, RateBook
from pbxctl.billing.records import Classifier, Quarantined

BASE = ('"kazan","201","+78432000000","pbxctl-out-kazan","""Anna"" <201>",'
        '"PJSIP/201-0000000a","PJSIP/mts-0000000c","Dial","PJSIP/+78432000000@mts,120",'
        '"2026-10-23 19:03:26","2026-10-23 19:03:26","2026-10-23 19:04:27",61,61,"ANSWERED",'
        '"DOCUMENTATION"')
STORED = {name: i for i, name in enumerate((
    "key", "node", "start", "answer", "end", "src", "dst", "channel", "dstchannel",
    "disposition", "duration", "billsec", "department", "uniqueid", "direction", "carrier",
    "destination", "charged_seconds", "cost", "currency", "prefix", "deck_id",
    "unrated_reason"))}


def classifier() -> Classifier:
    deck = Deck(7, date(2026, 10, 1), "RUB",
                [Rate("7", "Russia", Decimal("1.5"), Decimal("0.1"), 0, 60)])
    return Classifier(frozenset({"mts", "tele2"}), RateBook({"mts": [deck]}))


def read(text: bytes) -> list:
    return list(read_block(Block.of(text, 1, last=True), "local", classifier()))


@pytest.mark.parametrize(("suffix", "uniqueid"), [
    ("", ""),                                                 # 16: plain
    (',"1795460606.10"', "1795460606.10"),                    # 17: loguniqueid
    (',"vip"', ""),                                           # 17: loguserfield only
    (',"1795460606.10","vip"', "1795460606.10"),              # 18: both
    (',"1795460606.10","vip","","1795460606.10",3', "1795460606.10"),  # 21: newcdrcolumns
])
def test_every_column_layout_is_read(suffix: str, uniqueid: str) -> None:
    (row,) = read((BASE + suffix + "\n").encode())
    assert row[STORED["uniqueid"]] == uniqueid
    assert row[STORED["direction"]] == "outbound" and row[STORED["carrier"]] == "mts"
    assert row[STORED["charged_seconds"]] == 120 and row[STORED["cost"]] == Decimal("3.1000")
    assert row[STORED["department"]] == "kazan" and row[STORED["deck_id"]] == 7
    if suffix.endswith(",3"):
        assert row[STORED["key"]] == "local:1795460606.10:3"
    else:
        assert row[STORED["key"]].startswith("local:row:")


def test_inbound_internal_and_unrated_calls_are_told_apart() -> None:
    inbound = BASE.replace('"PJSIP/201-0000000a","PJSIP/mts-0000000c"',
                           '"PJSIP/tele2-00000001","PJSIP/201-00000002"')
    internal = BASE.replace("PJSIP/mts-0000000c", "PJSIP/301-0000000c")
    unknown = BASE.replace("PJSIP/mts-0000000c", "PJSIP/beeline-0000000c")
    no_deck = BASE.replace("PJSIP/mts-0000000c", "PJSIP/tele2-0000000c")
    no_prefix = BASE.replace("+78432000000", "+46701234567")
    # a call to another node's extension, through the edge (its node writes no CDR)
    other_node = BASE.replace("PJSIP/mts-0000000c", "PJSIP/pbxctl_edge-0000000c")
    rows = read("\n".join([inbound, internal, unknown, no_deck, no_prefix, other_node,
                           ""]).encode())
    assert [r[STORED["direction"]] for r in rows] == [
        "inbound", "internal", "outbound", "outbound", "outbound", "internal"]
    assert [r[STORED["unrated_reason"]] for r in rows] == [
        None, None, "unknown carrier beeline", "no rate deck valid at the call's date",
        "no prefix of the deck matches", None]
    assert rows[-1][STORED["carrier"]] is None
    assert all(r[STORED["cost"]] == Decimal(0) for r in rows)


def test_broken_lines_are_quarantined_with_line_and_reason() -> None:
    lines = [
        BASE,
        '"kazan","201","301"',                                    # wrong column count
        BASE.replace("2026-10-23 19:03:26", "2026-13-23 19:03:26", 1),  # bad date
        BASE.replace("2026-10-23 19:03:26", "23.10.2026 19:03", 1),     # bad date format
        BASE.replace(",61,61,", ",61,x,"),                        # bad billsec
        BASE.replace('"DOCUMENTATION"', '"DOCUMENTATION","1795460606.11"'),
        BASE.replace(",61,61,", ",61,\u00b2,"),                   # a digit, not ASCII
        BASE.replace(",61,61,", ",61,9223372036854775807,"),      # would overflow sums
        BASE.replace(",61,61,", ",123456789012345678901,61,"),    # 21 digits
        BASE[:40],                                                # truncated last line
    ]
    data = "\n".join(lines).encode()
    data = data.replace(b'"Anna"', b'"\xff\xfeAnna"', 1)            # line 1 not UTF-8 now
    items = read(data)
    quarantined = {q.line: q.reason for q in items if isinstance(q, Quarantined)}
    seconds = "duration or billsec is not a whole number of seconds below 10,000,000"
    assert quarantined == {
        1: "not UTF-8", 2: "wrong column count 3 (expected 16-21)", 3: "bad date",
        4: "bad date", 5: seconds, 7: seconds, 8: seconds, 9: seconds,
        10: "truncated last line (no line end)"}
    stored = [i for i in items if not isinstance(i, Quarantined)]
    assert len(stored) == 1 and stored[0][STORED["uniqueid"]] == "1795460606.11"


def test_an_unreadable_quote_does_not_stop_the_file() -> None:
    items = read((BASE + '\n"kazan,"oops\n' + BASE.replace("201", "202", 1) + "\n").encode())
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["StoredCdr", "Quarantined", "StoredCdr"]
