"""CSV import line numbers (issue 11 review): a record's number is the line it starts on."""

from __future__ import annotations

import csv

import pytest

from pbxctl.errors import ValidationError
from pbxctl.validation import CsvRows


def test_a_quoted_line_break_does_not_shift_later_line_numbers() -> None:
    text = 'name,note\nkazan,"two\nlines"\nufa,x\n'
    assert [line for line, _row in CsvRows(text)] == [2, 4]


def test_a_bad_record_after_a_multi_line_field_names_its_own_line() -> None:
    text = 'name,note\nkazan,"two\nlines"\nufa,' + "x" * (csv.field_size_limit() + 1) + "\n"
    with pytest.raises(ValidationError, match="line 4:"):
        list(CsvRows(text))
