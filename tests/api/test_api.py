"""Every (path, method) in ROUTES: a missing or unknown token is 401, each role the route
does not allow is 403, and each allowed role gets the happy path — a change is audited
under the token's name, a read changes nothing and never shows a secret."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from pbxctl.api.openapi import ROUTES, Operation
from pbxctl.db.models import ApiToken, Carrier, Device, Extension, Node, Webhook
from pbxctl.db.session import transaction
from pbxctl.services.tokens import ROLES
from tests.api.conftest import NO_BODY, Api


@dataclass(frozen=True)
class Case:
    """A concrete request for a route, what it answers, and requests that set the stage."""

    path: str
    body: object = NO_BODY
    status: int = 200
    before: tuple[tuple[str, str, object], ...] = ()


HAPPY: dict[tuple[str, str], Case] = {
    ("GET", "/api/v1/nodes"): Case("/api/v1/nodes"),
    ("POST", "/api/v1/nodes"): Case("/api/v1/nodes", {
        "name": "west", "ami_host": "127.0.0.6", "ami_user": "pbxctl",
        "ami_secret": "secret-789", "config_dir": "/srv/west/asterisk"}, 201),
    ("GET", "/api/v1/nodes/{node}"): Case("/api/v1/nodes/local"),
    ("DELETE", "/api/v1/nodes/{node}"): Case("/api/v1/nodes/spare"),
    ("GET", "/api/v1/branches"): Case("/api/v1/branches"),
    ("POST", "/api/v1/branches"): Case("/api/v1/branches", {
        "slug": "tver", "name": "Tver office", "city": "Tver", "timezone": "Europe/Moscow",
        "ext_range": "500-599"}, 201),
    ("GET", "/api/v1/branches/{branch}"): Case("/api/v1/branches/kazan"),
    ("PATCH", "/api/v1/branches/{branch}"): Case("/api/v1/branches/kazan",
                                                 {"language": "ru"}),
    ("DELETE", "/api/v1/branches/{branch}"): Case("/api/v1/branches/perm"),
    ("PUT", "/api/v1/branches/{branch}/outbound"): Case("/api/v1/branches/omsk/outbound", {
        "carriers": ["mts"], "caller_id": "+73812550101", "allow": ["local", "national"],
        "dialing": "national:7", "max_calls": 4, "max_minutes": {"national": 30},
        "after_hours_allow": ["local"]}),
    ("GET", "/api/v1/extensions"): Case("/api/v1/extensions"),
    ("POST", "/api/v1/extensions"): Case("/api/v1/extensions", {
        "branch": "omsk", "number": "302", "name": "Pavel", "email": "pavel@example.com"}, 201),
    ("DELETE", "/api/v1/extensions/{extension}"): Case("/api/v1/extensions/202"),
    ("POST", "/api/v1/extensions/{extension}/password"): Case(
        "/api/v1/extensions/201/password"),
    ("PUT", "/api/v1/extensions/{extension}/voicemail-pin"): Case(
        "/api/v1/extensions/201/voicemail-pin", {"pin": "480913"}),
    ("DELETE", "/api/v1/extensions/{extension}/voicemail-pin"): Case(
        "/api/v1/extensions/201/voicemail-pin"),
    ("PUT", "/api/v1/extensions/{extension}/email"): Case(
        "/api/v1/extensions/201/email", {"email": "anna@example.com"}),
    ("DELETE", "/api/v1/extensions/{extension}/email"): Case(
        "/api/v1/extensions/201/email", before=(
            ("PUT", "/api/v1/extensions/201/email", {"email": "anna@example.com"}),)),
    ("POST", "/api/v1/extensions/{extension}/softphone-link"): Case(
        "/api/v1/extensions/201/softphone-link", {"minutes": 30}),
    ("GET", "/api/v1/devices"): Case("/api/v1/devices"),
    ("POST", "/api/v1/devices"): Case("/api/v1/devices", {
        "extension": "201", "mac": "80:5E:C0:12:34:56", "model": "yealink-t4x"}, 201),
    ("DELETE", "/api/v1/devices/{device}"): Case(
        "/api/v1/devices/201-app",
        before=(("POST", "/api/v1/extensions/201/softphone-link", NO_BODY),)),
    ("GET", "/api/v1/carriers"): Case("/api/v1/carriers"),
    ("POST", "/api/v1/carriers"): Case("/api/v1/carriers", {
        "slug": "rostelecom", "host": "127.0.0.5", "auth": "ip", "match": ["127.0.0.5"]},
        201),
    ("GET", "/api/v1/carriers/{carrier}"): Case("/api/v1/carriers/mts"),
    ("PATCH", "/api/v1/carriers/{carrier}"): Case("/api/v1/carriers/tele2",
                                                  {"max_channels": 10}),
    ("DELETE", "/api/v1/carriers/{carrier}"): Case("/api/v1/carriers/beeline"),
    ("GET", "/api/v1/numbers"): Case("/api/v1/numbers"),
    ("POST", "/api/v1/numbers"): Case("/api/v1/numbers", {
        "e164": "+78435550102", "carrier": "mts", "branch": "kazan", "monthly_fee": "120.50",
        "route": "queue:kazan/sales"}, 201),
    ("GET", "/api/v1/numbers/{e164}"): Case("/api/v1/numbers/+78435550101"),
    ("PUT", "/api/v1/numbers/{e164}/route"): Case("/api/v1/numbers/+78435550101/route",
                                                  {"route": "branch:kazan"}),
    ("POST", "/api/v1/numbers/{e164}/move"): Case("/api/v1/numbers/+78435550101/move",
                                                  {"carrier": "mts"}),
    ("DELETE", "/api/v1/numbers/{e164}"): Case("/api/v1/numbers/+73812550101"),
    ("GET", "/api/v1/routes"): Case("/api/v1/routes"),
    ("GET", "/api/v1/queues"): Case("/api/v1/queues"),
    ("POST", "/api/v1/queues"): Case("/api/v1/queues", {
        "branch": "kazan", "name": "support", "members": ["201", "202"],
        "strategy": "rrmemory"}, 201),
    ("GET", "/api/v1/queues/{branch}/{queue}"): Case("/api/v1/queues/kazan/sales"),
    ("PATCH", "/api/v1/queues/{branch}/{queue}"): Case("/api/v1/queues/kazan/sales",
                                                       {"max_wait": 90}),
    ("DELETE", "/api/v1/queues/{branch}/{queue}"): Case("/api/v1/queues/omsk/support"),
    ("POST", "/api/v1/agents/{extension}/{action}"): Case(
        "/api/v1/agents/202/login", {"queue": "kazan/sales"},
        before=(("POST", "/api/v1/apply", {}),)),
    ("GET", "/api/v1/webhooks"): Case("/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks"): Case("/api/v1/webhooks", {
        "url": "https://ticketing.example.com/in", "events": ["call.missed"],
        "branch": "kazan"}, 201),
    ("DELETE", "/api/v1/webhooks/{id}"): Case("/api/v1/webhooks/1"),
    ("POST", "/api/v1/apply"): Case("/api/v1/apply", {"node": "local"}),
    ("GET", "/api/v1/status"): Case("/api/v1/status"),
    ("GET", "/api/v1/reports/costs"): Case("/api/v1/reports/costs?month=2026-10"),
    ("GET", "/api/v1/reports/sla"): Case("/api/v1/reports/sla?month=2026-10"),
    ("GET", "/api/v1/reports/spend"): Case("/api/v1/reports/spend"),
    ("GET", "/api/v1/departments/limits"): Case("/api/v1/departments/limits"),
    ("PUT", "/api/v1/departments/{department}/limit"): Case(
        "/api/v1/departments/omsk/limit", {"monthly": "2500.00", "warn_at": 90}),
    ("DELETE", "/api/v1/departments/{department}/limit"): Case(
        "/api/v1/departments/kazan/limit"),
    ("POST", "/api/v1/departments/{department}/unblock"): Case(
        "/api/v1/departments/sales/unblock", {}),
    ("GET", "/api/v1/audit"): Case("/api/v1/audit"),
    ("GET", "/api/v1/export"): Case("/api/v1/export"),
}


def _route_id(op: Operation) -> str:
    return f"{op.method} {op.path.removeprefix('/api/v1')}"


ALLOWED = [pytest.param(op, role, id=f"{_route_id(op)} as {role}")
           for op in ROUTES for role in op.roles]
REFUSED = [pytest.param(op, role, id=f"{_route_id(op)} as {role}")
           for op in ROUTES for role in ROLES if role not in op.roles]
EVERY = [pytest.param(op, id=_route_id(op)) for op in ROUTES]


def test_every_route_has_a_happy_case_and_a_role() -> None:
    assert set(HAPPY) == {(op.method, op.path) for op in ROUTES}
    assert all(op.roles and set(op.roles) <= set(ROLES) for op in ROUTES)
    assert [op.method for op in ROUTES if op.roles != ("admin",)] == (
        ["GET"] * sum(1 for op in ROUTES if op.roles != ("admin",)))
    reports = {op.path for op in ROUTES if "accountant" in op.roles}
    assert reports == {"/api/v1/reports/costs", "/api/v1/reports/sla",
                       "/api/v1/reports/spend", "/api/v1/departments/limits"}


@pytest.mark.parametrize("op", EVERY)
async def test_missing_or_unknown_token_is_401(api: Api, op: Operation) -> None:
    case = HAPPY[(op.method, op.path)]
    before = await api.db_state()
    for headers in ({}, {"Authorization": "Bearer pbx_not-a-token"},
                    {"Authorization": f"Basic {api.tokens['admin']}"},
                    {"Authorization": "Bearer "}):
        kwargs = {} if case.body is NO_BODY else {"json": case.body}
        response = await api.client.request(op.method, case.path, headers=headers, **kwargs)
        assert response.status == 401, headers
        assert (await response.json())["error"]["id"] == "unauthorized"
    assert await api.db_state() == before


@pytest.mark.parametrize(("op", "role"), REFUSED)
async def test_a_role_the_route_does_not_allow_is_403(api: Api, op: Operation,
                                                      role: str) -> None:
    case = HAPPY[(op.method, op.path)]
    before = await api.db_state()
    status, data = await api.call(op.method, case.path, role, case.body)
    assert status == 403, data
    assert data["error"]["id"] == "forbidden" and role in data["error"]["message"]
    assert await api.db_state() == before


async def _secrets(api: Api) -> list[str]:
    async with transaction(api.engine) as session:
        stored = [*(await session.scalars(select(Node.ami_secret))).all(),
                  *(await session.scalars(select(Extension.sip_ha1))).all(),
                  *(await session.scalars(select(Carrier.secret))).all(),
                  *(await session.scalars(select(ApiToken.token_hash))).all(),
                  *(await session.scalars(select(Webhook.secret))).all(),
                  *(await session.scalars(select(Device.sip_password))).all()]
    return [s for s in stored if s] + list(api.tokens.values())


@pytest.mark.parametrize(("op", "role"), ALLOWED)
async def test_an_allowed_role_gets_the_happy_path(api: Api, op: Operation,
                                                   role: str) -> None:
    case = HAPPY[(op.method, op.path)]
    for method, path, body in case.before:
        status, data = await api.call(method, path, "admin", body)
        assert status < 300, data
    audit_before, state_before = len(await api.audit()), await api.db_state()
    secrets = await _secrets(api)
    status, data = await api.call(op.method, case.path, role, case.body)
    assert status == case.status, data
    assert "error" not in data
    if op.method == "GET":
        assert await api.db_state() == state_before
        assert not [s for s in secrets if s in str(data)]
        return
    new = (await api.audit())[audit_before:]
    assert new, "a change leaves an audit entry"
    assert {(e.actor, e.interface) for e in new} == {(f"t-{role}", "api")}


async def test_an_unknown_route_or_method_is_a_json_error_after_the_token(api: Api) -> None:
    for path in ("/api/v1/phones", "/api/v1/extensions/201"):
        assert (await api.client.get(path)).status == 401
    status, data = await api.call("GET", "/api/v1/phones")
    assert (status, data["error"]["id"]) == (404, "not_found")
    status, data = await api.call("GET", "/api/v1/extensions/201", "viewer")
    assert (status, data["error"]["id"]) == (405, "method_not_allowed")
    response = await api.client.patch("/api/v1/nodes", headers=api.auth("viewer"))
    assert response.status == 405
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]
