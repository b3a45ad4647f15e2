"""Inserting many rows that may already be there, the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

KEY_LOOKUP_CHUNK = 500  # bind parameters per lookup: well under SQLite's limit


async def insert_ignoring(session: AsyncSession, model: Any, rows: Sequence[dict[str, Any]],
                          conflict_columns: Sequence[str]) -> None:
    """INSERT … ON CONFLICT DO NOTHING in the session's dialect."""
    if not rows:
        return
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    connection = await session.connection()
    await connection.execute(
        insert(model).on_conflict_do_nothing(index_elements=list(conflict_columns)), rows)


async def insert_new_keys(session: AsyncSession, model: Any,
                          rows: Sequence[dict[str, Any]]) -> int:
    """Insert the rows whose unique ``key`` is not stored yet; returns how many."""
    keys = [row["key"] for row in rows]
    existing: set[str] = set()
    for start in range(0, len(keys), KEY_LOOKUP_CHUNK):
        existing.update((await session.scalars(select(model.key).where(
            model.key.in_(keys[start:start + KEY_LOOKUP_CHUNK])))).all())
    fresh = [row for row in rows if row["key"] not in existing]
    await insert_ignoring(session, model, fresh, ["key"])
    return len(fresh)
