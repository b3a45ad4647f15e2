"""serve's ban keeper against a real database and a fake Asterisk behind a real AMI
socket: repeated failures ban an address on the node (only pjsip_bans.conf changes),
never an allow-listed or carrier address; bans are audited, announced and expire."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.ami_events import SecurityFailure
from pbxctl.bans import BanPolicy
from pbxctl.db.migrate import upgrade
from pbxctl.db.models import AuditEntry, SecurityBan, WebhookMessage
from pbxctl.db.session import make_engine, transaction
from pbxctl.follower.bans import BanKeeper
from pbxctl.follower.events import EVENT_CLASSES, NodeEvents
from pbxctl.metrics import ServeMetrics
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.bundle import UnitOfWork, units
from pbxctl.services.carriers import CarrierService, CarrierSpec
from pbxctl.services.deploy import apply_nodes
from pbxctl.services.nodes import NodeService, NodeSpec
from pbxctl.services.security import NOT_INCLUDED, SecurityService, apply_bans
from pbxctl.services.webhooks import WebhookService
from pbxctl.settings import Settings
from tests.asterisk.fake_asterisk import FakeAmiServer, FakeAsterisk
from tests.support.clock import Clock

SECRET = "ami-secret-1"
SERVE = Actor("pbxctl serve", "serve")


@dataclass
class Company:
    engine: AsyncEngine
    unit: UnitOfWork
    config_dir: Path
    unit_settings: Settings


@pytest.fixture
async def company(database_url: str, tmp_path: Path) -> AsyncIterator[Company]:
    """Node local on a fake Asterisk, carrier tele2 at 127.0.0.2, a webhook for bans;
    everything applied."""
    engine = make_engine(database_url)
    await upgrade(engine)
    config_dir = tmp_path / "local"
    config_dir.mkdir()
    server = FakeAmiServer(FakeAsterisk(config_dir), secret=SECRET)
    async with server.running():
        async with transaction(engine) as session:
            audit = AuditTrail(session, Actor("tester", "cli"))
            await NodeService(session, audit, (tmp_path,)).add(NodeSpec(
                "local", "127.0.0.1", server.port, "pbxctl", SECRET, str(config_dir),
                "127.0.0.1"))
            await CarrierService(session, audit).add("tele2", CarrierSpec(
                host="127.0.0.2", auth="ip", match=("127.0.0.2",)))
            await WebhookService(session, audit, ()).add("https://crm.example.com/pbx",
                                                     ("security.banned",), None)
        settings = Settings(database_url=database_url, node_config_roots=[tmp_path])
        unit = units(engine, SERVE, settings)
        assert not [n for n in await apply_nodes(unit, None) if n.error]
        yield Company(engine, unit, config_dir, settings)
    await engine.dispose()


def failure(address: str, kind: str = "ChallengeResponseFailed") -> SecurityFailure:
    return SecurityFailure(kind, "PJSIP", "201", ipaddress.ip_address(address))


async def until(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds (the keeper works in its own task)."""
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition never held")


@contextlib.asynccontextmanager
async def keeping(keeper: BanKeeper) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(keeper.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


def denied(config_dir: Path) -> list[str]:
    text = (config_dir / "pjsip_bans.conf").read_text()
    return [line.removeprefix("deny=") for line in text.splitlines()
            if line.startswith("deny=")]


async def test_failures_ban_the_source_on_the_node_and_nothing_else_changes(
        company: Company) -> None:
    pjsip_before = (company.config_dir / "pjsip.conf").read_text()
    async with transaction(company.engine) as session:   # in the database, not applied
        await CarrierService(session, AuditTrail(session, Actor("tester", "cli"))).add(
            "beeline", CarrierSpec(host="127.0.0.4", auth="ip", match=("127.0.0.4",)))
    metrics = ServeMetrics()
    keeper = BanKeeper(company.unit, BanPolicy(after=5, window=60, ban_for=3600), metrics)
    async with keeping(keeper):
        for _ in range(6):
            for address in ("127.0.0.1", "127.0.0.2", "::ffff:127.0.0.2"):  # never banned
                keeper.failure("local", failure(address, "InvalidAccountID"))
        for _ in range(4):                                   # one short of a ban
            keeper.failure("local", failure("198.51.100.7"))
        for n in range(5):        # IPv6: a fresh address each time, one /64
            keeper.failure("local", failure("203.0.113.9"))
            keeper.failure("local", failure(f"2001:db8:1:2::{n + 1}", "InvalidAccountID"))
        await until(lambda: len(denied(company.config_dir)) == 2)

    assert denied(company.config_dir) == ["2001:db8:1:2::/64", "203.0.113.9"]
    assert (company.config_dir / "pjsip.conf").read_text() == pjsip_before   # no beeline
    async with transaction(company.engine) as session:
        bans = (await session.scalars(select(SecurityBan).order_by(SecurityBan.address))
                ).all()
        audit = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "security.ban"))).all()
        messages = (await session.scalars(select(WebhookMessage))).all()
    assert [(b.address, b.failures, b.lifted_at) for b in bans] == [
        ("2001:db8:1:2::/64", 5, None), ("203.0.113.9", 5, None)]
    assert "InvalidAccountID ('PJSIP' account '201') on node local" in bans[0].reason
    assert sorted((a.object_key, a.actor) for a in audit) == [
        ("2001:db8:1:2::/64", "pbxctl serve"), ("203.0.113.9", "pbxctl serve")]
    assert sorted(m.event for m in messages) == ["security.banned"] * 2
    assert '"address":"203.0.113.9"' in "".join(m.payload for m in messages)
    await metrics.refresh_from_database(company.engine)
    sample = metrics.registry.get_sample_value
    assert sample("pbxctl_security_bans_total") == 2
    assert sample("pbxctl_security_bans_active") == 2
    assert sample("pbxctl_security_failures_total",
                  {"node": "local", "kind": "ChallengeResponseFailed"}) == 9
    assert sample("pbxctl_security_failures_total",
                  {"node": "local", "kind": "InvalidAccountID"}) == 23


async def test_a_ban_ends_when_its_time_is_up(company: Company) -> None:
    keeper = BanKeeper(company.unit, BanPolicy(after=2, window=60, ban_for=0.5))
    async with keeping(keeper):
        keeper.failure("local", failure("203.0.113.9"))
        keeper.failure("local", failure("203.0.113.9"))

        async def lifted() -> bool:
            async with transaction(company.engine) as session:
                return await session.scalar(select(SecurityBan.lifted_by)) == "expiry"

        for _ in range(400):
            if await lifted():
                break
            await asyncio.sleep(0.05)
        await until(lambda: denied(company.config_dir) == [])
    async with transaction(company.engine) as session:
        actions = (await session.scalars(select(AuditEntry.action).where(
            AuditEntry.object_key == "203.0.113.9"))).all()
    assert actions == ["security.ban", "security.expired"]


async def test_a_node_hands_its_security_failures_to_the_keeper(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}")
    told: list[tuple[str, SecurityFailure]] = []
    events = NodeEvents(engine, "local", on_failure=lambda node, f: told.append((node, f)))
    handlers = events.handlers()
    assert "security" in EVENT_CLASSES.split(",")
    for name in ("InvalidAccountID", "ChallengeResponseFailed", "InvalidPassword",
                 "FailedACL", "ChallengeSent"):
        assert (name in handlers) == (name != "ChallengeSent")
    handlers["ChallengeResponseFailed"]({
        "Event": "ChallengeResponseFailed", "Service": "PJSIP", "AccountID": "201",
        "RemoteAddress": "IPV4/UDP/127.0.0.66/5061"})
    stop = asyncio.Event()
    stop.set()
    await events.run(stop)
    await engine.dispose()
    assert told == [("local", failure("127.0.0.66"))]




async def applies(company: Company) -> int:
    async with transaction(company.engine) as session:
        return len((await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "apply"))).all())


async def test_a_burst_of_offenders_costs_one_apply(company: Company) -> None:
    clock = Clock()
    keeper = BanKeeper(company.unit, BanPolicy(after=1, window=60, ban_for=3600),
                       clock=clock)
    before = await applies(company)

    async def stored() -> int:
        async with transaction(company.engine) as session:
            return len((await session.scalars(select(SecurityBan))).all())

    keeper.failure("local", failure("203.0.113.1"))       # banned and applied on start
    async with keeping(keeper):
        await until(lambda: denied(company.config_dir) == ["203.0.113.1"])
        for n in range(2, 5):
            keeper.failure("local", failure(f"203.0.113.{n}"))
        for _ in range(400):
            if await stored() == 4:
                break
            await asyncio.sleep(0.05)
        # Stored, but the clock has not moved since the last apply: not applied yet.
        assert denied(company.config_dir) == ["203.0.113.1"]
        # The clock moves only now: had it moved while the keeper was storing the burst,
        # it could have applied part of it, and the rest would wait for a clock that
        # this test never moves again. The keeper's hold timer wakes it.
        clock.now += 5
        await until(lambda: len(denied(company.config_dir)) == 4)
    assert await applies(company) == before + 2          # not one per ban


async def test_a_node_whose_pjsip_conf_does_not_read_the_bans_fails_loudly(
        company: Company, caplog: pytest.LogCaptureFixture) -> None:
    pjsip = company.config_dir / "pjsip.conf"
    pjsip.write_text("\n".join(line for line in pjsip.read_text().splitlines()
                               if "pjsip_bans.conf" not in line) + "\n")
    bans_before = (company.config_dir / "pjsip_bans.conf").read_text()
    async with transaction(company.engine) as session:
        await SecurityService(session, AuditTrail(session, SERVE), company.unit_settings
                              ).ban(ipaddress.ip_address("203.0.113.9"), 60, "test")
    with caplog.at_level(logging.INFO, "pbxctl"):
        applied = await apply_bans(company.unit)
    assert [(n.node, n.applied, n.error) for n in applied] == [("local", False, NOT_INCLUDED)]
    assert "run 'pbxctl apply'" in NOT_INCLUDED
    assert (company.config_dir / "pjsip_bans.conf").read_text() == bans_before
    assert any(r.levelno == logging.ERROR and "local" in r.getMessage()
               for r in caplog.records)
    async with transaction(company.engine) as session:
        failed = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "apply.failed"))).all()
    assert [(f.object_key, "pbxctl apply" in (f.detail or "")) for f in failed] == [
        ("local", True)]
    metrics = ServeMetrics()
    await metrics.refresh_from_database(company.engine)
    assert metrics.registry.get_sample_value("pbxctl_apply_failures", {"node": "local"}) == 1


async def test_with_ban_limit_reached_a_new_offender_still_gets_banned(
        company: Company) -> None:
    settings = company.unit_settings.model_copy(update={"ban_limit": 1})
    metrics, clock = ServeMetrics(), Clock()
    keeper = BanKeeper(units(company.engine, SERVE, settings),
                       BanPolicy(after=1, window=60, ban_for=3600, limit=1), metrics, clock)
    keeper.failure("local", failure("203.0.113.1"))
    async with keeping(keeper):
        await until(lambda: denied(company.config_dir) == ["203.0.113.1"])
        clock.now += 5
        keeper.failure("local", failure("203.0.113.2"))
        await until(lambda: denied(company.config_dir) == ["203.0.113.2"])
    assert metrics.registry.get_sample_value("pbxctl_security_bans_displaced_total") == 1
