"""Service levels of the queues: the monthly report and today's figure per queue, in
each branch's time zone."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl.billing.periods import month_range_utc
from pbxctl.db.models import CallQueue, QueueCall
from pbxctl.errors import ValidationError
from pbxctl.queues.service_level import SlaRow, service_level_row
from pbxctl.services.queues import queue_section


async def sla_report(session: AsyncSession, year: int, month: int, queue_ref: str | None = None,
                     by: str = "queue") -> list[SlaRow]:
    """Service level per queue (or per queue and day) for a month in each branch's zone."""
    if by not in ("queue", "day"):
        raise ValidationError("by", "use queue or day")
    queues = (await session.scalars(
        select(CallQueue).options(selectinload(CallQueue.branch)))).all()
    if queue_ref is not None:
        queues = [q for q in queues if q.ref == queue_ref]
        if not queues:
            raise ValidationError("queue", f"no queue {queue_ref!r}")
    rows = []
    label = f"{year:04d}-{month:02d}"
    for queue in sorted(queues, key=lambda q: q.ref):
        zone = queue.branch.timezone
        start, end = month_range_utc(year, month, zone)
        calls = (await session.execute(
            select(QueueCall.entered_at, QueueCall.outcome, QueueCall.wait_seconds)
            .where(QueueCall.queue == queue_section(queue.branch.slug, queue.name),
                   QueueCall.entered_at >= start, QueueCall.entered_at < end))).all()
        groups: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for entered_at, outcome, wait in calls:
            period = (entered_at.astimezone(ZoneInfo(zone)).date().isoformat()
                      if by == "day" else label)
            groups[period].append((outcome, wait))
        if by == "queue":
            groups.setdefault(label, [])
        for period in sorted(groups):
            rows.append(service_level_row(period, queue.ref, queue.service_level,
                                          queue.target_percent, groups[period]))
    return rows


async def service_levels_today(session: AsyncSession, now: datetime) -> dict[str, str]:
    """Each queue's service level so far today (its branch's day), by Asterisk queue name."""
    queues = (await session.scalars(
        select(CallQueue).options(selectinload(CallQueue.branch)))).all()
    levels = {}
    for queue in queues:
        today = now.astimezone(ZoneInfo(queue.branch.timezone)).date()
        rows = await sla_report(session, today.year, today.month, queue.ref, by="day")
        row = next((r for r in rows if r.period == today.isoformat()), None)
        levels[queue_section(queue.branch.slug, queue.name)] = (
            f"{row.service_level}% of {row.offered}" if row else "no calls yet")
    return levels
