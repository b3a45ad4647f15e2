"""Every migration runs up and down on SQLite and PostgreSQL, and the models match them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from pbxctl.db import migrate
from pbxctl.db.models import Base
from pbxctl.db.schema_check import SCHEMA_HEAD, stored_revision
from pbxctl.db.session import make_engine


async def _tables(engine) -> set[str]:  # noqa: ANN001
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_each_revision_upgrades_and_downgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        script = ScriptDirectory.from_config(migrate.alembic_config())
        revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
        for revision in revisions:
            await migrate.upgrade(engine, revision)
            assert await migrate.current_revision(engine) == revision
        for revision in reversed(revisions):
            down_to = script.get_revision(revision).down_revision or "base"
            await migrate.downgrade(engine, str(down_to))
        assert await migrate.current_revision(engine) is None
        assert await stored_revision(engine) is None
        assert await _tables(engine) <= {"alembic_version"}
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        assert await stored_revision(engine) == migrate.head_revision() == SCHEMA_HEAD
    finally:
        await engine.dispose()


async def test_models_match_the_migrated_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
        assert diff == []
    finally:
        await engine.dispose()
