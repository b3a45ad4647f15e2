"""CDRs as Asterisk writes them: cdr_csv lines and AMI ``Cdr`` events, checked, classified
and rated into rows ready to store. Pure: bytes and dicts in, tuples out."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from pbxctl import names
from pbxctl.billing.rating import RateBook, call_cost

BASE_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
                "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
                "disposition", "amaflags")
NEW_COLUMNS = ("peeraccount", "linkedid", "sequence")


class StoredCdr(NamedTuple):
    """A classified and rated CDR, its fields in the order of the cdrs table (after id)."""

    key: str
    node: str
    start: datetime
    answer: datetime | None
    end: datetime | None
    src: str
    dst: str
    channel: str
    dstchannel: str
    disposition: str
    duration: int
    billsec: int
    department: str
    uniqueid: str
    direction: str                 # outbound, inbound or internal
    carrier: str | None
    destination: str | None
    charged_seconds: int
    cost: Decimal
    currency: str | None
    prefix: str | None
    deck_id: int | None
    unrated_reason: str | None     # None when priced, or when it needs no price


class Rating(NamedTuple):
    """What a deck says of one outbound call."""

    charged_seconds: int
    cost: Decimal
    currency: str | None
    prefix: str | None
    deck_id: int | None
    unrated_reason: str | None     # why no deck priced it; None when priced or free


# The columns of a stored CDR, in the order of the cdrs table (after id).
STORED_COLUMNS = StoredCdr._fields
UNIQUEID_RE = re.compile(r"(?:[A-Za-z0-9._-]+-)?[0-9]{9,}\.[0-9]+")
# ASCII digits only (str.isdigit also takes "²"), and few enough for any call: a bigger
# number is a broken line, not a call, and would overflow the reports' sums.
_SECONDS_RE = re.compile(r"[0-9]{1,7}")
_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
DISPOSITIONS = frozenset({"ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CONGESTION"})
_ZERO = Decimal("0.0000")

Times = tuple[datetime, datetime | None, datetime | None]


@dataclass(frozen=True)
class Quarantined:
    """A line that could not be read, and why."""

    line: int
    reason: str
    raw: str


# Positions in a normalised row: the 16 base columns, then uniqueid, userfield and the
# three newcdrcolumns, whatever layout the file had.
ACCOUNT, SRC, DST, CHANNEL, DSTCHANNEL = 0, 1, 2, 5, 6
START, ANSWER, END, DURATION, BILLSEC, DISPOSITION = 9, 10, 11, 12, 13, 14
UNIQUEID, USERFIELD, SEQUENCE = 16, 17, 20
WIDTH = 21


@dataclass
class Classifier:
    """Tells outbound, inbound and internal calls apart and rates the outbound ones."""

    carriers: frozenset[str]
    rates: RateBook
    unrated: int = field(default=0)

    def row(self, node: str, cols: list[str], key: str, times: Times) -> StoredCdr:
        """One stored row from a normalised CDR row and its parsed times (UTC)."""
        src_endpoint = _endpoint(cols[CHANNEL])
        dst_endpoint = _endpoint(cols[DSTCHANNEL])
        billsec = int(cols[BILLSEC])
        carrier = destination = currency = prefix = reason = None
        deck_id = None
        charged, cost = 0, _ZERO
        if _is_carrier(dst_endpoint):
            direction, carrier = "outbound", dst_endpoint
            destination = cols[DST][:32]
            charged, cost, currency, prefix, deck_id, reason = self.rate(
                carrier, destination, cols[START][:10], billsec)
        elif _is_carrier(src_endpoint):
            direction, carrier, destination = "inbound", src_endpoint, cols[DST][:32]
        else:
            direction = "internal"
        return StoredCdr(
            key, node, times[0], times[1], times[2], cols[SRC][:80], cols[DST][:80],
            cols[CHANNEL][:80], cols[DSTCHANNEL][:80], cols[DISPOSITION],
            int(cols[DURATION]), billsec, cols[ACCOUNT][:32], cols[UNIQUEID][:64],
            direction, carrier, destination, charged, cost, currency, prefix, deck_id, reason)

    def rate(self, carrier: str, destination: str, day: str, billsec: int) -> Rating:
        """What one call through ``carrier`` costs; a call with no billable seconds costs
        nothing and needs no price."""
        if billsec <= 0:
            return Rating(0, _ZERO, None, None, None, None)
        if carrier not in self.carriers:
            self.unrated += 1
            return Rating(0, _ZERO, None, None, None, f"unknown carrier {carrier[:40]}")
        deck = self.rates.deck(carrier, day)
        if deck is None:
            self.unrated += 1
            return Rating(0, _ZERO, None, None, None, "no rate deck valid at the call's date")
        rate = deck.match(destination.lstrip("+"))
        if rate is None:
            self.unrated += 1
            return Rating(0, _ZERO, deck.currency, None, deck.deck_id,
                          "no prefix of the deck matches")
        charged, cost = call_cost(billsec, rate)
        return Rating(charged, cost, deck.currency, rate.prefix, deck.deck_id, None)


def _is_carrier(endpoint: str) -> bool:
    """Neither a phone (digits) nor the edge (a call to or from another node: internal)."""
    return bool(endpoint) and not endpoint.isdigit() and endpoint != names.ASTERISK.edge_endpoint


def _endpoint(channel: str) -> str:
    """``PJSIP/tele2-0000000b`` -> ``tele2``; empty for anything else."""
    if not channel.startswith("PJSIP/"):
        return ""
    return channel[6:].rpartition("-")[0]


_EMPTY2, _EMPTY3, _EMPTY5 = ["", ""], ["", "", ""], ["", "", "", "", ""]


def normalise(row: list[str]) -> list[str] | None:
    """The row in the 21-column layout, whichever of loguniqueid, loguserfield and
    newcdrcolumns wrote it; None when the column count fits no known layout."""
    count = len(row)
    if count == WIDTH:
        return row
    if count == 18:
        return row + _EMPTY3
    if count == 16:
        return row + _EMPTY5
    if count == 19:
        return row[:16] + _EMPTY2 + row[16:]
    if count in (17, 20):
        extra = row[16]
        ids = [extra, ""] if UNIQUEID_RE.fullmatch(extra) else ["", extra]
        return row[:16] + ids + (row[17:] if count == 20 else _EMPTY3)
    return None


def check(cols: list[str]) -> Times | str:
    """The CDR's start, answer and end (UTC), or why it cannot be used."""
    try:
        start = _utc(cols[START])
        answer = _utc(cols[ANSWER]) if cols[ANSWER] else None
        end = _utc(cols[END]) if cols[END] else None
    except ValueError:
        return "bad date"
    if not (_SECONDS_RE.fullmatch(cols[DURATION]) and _SECONDS_RE.fullmatch(cols[BILLSEC])):
        return "duration or billsec is not a whole number of seconds below 10,000,000"
    if cols[DISPOSITION] not in DISPOSITIONS:
        return f"unknown disposition {cols[DISPOSITION][:20]!r}"
    return start, answer, end


_START_DIGITS = str.maketrans("", "", "-: ")


def _utc(text: str) -> datetime:
    if not _TIME_RE.fullmatch(text):     # fromisoformat alone takes offsets and more
        raise ValueError(text)
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cdr_key(node: str, cols: list[str]) -> str:
    """Unique key: Asterisk's uniqueid and sequence, else the call's start (its digits:
    ``20261001093000``; ``check`` has vouched for it) and a hash of the row itself.
    The start comes first so that a file's keys arrive in nearly ascending order:
    PostgreSQL then appends them to the key index instead of inserting them at random
    places (twice as fast for a file without unique ids)."""
    if cols[UNIQUEID] and cols[SEQUENCE]:
        return f"{node}:{cols[UNIQUEID]}:{cols[SEQUENCE]}"
    digest = hashlib.sha1("\x1f".join(cols).encode(), usedforsecurity=False).hexdigest()
    return f"{node}:row:{cols[START].translate(_START_DIGITS)}:{digest}"


def _decode(data: bytes) -> tuple[str, dict[int, bytes]]:
    """The file as text; lines that are not UTF-8 are blanked and returned by number."""
    try:
        return data.decode("utf-8"), {}
    except UnicodeDecodeError:
        pass
    lines, bad = [], {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            bad[number] = raw
            lines.append("")
    return "\n".join(lines), bad


def prepare_lines(data: bytes, first_line: int = 1, last: bool = True
                  ) -> tuple[list[str], list[Quarantined]]:
    """The lines of ``data`` (the file's lines from ``first_line``), with lines that are
    not UTF-8 and, when ``data`` ends the file, a truncated last line blanked out and
    quarantined."""
    text, not_utf8 = _decode(data)
    offset = first_line - 1
    quarantined = [Quarantined(number + offset, "not UTF-8", raw.decode("utf-8", "replace"))
                   for number, raw in not_utf8.items()]
    lines = text.split("\n")
    truncated_line = len(lines) if last and data and not data.endswith(b"\n") else 0
    if truncated_line and truncated_line not in not_utf8:
        quarantined.append(Quarantined(truncated_line + offset,
                                       "truncated last line (no line end)",
                                       lines[-1].rstrip("\r")))
        lines[-1] = ""
    return lines, quarantined


def classify_lines(lines: list[str], first_line: int, node: str, classifier: Classifier
                   ) -> Iterator[StoredCdr | Quarantined]:
    """Lines (numbered from ``first_line``) as stored rows or quarantined lines."""
    reader = csv.reader(lines)
    row_for = classifier.row
    offset = first_line - 1
    for row in _rows(reader):
        index = reader.line_num - 1
        if not row:
            continue
        if isinstance(row, str):
            yield Quarantined(index + 1 + offset, row, lines[index])
            continue
        cols = normalise(row)
        if cols is None:
            yield Quarantined(index + 1 + offset,
                              f"wrong column count {len(row)} (expected 16-21)", lines[index])
            continue
        times = check(cols)
        if isinstance(times, str):
            yield Quarantined(index + 1 + offset, times, lines[index])
            continue
        yield row_for(node, cols, cdr_key(node, cols), times)


def _rows(reader: Iterable[list[str]]) -> Iterator[list[str] | str]:
    iterator = iter(reader)
    while True:
        try:
            yield next(iterator)
        except StopIteration:
            return
        except csv.Error as exc:
            yield f"unreadable CSV: {exc}"


AMI_FIELDS = {"AccountCode": "accountcode", "Source": "src", "Destination": "dst",
              "DestinationContext": "dcontext", "CallerID": "clid", "Channel": "channel",
              "DestinationChannel": "dstchannel", "LastApplication": "lastapp",
              "LastData": "lastdata", "StartTime": "start", "AnswerTime": "answer",
              "EndTime": "end", "Duration": "duration", "BillableSeconds": "billsec",
              "Disposition": "disposition", "AMAFlags": "amaflags", "UniqueID": "uniqueid",
              "UserField": "userfield", "Sequence": "sequence", "LinkedID": "linkedid"}


def from_ami_event(event: Mapping[str, str]) -> list[str]:
    """An AMI ``Cdr`` event as a normalised row (the layout of a cdr_csv line)."""
    named = {column: str(event.get(name, "") or "") for name, column in AMI_FIELDS.items()}
    return [named.get(column, "") for column in (*BASE_COLUMNS, "uniqueid", "userfield",
                                                 *NEW_COLUMNS)]
