"""What pbxctl does with a node's live AMI events: CDRs stored rated, callers' stays in
queues, webhook events queued — in the order the node sent them, and none dropped when
storage fails for a while.

Events are read as they come (queue and call trackers are pure); what must be written goes
to a queue of writes that one writer stores in order, in batches, one transaction each: it
gathers writes for ``gather`` seconds (or until ``BATCH_WRITES`` wait), then stores the
batch's CDRs in one statement and queues its webhook events in another. A
storage failure that goes away by itself (connection cut, database restarting, deadlock,
disk full) is retried with backoff while new writes wait behind it. A CDR that stays
unstored for ``give_up_after`` seconds is handed to the node's Master.csv catch-up, which
covers every call written after its last position; the other writes are kept (up to
``max_pending``) until storage works again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.ami_events import (
    CallStage,
    CdrReported,
    OutboundLeg,
    QueueEvent,
    SecurityFailure,
    parse_event,
)
from pbxctl.ami_rights import FOLLOWED_EVENTS, read_classes
from pbxctl.asterisk.link import EventHandler
from pbxctl.billing.records import StoredCdr
from pbxctl.db.faults import DEFAULT_STORAGE, StoragePolicy, is_transient
from pbxctl.db.session import transaction
from pbxctl.queues.live import QueueTracker
from pbxctl.queues.queue_log import QueueStay
from pbxctl.services.cdrs import CdrStore, ImportSummary
from pbxctl.services.live_rates import RateIndex
from pbxctl.services.queue_stats import store_stays
from pbxctl.stopping import wait_either
from pbxctl.webhooks.events import CallEvents, WebhookEvent, cdr_rated_event
from pbxctl.webhooks.outbox import enqueue

log = logging.getLogger(__name__)
BATCH_WRITES = 200
GATHER_SECONDS = 0.15      # a write waits this long at most for others to share its batch
# Event classes to subscribe to: a busy node sends thousands of other events a second.
EVENT_CLASSES = ",".join(read_classes())
WriteKind = Literal["cdr", "webhooks", "stays"]


class EventObserver(Protocol):
    """Told about each event handled and each storage problem (for /metrics)."""

    def event_received(self, node: str) -> None:
        """One event came from ``node``."""
        ...

    def cdr_stored(self, node: str, rated: bool) -> None:
        """A new CDR was stored; ``rated`` when it has a price (or needs none)."""
        ...

    def storage_failed(self, node: str) -> None:
        """Storing the node's events failed (it will be tried again)."""
        ...

    def storage_retried(self, node: str) -> None:
        """Storing was tried again after a failure."""
        ...

    def writes_dropped(self, node: str, kind: str, count: int) -> None:
        """Writes given up for good (CDRs only when no catch-up can cover them)."""
        ...


@dataclass
class Write:
    """Something an event asks to store, and when it arrived (monotonic seconds)."""

    kind: WriteKind
    received: float
    cdr: CdrReported | None = None
    webhooks: list[WebhookEvent] = field(default_factory=list)
    stays: list[QueueStay] = field(default_factory=list)


@dataclass
class _Stored:
    """What one committed batch stored, told only after the commit."""

    cdr_rows: int = 0
    rows: list[StoredCdr] = field(default_factory=list)


class NodeEvents:
    """Takes a node's events as they arrive, and stores what they say in order.

    ``hand_over`` is called with the arrival time of CDRs this object gives up on; it is
    None when the node has no Master.csv to catch up from (then CDRs are kept instead).
    ``on_failure`` is told each failed request the node's security events report (the
    ban keeper counts them; nothing is stored for them here), ``on_outbound`` each carrier
    leg answered or ended (the spend brake's calls in flight).
    """

    def __init__(self, engine: AsyncEngine, node: str,
                 observer: EventObserver | None = None,
                 on_stored: Callable[[StoredCdr], None] | None = None,
                 policy: StoragePolicy = DEFAULT_STORAGE,
                 hand_over: Callable[[float], None] | None = None,
                 on_failure: Callable[[str, SecurityFailure], None] | None = None,
                 gather: float = GATHER_SECONDS,
                 on_outbound: Callable[[OutboundLeg], None] | None = None) -> None:
        self.node = node
        self.summary = ImportSummary()
        self._engine = engine
        self._observer = observer
        self._on_stored = on_stored
        self._policy = policy
        self._hand_over = hand_over
        self._on_failure = on_failure
        self._on_outbound = on_outbound
        self._events: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self._writes: deque[Write] = deque()
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._gather = gather
        self._queues = QueueTracker()
        self._calls = CallEvents(node)
        self._rates = RateIndex()

    def handlers(self) -> dict[str, EventHandler]:
        """The AMI events to listen to, each handed to :meth:`run`."""
        return {name: self._events.put_nowait
                for name in FOLLOWED_EVENTS}

    def oldest_unstored(self) -> float | None:
        """When the oldest CDR still waiting to be stored arrived (monotonic), if any."""
        return next((w.received for w in self._writes if w.kind == "cdr"), None)

    async def run(self, stop: asyncio.Event) -> ImportSummary:
        """Handle events until ``stop`` is set and nothing is left, then store what is
        pending (for ``stop_grace`` seconds at most); returns what was stored for CDRs."""
        taken = asyncio.Event()
        writer = asyncio.create_task(self._write_until(taken), name=f"store-{self.node}")
        try:
            while not (stop.is_set() and self._events.empty()):
                try:
                    event = self._events.get_nowait()   # no timer while events wait
                except asyncio.QueueEmpty:
                    try:
                        event = await asyncio.wait_for(self._events.get(), timeout=0.5)
                    except TimeoutError:
                        self._push_stays(self._queues.expire())
                        continue
                if self._observer:
                    self._observer.event_received(self.node)
                try:
                    self._take(event)
                except Exception:  # one malformed event must not stop the node
                    log.exception("node %s: could not read %s event", self.node,
                                  event.get("Event"))
            self._push_stays(self._queues.expire(everything=True))
        finally:
            taken.set()
            self._wake.set()
            await writer
        self.summary.unrated = self._rates.unrated
        return self.summary

    def _take(self, raw: dict[str, str]) -> None:
        event = parse_event(raw)
        if isinstance(event, CallStage):
            webhooks = self._calls.feed(event)
            if webhooks:
                self._push(Write("webhooks", time.monotonic(), webhooks=webhooks))
        elif isinstance(event, CdrReported):
            self._push(Write("cdr", time.monotonic(), cdr=event))
        elif isinstance(event, QueueEvent):
            stay = self._queues.feed(event)
            self._push_stays([stay] if stay else [])
        elif isinstance(event, SecurityFailure) and self._on_failure is not None:
            self._on_failure(self.node, event)
        elif isinstance(event, OutboundLeg) and self._on_outbound is not None:
            self._on_outbound(event)

    def _push_stays(self, stays: list[QueueStay]) -> None:
        if stays:
            self._push(Write("stays", time.monotonic(), stays=stays))

    def _push(self, write: Write) -> None:
        if len(self._writes) >= self._policy.max_pending:   # the writer owns the head
            log.error("node %s: %d writes wait for storage; giving up a new %s write",
                      self.node, len(self._writes), write.kind)
            self._drop([write])
            return
        self._writes.append(write)
        self._wake.set()
        if len(self._writes) >= BATCH_WRITES:
            self._full.set()

    async def _write_until(self, taken: asyncio.Event) -> None:
        """Store writes in order until ``taken`` is set and none is left."""
        failures = 0
        failing_since: float | None = None
        stopping_since: float | None = None
        while self._writes or not taken.is_set():
            if not self._writes:
                self._wake.clear()
                await self._wake.wait()
                continue
            if await self._gathering(taken):
                continue
            batch = list(itertools.islice(self._writes, BATCH_WRITES))
            try:
                await self._store_in_order(batch)
            except Exception as error:  # storage down: wait, give up on the old, retry
                now = time.monotonic()
                failures += 1
                failing_since = failing_since or now
                if taken.is_set():
                    stopping_since = stopping_since or now
                if self._observer:
                    self._observer.storage_failed(self.node)
                if failures == 1 or failures % 20 == 0:
                    log.warning("node %s: storing events failed (%s: %s); %d waiting, "
                                "retrying", self.node, type(error).__name__, error,
                                len(self._writes))
                self._give_up_old(everything=stopping_since is not None
                                  and now - stopping_since >= self._policy.stop_grace)
                await asyncio.sleep(self._policy.delay(failures))
                if self._writes and self._observer:
                    self._observer.storage_retried(self.node)
                continue
            if failing_since is not None:
                log.info("node %s: storing works again after %.1f s", self.node,
                         time.monotonic() - failing_since)
            failures, failing_since = 0, None

    async def _gathering(self, taken: asyncio.Event) -> bool:
        """Wait for more writes while the oldest is younger than ``gather`` seconds, a
        batch is not full and nobody is stopping; True when it waited."""
        self._full.clear()
        wait = self._writes[0].received + self._gather - time.monotonic()
        if wait <= 0 or taken.is_set() or len(self._writes) >= BATCH_WRITES:
            return False
        await wait_either(self._full, taken, wait)
        return True

    async def _store_in_order(self, batch: list[Write]) -> None:
        """Store the batch in one transaction; when something in it fails for a reason
        other than storage itself, store its writes one by one and skip the bad one.
        Stored writes leave the queue; a storage failure is raised."""
        try:
            stored = await self._store(batch)
        except Exception as error:
            if is_transient(error):
                raise
            if len(batch) > 1:
                for write in batch:
                    await self._store_in_order([write])
                return
            log.exception("node %s: could not store a %s write; skipped", self.node,
                          batch[0].kind)
            self._drop([self._writes.popleft()])
            return
        for _ in batch:
            self._writes.popleft()
        self._tell(stored)

    async def _store(self, batch: list[Write]) -> _Stored:
        """The batch's CDRs in one statement, its stays in another, then every webhook
        event it asks for (``cdr.rated`` for each new CDR) in the order of the writes."""
        cdrs = [write.cdr for write in batch if write.cdr is not None]
        stays = [stay for write in batch for stay in write.stays]
        async with transaction(self._engine) as session:
            rows = await CdrStore(session).store_events(
                self.node, cdrs, await self._rates.classifier(session)) if cdrs else []
            if stays:
                await store_stays(session, self.node, stays)
            new = iter(rows)
            webhooks: list[WebhookEvent] = []
            for write in batch:
                webhooks += write.webhooks
                if write.cdr is not None and (row := next(new)) is not None:
                    webhooks.append(cdr_rated_event(row._asdict()))
            await enqueue(session, webhooks)
        return _Stored(len(cdrs), [row for row in rows if row is not None])

    def _tell(self, stored: _Stored) -> None:
        self.summary.rows += stored.cdr_rows
        self.summary.inserted += len(stored.rows)
        self.summary.duplicates += stored.cdr_rows - len(stored.rows)
        for row in stored.rows:
            if self._observer:
                self._observer.cdr_stored(self.node, rated=row.unrated_reason is None)
            if self._on_stored:
                self._on_stored(row)

    def _give_up_old(self, everything: bool) -> None:
        """Hand CDRs waiting longer than ``give_up_after`` to the catch-up; when stopping
        (``everything``), give up all that is left."""
        if everything:
            dropped, self._writes = list(self._writes), deque()
        elif self._hand_over is not None:
            limit = time.monotonic() - self._policy.give_up_after
            dropped = [w for w in self._writes if w.kind == "cdr" and w.received < limit]
            if dropped:
                self._writes = deque(w for w in self._writes
                                     if not (w.kind == "cdr" and w.received < limit))
        else:
            return
        self._drop(dropped)

    def _drop(self, writes: list[Write]) -> None:
        """Give writes up: CDRs go to the catch-up when there is one; the rest is lost,
        counted and logged."""
        lost: dict[str, int] = {}
        for write in writes:
            if write.kind == "cdr" and self._hand_over is not None:
                self._hand_over(write.received)
            else:
                lost[write.kind] = lost.get(write.kind, 0) + 1
        handed = len(writes) - sum(lost.values())
        if handed:
            log.warning("node %s: %d CDR(s) left to the Master.csv catch-up", self.node,
                        handed)
        for kind, count in lost.items():
            log.error("node %s: %d %s write(s) could not be stored and are lost", self.node,
                      count, kind)
            if self._observer:
                self._observer.writes_dropped(self.node, kind, count)
