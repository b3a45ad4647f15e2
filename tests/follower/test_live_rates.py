"""The live path's rate index: one classifier kept while the decks stay the same, a new
one at the first check after a deck or a carrier changes, never before the check is due."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.db.migrate import upgrade
from pbxctl.db.session import make_engine, transaction
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.carriers import CarrierService, CarrierSpec
from pbxctl.services.live_rates import RateIndex
from pbxctl.services.rates import RateService

DECK = ("prefix,destination,rate_per_minute,connect_fee,min_seconds,increment_seconds\n"
        "7,Russia,{price},0.0000,0,1\n")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    migrated = make_engine(database_url)
    await upgrade(migrated)
    async with transaction(migrated) as session:
        await CarrierService(session, AuditTrail(session, Actor("tester", "cli"))).add(
            "tele2", CarrierSpec(host="127.0.0.2", auth="ip", match=("127.0.0.2",)))
    try:
        yield migrated
    finally:
        await migrated.dispose()


async def import_deck(engine: AsyncEngine, price: str) -> None:
    async with transaction(engine) as session:
        await RateService(session, AuditTrail(session, Actor("tester", "cli"))).import_deck(
            "tele2", DECK.format(price=price), "deck.csv", date(2026, 1, 1))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def cost(engine: AsyncEngine, index: RateIndex) -> Decimal | None:
    """What a minute to Russia through tele2 costs with the index's classifier."""
    async with transaction(engine) as session:
        rating = (await index.classifier(session)).rate("tele2", "+78432000000",
                                                         "2026-10-01", 60)
    return rating.cost if rating.unrated_reason is None else None


async def test_a_changed_deck_is_used_from_the_next_check_on(engine: AsyncEngine) -> None:
    clock = Clock()
    index = RateIndex(check_every=5, clock=clock)
    assert await cost(engine, index) is None            # no deck yet: unrated
    await import_deck(engine, "1.0000")
    clock.now += 4
    assert await cost(engine, index) is None            # not checked again yet
    clock.now += 1
    assert await cost(engine, index) == Decimal("1.0000")
    await import_deck(engine, "2.5000")                 # replaces the deck (a new id)
    clock.now += 5
    assert await cost(engine, index) == Decimal("2.5000")
    assert index.unrated == 2                           # counted across reloads


async def test_unchanged_decks_keep_the_same_classifier(engine: AsyncEngine) -> None:
    await import_deck(engine, "1.0000")
    clock = Clock()
    index = RateIndex(check_every=5, clock=clock)
    async with transaction(engine) as session:
        first = await index.classifier(session)
        clock.now += 60
        assert await index.classifier(session) is first
        await CarrierService(session, AuditTrail(session, Actor("tester", "cli"))).add(
            "mts", CarrierSpec(host="127.0.0.3", auth="ip", match=("127.0.0.3",)))
        clock.now += 5
        assert "mts" in (await index.classifier(session)).carriers
