"""Following a node's live ``Cdr`` events and storing them rated, as they happen."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.asterisk.ami import AmiEndpoint, PanoramiskAmiClient
from pbxctl.billing.records import Classifier
from pbxctl.db.session import transaction
from pbxctl.queues.live import QUEUE_EVENTS, QueueTracker
from pbxctl.queues.queue_log import QueueStay
from pbxctl.services.cdrs import CdrStore, ImportSummary
from pbxctl.services.queue_stats import store_stays

log = logging.getLogger(__name__)
RATES_REFRESH_SECONDS = 60.0


async def follow_cdrs(engine: AsyncEngine, node: str, endpoint: AmiEndpoint,
                      stop: asyncio.Event, on_stored: Callable[[dict[str, str]], None]
                      | None = None) -> ImportSummary:
    """Store every CDR (and every caller's stay in a queue) the node reports until
    ``stop`` is set; returns what was stored for CDRs.

    Only the ``cdr`` and ``agent`` event classes are subscribed: a busy node sends
    thousands of other events a second that we do not need.
    """
    events: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    client = await PanoramiskAmiClient.connect(endpoint, events="cdr,agent")
    client.on_event("Cdr", events.put_nowait)
    for name in QUEUE_EVENTS:
        client.on_event(name, events.put_nowait)
    tracker = QueueTracker()
    summary = ImportSummary()
    classifier: Classifier | None = None
    loaded_at = 0.0
    try:
        while not (stop.is_set() and events.empty()):
            try:
                event = await asyncio.wait_for(events.get(), timeout=0.5)
            except TimeoutError:
                await _store_stays(engine, node, tracker.expire())
                continue
            if event.get("Event") != "Cdr":
                stay = tracker.feed(event)
                await _store_stays(engine, node, [stay] if stay else [])
                continue
            async with transaction(engine) as session:
                store = CdrStore(session)
                if classifier is None or time.monotonic() - loaded_at > RATES_REFRESH_SECONDS:
                    classifier, loaded_at = await store.classifier(), time.monotonic()
                summary.rows += 1
                if await store.store_event(node, event, classifier):
                    summary.inserted += 1
                    if on_stored:
                        on_stored(event)
                else:
                    summary.duplicates += 1
        await _store_stays(engine, node, tracker.expire(everything=True))
        summary.unrated = classifier.unrated if classifier else 0
        return summary
    finally:
        await client.close()


async def _store_stays(engine: AsyncEngine, node: str, stays: list[QueueStay]) -> None:
    if stays:
        async with transaction(engine) as session:
            await store_stays(session, node, stays)
