"""The webhook outbox: events queued in the database once per event and webhook, the
messages due for an attempt, and each attempt's outcome. Delivery (``delivery.py``) reads
and writes it; the follower queues into it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.bulk import insert_ignoring
from pbxctl.db.models import Webhook, WebhookAttempt, WebhookMessage, utcnow
from pbxctl.webhooks.events import WebhookEvent


async def enqueue(session: AsyncSession, events: Sequence[WebhookEvent]) -> int:
    """Queue each event for every webhook that wants it; an event already queued for a
    webhook is not queued again. Returns how many messages were considered."""
    if not events:
        return 0
    hooks = (await session.scalars(select(Webhook))).all()
    rows = [{"webhook_id": hook.id, "event": event.name, "event_key": event.key,
             "payload": json.dumps(event.payload, separators=(",", ":"), sort_keys=True),
             "state": "pending", "attempts": 0, "created_at": utcnow(),
             "next_attempt_at": utcnow()}
            for event in events for hook in hooks
            if event.name in hook.events.split(",")
            and (hook.branch is None or hook.branch == event.branch)]
    await insert_ignoring(session, WebhookMessage, rows, ["webhook_id", "event_key"])
    return len(rows)


@dataclass(frozen=True)
class DueMessage:
    """A message to attempt now, with what signing and sending it needs."""

    id: int
    url: str
    secret: str
    event: str
    payload: bytes
    attempts: int


async def claim_due_messages(session: AsyncSession, now: datetime, until: datetime,
                             limit: int) -> list[DueMessage]:
    """Take up to ``limit`` pending messages due by ``now``, oldest first, for this sender
    alone: their next attempt moves to ``until`` in the same statement, so another sender
    (a second ``serve``) passes them by, and takes one up only if this sender never
    records its attempt. PostgreSQL skips rows another sender is claiming (``SKIP
    LOCKED``); SQLite runs one writer at a time, and the claim's own conditions refuse a
    row taken meanwhile."""
    due = (WebhookMessage.state == "pending", WebhookMessage.next_attempt_at <= now)
    oldest = (select(WebhookMessage.id).where(*due)
              .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id).limit(limit)
              .with_for_update(skip_locked=True))
    claimed = (await session.execute(
        update(WebhookMessage).where(WebhookMessage.id.in_(oldest.scalar_subquery()), *due)
        .values(next_attempt_at=until)
        .returning(WebhookMessage.id, WebhookMessage.webhook_id, WebhookMessage.event,
                   WebhookMessage.payload, WebhookMessage.attempts)
        .execution_options(synchronize_session=False))).all()
    hooks = {hook.id: hook for hook in (await session.scalars(
        select(Webhook).where(Webhook.id.in_({row.webhook_id for row in claimed})))).all()}
    return [DueMessage(row.id, hooks[row.webhook_id].url, hooks[row.webhook_id].secret,
                       row.event, row.payload.encode(), row.attempts)
            for row in sorted(claimed, key=lambda row: row.id)]


async def record_attempt(session: AsyncSession, message: DueMessage, *, at: datetime,
                         status: int | None, error: str | None, milliseconds: int,
                         retry_in: timedelta | None) -> str:
    """Log one attempt and move the message on: delivered, retried later, or failed
    (``retry_in`` None after the last attempt). Returns the new state."""
    delivered = status is not None and 200 <= status < 300
    state = "delivered" if delivered else ("pending" if retry_in is not None else "failed")
    session.add(WebhookAttempt(message_id=message.id, attempted_at=at, status=status,
                               error=error[:500] if error else None,
                               milliseconds=milliseconds))
    await session.execute(update(WebhookMessage).where(WebhookMessage.id == message.id).values(
        state=state, attempts=message.attempts + 1,
        delivered_at=at if delivered else None,
        last_error=None if delivered else (error or f"HTTP {status}")[:500],
        next_attempt_at=at + retry_in if state == "pending" and retry_in else at))
    return state
