"""The HTTP API: every route refuses a missing or unknown token (401) and a wrong role
(403), answers its happy path, and the OpenAPI document validates."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from pbxctl.api.app import create_app
from pbxctl.api.openapi import ROUTES, openapi_document
from pbxctl.db.migrate import upgrade
from pbxctl.db.session import make_engine, transaction
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.branches import BranchService, BranchSpec
from pbxctl.services.nodes import NodeService, NodeSpec
from pbxctl.services.tokens import ROLES, TokenService


@pytest.fixture
async def api(database_url: str, aiohttp_client) -> AsyncIterator[tuple[TestClient, dict]]:  # noqa: ANN001
    engine = make_engine(database_url)
    await upgrade(engine)
    async with transaction(engine) as session:
        audit = AuditTrail(session, Actor("tester", "cli"))
        await NodeService(session, audit).add(NodeSpec(
            "local", "127.0.0.1", 5038, "pbxctl", "secret-123", "/tmp", "127.0.0.1"))
        await BranchService(session, audit).add(
            BranchSpec("kazan", "Kazan salon", "Kazan", "Europe/Moscow", "200-299"))
        tokens = {role: await TokenService(session, audit).create(f"t-{role}", role)
                  for role in ROLES}
    client = await aiohttp_client(create_app(engine))
    yield client, tokens
    await engine.dispose()


def test_openapi_document_validates() -> None:
    validate(openapi_document())


@pytest.mark.parametrize("path", sorted(ROUTES))
async def test_every_route_refuses_missing_and_unknown_tokens(
        api: tuple[TestClient, dict], path: str) -> None:
    client, _tokens = api
    for headers in ({}, {"Authorization": "Bearer pbx_not-a-token"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = await client.get(path, headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["id"] == "unauthorized"


@pytest.mark.parametrize("path", sorted(ROUTES))
async def test_every_route_checks_the_role(api: tuple[TestClient, dict], path: str) -> None:
    client, tokens = api
    allowed = ROUTES[path]["GET"]
    for role, token in tokens.items():
        response = await client.get(path, params={"month": "2026-10"},
                                    headers={"Authorization": f"Bearer {token}"})
        if role in allowed:
            assert response.status == 200, (role, await response.text())
        else:
            assert response.status == 403
            assert (await response.json())["error"]["id"] == "forbidden"


async def test_happy_paths(api: tuple[TestClient, dict]) -> None:
    client, tokens = api
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    branches = await (await client.get("/api/v1/branches", headers=admin)).json()
    assert [b["slug"] for b in branches["items"]] == ["kazan"]
    csv = await client.get("/api/v1/reports/costs", headers={
        "Authorization": f"Bearer {tokens['accountant']}"},
        params={"month": "2026-10", "format": "csv"})
    assert csv.status == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert (await csv.text()).startswith("month,department,outbound_calls")
    bad = await client.get("/api/v1/reports/costs", headers=admin, params={"month": "10/2026"})
    assert bad.status == 400 and (await bad.json())["error"]["id"] == "invalid_input"
    audit = await (await client.get("/api/v1/audit", headers=admin)).json()
    assert [e["action"] for e in audit["items"]][:2] == ["node.add", "branch.add"]
    assert tokens["admin"] not in str(audit)


async def test_health_and_metrics_need_no_token(api: tuple[TestClient, dict]) -> None:
    client, _tokens = api
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    await client.get("/api/v1/branches")
    metrics = await (await client.get("/metrics")).text()
    assert 'pbxctl_http_requests_total{route="/api/v1/branches",status="401"}' in metrics
    assert (await client.get("/api/v1/openapi.json")).status == 200
