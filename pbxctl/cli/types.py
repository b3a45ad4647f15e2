"""Parameter types commands share, bounded so that no value click accepts can overflow
the database or the clock."""

from __future__ import annotations

import math
from typing import Any

import click

from pbxctl.validation import MAX_ROW_ID

ROW_ID = click.IntRange(1, MAX_ROW_ID)
"""A database row id (webhook, message): what their INTEGER (signed 32-bit) column holds."""


class FiniteFloatRange(click.FloatRange):
    """A float within a range, NaN refused too (it compares as inside every range)."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        """The number, or a usage error."""
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number
