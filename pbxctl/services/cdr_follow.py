"""What pbxctl does with a node's live AMI events: CDRs stored rated, callers' stays in
queues, webhook events queued — in the order the node sent them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.asterisk.link import EventHandler
from pbxctl.billing.records import STORED_COLUMNS, Classifier
from pbxctl.db.session import transaction
from pbxctl.queues.live import QUEUE_EVENTS, QueueTracker
from pbxctl.queues.queue_log import QueueStay
from pbxctl.services.cdrs import CdrStore, ImportSummary
from pbxctl.services.queue_stats import store_stays
from pbxctl.services.webhooks import enqueue
from pbxctl.webhooks.events import CallEvents, WebhookEvent, cdr_rated_event

log = logging.getLogger(__name__)
RATES_REFRESH_SECONDS = 60.0
# Event classes to subscribe to: a busy node sends thousands of other events a second.
EVENT_CLASSES = "cdr,agent,user"


class EventObserver(Protocol):
    """Told about each event handled (for /metrics)."""

    def event_received(self, node: str) -> None:
        """One event came from ``node``."""
        ...

    def cdr_stored(self, node: str, rated: bool) -> None:
        """A new CDR was stored; ``rated`` when it has a price (or needs none)."""
        ...


class NodeEvents:
    """Takes a node's events as they arrive and handles them one by one."""

    def __init__(self, engine: AsyncEngine, node: str,
                 observer: EventObserver | None = None,
                 on_stored: Callable[[dict[str, str]], None] | None = None) -> None:
        self.node = node
        self.summary = ImportSummary()
        self._engine = engine
        self._observer = observer
        self._on_stored = on_stored
        self._events: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self._queues = QueueTracker()
        self._calls = CallEvents(node)
        self._classifier: Classifier | None = None
        self._loaded_at = 0.0

    def handlers(self) -> dict[str, EventHandler]:
        """The AMI events to listen to, each handed to :meth:`run`."""
        return {name: self._events.put_nowait
                for name in ("Cdr", "UserEvent", *sorted(QUEUE_EVENTS))}

    async def run(self, stop: asyncio.Event) -> ImportSummary:
        """Handle events until ``stop`` is set and nothing is left; returns what was
        stored for CDRs."""
        while not (stop.is_set() and self._events.empty()):
            try:
                event = await asyncio.wait_for(self._events.get(), timeout=0.5)
            except TimeoutError:
                await self._store_stays(self._queues.expire())
                continue
            if self._observer:
                self._observer.event_received(self.node)
            try:
                await self._handle(event)
            except Exception:  # one bad event or a database blip must not stop the node
                log.exception("node %s: could not handle %s event", self.node,
                              event.get("Event"))
        await self._store_stays(self._queues.expire(everything=True))
        self.summary.unrated = self._classifier.unrated if self._classifier else 0
        return self.summary

    async def _handle(self, event: dict[str, str]) -> None:
        name = event.get("Event")
        if name == "UserEvent":
            await self._queue_webhooks(self._calls.feed(event))
        elif name == "Cdr":
            await self._store_cdr(event)
        else:
            stay = self._queues.feed(event)
            await self._store_stays([stay] if stay else [])

    async def _store_cdr(self, event: dict[str, str]) -> None:
        async with transaction(self._engine) as session:
            store = CdrStore(session)
            if (self._classifier is None
                    or time.monotonic() - self._loaded_at > RATES_REFRESH_SECONDS):
                self._classifier, self._loaded_at = await store.classifier(), time.monotonic()
            self.summary.rows += 1
            row = await store.store_event(self.node, event, self._classifier)
            if row is None:
                self.summary.duplicates += 1
                return
            record = dict(zip(STORED_COLUMNS, row, strict=True))
            await enqueue(session, [cdr_rated_event(record)])
        self.summary.inserted += 1
        if self._observer:
            self._observer.cdr_stored(self.node, rated=record["unrated_reason"] is None)
        if self._on_stored:
            self._on_stored(event)

    async def _queue_webhooks(self, events: list[WebhookEvent]) -> None:
        if events:
            async with transaction(self._engine) as session:
                await enqueue(session, events)

    async def _store_stays(self, stays: list[QueueStay]) -> None:
        if stays:
            async with transaction(self._engine) as session:
                await store_stays(session, self.node, stays)
