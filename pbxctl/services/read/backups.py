"""The last backup, as the audit trail records it (``backup.create``, by the CLI, the
API or serve's schedule), for ``status``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import AuditEntry


@dataclass(frozen=True)
class LastBackup:
    """When the newest backup was written, where, by whom, and the nodes whose state it
    lacks."""

    at: datetime
    file: str
    actor: str
    nodes_missing: list[str]


async def last_backup(session: AsyncSession) -> LastBackup | None:
    """The newest ``backup.create`` in the audit trail."""
    entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "backup.create")
                                 .order_by(AuditEntry.id.desc()).limit(1))
    if entry is None:
        return None
    after = entry.after or {}
    return LastBackup(entry.at, str(after.get("file", "")), entry.actor,
                      [str(n) for n in after.get("nodes_missing", [])])
