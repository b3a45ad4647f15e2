"""Months in a branch's time zone, and number rental prorated by days. Pure."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pbxctl.errors import ValidationError

_MONTH_RE = re.compile(r"(20[0-9]{2})-(0[1-9]|1[0-2])")
# Every zone's midnight (offsets in whole quarter hours) starts a quarter hour of UTC.
QUARTER_SECONDS = 900


def parse_month(field: str, text: str) -> tuple[int, int]:
    """``2026-10`` -> (2026, 10)."""
    match = _MONTH_RE.fullmatch(text)
    if not match:
        raise ValidationError(field, f"{text!r} is not a month like 2026-10")
    return int(match.group(1)), int(match.group(2))


def month_days(year: int, month: int) -> tuple[date, date]:
    """First day of the month and first day of the next one."""
    first = date(year, month, 1)
    return first, first + timedelta(days=calendar.monthrange(year, month)[1])


def month_range_utc(year: int, month: int, zone: str) -> tuple[datetime, datetime]:
    """The month as a half-open UTC interval, its days counted in ``zone``."""
    first, after = month_days(year, month)
    tz = ZoneInfo(zone)
    return (datetime.combine(first, time(), tz).astimezone(UTC),
            datetime.combine(after, time(), tz).astimezone(UTC))


def quarter_hour(moment: datetime) -> int:
    """Quarter hours from 1970-01-01 UTC to ``moment`` (rounded down)."""
    return int(moment.timestamp()) // QUARTER_SECONDS


def local_date(moment: datetime, zone: str) -> date:
    """The calendar date of ``moment`` in ``zone``."""
    return moment.astimezone(ZoneInfo(zone)).date()


def rental_share(fee: Decimal, valid_from: datetime, valid_to: datetime | None,
                 year: int, month: int, zone: str) -> tuple[int, Decimal]:
    """(days, amount) of a monthly fee for the part of the month a number was held.

    The day a number is added (or arrives from another branch) is charged; the day it is
    released (or leaves) is not. Amounts are exact; the report rounds the sums.
    """
    first, after = month_days(year, month)
    start = max(first, local_date(valid_from, zone))
    end = min(after, local_date(valid_to, zone)) if valid_to is not None else after
    days = max(0, (end - start).days)
    total_days = (after - first).days
    return days, fee * days / total_days
