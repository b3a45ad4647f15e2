"""Every migration runs up and down on SQLite and PostgreSQL, and the models match them."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select, text

from pbxctl.billing.records import cdr_key as current_key
from pbxctl.billing.records import check, normalise
from pbxctl.db import migrate
from pbxctl.db.models import (
    Base,
    Branch,
    CallQueue,
    Cdr,
    CostTotal,
    Node,
    OutboundPolicy,
    QueueCall,
)
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


def _node() -> Node:
    return Node(name="local", ami_host="127.0.0.1", ami_port=5038, ami_user="pbxctl",
                ami_secret="s3cret-s3cret", config_dir="/tmp/none", sip_address="127.0.0.1",
                sip_port=5060, media_address="127.0.0.1")


async def _old_branches(session, slugs: tuple[str, ...]) -> list[int]:  # noqa: ANN001
    """Branches (and node ``local``) as a revision before 0021 stores them: the columns
    it has, not the model's today."""
    node = _node()
    session.add(node)
    await session.flush()
    return [await session.scalar(insert(Branch.__table__).values(
        slug=slug, name="B", city="C", timezone="UTC", ext_start=200 + i, ext_end=200 + i,
        node_id=node.id).returning(Branch.__table__.c.id)) for i, slug in enumerate(slugs)]


async def test_queue_stays_follow_their_queues_to_names_that_cannot_collide(
        database_url: str) -> None:
    """0012: a stay stored under a queue's old name (``q-north-west-sales``) is found under
    the new one (``q-north--west-sales``); a name two queues shared stays as it was."""
    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine, "0008")
        async with transaction(engine) as session:
            branches = await _old_branches(session, ("north-west", "kazan", "ab-cd", "ab"))
            session.add_all([CallQueue(branch_id=branch, name=name, strategy="ringall",
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


ROW = ["kazan", "201", "+78432000000", "pbxctl-out-kazan", '"Anna" <201>',
       "PJSIP/201-0000000a", "PJSIP/mts-0000000c", "Dial", "PJSIP/+78432000000@mts,120",
       "2026-10-23 19:03:26", "2026-10-23 19:03:26", "2026-10-23 19:04:27", "61", "61",
       "ANSWERED", "DOCUMENTATION"]


def _cdr(key: str, cols: list[str]) -> dict[str, object]:
    start, answer, end = check(cols)  # type: ignore[misc]
    return {"key": key, "node": "local", "start": start, "answer": answer, "end": end,
            "src": "201", "dst": "+78432000000", "channel": cols[5], "dstchannel": cols[6],
            "disposition": "ANSWERED", "duration": 61, "billsec": 61, "department": "kazan",
            "uniqueid": cols[16], "direction": "outbound", "charged_seconds": 0, "cost": 0}


async def test_rows_without_unique_ids_are_rekeyed_as_the_import_keys_them_now(
        database_url: str) -> None:
    """0014: ``local:row:<sha1>`` becomes ``local:row:<start>:<sha1>``, exactly the key a
    re-import of the same line computes (so it is recognised); keys with unique ids stay."""
    cols = normalise(ROW)
    assert cols is not None
    digest = hashlib.sha1("\x1f".join(cols).encode(), usedforsecurity=False).hexdigest()
    with_ids = normalise([*ROW, "1795460606.10", "", "", "1795460606.10", "3"])
    assert with_ids is not None
    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine, "0013")
        async with transaction(engine) as session:
            await session.execute(insert(Cdr), [
                _cdr(f"local:row:{digest}", cols),
                _cdr("local:1795460606.10:3", with_ids)])
        await migrate.upgrade(engine, "0014")
        assert await _cdr_keys(engine) == sorted([current_key("local", cols),
                                                  "local:1795460606.10:3"])
        assert current_key("local", cols) == f"local:row:20261023190326:{digest}"
        await migrate.downgrade(engine, "0013")
        assert await _cdr_keys(engine) == sorted([f"local:row:{digest}",
                                                  "local:1795460606.10:3"])
    finally:
        await engine.dispose()


async def _cdr_keys(engine) -> list[str]:  # noqa: ANN001
    async with engine.connect() as conn:
        return sorted((await conn.execute(select(Cdr.key))).scalars())


async def test_cost_totals_start_from_the_calls_already_stored(database_url: str) -> None:
    """0015: the totals of the calls stored before it, one row per quarter hour,
    department and currency; unpriced calls counted apart, other calls not at all."""
    cols = normalise(ROW)
    assert cols is not None
    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine, "0014")
        async with transaction(engine) as session:
            await session.execute(insert(Cdr), [
                {**_cdr("local:a:1", cols), "charged_seconds": 120, "cost": "3.1000",
                 "currency": "RUB"},
                {**_cdr("local:b:1", cols), "charged_seconds": 60, "cost": "1.0500",
                 "currency": "RUB"},
                {**_cdr("local:c:1", cols), "unrated_reason": "unknown carrier x"},
                {**_cdr("local:d:1", cols), "direction": "inbound"},
                {**_cdr("local:e:1", cols), "billsec": 0}])
        await migrate.upgrade(engine, "0015")
        async with engine.connect() as conn:
            totals = (await conn.execute(select(CostTotal.__table__))).all()
        quarter = int(datetime(2026, 10, 23, 19, tzinfo=UTC).timestamp()) // 900
        assert sorted((t.quarter_hour, t.department, t.currency, t.calls, t.billsec,
                       t.charged_seconds, t.cost, t.unrated) for t in totals) == [
            (quarter, "kazan", "", 0, 0, 0, 0, 1),
            (quarter, "kazan", "RUB", 2, 122, 180, Decimal("4.1500"), 0)]
    finally:
        await engine.dispose()


async def test_outbound_policies_start_without_brakes(database_url: str) -> None:
    """0016: a policy stored before it has no channel limit, no duration limits and no
    night rule; going back keeps the policy."""
    engine = make_engine(database_url)
    try:
        await migrate.upgrade(engine, "0015")
        async with transaction(engine) as session:
            await _old_branches(session, ("kazan",))
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO outbound_policies (branch_id, country_code, national_prefix, "
                "international_prefix, allowed_classes, carriers, allow_foreign_caller_id) "
                "SELECT id, '7', '8', '810', '[\"national\"]', '[]', false FROM branches"))
        await migrate.upgrade(engine, "0016")
        async with engine.connect() as conn:
            (row,) = (await conn.execute(select(OutboundPolicy.__table__))).all()
        assert (row.max_calls, row.max_seconds, row.after_hours_classes) == (None, {}, None)
        assert row.allowed_classes == ["national"]
        await migrate.downgrade(engine, "0015")
        async with engine.connect() as conn:
            (left,) = (await conn.execute(text(
                "SELECT country_code FROM outbound_policies"))).all()
        assert left == ("7",)
    finally:
        await engine.dispose()
