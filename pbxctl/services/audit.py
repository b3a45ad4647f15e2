"""The audit trail: every change, who made it, through which interface, before and after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import AuditEntry

Snapshot = dict[str, Any]


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
