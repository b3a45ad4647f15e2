"""Live CDRs stored in batches, on both engines: a batch is stored when it is full, when
its oldest write has waited ``gather`` seconds, or when the node stops; its CDRs go in one
statement, a call repeated or already stored is stored once, and each stored call queues
one ``cdr.rated`` webhook event."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.ami_events import CdrReported
from pbxctl.billing.records import Classifier, StoredCdr
from pbxctl.db.models import Cdr, WebhookMessage
from pbxctl.db.session import transaction
from pbxctl.follower.events import BATCH_WRITES, NodeEvents
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.cdrs import CdrStore
from pbxctl.services.webhooks import WebhookService
from tests.db.test_storage_faults import ami_cdr, has_stored, stored, until


class Batches:
    """The number of CDRs in each call of ``CdrStore.store_events`` (one statement)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        original = CdrStore.store_events

        async def spy(store: CdrStore, node: str, events: Sequence[CdrReported],
                      classifier: Classifier) -> list[StoredCdr | None]:
            self.sizes.append(len(events))
            return await original(store, node, events, classifier)
        monkeypatch.setattr(CdrStore, "store_events", spy)


async def test_a_full_batch_is_stored_at_once_in_one_statement(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = Batches(monkeypatch)
    events = NodeEvents(engine, "local", gather=3600)
    stop = asyncio.Event()
    running = asyncio.create_task(events.run(stop))
    for seq in range(1, BATCH_WRITES):
        events.handlers()["Cdr"](ami_cdr(seq))
    await asyncio.sleep(0.3)
    assert await stored(engine) == 0            # not full, not old enough: gathering
    events.handlers()["Cdr"](ami_cdr(BATCH_WRITES))
    await until("the full batch stored", lambda: has_stored(engine, BATCH_WRITES))
    assert batches.sizes == [BATCH_WRITES]
    stop.set()
    summary = await running
    assert (summary.rows, summary.inserted, summary.duplicates) == (BATCH_WRITES,) * 2 + (0,)


async def test_full_batches_in_a_row_are_all_stored(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """From the second batch on, the decks are not looked at again (checked every few
    seconds), so the batch's rows are the first thing its transaction sends: on
    PostgreSQL they go through a staging table, which must be inside that transaction."""
    batches = Batches(monkeypatch)
    events = NodeEvents(engine, "local", gather=3600)
    stop = asyncio.Event()
    running = asyncio.create_task(events.run(stop))
    for seq in range(1, 3 * BATCH_WRITES + 1):
        events.handlers()["Cdr"](ami_cdr(seq))
    await until("three full batches stored", lambda: has_stored(engine, 3 * BATCH_WRITES))
    assert batches.sizes == [BATCH_WRITES] * 3
    stop.set()
    summary = await running
    assert (summary.rows, summary.inserted, summary.duplicates) == (
        3 * BATCH_WRITES, 3 * BATCH_WRITES, 0)


async def test_a_batch_is_stored_once_its_oldest_write_waited_long_enough(
        engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = Batches(monkeypatch)
    events = NodeEvents(engine, "local", gather=0.5)
    stop = asyncio.Event()
    running = asyncio.create_task(events.run(stop))
    for seq in (1, 2, 3):
        events.handlers()["Cdr"](ami_cdr(seq))
    await until("the batch stored", lambda: has_stored(engine, 3))
    assert batches.sizes == [3]
    stop.set()
    await running


async def test_stopping_stores_what_was_gathered(engine: AsyncEngine) -> None:
    events = NodeEvents(engine, "local", gather=3600)
    stop = asyncio.Event()
    running = asyncio.create_task(events.run(stop))
    for seq in range(1, 6):
        events.handlers()["Cdr"](ami_cdr(seq))
    stop.set()
    summary = await asyncio.wait_for(running, timeout=20)
    assert summary.inserted == 5 and await stored(engine) == 5


async def test_calls_repeated_or_already_stored_are_stored_and_announced_once(
        engine: AsyncEngine) -> None:
    async with transaction(engine) as session:
        await WebhookService(session, AuditTrail(session, Actor("tester", "cli")), ()).add(
            "https://crm.example.com/pbx", ("cdr.rated",), None)
    first = NodeEvents(engine, "local", gather=0)
    stop = asyncio.Event()
    first.handlers()["Cdr"](ami_cdr(1))
    stop.set()
    await first.run(stop)
    events = NodeEvents(engine, "local", gather=3600)
    stop = asyncio.Event()
    for seq in (1, 2, 2, 3, 2):
        events.handlers()["Cdr"](ami_cdr(seq))
    stop.set()
    summary = await events.run(stop)
    assert (summary.rows, summary.inserted, summary.duplicates) == (5, 2, 3)
    async with transaction(engine) as session:
        keys = (await session.scalars(select(Cdr.uniqueid).order_by(Cdr.uniqueid))).all()
        assert list(keys) == ["1790000000.1", "1790000000.2", "1790000000.3"]
        count = await session.scalar(select(func.count()).select_from(WebhookMessage))
    assert count == 3                           # one cdr.rated per stored call
