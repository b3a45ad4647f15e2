"""Whether a database is at the schema this pbxctl needs, told without loading Alembic
(every command asks; Alembic and the migration scripts load only to change the schema)."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.errors import PbxctlError

# The newest migration in pbxctl/db/migrations/versions (a test keeps the two equal).
SCHEMA_HEAD = "0022"


async def stored_revision(engine: AsyncEngine) -> str | None:
    """The revision recorded in the database; None when it has no pbxctl schema."""
    async with engine.connect() as connection:
        if not await connection.run_sync(
                lambda sync: inspect(sync).has_table("alembic_version")):
            return None
        revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
        return None if revision is None else str(revision)


async def require_schema(engine: AsyncEngine) -> None:
    """Refuse to work on a database that pbxctl has not created or upgraded."""
    current = await stored_revision(engine)
    if current is None:
        raise PbxctlError("the database is empty; run 'pbxctl init' first")
    if current != SCHEMA_HEAD:
        raise PbxctlError(f"the database schema is at {current}, this pbxctl needs "
                          f"{SCHEMA_HEAD}; run 'pbxctl db upgrade'")
