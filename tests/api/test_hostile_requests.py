"""Hostile requests on every route: nasty path values, query values and bodies are a 4xx
JSON error with an id, never a 500 or a traceback; the body must be JSON (415) with each
key once; an unexpected failure is a JSON 500 with a reference, not a traceback; every
answer says nosniff and the page may not be framed; bearer is read in any case."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import web

from pbxctl.api.app import create_app
from pbxctl.api.openapi import ROUTES, Operation
from pbxctl.api.requests import MAX_BODY_BYTES
from tests.api.conftest import Api
from tests.api.test_api import HAPPY

ALL_ROUTES = [pytest.param(op, id=f"{op.method} {op.path}") for op in ROUTES]
NASTY_TEXT = ["9" * 30, "0", "-1", "2147483648", "1e999", "NaN", "..%2F..%2Fetc%2Fpasswd",
              "%00", "%ff%fe", "\u202e\u2028", "x" * 3000, "[[[[", "'; DROP TABLE nodes;--",
              "0001-01-01T00:00+23:59", "9999-12-31T23:59-23:59", "${SHELL(id)}"]
NASTY_BODIES: list[bytes] = [
    b"[" * 10_000, b"{\"a\":" * 5_000, b"1" * 5_000, b"NaN", b"-Infinity",
    b"{\"x\": 1e999}", b"\xff\xfe{", b"\"\\ud800\"", b"{\"\\u0000\": 1}",
    json.dumps({"name": "x" * (MAX_BODY_BYTES - 20)}).encode(),
]
NASTY_VALUES: list[Any] = [2**70, -2**70, 2**31, 1e308, "x" * 131_072, "", None, [], {},
                           [[[[[]]]]], "\u0000", "\ud800", True]


def _path(op: Operation, value: str | None = None) -> str:
    """The happy path of ``op``, every parameter replaced by ``value`` when given."""
    if value is None:
        return HAPPY[(op.method, op.path)].path.split("?")[0]
    return "/".join(value if part.startswith("{") else part for part in op.path.split("/"))


async def _answer(api: Api, method: str, path: str, *, data: bytes | None = None,
                  params: dict[str, str] | None = None,
                  content_type: str = "application/json") -> tuple[int, Any]:
    headers = api.auth("admin") | ({"Content-Type": content_type} if data is not None else {})
    response = await api.client.request(method, path, data=data, params=params,
                                        headers=headers)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Server"] == "pbxctl"
    assert response.content_type == "application/json", (path, await response.text())
    return response.status, await response.json()


def _is_client_error(op: Operation, status: int, data: Any) -> None:
    assert status < 500 or (status == 502 and op.asterisk), (op.path, status, data)
    if status >= 400:
        assert data["error"]["id"] and data["error"]["message"], data
        assert "Traceback" not in data["error"]["message"]


@pytest.mark.parametrize("op", ALL_ROUTES)
async def test_nasty_path_query_and_body_values_are_4xx_json(api: Api, op: Operation
                                                             ) -> None:
    for value in NASTY_TEXT:
        if op.path_params:
            status, data = await _answer(api, op.method, _path(op, value))
            _is_client_error(op, status, data)
        for name in (*op.query_params, "unknown"):
            status, data = await _answer(api, op.method, _path(op), params={name: value})
            _is_client_error(op, status, data)
    for body in NASTY_BODIES:
        status, data = await _answer(api, op.method, _path(op), data=body)
        _is_client_error(op, status, data)
        assert status != 200 or op.body is None
    for name in op.body or {}:
        case = HAPPY[(op.method, op.path)].body
        for value in NASTY_VALUES:
            body = {**(case if isinstance(case, dict) else {}), name: value}
            raw = json.dumps(body).encode("utf-8", "surrogatepass")
            status, data = await _answer(api, op.method, _path(op), data=raw)
            _is_client_error(op, status, data)


async def test_a_deep_body_and_an_out_of_range_date_are_400_not_500(api: Api) -> None:
    status, data = await _answer(api, "POST", "/api/v1/nodes", data=b"[" * 10_000)
    assert status == 400 and data["error"]["message"] == "body: is nested too deeply"
    status, data = await _answer(api, "GET", "/api/v1/audit",
                                 params={"since": "0001-01-01T00:00+23:59"})
    assert status == 400 and data["error"]["message"].startswith("since: ")
    status, data = await _answer(api, "DELETE", "/api/v1/webhooks/99999999999")
    assert status == 400 and data["error"]["message"].startswith("id: ")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "text/json"])
async def test_a_body_that_is_not_labelled_json_is_415(api: Api, content_type: str) -> None:
    before = await api.db_state()
    status, data = await _answer(api, "POST", "/api/v1/branches", content_type=content_type,
                                 data=json.dumps(HAPPY[("POST", "/api/v1/branches")].body
                                                 ).encode())
    assert status == 415 and data["error"]["id"] == "unsupported_media_type"
    assert await api.db_state() == before


async def test_a_key_given_twice_is_refused(api: Api) -> None:
    before = await api.db_state()
    raw = (b'{"branch": "omsk", "number": "302", "name": "Pavel", '
           b'"number": "399"}')
    status, data = await _answer(api, "POST", "/api/v1/extensions", data=raw)
    assert status == 400 and data["error"]["message"] == \
        "number: is given twice in the same object"
    assert await api.db_state() == before


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_the_auth_scheme_is_read_in_any_case(api: Api, scheme: str) -> None:
    response = await api.client.get("/api/v1/nodes", headers={
        "Authorization": f"{scheme} {api.tokens['viewer']}"})
    assert response.status == 200


async def test_the_page_may_not_be_framed_and_nothing_is_sniffed(api: Api) -> None:
    page = await api.client.get("/")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    for path in ("/", "/healthz", "/metrics", "/api/v1/openapi.json", "/api/v1/nodes",
                 "/nowhere"):
        assert (await api.client.get(path)).headers["X-Content-Type-Options"] == "nosniff"


async def test_no_answer_names_python_or_aiohttp_versions(api: Api) -> None:
    for path in ("/", "/healthz", "/metrics", "/api/v1/nodes", "/nowhere"):
        response = await api.client.get(path)
        assert response.headers["Server"] == "pbxctl", path
    response = await api.client.post("/api/v1/nodes", data=b"{", headers=api.auth("admin") | {
        "Content-Type": "application/json"})
    assert response.status == 400 and response.headers["Server"] == "pbxctl"


async def test_an_unexpected_failure_is_a_json_500_with_a_reference(
        api: Api, aiohttp_client, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    app = create_app(api.engine)
    app.router.add_get("/api/v1/broken", broken)     # fails the way a bug would
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR, "pbxctl.api.app"):
        response = await client.get("/api/v1/broken", headers=api.auth("admin"))
    data = await response.json()
    assert response.status == 500 and data["error"]["id"] == "internal_error"
    assert "secret internals" not in json.dumps(data)
    reference = data["error"]["message"].split("reference ")[1].split()[0]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)
