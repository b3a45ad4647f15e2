"""Writing reports: CSV, the Excel-friendly CSV (BOM, ';', decimal comma), JSON, XLSX.

CSV cells go through :func:`pbxctl.billing.csv_safety.safe_cell`; XLSX cells are typed
(strings are written as strings, never as formulas)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pbxctl.billing.csv_safety import safe_row

FORMATS = ("csv", "json", "xlsx")


def _moment(value: datetime) -> str:
    """A UTC moment as ISO 8601 to the second, ``Z`` for UTC."""
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def json_value(value: object) -> object:
    """``value`` as JSON can carry it exactly: money as a decimal string, a date or moment
    as ISO 8601; anything else unchanged."""
    if isinstance(value, Decimal):
        return format(value, "f")
    return value.isoformat() if isinstance(value, datetime | date) else value


def _cell(value: Any, decimal_comma: bool) -> str:
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.replace(".", ",") if decimal_comma else text
    if isinstance(value, datetime):
        return _moment(value)
    return "" if value is None else str(value)


def to_csv(rows: Sequence[Any], columns: Sequence[str], excel: bool = False) -> bytes:
    """CSV with a header; ``excel`` writes what Excel in a Swedish or Russian locale opens
    correctly: UTF-8 with BOM, ';' between fields, decimal comma. Cells a spreadsheet
    would run as formulas get a leading ``'`` (see :mod:`pbxctl.billing.csv_safety`)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if excel else ",", lineterminator="\r\n"
                        if excel else "\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(safe_row(_cell(getattr(row, c), excel) for c in columns))
    text = out.getvalue()
    return ("\ufeff" + text).encode("utf-8") if excel else text.encode("utf-8")


def to_json(rows: Sequence[Any], extra: dict[str, Any] | None = None) -> bytes:
    """JSON: amounts as strings so no float ever touches them."""
    def plain(row: Any) -> dict[str, Any]:
        return {k: (format(v, "f") if isinstance(v, Decimal)
                    else _moment(v) if isinstance(v, datetime) else v)
                for k, v in dataclasses.asdict(row).items()}

    return (json.dumps({**(extra or {}), "rows": [plain(r) for r in rows]},
                       ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def to_xlsx(sheets: Sequence[tuple[str, Sequence[Any], Sequence[str]]]) -> bytes:
    """A workbook with one sheet per (name, rows, columns); amounts are numbers shown with
    their places (2 for totals, 4 for per-call costs)."""
    import xlsxwriter  # only for a workbook: 40 ms of every report's start-up

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    bold = book.add_format({"bold": True})
    money2, money4 = book.add_format({"num_format": "0.00"}), book.add_format(
        {"num_format": "0.0000"})
    for name, rows, columns in sheets:
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, columns, bold)
        for r, row in enumerate(rows, start=1):
            for c, column in enumerate(columns):
                value = getattr(row, column)
                if isinstance(value, Decimal):
                    places = -value.as_tuple().exponent  # type: ignore[operator]
                    sheet.write_number(r, c, float(value), money4 if places > 2 else money2)
                elif isinstance(value, int):
                    sheet.write_number(r, c, value)
                else:
                    sheet.write_string(r, c, "" if value is None else str(value))
        sheet.set_column(0, len(columns) - 1, 16)
    book.close()
    return out.getvalue()
