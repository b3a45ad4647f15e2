"""What ``pbxctl serve`` exposes at /metrics (Prometheus text format)."""

from __future__ import annotations

import time
from collections import deque

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.db.models import AuditEntry, WebhookMessage
from pbxctl.db.session import transaction

RATE_WINDOW_SECONDS = 10


class EventRate:
    """Events per second over the last few seconds."""

    def __init__(self, window: int = RATE_WINDOW_SECONDS) -> None:
        self._window = window
        self._seconds: deque[list[int]] = deque()  # [second, count], oldest first

    def tick(self, now: float | None = None) -> None:
        """One event happened."""
        second = int(time.monotonic() if now is None else now)
        if self._seconds and self._seconds[-1][0] == second:
            self._seconds[-1][1] += 1
        else:
            self._seconds.append([second, 1])
        self._trim(second)

    def per_second(self, now: float | None = None) -> float:
        """The average rate over the window."""
        self._trim(int(time.monotonic() if now is None else now))
        return sum(count for _, count in self._seconds) / self._window

    def _trim(self, second: int) -> None:
        while self._seconds and self._seconds[0][0] <= second - self._window:
            self._seconds.popleft()


class ServeMetrics:
    """The process's metrics; also the observer of AMI links, events and deliveries."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._connected = Gauge("pbxctl_ami_connected", "1 while the node's AMI link is up",
                                ["node"], registry=r)
        self._reconnects = Counter("pbxctl_ami_reconnects", "AMI links re-established after "
                                   "a loss", ["node"], registry=r)
        self._events = Counter("pbxctl_ami_events", "AMI events handled", ["node"],
                               registry=r)
        self._event_rate = Gauge("pbxctl_ami_events_per_second", "AMI events handled per "
                                 f"second over the last {RATE_WINDOW_SECONDS} s", ["node"],
                                 registry=r)
        self._cdrs = Counter("pbxctl_cdrs_stored", "New CDRs stored from live events",
                             ["node", "rating"], registry=r)
        self._webhooks = Counter("pbxctl_webhook_deliveries", "Webhook delivery attempts",
                                 ["outcome"], registry=r)
        self._webhook_failures = Counter("pbxctl_webhook_failures", "Failed webhook "
                                         "delivery attempts", registry=r)
        self._outbox = Gauge("pbxctl_webhook_outbox_messages", "Webhook messages by state",
                             ["state"], registry=r)
        self._apply_failures = Gauge("pbxctl_apply_failures", "Failed applies recorded in "
                                     "the audit trail (CLI and API)", ["node"], registry=r)
        self._rates: dict[str, EventRate] = {}

    def link_state(self, node: str, connected: bool) -> None:
        """The node's link came up or went down."""
        self._connected.labels(node).set(1 if connected else 0)

    def reconnected(self, node: str) -> None:
        """The node's link came back after a loss."""
        self._reconnects.labels(node).inc()

    def event_received(self, node: str) -> None:
        """One AMI event from ``node`` was handled."""
        self._events.labels(node).inc()
        if node not in self._rates:
            rate = self._rates[node] = EventRate()
            self._event_rate.labels(node).set_function(rate.per_second)
        self._rates[node].tick()

    def cdr_stored(self, node: str, rated: bool) -> None:
        """A new CDR was stored."""
        self._cdrs.labels(node, "rated" if rated else "unrated").inc()

    def delivered(self) -> None:
        """A webhook message was accepted."""
        self._webhooks.labels("delivered").inc()

    def failed_attempt(self) -> None:
        """A webhook attempt failed."""
        self._webhooks.labels("failed").inc()
        self._webhook_failures.inc()

    def gave_up(self) -> None:
        """A webhook message will not be attempted again."""
        self._webhooks.labels("given_up").inc()

    async def refresh_from_database(self, engine: AsyncEngine) -> None:
        """Figures that live in the database (shared with CLI runs)."""
        async with transaction(engine) as session:
            failures = (await session.execute(
                select(AuditEntry.object_key, func.count())
                .where(AuditEntry.action == "apply.failed")
                .group_by(AuditEntry.object_key))).all()
            states = dict((await session.execute(
                select(WebhookMessage.state, func.count())
                .group_by(WebhookMessage.state))).all())
        for node, count in failures:
            self._apply_failures.labels(node).set(count)
        for state in ("pending", "delivered", "failed"):
            self._outbox.labels(state).set(states.get(state, 0))
