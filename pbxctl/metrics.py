"""What ``pbxctl serve`` exposes at /metrics (Prometheus text format)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.db.models import AuditEntry, VoicemailMail, WebhookMessage, utcnow
from pbxctl.db.session import transaction
from pbxctl.services.read.bans import count_active
from pbxctl.services.read.spend import spend_report

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
        self._caught_up = Counter("pbxctl_cdrs_caught_up", "CDRs the live link missed, "
                                  "stored by a Master.csv catch-up", ["node"], registry=r)
        self._catch_ups = Counter("pbxctl_cdr_catchups", "Master.csv catch-up runs",
                                  ["node", "outcome"], registry=r)
        self._storage_failures = Counter("pbxctl_storage_failures", "Failed attempts to "
                                         "store a node's events (retried)", ["node"],
                                         registry=r)
        self._storage_retries = Counter("pbxctl_storage_retries", "Attempts to store a "
                                        "node's events again after a failure", ["node"],
                                        registry=r)
        self._dropped = Counter("pbxctl_writes_dropped", "Writes given up for good (queue "
                                "stays, webhook events; CDRs only without a Master.csv)",
                                ["node", "kind"], registry=r)
        self._unstored_age = Gauge("pbxctl_cdr_oldest_unstored_age_seconds", "Age of the "
                                   "oldest call not stored yet (0 when none)", ["node"],
                                   registry=r)
        self._webhooks = Counter("pbxctl_webhook_deliveries", "Webhook delivery attempts",
                                 ["outcome"], registry=r)
        self._webhook_failures = Counter("pbxctl_webhook_failures", "Failed webhook "
                                         "delivery attempts", registry=r)
        self._outbox = Gauge("pbxctl_webhook_outbox_messages", "Webhook messages by state",
                             ["state"], registry=r)
        self._mail_attempts = Counter("pbxctl_voicemail_mail_attempts", "Attempts to send "
                                      "a voicemail mail", ["outcome"], registry=r)
        self._mails = Gauge("pbxctl_voicemail_mails", "Voicemail mails by state (pending, "
                            "sent, failed: given up)", ["state"], registry=r)
        self._apply_failures = Gauge("pbxctl_apply_failures", "Failed applies recorded in "
                                     "the audit trail (CLI and API)", ["node"], registry=r)
        self._security_failures = Counter("pbxctl_security_failures", "Failed requests "
                                          "the nodes' security events reported",
                                          ["node", "kind"], registry=r)
        self._bans = Counter("pbxctl_security_bans", "Source addresses banned by serve",
                             registry=r)
        self._bans_displaced = Counter("pbxctl_security_bans_displaced", "Bans lifted "
                                       "early to make room: ban_limit bans were in force",
                                       registry=r)
        self._bans_active = Gauge("pbxctl_security_bans_active", "Bans in force (serve's "
                                  "and operators')", registry=r)
        self._brake_rounds = Counter("pbxctl_spend_brake_checks", "Rounds of the spend "
                                     "brake, by outcome", ["outcome"], registry=r)
        self._spend = Gauge("pbxctl_department_spend", "Month-to-date spend of a capped "
                            "department (its stored calls, as report spend)",
                            ["department", "currency"], registry=r)
        self._spend_cap = Gauge("pbxctl_department_spend_cap", "A department's monthly cap",
                                ["department", "currency"], registry=r)
        self._spend_blocked = Gauge("pbxctl_department_blocked", "1 while the spend brake "
                                    "blocks the department's outbound calls",
                                    ["department"], registry=r)
        self._backup_last = Gauge("pbxctl_backup_last_success_timestamp_seconds", "When "
                                  "the newest good scheduled backup was taken (Unix time)",
                                  registry=r)
        self._backup_age = Gauge("pbxctl_backup_age_seconds", "Age of the newest good "
                                 "scheduled backup (-1 while there is none)", registry=r)
        self._backup_age.set_function(self._age_of_backup)
        self._backup_failures = Counter("pbxctl_backup_failures", "Scheduled backups that "
                                        "failed", registry=r)
        self._last_backup: float | None = None
        self._rates: dict[str, EventRate] = {}

    def backup_succeeded(self, at: datetime) -> None:
        """A good scheduled backup exists as of ``at``."""
        self._last_backup = at.timestamp()
        self._backup_last.set(self._last_backup)

    def backup_failed(self) -> None:
        """A scheduled backup failed."""
        self._backup_failures.inc()

    def _age_of_backup(self) -> float:
        return -1.0 if self._last_backup is None else time.time() - self._last_backup

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

    def storage_failed(self, node: str) -> None:
        """Storing the node's events failed."""
        self._storage_failures.labels(node).inc()

    def storage_retried(self, node: str) -> None:
        """Storing the node's events was tried again."""
        self._storage_retries.labels(node).inc()

    def writes_dropped(self, node: str, kind: str, count: int) -> None:
        """Writes given up for good."""
        self._dropped.labels(node, kind).inc(count)

    def catch_up_ran(self, node: str, ok: bool, inserted: int) -> None:
        """A Master.csv catch-up ended."""
        self._catch_ups.labels(node, "ok" if ok else "failed").inc()
        if inserted:
            self._caught_up.labels(node).inc(inserted)

    def watch_unstored(self, node: str, oldest: Callable[[], float | None]) -> None:
        """Report the age of the node's oldest unstored call from ``oldest()`` (monotonic
        seconds, None when everything is stored)."""

        def age() -> float:
            since = oldest()
            return 0.0 if since is None else max(0.0, time.monotonic() - since)

        self._unstored_age.labels(node).set_function(age)
        self._storage_failures.labels(node)   # show zeros from the start
        self._catch_ups.labels(node, "failed")

    def security_failure(self, node: str, kind: str) -> None:
        """A node reported a failed request (InvalidAccountID, ChallengeResponseFailed...)."""
        self._security_failures.labels(node, kind).inc()

    def banned(self) -> None:
        """serve banned a source address."""
        self._bans.inc()

    def displaced(self) -> None:
        """A ban was lifted early to make room for a new one (ban_limit)."""
        self._bans_displaced.inc()

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

    def mail_sent(self) -> None:
        """A voicemail mail was accepted by the SMTP server."""
        self._mail_attempts.labels("sent").inc()

    def mail_failed_attempt(self) -> None:
        """An attempt to send a voicemail mail failed."""
        self._mail_attempts.labels("failed").inc()

    def mail_gave_up(self) -> None:
        """A voicemail mail will not be attempted again."""
        self._mail_attempts.labels("given_up").inc()

    def brake_checked(self, ok: bool) -> None:
        """A round of the spend brake ended."""
        self._brake_rounds.labels("ok" if ok else "failed").inc()

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
            mails = dict((await session.execute(
                select(VoicemailMail.state, func.count())
                .group_by(VoicemailMail.state))).all())
            bans = await count_active(session, utcnow())
            spend = await spend_report(session)
        for row in spend:
            if row.cap is None:
                continue
            self._spend.labels(row.department, row.currency).set(float(row.spent))
            self._spend_cap.labels(row.department, row.currency).set(float(row.cap))
            self._spend_blocked.labels(row.department).set(1 if row.state == "blocked" else 0)
        self._bans_active.set(bans)
        for node, count in failures:
            self._apply_failures.labels(node).set(count)
        for state in ("pending", "delivered", "failed"):
            self._outbox.labels(state).set(states.get(state, 0))
        for state in ("pending", "sent", "failed"):
            self._mails.labels(state).set(mails.get(state, 0))
