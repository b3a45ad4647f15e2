"""Department spend caps and the brake that enforces them.

A cap counts a department's outbound calls priced in the cap's currency from the first of
the month in the department's own zone, exactly as ``report costs`` counts its call cost
(the same running totals, rounded the same way), plus an estimate of its answered calls
still in flight. ``serve`` checks every few seconds (:meth:`SpendService.check`): at the
warning level it queues ``spend.warning``; at the cap it blocks the department's outbound
calls on every node through AstDB (emergency codes still go out: the dialplan checks the
block only for numbers), queues ``spend.blocked`` and writes an audit row. The block
lives in AstDB, so it holds while ``serve`` or Asterisk restart. ``unblock`` lifts it at
once, for the rest of the month or until a date; a new month lifts it by itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl import names
from pbxctl import validation as v
from pbxctl.asterisk.ami import AmiClient
from pbxctl.billing.rating import round_money
from pbxctl.billing.spend import Cap, steps
from pbxctl.db.models import DepartmentLimit, Node, SpendState, utcnow
from pbxctl.errors import AmiError, NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail, Snapshot
from pbxctl.services.live_switches import astdb_delete, astdb_put
from pbxctl.services.read.reports import department_zones
from pbxctl.services.read.spend import (
    department_costs,
    month_end,
    month_label,
    standing,
)
from pbxctl.webhooks.events import spend_event
from pbxctl.webhooks.outbox import enqueue

log = logging.getLogger(__name__)
Connector = Callable[[Node], Awaitable[AmiClient]]
MAX_CAP = Decimal("1000000000")
BLOCKED = "blocked"                       # the AstDB value of a block
_AMOUNT_RE = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")
# Spend of calls in flight, by (department, currency).
InFlight = Mapping[tuple[str, str], Decimal]


@dataclass(frozen=True)
class BrakeAction:
    """What one check did to a department (for the log and the metrics)."""

    department: str
    action: str              # warned, blocked, unblocked, failed (a node refused)
    spent: Decimal
    cap: Decimal
    currency: str


def parse_amount(field: str, text: str) -> Decimal:
    """A cap like ``5000`` or ``5000.50``: positive, at most two decimals."""
    if not _AMOUNT_RE.fullmatch(text.strip()):
        raise ValidationError(field, f"{text!r} is not an amount like 5000 or 5000.50")
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise ValidationError(field, f"{text!r} is not an amount") from None
    if not 0 < amount < MAX_CAP:
        raise ValidationError(field, "must be more than 0 and less than 1000000000")
    return amount.quantize(Decimal("0.01"))


def limit_snapshot(limit: DepartmentLimit) -> Snapshot:
    """A cap as the audit trail and ``department limits`` show it."""
    return {"monthly": str(limit.monthly_cap), "warn_at_percent": limit.warn_percent,
            "currency": limit.currency}


class SpendService:
    """Caps set, listed and removed; blocks made (by ``serve``), lifted and reported."""

    def __init__(self, session: AsyncSession, audit: AuditTrail, connect: Connector) -> None:
        self._session = session
        self._audit = audit
        self._connect = connect

    async def set_limit(self, department: str, monthly: str, warn_at: int = 80,
                        currency: str = "RUB") -> DepartmentLimit:
        """Cap ``department``'s monthly spend (``warn_at`` percent of it warns)."""
        department = v.slug("department", department)
        cap = parse_amount("monthly", monthly)
        if not 1 <= warn_at <= 100:
            raise ValidationError("warn_at", "a percentage from 1 to 100")
        currency = v.currency("currency", currency)
        limit = await self._session.get(DepartmentLimit, department)
        before = limit_snapshot(limit) if limit else None
        if limit is None:
            limit = DepartmentLimit(department=department)
            self._session.add(limit)
        limit.monthly_cap, limit.warn_percent, limit.currency = cap, warn_at, currency
        limit.set_at = utcnow()
        await self._session.flush()
        after = limit_snapshot(limit)
        if after != before:
            self._audit.record("department.limit", "department", department,
                               before=before, after=after)
        return limit

    async def remove_limit(self, department: str) -> None:
        """Take ``department``'s cap away; a block in force is lifted at once."""
        department = v.slug("department", department)
        limit = await self._session.get(DepartmentLimit, department)
        if limit is None:
            raise NotFoundError(f"department {department!r} has no limit", "department")
        now = utcnow()
        blocks = (await self._session.scalars(select(SpendState).where(
            SpendState.department == department, SpendState.blocked_at.is_not(None),
            SpendState.lifted_until.is_(None)))).all()
        if blocks:
            await self._lift_on_nodes(department)
        for state in blocks:
            state.lifted_until = now
        self._audit.record("department.limit.remove", "department", department,
                           before=limit_snapshot(limit),
                           detail="its block was lifted" if blocks else None)
        await self._session.delete(limit)

    async def limits(self) -> list[DepartmentLimit]:
        """Every cap, by department."""
        return list((await self._session.scalars(
            select(DepartmentLimit).order_by(DepartmentLimit.department))).all())

    async def unblock(self, department: str, until: date | None = None,
                      now: datetime | None = None) -> datetime:
        """Lift ``department``'s block at once, until the start of ``until`` (its zone)
        or, without it, for the rest of the month; returns when the unblock ends."""
        department = v.slug("department", department)
        now = now or utcnow()
        zone = (await department_zones(self._session)).get(department, "UTC")
        label = month_label(now, zone)
        last = month_end(label, zone)
        if until is None:
            ends = last
        else:
            ends = datetime.combine(until, time(), ZoneInfo(zone)).astimezone(UTC)
            if ends <= now:
                raise ValidationError("until", f"{until} has begun already in {zone}")
            ends = min(ends, last)    # a new month starts unblocked anyway
        state = await self._session.get(SpendState, (department, label))
        if state is None or not standing(state, now).blocked:
            raise NotFoundError(f"department {department!r} is not blocked", "department")
        await self._lift_on_nodes(department)
        before = {"blocked_at": state.blocked_at.isoformat() if state.blocked_at else None,
                  "unblocked_until": state.lifted_until.isoformat()
                  if state.lifted_until else None}
        state.lifted_until = ends
        self._audit.record("spend.unblock", "department", department, before=before,
                           after={"unblocked_until": ends.isoformat()})
        return ends

    async def check(self, in_flight: InFlight | None = None, now: datetime | None = None
                    ) -> list[BrakeAction]:
        """The brake's round (``serve``): each capped department's spend this month plus
        ``in_flight``; warn, block, end unblocks whose time is up and lift the blocks of
        months gone by. A block reaches every node before it is stored: when a node
        refuses, the department's block is not stored (action ``failed``) and the next
        round tries again, while the other departments are braked as usual."""
        now = now or utcnow()
        in_flight = in_flight or {}
        zones = await department_zones(self._session)
        actions: list[BrakeAction] = []
        costs: dict[str, dict[tuple[str, str], Decimal]] = {}
        current: set[tuple[str, str]] = set()
        for limit in await self.limits():
            zone = zones.get(limit.department, "UTC")
            label = month_label(now, zone)
            current.add((limit.department, label))
            if label not in costs:
                costs[label] = await department_costs(self._session, label)
            key = (limit.department, limit.currency)
            spent = costs[label].get(key, Decimal(0)) + in_flight.get(key, Decimal(0))
            actions += await self._brake(limit, label, spent, now)
        actions += await self._lift_gone_by(current, now)
        return actions

    async def _brake(self, limit: DepartmentLimit, label: str, spent: Decimal,
                     now: datetime) -> list[BrakeAction]:
        department = limit.department
        state = await self._session.get(SpendState, (department, label))
        if state is None:
            state = SpendState(department=department, month=label, spent=spent)
            self._session.add(state)
        if state.lifted_until is not None and now >= state.lifted_until:
            state.lifted_until = None        # the unblock is over: the cap counts again
            state.blocked_at = None
        state.spent, state.checked_at = spent, now
        cap = Cap(limit.monthly_cap, limit.warn_percent)
        todo = steps(round_money(spent), cap, standing(state, now))
        actions = []
        payload = {"department": department, "month": label, "spent": str(round_money(spent)),
                   "cap": str(cap.monthly), "warn_at": str(cap.warn_level),
                   "currency": limit.currency}
        if todo.warn:
            state.warned_at = now
            self._audit.record("spend.warning", "department", department, after=payload)
            await enqueue(self._session, [spend_event("spend.warning", department, label,
                                                      now, payload)])
            actions.append(BrakeAction(department, "warned", spent, cap.monthly,
                                       limit.currency))
        if todo.block:
            try:
                await self._block_on_nodes(department)
            except AmiError as error:   # tried again next round; blocked where it could
                log.error("spend brake: %s", error)
                actions.append(BrakeAction(department, "failed", spent, cap.monthly,
                                           limit.currency))
                await self._session.flush()
                return actions
            state.blocked_at = now
            self._audit.record("spend.block", "department", department, after=payload,
                               detail=f"spent {payload['spent']} of {cap.monthly} "
                                      f"{limit.currency}: outbound calls blocked")
            await enqueue(self._session, [spend_event("spend.blocked", department, label,
                                                      now, payload)])
            actions.append(BrakeAction(department, "blocked", spent, cap.monthly,
                                       limit.currency))
        await self._session.flush()
        return actions

    async def _lift_gone_by(self, current: set[tuple[str, str]], now: datetime
                            ) -> list[BrakeAction]:
        """Blocks of months gone by (or of caps removed meanwhile) lifted."""
        blocked = (await self._session.scalars(select(SpendState).where(
            SpendState.blocked_at.is_not(None), SpendState.lifted_until.is_(None)))).all()
        actions = []
        for state in blocked:
            if (state.department, state.month) in current:
                continue
            try:
                await self._lift_on_nodes(state.department)
            except AmiError as error:   # tried again next round
                log.error("spend brake: %s", error)
                actions.append(BrakeAction(state.department, "failed", state.spent,
                                           Decimal(0), ""))
                continue
            state.lifted_until = now
            self._audit.record("spend.unblock", "department", state.department,
                               detail=f"month {state.month} is over")
            actions.append(BrakeAction(state.department, "unblocked", state.spent,
                                       Decimal(0), ""))
        return actions

    async def blocked_departments(self) -> list[str]:
        """Departments blocked now (for ``serve`` to carry to nodes after a restart)."""
        states = (await self._session.scalars(select(SpendState).where(
            SpendState.blocked_at.is_not(None), SpendState.lifted_until.is_(None)))).all()
        return sorted({state.department for state in states})

    async def block_on_nodes(self, department: str) -> None:
        """Put ``department``'s block on every node (again)."""
        await self._block_on_nodes(department)

    async def _block_on_nodes(self, department: str) -> None:
        await self._on_nodes(department, block=True)

    async def _lift_on_nodes(self, department: str) -> None:
        await self._on_nodes(department, block=False)

    async def _on_nodes(self, department: str, block: bool) -> None:
        """Put (or delete) ``department``'s block on every node; a node that fails does
        not stop the others, and the failures are raised together at the end."""
        failed = []
        for node in await self._nodes():
            try:
                ami = await self._connect(node)
                try:
                    if block:
                        await astdb_put(ami, names.ASTERISK.spend_family, department, BLOCKED)
                    else:
                        await astdb_delete(ami, names.ASTERISK.spend_family, department)
                finally:
                    await ami.close()
            except (AmiError, OSError) as error:
                failed.append(f"{node.name}: {error}")
        if failed:
            raise AmiError(f"could not {'block' if block else 'lift the block of'} "
                           f"department {department} on " + "; ".join(failed))

    async def _nodes(self) -> list[Node]:
        return list((await self._session.scalars(select(Node).order_by(Node.name))).all())

