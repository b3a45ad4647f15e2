"""Requests are checked before anything happens: a malformed body, a body that is not an
object, an unknown or missing field, a bad path or query value, an unknown or repeated
parameter or sort field is 400 naming what was wrong, and the database is unchanged.
Sorting and filtering do what they say, on every listing that offers them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pbxctl.api.openapi import ROUTES, Operation
from tests.api.conftest import NO_BODY, Api
from tests.api.test_api import HAPPY

WITH_BODY = [pytest.param(op, id=f"{op.method} {op.path}") for op in ROUTES if op.body]
WITHOUT_BODY = [pytest.param(op, id=f"{op.method} {op.path}")
                for op in ROUTES if op.body is None]
GOOD_PATH = {"node": "local", "branch": "kazan", "carrier": "tele2", "queue": "sales",
             "extension": "201", "e164": "+78435550101", "action": "login", "id": "1",
             "department": "sales", "device": "201-app"}
BAD_PATH = {"node": "Local;", "branch": "kazan'", "carrier": "tele 2", "queue": "-sales",
            "extension": "2O1", "e164": "78435550101", "action": "dance", "id": "1x",
            "department": "Sales%3B", "device": "201-app;x"}
BAD_QUERY = {"node": "x;y", "city": "Omsk;DROP", "branch": "Kazan", "carrier": "MTS",
             "department": "sales!", "month": "2026-13", "since": "yesterday",
             "format": "pdf", "by": "week", "detail": "yes", "with_extensions": "1",
             "queue": "kazan", "object_type": "number'", "sort": "password",
             "extension": "2x1"}
MONTH = datetime.now(UTC).strftime("%Y-%m")


async def _refused(api: Api, method: str, path: str, body: object, name: str,
                   raw: str | bytes | None = None, **params: str) -> str:
    """Send a bad request; insist on 400 naming ``name`` and on an unchanged database."""
    before = await api.db_state()
    if raw is None:
        status, data = await api.call(method, path, "admin", body, **params)
    else:
        status, data = await api.raw(method, path, raw)
    assert status == 400, data
    assert data["error"]["id"] == "invalid_input"
    assert data["error"]["message"].startswith(f"{name}: "), data
    assert await api.db_state() == before
    return str(data["error"]["message"])


@pytest.mark.parametrize("op", WITH_BODY)
async def test_a_body_that_is_not_a_json_object_is_refused(api: Api, op: Operation) -> None:
    path = HAPPY[(op.method, op.path)].path
    message = await _refused(api, op.method, path, None, "body", raw='{"name": ')
    assert "not valid JSON" in message and "line 1" in message
    for raw, kind in (("[1, 2]", "list"), ('"kazan"', "str"), ("42", "int")):
        message = await _refused(api, op.method, path, None, "body", raw=raw)
        assert message.endswith(f"must be a JSON object, not {kind}")
    message = await _refused(api, op.method, path, None, "body", raw=b'{"name": "\xff"}')
    assert message.endswith("is not UTF-8 text")


@pytest.mark.parametrize("op", WITH_BODY)
async def test_unknown_and_missing_fields_are_refused(api: Api, op: Operation) -> None:
    case = HAPPY[(op.method, op.path)]
    assert isinstance(case.body, dict)
    message = await _refused(api, op.method, case.path, {**case.body, "colour": "red"},
                             "colour")
    assert "unknown field" in message
    for name in op.required:
        body = {k: v for k, v in case.body.items() if k != name}
        assert (await _refused(api, op.method, case.path, body, name)).endswith("is required")


@pytest.mark.parametrize("op", WITH_BODY)
async def test_a_field_of_the_wrong_type_is_refused(api: Api, op: Operation) -> None:
    case = HAPPY[(op.method, op.path)]
    assert isinstance(case.body, dict)
    name = next(iter(op.required or op.body or {}))
    await _refused(api, op.method, case.path, {**case.body, name: {"nested": 1}}, name)


@pytest.mark.parametrize("op", WITHOUT_BODY)
async def test_a_route_without_a_body_refuses_one(api: Api, op: Operation) -> None:
    path = HAPPY[(op.method, op.path)].path
    message = await _refused(api, op.method, path, {"name": "x"}, "body")
    assert message.endswith("this operation takes no body")


@pytest.mark.parametrize(("op", "param"), [
    pytest.param(op, name, id=f"{op.method} {op.path} {name}")
    for op in ROUTES for name in op.path_params])
async def test_a_bad_path_value_is_refused(api: Api, op: Operation, param: str) -> None:
    path = op.path
    for name, good in GOOD_PATH.items():
        path = path.replace(f"{{{name}}}", BAD_PATH[name] if name == param else good)
    await _refused(api, op.method, path, HAPPY[(op.method, op.path)].body, param)


@pytest.mark.parametrize(("op", "param"), [
    pytest.param(op, name, id=f"{op.method} {op.path} {name}")
    for op in ROUTES for name in op.query_params])
async def test_a_bad_query_value_is_refused(api: Api, op: Operation, param: str) -> None:
    case = HAPPY[(op.method, op.path)]
    path, _, query = case.path.partition("?")
    params = dict(p.split("=") for p in query.split("&") if p) | {param: BAD_QUERY[param]}
    await _refused(api, op.method, path, case.body, param, **params)


@pytest.mark.parametrize("op", [pytest.param(op, id=f"{op.method} {op.path}")
                                for op in ROUTES])
async def test_unknown_and_repeated_parameters_are_refused(api: Api, op: Operation) -> None:
    case = HAPPY[(op.method, op.path)]
    separator = "&" if "?" in case.path else "?"
    message = await _refused(api, op.method, f"{case.path}{separator}owner=x", case.body,
                             "owner")
    assert "unknown parameter" in message
    if op.query_params:
        name = next(iter(op.query_params))
        await _refused(api, op.method, f"{case.path}{separator}{name}=a&{name}=b",
                       case.body, name)


async def test_a_required_query_parameter_is_required(api: Api) -> None:
    for path in ("/api/v1/reports/costs", "/api/v1/reports/sla"):
        message = await _refused(api, "GET", path, NO_BODY, "month")
        assert message == "month: is required"


SORTABLE = [pytest.param(op, field, id=f"{op.path} {field}")
            for op in ROUTES for field in op.sortable]


@pytest.mark.parametrize(("op", "field"), SORTABLE)
async def test_sort_orders_by_the_field_both_ways(api: Api, op: Operation,
                                                  field: str) -> None:
    _, unsorted = await api.call("GET", op.path)
    assert len({str(item[field]) for item in unsorted["items"]}) > 1, "needs distinct values"
    for sort, descending in ((field, False), (f"-{field}", True)):
        status, data = await api.call("GET", op.path, sort=sort)
        assert status == 200, data
        values = [item[field] for item in data["items"]]
        assert values == sorted(values, reverse=descending)
        assert len(values) == len(unsorted["items"])


@pytest.mark.parametrize("op", [pytest.param(op, id=op.path) for op in ROUTES
                                if op.sortable])
async def test_an_unknown_sort_field_is_refused(api: Api, op: Operation) -> None:
    for sort in ("password", "-ami_secret", "slug; DROP TABLE nodes", "--name", ""):
        message = await _refused(api, "GET", op.path, NO_BODY, "sort", sort=sort)
        assert "is not allowed" in message


Getter = Callable[[dict[str, Any]], object]
FILTERS: list[tuple[str, str, str, str, Getter]] = [
    ("/api/v1/branches", "node", "east", "items", lambda b: b["node"]),
    ("/api/v1/branches", "city", "Omsk", "items", lambda b: b["city"]),
    ("/api/v1/extensions", "branch", "omsk", "items", lambda e: e["branch"]),
    ("/api/v1/devices", "extension", "301", "items", lambda d: d["extension"]),
    ("/api/v1/numbers", "carrier", "mts", "items", lambda n: n["carrier"]),
    ("/api/v1/numbers", "branch", "kazan", "items", lambda n: n["branch"]),
    ("/api/v1/queues", "branch", "omsk", "items", lambda q: q["queue"].split("/")[0]),
    ("/api/v1/routes", "branch", "kazan", "inbound", lambda r: r["branch"]),
    ("/api/v1/routes", "branch", "kazan", "outbound", lambda r: r["branch"]),
    ("/api/v1/status", "node", "local", "nodes", lambda n: n["node"]),
    (f"/api/v1/reports/costs?month={MONTH}", "department", "omsk", "rows",
     lambda r: r["department"]),
    (f"/api/v1/reports/sla?month={MONTH}", "queue", "kazan/sales", "rows",
     lambda r: r["queue"]),
    ("/api/v1/audit", "object_type", "number", "items", lambda e: e["object_type"]),
]


def test_every_filter_is_tested() -> None:
    offered = {(op.path, name) for op in ROUTES if op.method == "GET"
               for name in op.query if name not in ("month", "format", "by", "detail",
                                                    "since")}
    assert offered == {(path.partition("?")[0], name) for path, name, *_ in FILTERS}


@pytest.mark.parametrize(("path", "param", "value", "key", "get"), FILTERS,
                         ids=[f"{f[0].partition('?')[0]} {f[1]} {f[3]}" for f in FILTERS])
async def test_a_filter_keeps_only_what_matches(api: Api, path: str, param: str, value: str,
                                                key: str, get: Getter) -> None:
    path, _, month = path.partition("?")
    base = dict([month.split("=")]) if month else {}
    _, everything = await api.call("GET", path, **base)
    status, data = await api.call("GET", path, **base, **{param: value})
    assert status == 200, data
    assert 0 < len(data[key]) < len(everything[key])
    assert all(get(item) == value for item in data[key])


async def test_since_keeps_entries_from_that_time(api: Api) -> None:
    _, everything = await api.call("GET", "/api/v1/audit")
    _, past = await api.call("GET", "/api/v1/audit", since="2000-01-01")
    _, future = await api.call("GET", "/api/v1/audit", since="2999-01-01T00:00+03:00")
    assert past == everything and len(everything["items"]) > 10
    assert future == {"items": []}
