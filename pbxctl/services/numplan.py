"""The numbering plan: which prefixes are which destination class."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import NumberingPrefix
from pbxctl.errors import NotFoundError
from pbxctl.numbering import PlanEntry, parse_plan_csv, plan_csv, plan_entry, shipped_plan
from pbxctl.services.audit import AuditTrail


class NumberingPlanService:
    """Lists, edits and imports the numbering plan."""

    def __init__(self, session: AsyncSession, audit: AuditTrail) -> None:
        self._session = session
        self._audit = audit

    async def entries(self) -> list[PlanEntry]:
        """The plan, by prefix."""
        rows = (await self._session.scalars(
            select(NumberingPrefix).order_by(NumberingPrefix.prefix))).all()
        return [PlanEntry(r.prefix, r.dest_class, r.description or "") for r in rows]

    async def seed_if_empty(self) -> int:
        """Load the shipped plan into an empty table; returns how many rows were added."""
        count = await self._session.scalar(select(func.count()).select_from(NumberingPrefix))
        if count:
            return 0
        entries = shipped_plan()
        self._session.add_all(NumberingPrefix(prefix=e.prefix, dest_class=e.dest_class,
                                              description=e.description) for e in entries)
        return len(entries)

    async def set(self, prefix: str, dest_class: str, description: str = "") -> PlanEntry:
        """Add or change one row (checked field by field: ``prefix``, ``class``,
        ``description``)."""
        entry = plan_entry(prefix, dest_class, description)
        await self._upsert([entry], replace=False)
        return entry

    async def export_csv(self) -> str:
        """The plan as a file ``import`` reads back (header ``prefix,class,description``)."""
        return plan_csv(await self.entries())

    async def import_csv(self, text: str, replace: bool = False) -> dict[str, int]:
        """Import a plan file; all rows are checked first. ``replace`` drops other rows."""
        return await self._upsert(parse_plan_csv(text), replace=replace)

    async def remove(self, prefix: str) -> None:
        """Remove one row."""
        row = await self._session.get(NumberingPrefix, prefix)
        if row is None:
            raise NotFoundError(f"prefix {prefix} is not in the numbering plan")
        self._audit.record("numplan.remove", "numplan", prefix,
                           before={"class": row.dest_class, "description": row.description})
        await self._session.delete(row)

    async def _upsert(self, entries: list[PlanEntry], replace: bool) -> dict[str, int]:
        counts = {"added": 0, "updated": 0, "unchanged": 0, "removed": 0}
        current = {r.prefix: r for r in (await self._session.scalars(
            select(NumberingPrefix))).all()}
        for entry in entries:
            row = current.get(entry.prefix)
            new = {"class": entry.dest_class, "description": entry.description or None}
            if row is None:
                self._session.add(NumberingPrefix(prefix=entry.prefix,
                                                  dest_class=entry.dest_class,
                                                  description=entry.description or None))
                self._audit.record("numplan.set", "numplan", entry.prefix, after=new)
                counts["added"] += 1
                continue
            old = {"class": row.dest_class, "description": row.description}
            if old == new:
                counts["unchanged"] += 1
                continue
            row.dest_class, row.description = entry.dest_class, entry.description or None
            self._audit.record("numplan.set", "numplan", entry.prefix, before=old, after=new)
            counts["updated"] += 1
        if replace:
            listed = {e.prefix for e in entries}
            stale = [p for p in current if p not in listed]
            if stale:
                await self._session.execute(
                    delete(NumberingPrefix).where(NumberingPrefix.prefix.in_(stale)))
                for prefix in stale:
                    self._audit.record("numplan.remove", "numplan", prefix)
                counts["removed"] = len(stale)
        return counts
