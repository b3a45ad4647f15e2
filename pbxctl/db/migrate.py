"""Run the packaged Alembic migrations against the configured database."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at the migrations inside the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (default: the newest)."""
    await _migrate(engine, lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Downgrade the schema to ``revision`` (``base`` drops everything pbxctl created)."""
    await _migrate(engine, lambda sync: command.downgrade(alembic_config(sync), revision))


async def _migrate(engine: AsyncEngine, run: Callable[[Connection], None]) -> None:
    """Run migrations in one transaction. On SQLite, a column change rebuilds its table
    (drop and re-create), which foreign keys would refuse while other rows point at it:
    they are off during the migration (the pragma only works outside a transaction) and
    checked before the commit, as SQLite's documentation for table changes advises."""
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()   # ends SQLAlchemy's autobegin; SQLite had opened none
        try:
            async with conn.begin():
                await conn.run_sync(run)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken[:5]}")
        finally:
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision())


def head_revision() -> str:
    """The newest revision shipped with this version of pbxctl."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the package ships no migrations"
    return head


def known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of the migrations shipped with this pbxctl (a newer
    pbxctl's revision is not)."""
    script = ScriptDirectory.from_config(alembic_config())
    return revision in {rev.revision for rev in script.walk_revisions()}


def migrate_to(sync: Connection, revision: str) -> None:
    """Bring the schema on ``sync`` to ``revision``, up or down, in the transaction the
    connection is in (a restore migrates, loads and upgrades in one)."""
    script = ScriptDirectory.from_config(alembic_config())
    order = [rev.revision for rev in script.walk_revisions()]   # newest first
    current = MigrationContext.configure(sync).get_current_revision()
    if current == revision:
        return
    if current is not None and current not in order:
        raise ValueError(f"the database's schema revision {current} is unknown to this "
                         "pbxctl")
    if current is not None and order.index(revision) > order.index(current):
        command.downgrade(alembic_config(sync), revision)
    else:
        command.upgrade(alembic_config(sync), revision)


def revision_on(sync: Connection) -> str | None:
    """The revision of the database ``sync`` is connected to (None: no schema)."""
    return MigrationContext.configure(sync).get_current_revision()
