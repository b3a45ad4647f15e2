"""Cells safe to open in a spreadsheet (OWASP "CSV injection").

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-``,
``@``, TAB, CR or LF as a formula, some also the full-width ``＝＋－＠``, and invisible
characters before them (zero-width, bidi marks, a BOM) do not stop it. Every CSV pbxctl
writes passes its cells through :func:`safe_cell`, which puts a ``'`` before a cell whose
first visible character is one of these, so it shows as text.

Two kinds of cell keep their leading ``+`` or ``-`` because they are plainly numbers and
no spreadsheet reads them as anything else, and scripts reading the CSV need them as they
are: an E.164-like number, ``+`` and 1-15 digits (``+78435550101``), and a plain number
with an optional sign and decimal point or comma (``-12.50``, ``-12,50``). Anything else
(``+7 (999)``, ``-2+3``, ``=1+1``, ``@SUM(A1)``) gets the ``'``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n",
                  "\uff1d", "\uff0b", "\uff0d", "\uff20")
# Zero-width space/joiners, LRM/RLM, bidi embeddings, overrides and isolates, BOM.
INVISIBLE = "\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e" \
            "\u2066\u2067\u2068\u2069\ufeff"
NUMERIC_RE = re.compile(r"\+[0-9]{1,15}|[+-]?[0-9]+([.,][0-9]+)?")


def safe_cell(text: str) -> str:
    """``text``, with a leading ``'`` when a spreadsheet would read it as a formula."""
    if text.lstrip(INVISIBLE).startswith(FORMULA_STARTS) and not NUMERIC_RE.fullmatch(text):
        return "'" + text
    return text


def safe_row(cells: Iterable[str]) -> list[str]:
    """Every cell of a row through :func:`safe_cell`."""
    return [safe_cell(cell) for cell in cells]
