"""Queue calls stored once, from the queue_log backfill or live events (the service-level
reports that read them are in ``read/service_levels.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.bulk import insert_new_keys
from pbxctl.db.models import QueueCall
from pbxctl.queues.queue_log import QueueStay, read_queue_log


@dataclass
class QueueLogSummary:
    """What a queue_log import did."""

    stays: int = 0
    inserted: int = 0
    duplicates: int = 0
    bad_lines: int = 0


async def import_queue_log(session: AsyncSession, text: str, node: str) -> QueueLogSummary:
    """Store every finished stay of a queue_log file; a stay already stored is skipped."""
    stays, bad = read_queue_log(text)
    inserted = await store_stays(session, node, stays)
    return QueueLogSummary(stays=len(stays), inserted=inserted,
                           duplicates=len(stays) - inserted, bad_lines=len(bad))


async def store_stays(session: AsyncSession, node: str, stays: list[QueueStay]) -> int:
    """Store stays whose key (node and caller's call id) is new; returns how many."""
    rows = {f"{node}:{s.callid}": {
        "key": f"{node}:{s.callid}", "node": node, "queue": s.queue[:80],
        "entered_at": s.entered_at, "outcome": s.outcome, "wait_seconds": s.wait_seconds,
        "agent": s.agent} for s in stays}
    return len(await insert_new_keys(session, QueueCall, list(rows.values())))
