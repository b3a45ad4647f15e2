"""Every migration runs up and down on SQLite and PostgreSQL, and the models match them."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from pbxctl.db import migrate
from pbxctl.db.models import Base, Branch, CallQueue, Node, QueueCall
from pbxctl.db.schema_check import SCHEMA_HEAD, stored_revision
from pbxctl.db.session import make_engine, transaction


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


async def test_queue_stays_follow_their_queues_to_names_that_cannot_collide(
        database_url: str) -> None:
    """0012: a stay stored under a queue's old name (``q-north-west-sales``) is found under
    the new one (``q-north--west-sales``); a name two queues shared stays as it was."""
    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine, "0008")
        async with transaction(engine) as session:
            node = Node(name="local", ami_host="127.0.0.1", ami_port=5038, ami_user="pbxctl",
                        ami_secret="s3cret-s3cret", config_dir="/tmp/none",
                        sip_address="127.0.0.1", sip_port=5060, media_address="127.0.0.1")
            branches = [Branch(slug=slug, name="B", city="C", timezone="UTC", ext_start=200 + i,
                               ext_end=200 + i, node=node)
                        for i, slug in enumerate(("north-west", "kazan", "ab-cd", "ab"))]
            session.add_all([CallQueue(branch=branch, name=name, strategy="ringall",
                                       members=[], max_wait=60, service_level=20,
                                       target_percent=90)
                             for branch, name in zip(branches, ("sales", "sales", "ef", "cd-ef"),
                                                     strict=True)])
            session.add_all([QueueCall(key=f"local:{i}", node="local", queue=queue,
                                       entered_at=datetime(2026, 11, 30, tzinfo=UTC),
                                       outcome="answered", wait_seconds=5)
                             for i, queue in enumerate(("q-north-west-sales", "q-kazan-sales",
                                                        "q-ab-cd-ef"))])
        await migrate.upgrade(engine, "0012")
        assert await _stay_queues(engine) == ["q-ab-cd-ef", "q-kazan-sales",
                                              "q-north--west-sales"]
        await migrate.downgrade(engine, "0011")
        assert await _stay_queues(engine) == ["q-ab-cd-ef", "q-kazan-sales",
                                              "q-north-west-sales"]
    finally:
        await engine.dispose()


async def _stay_queues(engine) -> list[str]:  # noqa: ANN001
    async with engine.connect() as conn:
        return sorted((await conn.execute(select(QueueCall.queue))).scalars())
