"""A company behind the API: every node's Asterisk is a fake AMI server on 127.0.0.1, so
apply, status and queue members run for real through the same code as the CLI."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.api.app import create_app
from pbxctl.db.migrate import upgrade
from pbxctl.db.models import AuditEntry, Base, Node, SpendState, utcnow
from pbxctl.db.session import make_engine, transaction
from pbxctl.destinations import Destination
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.branches import BranchService, BranchSpec
from pbxctl.services.carriers import CarrierService, CarrierSpec
from pbxctl.services.devices import DeviceService
from pbxctl.services.extensions import ExtensionService
from pbxctl.services.nodes import NodeService, NodeSpec
from pbxctl.services.numbers import NumberService, NumberSpec
from pbxctl.services.policies import OutboundChange, PolicyService
from pbxctl.services.queues import QueueService, QueueSpec
from pbxctl.services.read.spend import month_label
from pbxctl.services.spend import SpendService
from pbxctl.services.tokens import ROLES, TokenService
from pbxctl.services.webhooks import WebhookService
from pbxctl.settings import Settings
from tests.asterisk.fake_asterisk import FakeAmiServer, FakeAsterisk
from tests.conftest import Pbxctl

NODES = ("local", "east", "spare")
AMI_SECRET = "ami-secret-123"
MTS_SECRET = "mts-secret-456"
NO_BODY = object()
CONFIG_ROOT = Path("/srv")   # where nodes added through the API keep their files


@dataclass
class Api:
    """A test client with a token per role, the database and each node's fake Asterisk."""

    client: TestClient
    tokens: dict[str, str]
    engine: AsyncEngine
    database_url: str
    servers: dict[str, FakeAmiServer]

    def asterisk(self, node: str) -> FakeAsterisk:
        """The fake Asterisk of ``node``."""
        return self.servers[node].asterisk

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def call(self, method: str, path: str, role: str = "admin", body: object = NO_BODY,
                   **params: str) -> tuple[int, Any]:
        """One request with ``body`` as JSON; the answer's status and JSON (or text)."""
        kwargs = {} if body is NO_BODY else {"json": body}
        response = await self.client.request(method, path, headers=self.auth(role),
                                             params=params, **kwargs)
        data = (await response.json() if response.content_type == "application/json"
                else await response.text())
        return response.status, data

    async def raw(self, method: str, path: str, data: str | bytes, role: str = "admin"
                  ) -> tuple[int, Any]:
        """A request whose body is ``data`` exactly, labelled as JSON."""
        response = await self.client.request(method, path, data=data, headers={
            **self.auth(role), "Content-Type": "application/json"})
        return response.status, await response.json()

    async def cli(self, *args: str) -> bytes:
        """What ``pbxctl ARGS`` prints on the same database, byte for byte (in a thread:
        it runs its own event loop)."""
        result = await asyncio.to_thread(Pbxctl(self.database_url, {}).ok, *args)
        return result.stdout_bytes

    async def audit(self) -> list[AuditEntry]:
        async with transaction(self.engine) as session:
            return list((await session.scalars(
                select(AuditEntry).order_by(AuditEntry.id))).all())

    async def db_state(self) -> dict[str, list[str]]:
        """Every row of every table, to show that a refused request changed nothing."""
        async with self.engine.connect() as conn:
            return {table.name: sorted(repr(tuple(row)) for row in
                                       (await conn.execute(select(table))).all())
                    for table in Base.metadata.sorted_tables}


async def provision(engine: AsyncEngine, servers: dict[str, FakeAmiServer], config_root: Path
                    ) -> dict[str, str]:
    """Nodes local (kazan, omsk), east (perm) and spare (nothing); phones, carriers (mts
    registers with a secret), numbers, two queues, an outbound policy, a webhook; a token
    per role, returned."""
    async with transaction(engine) as session:
        audit = AuditTrail(session, Actor("tester", "cli"))
        nodes = NodeService(session, audit, (config_root,))
        for name, server in servers.items():
            await nodes.add(NodeSpec(name, "127.0.0.1", server.port, "pbxctl", AMI_SECRET,
                                     str(server.asterisk.config_dir), "127.0.0.1"))
        branches = BranchService(session, audit)
        for spec in (BranchSpec("kazan", "Kazan salon", "Kazan", "Europe/Moscow", "200-299"),
                     BranchSpec("omsk", "Omsk office", "Omsk", "Asia/Omsk", "300-399"),
                     BranchSpec("perm", "Perm office", "Perm", "Asia/Yekaterinburg",
                                "400-499", "east")):
            await branches.add(spec)
        extensions = ExtensionService(session, audit)
        await extensions.add("kazan", "201", "Anna Petrova")
        await extensions.add("kazan", "202", "Boris Ivanov")
        await extensions.add("omsk", "301", "Olga Sidorova", "sales")
        devices = DeviceService(session, audit, None)
        await devices.add("202", "80:5E:C0:00:02:02", "yealink-t4x")
        await devices.add("301", "80:5E:C0:00:03:01", "snom-d7xx")
        carriers = CarrierService(session, audit)
        await carriers.add("tele2", CarrierSpec(host="127.0.0.2", auth="ip",
                                                match=("127.0.0.2",)))
        await carriers.add("mts", CarrierSpec(host="sip.mts.example", auth="register",
                                              username="kazan01", secret=MTS_SECRET,
                                              number_format="plus"))
        await carriers.add("beeline", CarrierSpec(host="127.0.0.4", auth="ip",
                                                  match=("127.0.0.4",)))
        numbers = NumberService(session, audit, clock=_month_start)
        await numbers.add(NumberSpec("+78435550101", "tele2", "kazan", Decimal("350.00"),
                                     Destination("ext", "201")))
        await numbers.add(NumberSpec("+73812550101", "mts", "omsk", Decimal("120.00"),
                                     Destination("branch", "omsk")))
        await PolicyService(session, audit).set_outbound("kazan", OutboundChange(
            carriers=("tele2", "mts"), caller_id="+78435550101",
            allow=("local", "national", "mobile"),
            dialing="national:7"))
        queues = QueueService(session, audit)
        await queues.add("kazan", "sales", QueueSpec(members=("201",)))
        await queues.add("omsk", "support", QueueSpec(members=("301",), strategy="rrmemory",
                                                      max_wait=30))
        await WebhookService(session, audit, ()).add("https://crm.example.com/pbx",
                                                 ("call.ringing",), None)
        spend = SpendService(session, audit, _no_node)
        await spend.set_limit("kazan", "5000")
        await spend.set_limit("sales", "100.00", 90)
        session.add(SpendState(department="sales", month=month_label(utcnow(), "Asia/Omsk"),
                               spent=Decimal("100.00"), blocked_at=utcnow()))
        return {role: await TokenService(session, audit).create(f"t-{role}", role)
                for role in ROLES}


async def _no_node(node: Node) -> FakeAsterisk:
    raise AssertionError("provisioning talks to no node")


def _month_start() -> datetime:
    """When the numbers were added: the start of this UTC month, which every branch's zone
    (UTC+3 to UTC+6) counts in this month too, so that this month's reports show their
    rental even late on the month's last day (when Omsk is already in the next one)."""
    return datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
async def api(database_url: str, aiohttp_client, tmp_path: Path  # noqa: ANN001
              ) -> AsyncIterator[Api]:
    """The API on a provisioned company whose nodes answer AMI (fake Asterisks)."""
    engine = make_engine(database_url)
    await upgrade(engine)
    async with contextlib.AsyncExitStack() as stack:
        servers = {}
        for name in NODES:
            (tmp_path / name).mkdir()
            server = FakeAmiServer(FakeAsterisk(tmp_path / name), secret=AMI_SECRET)
            servers[name] = await stack.enter_async_context(server.running())
        tokens = await provision(engine, servers, tmp_path)
        settings = Settings(node_config_roots=[tmp_path, CONFIG_ROOT])
        client = await aiohttp_client(create_app(engine, settings=settings))
        yield Api(client, tokens, engine, database_url, servers)
    await engine.dispose()
