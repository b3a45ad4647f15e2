"""Delivering the webhook outbox: signed POSTs, retries with backoff, a log of each try.

Messages are read from the database, so a restart of ``serve`` loses nothing: what was
not delivered is attempted again when it is due. A delivery connects only to the
addresses :mod:`pbxctl.webhooks.targets` allows: an IP literal is checked before the
request, a host name on the very addresses it resolves to (the connection uses those,
so a name that changes its answer cannot slip through). Redirects are not followed and
at most ``max_response_bytes`` of an answer are read.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from sqlalchemy.ext.asyncio import AsyncEngine
from yarl import URL

from pbxctl.addresses import IpNetwork
from pbxctl.db.faults import is_transient
from pbxctl.db.session import transaction
from pbxctl.stopping import sleep_unless
from pbxctl.webhooks.outbox import DueMessage, claim_due_messages, record_attempt
from pbxctl.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)
from pbxctl.webhooks.targets import host_refusal, refusal

log = logging.getLogger(__name__)
USER_AGENT = "pbxctl-webhooks/1"
# A claimed batch stays this sender's for two request timeouts and this much more: time
# for its attempts (all at once) and for recording them.
CLAIM_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class RetryPolicy:
    """How deliveries go: when to try again and when to give up, where they may connect,
    how much of an answer is read."""

    first_delay: float = 5.0
    max_delay: float = 3600.0
    max_attempts: int = 15      # about 13 hours of trying with the defaults
    request_timeout: float = 10.0
    poll_interval: float = 1.0
    batch: int = 50
    allow_networks: tuple[IpNetwork, ...] = ()
    max_response_bytes: int = 64 * 1024


class TargetRefused(OSError):
    """The webhook's host is, or resolves only to, an address deliveries may not reach."""

    def __init__(self, reason: str) -> None:
        super().__init__(errno.EACCES, reason)   # aiohttp shows strerror in its own error

    def __str__(self) -> str:
        return str(self.strerror)


class PublicResolver(AbstractResolver):
    """Resolves through ``inner`` (default: as aiohttp does), then drops every address
    :func:`refusal` refuses."""

    def __init__(self, allowed: tuple[IpNetwork, ...], inner: AbstractResolver | None = None
                 ) -> None:
        self._inner = inner or DefaultResolver()
        self._allowed = allowed

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """The resolved addresses deliveries may connect to; TargetRefused when none."""
        found = await self._inner.resolve(host, port, family)
        reasons = [refusal(ipaddress.ip_address(r["host"]), self._allowed) for r in found]
        kept = [r for r, why in zip(found, reasons, strict=True) if why is None]
        if not kept:
            raise TargetRefused(f"{host} resolves to no address webhooks may reach "
                                f"({'; '.join(str(why) for why in reasons)})")
        return kept

    async def close(self) -> None:
        """Release the resolver underneath."""
        await self._inner.close()


def webhook_session(policy: RetryPolicy, dns: AbstractResolver | None = None
                    ) -> aiohttp.ClientSession:
    """The HTTP client deliveries use: addresses resolved (through ``dns``, default as
    aiohttp does) and checked, no proxies from the environment, no cookies kept."""
    resolver = PublicResolver(policy.allow_networks, dns)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(resolver=resolver),
        cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)


class Backoff(Protocol):
    """When to try again: the first delay, doubling up to a ceiling, so many tries."""

    @property
    def first_delay(self) -> float: ...

    @property
    def max_delay(self) -> float: ...

    @property
    def max_attempts(self) -> int: ...


def retry_delay(attempts: int, policy: Backoff,
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
    """Attempt every message due now (a batch at most); returns how many were attempted.
    The batch is claimed first, for as long as its attempts can take, so that a second
    ``serve`` delivering from the same database sends each message once."""
    now = datetime.now(UTC)
    lease = timedelta(seconds=2 * policy.request_timeout + CLAIM_MARGIN_SECONDS)
    async with transaction(engine) as session:
        due = await claim_due_messages(session, now, now + lease, policy.batch)
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
        refused = host_refusal(URL(message.url).host or "", policy.allow_networks)
        if refused is not None:
            raise TargetRefused(refused)
        async with http.post(message.url, data=message.payload, headers=headers,
                             allow_redirects=False,
                             timeout=aiohttp.ClientTimeout(total=policy.request_timeout)
                             ) as response:
            await read_capped(response, policy.max_response_bytes)
            status, error = response.status, None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        status, error = None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return at, status, error, int((time.monotonic() - started) * 1000)


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> int:
    """Read at most ``limit`` bytes of the answer (the rest is never read: the connection
    is closed); returns how many were read."""
    read = 0
    while read < limit:
        chunk = await response.content.read(min(16 * 1024, limit - read))
        if not chunk:
            return read
        read += len(chunk)
    if not response.content.at_eof():
        response.close()
    return read


async def run_deliveries(engine: AsyncEngine, policy: RetryPolicy, outcomes: Outcomes,
                         stop: asyncio.Event) -> None:
    """Deliver until ``stop`` is set, polling the outbox."""
    async with webhook_session(policy) as http:
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
