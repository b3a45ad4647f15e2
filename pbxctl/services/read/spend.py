"""``report spend``: each department's spend this month (or in a given one), its cap and
what the spend brake did. Spend is counted exactly as ``report costs`` counts call cost."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.billing.periods import month_range_utc, parse_month
from pbxctl.billing.spend import Cap, Standing, state_label
from pbxctl.db.models import DepartmentLimit, SpendState, utcnow
from pbxctl.services.read.reports import DEFAULT_ZONE, ReportService, department_zones

SPEND_COLUMNS = ("month", "department", "spent", "currency", "cap", "warn_at", "state",
                 "blocked_at", "unblocked_until")


@dataclass(frozen=True)
class SpendRow:
    """A department's month in one currency: the stored calls' cost, its cap (if any)
    and the brake's state."""

    month: str
    department: str
    spent: Decimal
    currency: str
    cap: Decimal | None
    warn_at: Decimal | None
    state: str
    blocked_at: datetime | None
    unblocked_until: datetime | None


def month_label(moment: datetime, zone: str) -> str:
    """The month (``2026-11``) ``moment`` falls in, in ``zone``."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local.year:04d}-{local.month:02d}"


def month_end(label: str, zone: str) -> datetime:
    """The end of month ``label`` in ``zone``, in UTC."""
    return month_range_utc(*parse_month("month", label), zone)[1]


def standing(state: SpendState | None, now: datetime) -> Standing:
    """What the brake has done in a department's month, as of ``now``."""
    if state is None:
        return Standing()
    lifted = state.lifted_until is not None and now < state.lifted_until
    blocked = state.blocked_at is not None and (state.lifted_until is None or lifted)
    return Standing(state.warned_at is not None, blocked, lifted)


async def department_costs(session: AsyncSession, label: str
                           ) -> dict[tuple[str, str], Decimal]:
    """Call cost of month ``label`` per (department, currency), as ``report costs``
    gives it (each department's month in its own zone, rounded to the cent)."""
    report = await ReportService(session).costs(*parse_month("month", label))
    return {(row.department, row.currency): row.call_cost for row in report.rows
            if row.outbound_calls}


async def spend_report(session: AsyncSession, month: str | None = None,
                       now: datetime | None = None) -> list[SpendRow]:
    """Each department's spend in ``month`` (default: its current one, in its own zone)
    per currency, with its cap and the brake's state; capped departments always appear."""
    now = now or utcnow()
    if month is not None:
        parse_month("month", month)
    zones = await department_zones(session)
    limits = {limit.department: limit for limit in (await session.scalars(
        select(DepartmentLimit))).all()}
    spent: dict[tuple[str, str], Decimal] = {}
    labels = ({month} if month is not None else
              {month_label(now, zone) for zone in {*zones.values(), DEFAULT_ZONE}})
    for label in sorted(labels):
        for key, amount in (await department_costs(session, label)).items():
            if month is not None or label == month_label(now, zones.get(key[0], DEFAULT_ZONE)):
                spent[key] = amount
    for department, limit in limits.items():
        spent.setdefault((department, limit.currency), Decimal("0.00"))
    rows = []
    for (department, currency), amount in sorted(spent.items()):
        label = month or month_label(now, zones.get(department, DEFAULT_ZONE))
        capped = limits.get(department)
        cap = (Cap(capped.monthly_cap, capped.warn_percent)
               if capped is not None and capped.currency == currency else None)
        state = await session.get(SpendState, (department, label)) if cap else None
        now_standing = standing(state, now)
        rows.append(SpendRow(
            label, department, amount, currency, cap.monthly if cap else None,
            cap.warn_level if cap else None, state_label(now_standing, amount, cap),
            state.blocked_at if state and now_standing.blocked else None,
            state.lifted_until if state and now_standing.lifted else None))
    return rows
