"""Webhooks: which URLs hear which events, and how their deliveries stand (the outbox
itself is pbxctl/webhooks/outbox.py)."""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl import validation as v
from pbxctl.addresses import IpNetwork
from pbxctl.db.models import Branch, Webhook, WebhookAttempt, WebhookMessage, utcnow
from pbxctl.errors import NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail
from pbxctl.webhooks.events import EVENT_NAMES
from pbxctl.webhooks.targets import host_refusal

_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_PATH_RE = re.compile(r"[A-Za-z0-9._~/%!$&'()*+,;=:@-]*")
_QUERY_RE = re.compile(r"[A-Za-z0-9._~/%!$&'()*+,;=:@?-]*")


def webhook_url(field: str, value: str, allowed: Sequence[IpNetwork]) -> str:
    """An http(s) URL without credentials or fragment, of plain characters, to a public
    host (or one in an ``allowed`` network)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(field, f"{value!r} is not an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValidationError(field, "credentials do not belong in the URL")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise ValidationError(field, f"{value!r} has an invalid port") from None
    if not (_HOST_RE.fullmatch(parts.hostname) or _is_ip(parts.hostname)):
        raise ValidationError(field, f"{value!r} has an invalid host")
    if not _PATH_RE.fullmatch(parts.path) or not _QUERY_RE.fullmatch(parts.query) \
            or parts.fragment or len(value) > 2048:
        raise ValidationError(field, f"{value!r} has characters a webhook URL may not have")
    refused = host_refusal(parts.hostname, allowed)
    if refused is not None:
        raise ValidationError(field, f"webhooks may not be sent there: {refused}")
    return value


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def event_names(field: str, given: Sequence[str]) -> list[str]:
    """Known event names, each once, in the order given."""
    names = list(given)
    unknown = [n for n in names if n not in EVENT_NAMES]
    if not names or unknown:
        raise ValidationError(field, f"unknown event {', '.join(unknown) or '(none)'}; "
                                     f"use {', '.join(EVENT_NAMES)}")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class WebhookSummary:
    """A webhook with how its deliveries stand (never its secret)."""

    id: int
    url: str
    events: str
    branch: str | None
    pending: int
    delivered: int
    failed: int


class WebhookService:
    """Adds, lists and removes webhooks; shows and retries deliveries."""

    def __init__(self, session: AsyncSession, audit: AuditTrail,
                 allowed: Sequence[IpNetwork]) -> None:
        self._session = session
        self._audit = audit
        self._allowed = allowed

    async def add(self, url: str, events: Sequence[str], branch: str | None
                  ) -> tuple[int, str]:
        """A new webhook; returns its id and signing secret (the only time it is shown)."""
        names = event_names("events", events)
        webhook_url("url", url, self._allowed)
        if branch is not None:
            v.slug("branch", branch)
            if await self._session.scalar(select(Branch.id).where(Branch.slug == branch)) \
                    is None:
                raise NotFoundError(f"no branch {branch!r}")
        hook = Webhook(url=url, events=",".join(names), branch=branch,
                       secret=secrets.token_hex(32))
        self._session.add(hook)
        await self._session.flush()
        self._audit.record("webhook.add", "webhook", str(hook.id),
                           after={"url": url, "events": hook.events, "branch": branch})
        return hook.id, hook.secret

    async def remove(self, webhook_id: int) -> None:
        """Stop delivering to a webhook; its undelivered messages go with it."""
        hook = await self._get(webhook_id)
        self._audit.record("webhook.remove", "webhook", str(hook.id),
                           before={"url": hook.url, "events": hook.events,
                                   "branch": hook.branch})
        await self._session.delete(hook)

    async def list(self) -> list[WebhookSummary]:
        """Every webhook with its delivery counts."""
        counts: dict[tuple[int, str], int] = {
            (hook_id, state): n for hook_id, state, n in (await self._session.execute(
                select(WebhookMessage.webhook_id, WebhookMessage.state, func.count())
                .group_by(WebhookMessage.webhook_id, WebhookMessage.state))).all()}
        hooks = (await self._session.scalars(select(Webhook).order_by(Webhook.id))).all()
        return [WebhookSummary(h.id, h.url, h.events, h.branch,
                               counts.get((h.id, "pending"), 0),
                               counts.get((h.id, "delivered"), 0),
                               counts.get((h.id, "failed"), 0)) for h in hooks]

    async def messages(self, webhook_id: int | None = None, state: str | None = None,
                       limit: int = 50) -> Sequence[WebhookMessage]:
        """The newest outbox messages, optionally of one webhook or in one state."""
        if state is not None and state not in ("pending", "delivered", "failed"):
            raise ValidationError("state", "use pending, delivered or failed")
        query = select(WebhookMessage).order_by(WebhookMessage.id.desc()).limit(limit)
        if webhook_id is not None:
            query = query.where(WebhookMessage.webhook_id == webhook_id)
        if state is not None:
            query = query.where(WebhookMessage.state == state)
        return (await self._session.scalars(query)).all()

    async def attempts(self, message_id: int) -> Sequence[WebhookAttempt]:
        """Every delivery attempt of one message, oldest first."""
        if await self._session.get(WebhookMessage, message_id) is None:
            raise NotFoundError(f"no webhook message {message_id}")
        return (await self._session.scalars(select(WebhookAttempt).where(
            WebhookAttempt.message_id == message_id).order_by(WebhookAttempt.id))).all()

    async def retry_failed(self, webhook_id: int) -> int:
        """Deliver a webhook's given-up messages again; returns how many."""
        await self._get(webhook_id)
        # An UPDATE's result is a CursorResult, which has the row count.
        result = cast(CursorResult[Any], await self._session.execute(
            update(WebhookMessage).where(WebhookMessage.webhook_id == webhook_id,
                                         WebhookMessage.state == "failed")
            .values(state="pending", next_attempt_at=utcnow())))
        self._audit.record("webhook.retry", "webhook", str(webhook_id),
                           detail=f"{result.rowcount} messages")
        return int(result.rowcount)

    async def _get(self, webhook_id: int) -> Webhook:
        hook = await self._session.get(Webhook, webhook_id)
        if hook is None:
            raise NotFoundError(f"no webhook {webhook_id}")
        return hook
