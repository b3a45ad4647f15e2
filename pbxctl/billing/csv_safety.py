"""Cells safe to open in a spreadsheet (OWASP "CSV injection").

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-``,
``@``, TAB or CR as a formula. Every CSV pbxctl writes passes its cells through
:func:`safe_cell`, which puts a ``'`` before such a cell, so it shows as text.

Two kinds of cell keep their leading ``+`` or ``-`` because they are plainly numbers and
no spreadsheet reads them as anything else, and scripts reading the CSV need them as they
are: an E.164-like number, ``+`` and 1-15 digits (``+78435550101``), and a plain number
with an optional sign and decimal point or comma (``-12.50``, ``-12,50``). Anything else
(``+7 (999)``, ``-2+3``, ``=1+1``, ``@SUM(A1)``) gets the ``'``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMERIC_RE = re.compile(r"\+[0-9]{1,15}|[+-]?[0-9]+([.,][0-9]+)?")


def safe_cell(text: str) -> str:
    """``text``, with a leading ``'`` when a spreadsheet would read it as a formula."""
    if text.startswith(FORMULA_STARTS) and not NUMERIC_RE.fullmatch(text):
        return "'" + text
    return text


def safe_row(cells: Iterable[str]) -> list[str]:
    """Every cell of a row through :func:`safe_cell`."""
    return [safe_cell(cell) for cell in cells]
