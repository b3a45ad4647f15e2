"""The HTTP API: every operation refuses a missing or unknown token (401) and every role
it does not allow (403), and answers its happy path with a real effect; bad input is 400
and changes nothing; sort and filter parameters are allow-listed; the OpenAPI document
validates and describes exactly the routes served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from sqlalchemy import func, select

from pbxctl.api.app import create_app
from pbxctl.api.openapi import OPERATIONS, Operation, openapi_document
from pbxctl.db.migrate import upgrade
from pbxctl.db.models import AuditEntry
from pbxctl.db.session import make_engine, transaction
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.branches import BranchService, BranchSpec
from pbxctl.services.carriers import CarrierService, CarrierSpec
from pbxctl.services.extensions import ExtensionService
from pbxctl.services.nodes import NodeService, NodeSpec
from pbxctl.services.numbers import NumberService, NumberSpec
from pbxctl.services.queues import QueueService, QueueSpec
from pbxctl.services.tokens import ROLES, TokenService
from pbxctl.services.webhooks import WebhookService


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    engine: Any
    config_dir: Path

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def call(self, method: str, path: str, role: str = "admin",
                   body: object = None, **params: str) -> tuple[int, Any]:
        response = await self.client.request(method, path, headers=self.auth(role),
                                             json=body, params=params)
        data = (await response.json() if response.content_type == "application/json"
                else await response.text())
        return response.status, data

    async def audit_count(self) -> int:
        async with transaction(self.engine) as session:
            return int(await session.scalar(select(func.count()).select_from(AuditEntry)))


@pytest.fixture
async def api(database_url: str, aiohttp_client, tmp_path: Path  # noqa: ANN001
              ) -> AsyncIterator[Api]:
    """A company: nodes local (AMI on a closed port) and spare, branches kazan and omsk,
    extensions 201 and 202, carriers tele2 and mts, a number, a queue, a webhook."""
    engine = make_engine(database_url)
    await upgrade(engine)
    config_dir = tmp_path / "asterisk"
    config_dir.mkdir()
    (tmp_path / "spare").mkdir()
    async with transaction(engine) as session:
        audit = AuditTrail(session, Actor("tester", "cli"))
        nodes = NodeService(session, audit)
        await nodes.add(NodeSpec("local", "127.0.0.1", 1, "pbxctl", "secret-123",
                                 str(config_dir), "127.0.0.1"))
        await nodes.add(NodeSpec("spare", "127.0.0.5", 5038, "pbxctl", "secret-123",
                                 str(tmp_path / "spare"), "127.0.0.5"))
        branches = BranchService(session, audit)
        await branches.add(BranchSpec("kazan", "Kazan salon", "Kazan", "Europe/Moscow",
                                      "200-299"))
        await branches.add(BranchSpec("omsk", "Omsk office", "Omsk", "Asia/Omsk", "300-399"))
        extensions = ExtensionService(session, audit)
        await extensions.add("kazan", "201", "Anna Petrova")
        await extensions.add("kazan", "202", "Boris Ivanov")
        carriers = CarrierService(session, audit)
        for slug, address in (("tele2", "127.0.0.2"), ("mts", "127.0.0.3")):
            await carriers.add(slug, CarrierSpec(host=address, auth="ip", match=(address,)))
        await NumberService(session, audit).add(NumberSpec(
            "+78435550101", "tele2", "kazan", "350.00", "ext:201"))
        await QueueService(session, audit).add("kazan", "sales", QueueSpec(members="201"))
        await WebhookService(session, audit).add("https://crm.example.com/pbx",
                                                 "call.ringing", None)
        tokens = {role: await TokenService(session, audit).create(f"t-{role}", role)
                  for role in ROLES}
    client = await aiohttp_client(create_app(engine))
    yield Api(client, tokens, engine, config_dir)
    await engine.dispose()


# For each operation: a concrete path, a body, and the status of its happy path.
HAPPY: dict[tuple[str, str], tuple[str, Any, int]] = {
    ("GET", "/api/v1/nodes"): ("/api/v1/nodes", None, 200),
    ("POST", "/api/v1/nodes"): ("/api/v1/nodes", {
        "name": "third", "ami_host": "127.0.0.6", "ami_user": "pbxctl",
        "ami_secret": "secret-789", "config_dir": "/srv/third/asterisk"}, 201),
    ("GET", "/api/v1/nodes/{name}"): ("/api/v1/nodes/local", None, 200),
    ("DELETE", "/api/v1/nodes/{name}"): ("/api/v1/nodes/spare", None, 200),
    ("GET", "/api/v1/branches"): ("/api/v1/branches", None, 200),
    ("POST", "/api/v1/branches"): ("/api/v1/branches", {
        "slug": "tver", "name": "Tver office", "city": "Tver", "timezone": "Europe/Moscow",
        "ext_range": "400-499"}, 201),
    ("GET", "/api/v1/branches/{slug}"): ("/api/v1/branches/kazan", None, 200),
    ("DELETE", "/api/v1/branches/{slug}"): ("/api/v1/branches/omsk", None, 200),
    ("PUT", "/api/v1/branches/{slug}/outbound"): ("/api/v1/branches/kazan/outbound", {
        "carriers": ["tele2", "mts"], "caller_id": "+78435550101",
        "allow": ["national", "mobile"], "dialing": "national:7"}, 200),
    ("GET", "/api/v1/extensions"): ("/api/v1/extensions", None, 200),
    ("POST", "/api/v1/extensions"): ("/api/v1/extensions", {
        "branch": "omsk", "number": "301", "name": "Olga"}, 201),
    ("DELETE", "/api/v1/extensions/{number}"): ("/api/v1/extensions/202", None, 200),
    ("POST", "/api/v1/extensions/{number}/password"): (
        "/api/v1/extensions/201/password", None, 200),
    ("GET", "/api/v1/carriers"): ("/api/v1/carriers", None, 200),
    ("POST", "/api/v1/carriers"): ("/api/v1/carriers", {
        "slug": "beeline", "host": "127.0.0.4", "auth": "ip", "match": ["127.0.0.4"]}, 201),
    ("GET", "/api/v1/carriers/{slug}"): ("/api/v1/carriers/tele2", None, 200),
    ("PATCH", "/api/v1/carriers/{slug}"): ("/api/v1/carriers/tele2", {"max_channels": 10},
                                           200),
    ("DELETE", "/api/v1/carriers/{slug}"): ("/api/v1/carriers/mts", None, 200),
    ("GET", "/api/v1/numbers"): ("/api/v1/numbers", None, 200),
    ("POST", "/api/v1/numbers"): ("/api/v1/numbers", {
        "e164": "+78435550102", "carrier": "mts", "branch": "kazan", "monthly_fee": "120.50",
        "route": "queue:kazan/sales"}, 201),
    ("GET", "/api/v1/numbers/{e164}"): ("/api/v1/numbers/+78435550101", None, 200),
    ("PUT", "/api/v1/numbers/{e164}/route"): ("/api/v1/numbers/+78435550101/route",
                                              {"route": "branch:kazan"}, 200),
    ("POST", "/api/v1/numbers/{e164}/move"): ("/api/v1/numbers/+78435550101/move",
                                              {"carrier": "mts"}, 200),
    ("DELETE", "/api/v1/numbers/{e164}"): ("/api/v1/numbers/+78435550101", None, 200),
    ("GET", "/api/v1/routes"): ("/api/v1/routes", None, 200),
    ("GET", "/api/v1/queues"): ("/api/v1/queues", None, 200),
    ("POST", "/api/v1/queues"): ("/api/v1/queues", {
        "branch": "kazan", "name": "support", "members": ["201", "202"],
        "strategy": "rrmemory"}, 201),
    ("GET", "/api/v1/queues/{branch}/{name}"): ("/api/v1/queues/kazan/sales", None, 200),
    ("PATCH", "/api/v1/queues/{branch}/{name}"): ("/api/v1/queues/kazan/sales",
                                                  {"max_wait": 90}, 200),
    ("DELETE", "/api/v1/queues/{branch}/{name}"): ("/api/v1/queues/kazan/sales", None, 200),
    # Acts over AMI at once: the node here is unreachable, so the answer is a clear 502
    # (the integration tests log an agent in on the sandbox Asterisk).
    ("POST", "/api/v1/agents/{extension}/{action}"): ("/api/v1/agents/201/login",
                                                      {"queue": "kazan/sales"}, 502),
    ("GET", "/api/v1/webhooks"): ("/api/v1/webhooks", None, 200),
    ("POST", "/api/v1/webhooks"): ("/api/v1/webhooks", {
        "url": "https://ticketing.example.com/in", "events": ["call.missed"],
        "branch": "kazan"}, 201),
    ("DELETE", "/api/v1/webhooks/{id}"): ("/api/v1/webhooks/1", None, 200),
    ("POST", "/api/v1/apply"): ("/api/v1/apply", {"dry_run": True}, 200),
    ("GET", "/api/v1/status"): ("/api/v1/status", None, 200),
    ("GET", "/api/v1/reports/costs"): ("/api/v1/reports/costs?month=2026-10", None, 200),
    ("GET", "/api/v1/reports/sla"): ("/api/v1/reports/sla?month=2026-10", None, 200),
    ("GET", "/api/v1/audit"): ("/api/v1/audit", None, 200),
}
OPS = [pytest.param(op, id=f"{op.method} {op.path}") for op in OPERATIONS]


def test_every_operation_has_a_happy_path_here() -> None:
    assert set(HAPPY) == {(op.method, op.path) for op in OPERATIONS}


def test_openapi_document_validates_and_matches_the_router(api: Api) -> None:
    document = openapi_document()
    validate(document)
    served = {(r.method, r.resource.canonical) for r in api.client.app.router.routes()
              if r.resource is not None and r.resource.canonical.startswith("/api/v1/")
              and r.method != "HEAD" and r.resource.canonical != "/api/v1/openapi.json"}
    documented = {(method.upper(), path) for path, item in document["paths"].items()
                  if path.startswith("/api/v1/") for method in item}
    assert served == documented


@pytest.mark.parametrize("op", OPS)
async def test_every_operation_refuses_missing_and_unknown_tokens(api: Api,
                                                                  op: Operation) -> None:
    path, body, _status = HAPPY[(op.method, op.path)]
    before = await api.audit_count()
    for headers in ({}, {"Authorization": "Bearer pbx_not-a-token"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = await api.client.request(op.method, path, headers=headers, json=body)
        assert response.status == 401
        assert (await response.json())["error"]["id"] == "unauthorized"
    assert await api.audit_count() == before


@pytest.mark.parametrize("op", OPS)
async def test_every_operation_refuses_the_roles_it_does_not_allow(api: Api,
                                                                   op: Operation) -> None:
    path, body, _status = HAPPY[(op.method, op.path)]
    before = await api.audit_count()
    for role in set(ROLES) - set(op.roles):
        status, data = await api.call(op.method, path, role, body)
        assert status == 403, (role, data)
        assert data["error"]["id"] == "forbidden"
    assert await api.audit_count() == before


@pytest.mark.parametrize("op", OPS)
async def test_every_operation_answers_its_happy_path(api: Api, op: Operation) -> None:
    path, body, expected = HAPPY[(op.method, op.path)]
    for role in op.roles if op.method == "GET" else ("admin",):
        status, data = await api.call(op.method, path, role, body)
        assert status == expected, (role, data)
        if expected == 502:
            assert data["error"]["id"] == "failed" and "AMI" in data["error"]["message"]


async def test_changes_are_real_and_audited_under_the_token_name(api: Api) -> None:
    status, created = await api.call("POST", "/api/v1/extensions",
                                     body={"branch": "omsk", "number": "301", "name": "Olga"})
    assert status == 201 and len(created["credentials"]["password"]) >= 16
    _, listed = await api.call("GET", "/api/v1/extensions")
    assert created["credentials"]["password"] not in str(listed)
    assert "301" in [e["number"] for e in listed["items"]]
    _, moved = await api.call("POST", "/api/v1/numbers/+78435550101/move",
                              body={"carrier": "mts"})
    assert (moved["carrier"], moved["branch"], moved["route"]) == ("mts", "kazan", "ext:201")
    _, number = await api.call("GET", "/api/v1/numbers/+78435550101")
    assert [p["carrier"] for p in number["history"]] == ["tele2", "mts"]
    _, audit = await api.call("GET", "/api/v1/audit")
    last = audit["items"][-1]
    assert (last["actor"], last["interface"], last["action"]) == ("t-admin", "api",
                                                                 "number.move")
    _, carrier = await api.call("GET", "/api/v1/carriers/tele2")
    assert "secret" not in carrier
    _, dry = await api.call("POST", "/api/v1/apply", body={"node": "local", "dry_run": True})
    (plan,) = dry["nodes"]
    assert plan["applied"] is False and "pjsip.conf" in plan["changes"]
    assert not any(Path(p) for p in plan["changes"] if Path(p).exists())


async def test_a_failed_apply_is_a_502_and_is_audited(api: Api) -> None:
    status, data = await api.call("POST", "/api/v1/apply", body={"node": "local"})
    assert status == 502 and "node local" in data["error"]["message"]
    _, audit = await api.call("GET", "/api/v1/audit")
    assert audit["items"][-1]["action"] == "apply.failed"


@pytest.mark.parametrize(("body", "field"), [
    ("not json", "body"),
    ([1, 2], "body"),
    ({"slug": "tver"}, "body"),                                       # required missing
    ({"slug": "tver", "name": "T", "city": "T", "timezone": "Europe/Moscow",
      "ext_range": "400-499", "colour": "red"}, "colour"),            # unknown field
    ({"slug": "Tver;", "name": "T", "city": "T", "timezone": "Europe/Moscow",
      "ext_range": "400-499"}, "slug"),                               # not a slug
    ({"slug": "tver", "name": "T", "city": "T", "timezone": "Mars/Olympus",
      "ext_range": "400-499"}, "timezone"),                           # service check
    ({"slug": "tver", "name": "T", "city": "T", "timezone": "Europe/Moscow",
      "ext_range": 400}, "ext_range"),                                # wrong type
])
async def test_bad_input_is_400_and_changes_nothing(api: Api, body: object,
                                                    field: str) -> None:
    before = await api.audit_count()
    if isinstance(body, str):
        response = await api.client.post("/api/v1/branches", data=body, headers={
            **api.auth("admin"), "Content-Type": "application/json"})
        status, data = response.status, await response.json()
    else:
        status, data = await api.call("POST", "/api/v1/branches", body=body)
    assert status == 400 and data["error"]["id"] == "invalid_input"
    assert field in data["error"]["message"], data
    assert await api.audit_count() == before
    _, branches = await api.call("GET", "/api/v1/branches")
    assert [b["slug"] for b in branches["items"]] == ["kazan", "omsk"]


async def test_sort_and_filters_are_allow_listed(api: Api) -> None:
    _, ordered = await api.call("GET", "/api/v1/branches", sort="-slug")
    assert [b["slug"] for b in ordered["items"]] == ["omsk", "kazan"]
    _, by_city = await api.call("GET", "/api/v1/branches", city="Omsk")
    assert [b["slug"] for b in by_city["items"]] == ["omsk"]
    _, kazan = await api.call("GET", "/api/v1/extensions", branch="kazan", sort="-number")
    assert [e["number"] for e in kazan["items"]] == ["202", "201"]
    for params, name in (({"sort": "password"}, "sort"), ({"sort": "slug; DROP"}, "sort"),
                         ({"owner": "x"}, "owner"), ({"branch": "Kazan'"}, "branch")):
        status, data = await api.call("GET", "/api/v1/extensions", **params)
        assert status == 400 and name in data["error"]["message"], data
    response = await api.client.get("/api/v1/extensions?branch=kazan&branch=omsk",
                                    headers=api.auth("admin"))
    assert response.status == 400


async def test_health_and_metrics_need_no_token(api: Api) -> None:
    client = api.client
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    await client.get("/api/v1/branches")
    metrics = await (await client.get("/metrics")).text()
    assert 'pbxctl_http_requests_total{route="/api/v1/branches",status="401"}' in metrics
    assert (await client.get("/api/v1/openapi.json")).status == 200
