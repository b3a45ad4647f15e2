"""Spreadsheet formula injection (issue 11, finding 4): the rule of every CSV cell."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pbxctl.billing.csv_safety import FORMULA_STARTS, INVISIBLE, NUMERIC_RE, safe_cell


@pytest.mark.parametrize("text", [
    '=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "=1+1", "+7 (999) 123", "-2+3",
    "@SUM(A1:A2)", "+cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "-", "+", "=",
    "\n=1+1", "\u200b=1+1", "\u202e\ufeff@SUM(A1)", "\ufeff+1", "\uff1d1+1", "\uff0b7",
    "\uff0d2", "\uff20SUM(A1)", "\u2066-2+3",
])
def test_formulas_get_a_quote(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", [
    "+78435550101", "+1", "-12.50", "-12,50", "12.50", "0", "kazan", "201", "", "'=1",
    " =1", "Ivanov, Ivan",
])
def test_numbers_and_plain_text_stay(text: str) -> None:
    assert safe_cell(text) == text


@given(st.text(alphabet=st.sampled_from("=+-@\t\r\n0123456789.,()|!' aZ\uff1d\uff0b\uff0d"
                                         "\uff20" + INVISIBLE), max_size=20)
       | st.text(max_size=20))
def test_no_cell_starts_a_formula_unless_it_is_a_number(text: str) -> None:
    cell = safe_cell(text)
    assert not cell.lstrip(INVISIBLE).startswith(FORMULA_STARTS) or NUMERIC_RE.fullmatch(cell)
    assert cell in (text, "'" + text)


def test_every_module_that_writes_csv_uses_the_rule() -> None:
    package = Path(__file__).resolve().parent.parent.parent / "pbxctl"
    writers = {path.relative_to(package).as_posix() for path in package.rglob("*.py")
               if re.search(r"csv\.(writer|DictWriter)\(", path.read_text())}
    assert writers == {"billing/formats.py", "numbering.py", "services/numbers.py"}
    for name in writers:
        assert re.search(r"\bsafe_(cell|row)\(", (package / name).read_text()), name
