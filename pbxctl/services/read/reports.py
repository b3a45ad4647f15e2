"""Cost reports for accountants: one row per department and month, and the calls behind."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.billing.formats import to_csv, to_json, to_xlsx
from pbxctl.billing.periods import month_days, month_range_utc, quarter_hour, rental_share
from pbxctl.billing.rating import round_money
from pbxctl.db.models import Branch, Carrier, Cdr, CostTotal, Extension, NumberPeriod

REPORT_COLUMNS = ("month", "department", "outbound_calls", "billable_seconds",
                  "charged_seconds", "call_cost", "number_rental", "total", "currency")
DETAIL_COLUMNS = ("time", "department", "extension", "destination", "carrier", "prefix",
                  "billsec", "charged_seconds", "cost", "currency")
DEFAULT_ZONE = "UTC"
DEFAULT_CURRENCY = "RUB"


@dataclass(frozen=True)
class CostRow:
    """One department's month in one currency."""

    month: str
    department: str
    outbound_calls: int
    billable_seconds: int
    charged_seconds: int
    call_cost: Decimal
    number_rental: Decimal
    total: Decimal
    currency: str


@dataclass(frozen=True)
class DetailRow:
    """One rated call, its time in the department's zone."""

    time: str
    department: str
    extension: str
    destination: str
    carrier: str
    prefix: str
    billsec: int
    charged_seconds: int
    cost: Decimal
    currency: str


@dataclass(frozen=True)
class CostReport:
    """A month's report; ``unrated`` outbound calls are counted, never dropped silently."""

    month: str
    rows: list[CostRow]
    details: list[DetailRow]
    unrated: int


def render_costs(result: CostReport, fmt: str, detail: bool, excel: bool) -> bytes:
    """The report as json, csv or xlsx (detail rows instead of totals with ``detail``);
    ``excel`` makes the CSV variant for Excel in a Swedish or Russian locale."""
    rows, columns = ((result.details, DETAIL_COLUMNS) if detail
                     else (result.rows, REPORT_COLUMNS))
    if fmt == "json":
        return to_json(rows, {"month": result.month, "unrated_calls": result.unrated})
    if fmt == "xlsx":
        sheets: list[tuple[str, Sequence[Any], Sequence[str]]] = [
            ("costs", result.rows, REPORT_COLUMNS)]
        if detail:
            sheets.append(("calls", result.details, DETAIL_COLUMNS))
        return to_xlsx(sheets)
    return to_csv(rows, columns, excel=excel)


async def department_zones(session: AsyncSession) -> dict[str, str]:
    """Each department's time zone: its branch's, or the branch of the phones that carry it."""
    zones = {slug: tz for slug, tz in (await session.execute(
        select(Branch.slug, Branch.timezone))).all()}
    for department, tz in (await session.execute(
            select(Extension.department, Branch.timezone).join(Extension.branch)
            .where(Extension.department.is_not(None)))).all():
        if department is not None:
            zones.setdefault(department, tz)
    return zones


class ReportService:
    """Builds cost reports from stored CDRs and the number history."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def costs(self, year: int, month: int, department: str | None = None,
                    detail: bool = False) -> CostReport:
        """The month's costs per department (each month counted in its own zone)."""
        label = f"{year:04d}-{month:02d}"
        zones = await department_zones(self._session)
        calls: dict[tuple[str, str], list[int | Decimal]] = defaultdict(
            lambda: [0, 0, 0, Decimal(0)])
        details: list[DetailRow] = []
        unrated = 0
        months = [(zone, *month_range_utc(year, month, zone))
                  for zone in _zones_counted(zones, department)]
        # The running totals, each department's quarter hours cut to its own month.
        in_months = or_(*(and_(_in_group(CostTotal.department, zones, department, zone),
                               CostTotal.quarter_hour >= quarter_hour(start),
                               CostTotal.quarter_hour < quarter_hour(end))
                          for zone, start, end in months))
        query = (select(CostTotal.department, CostTotal.currency, func.sum(CostTotal.calls),
                        func.sum(CostTotal.billsec), func.sum(CostTotal.charged_seconds),
                        func.sum(CostTotal.cost), func.sum(CostTotal.unrated))
                 .where(in_months).group_by(CostTotal.department, CostTotal.currency))
        for dept, currency, count, billsec, charged, cost, not_rated in (
                await self._session.execute(query)).all():
            unrated += int(not_rated or 0)
            if not count:
                continue
            totals = calls[(dept, currency or DEFAULT_CURRENCY)]
            totals[0] += count
            totals[1] += int(billsec or 0)
            totals[2] += int(charged or 0)
            totals[3] += Decimal(cost or 0)
        if detail:
            outbound = [Cdr.direction == "outbound", Cdr.billsec > 0]
            for zone, start, end in months:
                in_group = _in_group(Cdr.department, zones, department, zone)
                details += await self._details(
                    [*outbound, in_group, Cdr.start >= start, Cdr.start < end], zone)
        rental = await self._rental(year, month, zones, department)
        keys = sorted(set(calls) | set(rental))
        rows = []
        for dept, currency in keys:
            n_calls, n_billsec, n_charged, total_cost = calls.get((dept, currency),
                                                                  [0, 0, 0, Decimal(0)])
            call_cost = round_money(Decimal(total_cost))
            number_rental = round_money(rental.get((dept, currency), Decimal(0)))
            rows.append(CostRow(label, dept, int(n_calls), int(n_billsec), int(n_charged),
                                call_cost, number_rental, call_cost + number_rental, currency))
        details.sort(key=lambda d: (d.department, d.time, d.extension))
        return CostReport(label, rows, details, unrated)

    async def _details(self, where: list[ColumnElement[bool]], zone: str
                       ) -> list[DetailRow]:
        rows = (await self._session.execute(
            select(Cdr.start, Cdr.department, Cdr.src, Cdr.destination, Cdr.carrier,
                   Cdr.prefix, Cdr.billsec, Cdr.charged_seconds, Cdr.cost, Cdr.currency)
            .where(*where, Cdr.unrated_reason.is_(None)).order_by(Cdr.start))).all()
        tz = ZoneInfo(zone)
        return [DetailRow(start.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), dept, src,
                          destination or "", carrier or "", prefix or "", billsec, charged,
                          cost, currency or DEFAULT_CURRENCY)
                for start, dept, src, destination, carrier, prefix, billsec, charged, cost,
                currency in rows]

    async def _rental(self, year: int, month: int, zones: dict[str, str],
                      department: str | None) -> dict[tuple[str, str], Decimal]:
        currencies = dict((await self._session.execute(
            select(Carrier.slug, Carrier.currency))).all())
        first, after = month_days(year, month)
        # Wide enough for every zone (UTC+14 to UTC-12); rental_share cuts it exactly.
        start = datetime.combine(first, time(), UTC) - timedelta(hours=14)
        end = datetime.combine(after, time(), UTC) + timedelta(hours=12)
        query = select(NumberPeriod).where(
            NumberPeriod.valid_from < end,
            (NumberPeriod.valid_to.is_(None)) | (NumberPeriod.valid_to > start))
        if department is not None:
            query = query.where(NumberPeriod.branch == department)
        rental: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for period in (await self._session.scalars(query)).all():
            zone = zones.get(period.branch, DEFAULT_ZONE)
            days, amount = rental_share(period.monthly_fee, period.valid_from, period.valid_to,
                                        year, month, zone)
            if days:
                rental[(period.branch, currencies.get(period.carrier, DEFAULT_CURRENCY))] += amount
        return rental


def _zones_counted(zones: dict[str, str], department: str | None) -> list[str]:
    """The zones months are counted in: the department's, or every department's and UTC
    (for departments no branch names)."""
    if department is not None:
        return [zones.get(department, DEFAULT_ZONE)]
    return sorted(set(zones.values()) | {DEFAULT_ZONE})


def _in_group(column: Any, zones: dict[str, str], department: str | None, zone: str
              ) -> ColumnElement[bool]:
    """Which rows (by their ``column`` of departments) count their months in ``zone``:
    its branches' departments, and in UTC also those no branch names."""
    if department is not None:
        return column == department        # type: ignore[no-any-return]
    in_zone: ColumnElement[bool] = column.in_(
        [dept for dept, dept_zone in zones.items() if dept_zone == zone])
    if zone != DEFAULT_ZONE:
        return in_zone
    return or_(in_zone, column.not_in(list(zones)) if zones else true())
