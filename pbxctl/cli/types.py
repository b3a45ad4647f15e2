"""Parameter types commands share, bounded so that no value click accepts can overflow
the database or the clock."""

from __future__ import annotations

import click

ROW_ID = click.IntRange(1, 2**63 - 1)
"""A database row id (webhook, message): what a signed 64-bit column holds."""
