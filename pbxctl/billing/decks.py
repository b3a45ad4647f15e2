"""Reading rate deck CSV files: ``prefix,destination,rate_per_minute,connect_fee,
min_seconds,increment_seconds[,valid_from]``; every bad line is reported."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from pbxctl.billing.rating import Rate
from pbxctl.errors import ValidationError
from pbxctl.validation import CsvRows

COLUMNS = ("prefix", "destination", "rate_per_minute", "connect_fee", "min_seconds",
           "increment_seconds")
_PREFIX_RE = re.compile(r"[0-9]{1,15}")
_MONEY_RE = re.compile(r"[0-9]{1,8}(\.[0-9]{1,6})?")
_DESTINATION_RE = re.compile(r"[^\x00-\x1f;\"]{0,64}")
MAX_REPORTED_ERRORS = 50


@dataclass(frozen=True)
class ParsedDeck:
    """The rates of one file, grouped by the date they are valid from."""

    by_valid_from: dict[date, list[Rate]]

    @property
    def rows(self) -> int:
        """How many rates the file has."""
        return sum(len(rates) for rates in self.by_valid_from.values())


def parse_deck(text: str, valid_from: date | None) -> ParsedDeck:
    """Check every line; raise one :class:`ValidationError` listing the bad ones (with line
    numbers) so that no deck with an error is ever activated."""
    reader = CsvRows(text)
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ValidationError("file", f"the header lacks {', '.join(missing)}; expected "
                                      f"{','.join(COLUMNS)}[,valid_from]")
    if valid_from is None and "valid_from" not in header:
        raise ValidationError("valid_from", "give `valid_from` or a valid_from column")
    errors: list[str] = []
    decks: dict[date, dict[str, Rate]] = {}
    for line, row in reader:
        try:
            day, rate = _parse_row(row, valid_from)
        except ValueError as exc:
            errors.append(f"line {line}: {exc}")
            continue
        rates = decks.setdefault(day, {})
        if rate.prefix in rates:
            errors.append(f"line {line}: prefix {rate.prefix} appears twice for {day}")
        rates[rate.prefix] = rate
    if errors:
        shown = "; ".join(errors[:MAX_REPORTED_ERRORS])
        more = len(errors) - MAX_REPORTED_ERRORS
        raise ValidationError("file", f"{len(errors)} bad line(s), the deck was not "
                                      f"activated: {shown}" + (f" (+{more} more)" if more > 0
                                                               else ""))
    if not decks:
        raise ValidationError("file", "the deck has no rates")
    return ParsedDeck({day: list(rates.values()) for day, rates in decks.items()})


def _parse_row(row: dict[str | None, str | None], valid_from: date | None
               ) -> tuple[date, Rate]:
    if None in row or any(value is None for value in row.values()):
        raise ValueError("wrong number of columns")
    values = {k: (v or "").strip() for k, v in row.items() if k is not None}
    prefix = values["prefix"].lstrip("+")
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"prefix {values['prefix']!r} is not 1-15 digits")
    if not _DESTINATION_RE.fullmatch(values["destination"]):
        raise ValueError("destination has characters that are not allowed")
    rate_per_minute = _money("rate_per_minute", values["rate_per_minute"])
    connect_fee = _money("connect_fee", values["connect_fee"])
    min_seconds = _seconds("min_seconds", values["min_seconds"], allow_zero=True)
    increment = _seconds("increment_seconds", values["increment_seconds"], allow_zero=False)
    day = valid_from
    if values.get("valid_from"):
        try:
            day = date.fromisoformat(values["valid_from"])
        except ValueError:
            raise ValueError(f"valid_from {values['valid_from']!r} is not a date like "
                             "2026-11-01") from None
    if day is None:
        raise ValueError("no valid_from")
    return day, Rate(prefix, values["destination"], rate_per_minute, connect_fee,
                     min_seconds, increment)


def _money(name: str, text: str) -> Decimal:
    if not _MONEY_RE.fullmatch(text):
        raise ValueError(f"{name} {text!r} is not an amount like 0.9500")
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex already guarantees it
        raise ValueError(f"{name} {text!r} is not an amount") from None


def _seconds(name: str, text: str, allow_zero: bool) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 5:
        raise ValueError(f"{name} {text!r} is not a whole number of seconds")
    value = int(text)
    if value == 0 and not allow_zero:
        raise ValueError(f"{name} must be at least 1")
    return value
