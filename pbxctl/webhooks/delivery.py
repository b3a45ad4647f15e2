"""Delivering the webhook outbox: signed POSTs, retries with backoff, a log of each try.

Messages are read from the database, so a restart of ``serve`` loses nothing: what was
not delivered is attempted again when it is due.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.db.faults import is_transient
from pbxctl.db.session import transaction
from pbxctl.stopping import sleep_unless
from pbxctl.webhooks.outbox import DueMessage, due_messages, record_attempt
from pbxctl.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)

log = logging.getLogger(__name__)
USER_AGENT = "pbxctl-webhooks/1"


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again, and when to give up."""

    first_delay: float = 5.0
    max_delay: float = 3600.0
    max_attempts: int = 15      # about 13 hours of trying with the defaults
    request_timeout: float = 10.0
    poll_interval: float = 1.0
    batch: int = 50


def retry_delay(attempts: int, policy: RetryPolicy,
                uniform: Callable[[float, float], float] = random.uniform) -> timedelta | None:
    """How long to wait after the ``attempts``-th failed attempt; None to give up."""
    if attempts >= policy.max_attempts:
        return None
    ceiling = min(policy.max_delay, policy.first_delay * 2 ** (attempts - 1))
    return timedelta(seconds=uniform(ceiling / 2, ceiling))


class Outcomes(Protocol):
    """Told what deliveries did (for /metrics)."""

    def delivered(self) -> None:
        """A message was accepted."""
        ...

    def failed_attempt(self) -> None:
        """An attempt failed (a retry may follow)."""
        ...

    def gave_up(self) -> None:
        """A message will not be attempted again."""
        ...


async def deliver_due(engine: AsyncEngine, http: aiohttp.ClientSession, policy: RetryPolicy,
                      outcomes: Outcomes) -> int:
    """Attempt every message due now (a batch at most); returns how many were attempted."""
    async with transaction(engine) as session:
        due = await due_messages(session, datetime.now(UTC), policy.batch)
    results = await asyncio.gather(*(_attempt(http, m, policy) for m in due))
    async with transaction(engine) as session:
        for message, (at, status, error, took) in zip(due, results, strict=True):
            failed = not (status is not None and 200 <= status < 300)
            state = await record_attempt(
                session, message, at=at, status=status, error=error, milliseconds=took,
                retry_in=retry_delay(message.attempts + 1, policy) if failed else None)
            if not failed:
                outcomes.delivered()
                continue
            outcomes.failed_attempt()
            log.warning("webhook message %d to %s failed (%s)%s", message.id, message.url,
                        error or f"HTTP {status}", "; giving up" if state == "failed" else "")
            if state == "failed":
                outcomes.gave_up()
    return len(due)


async def _attempt(http: aiohttp.ClientSession, message: DueMessage, policy: RetryPolicy
                   ) -> tuple[datetime, int | None, str | None, int]:
    at = datetime.now(UTC)
    stamp = int(at.timestamp())
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               EVENT_HEADER: message.event, DELIVERY_HEADER: str(message.id),
               TIMESTAMP_HEADER: str(stamp),
               SIGNATURE_HEADER: signature(message.secret, stamp, message.payload)}
    started = time.monotonic()
    try:
        async with http.post(message.url, data=message.payload, headers=headers,
                             allow_redirects=False,
                             timeout=aiohttp.ClientTimeout(total=policy.request_timeout)
                             ) as response:
            await response.read()
            status, error = response.status, None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        status, error = None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return at, status, error, int((time.monotonic() - started) * 1000)


async def run_deliveries(engine: AsyncEngine, policy: RetryPolicy, outcomes: Outcomes,
                         stop: asyncio.Event) -> None:
    """Deliver until ``stop`` is set, polling the outbox."""
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            try:
                attempted = await deliver_due(engine, http, policy, outcomes)
            except Exception as error:  # a database blip must not end deliveries for good
                if is_transient(error):
                    log.warning("webhook delivery round failed (%s: %s); trying again",
                                type(error).__name__, error)
                else:
                    log.exception("webhook delivery round failed")
                attempted = 0
            if attempted < policy.batch:
                await sleep_unless(stop, policy.poll_interval)
