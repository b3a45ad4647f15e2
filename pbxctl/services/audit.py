"""The audit trail: every change, who made it, through which interface, before and after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import AuditEntry
from pbxctl.errors import ValidationError

Snapshot = dict[str, Any]


def parse_since(field: str, value: str) -> datetime:
    """An ISO date or time to list entries from, in UTC (UTC when it names no zone)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, f"{value!r} is not an ISO date or time, e.g. 2026-11-01 "
                                     "or 2026-11-01T09:00+03:00") from None
    try:
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None \
            else parsed.astimezone(UTC)
    except OverflowError:
        raise ValidationError(field, f"{value!r} is out of range in UTC") from None


def audit_row(entry: AuditEntry) -> Snapshot:
    """One entry in full, as ``audit --json`` and the API show it."""
    return {"at": entry.at.isoformat(), "actor": entry.actor, "interface": entry.interface,
            "action": entry.action, "object_type": entry.object_type,
            "object_key": entry.object_key, "before": entry.before, "after": entry.after,
            "detail": entry.detail}


@dataclass(frozen=True)
class Actor:
    """Who is making changes: an OS user (CLI) or an API token name (API)."""

    name: str
    interface: str  # "cli" or "api"


class AuditTrail:
    """Writes audit entries in the caller's transaction, so a change and its entry commit
    together or not at all."""

    def __init__(self, session: AsyncSession, actor: Actor) -> None:
        self._session = session
        self._actor = actor

    @property
    def actor(self) -> Actor:
        """Who the entries are written for."""
        return self._actor

    def record(self, action: str, object_type: str, object_key: str, *,
               before: Snapshot | None = None, after: Snapshot | None = None,
               detail: str | None = None) -> None:
        """Add one entry for a change that is part of the current transaction."""
        self._session.add(AuditEntry(
            actor=self._actor.name, interface=self._actor.interface, action=action,
            object_type=object_type, object_key=object_key, before=before, after=after,
            detail=detail))

    async def entries(self, since: datetime | None = None,
                      object_type: str | None = None) -> Sequence[AuditEntry]:
        """Entries oldest first, optionally from ``since`` (UTC) and of one object type."""
        query = select(AuditEntry).order_by(AuditEntry.at, AuditEntry.id)
        if since is not None:
            query = query.where(AuditEntry.at >= since)
        if object_type is not None:
            query = query.where(AuditEntry.object_type == object_type)
        return (await self._session.scalars(query)).all()
