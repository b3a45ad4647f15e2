"""The OpenAPI 3.1 document validates, describes exactly the routes the router serves, and
documents every parameter and body the route table checks."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from pbxctl import validation as v
from pbxctl.api.app import HANDLERS
from pbxctl.api.openapi import ROUTES, Operation, openapi_document
from pbxctl.api.params import E164, EXTENSION, SLUG
from pbxctl.errors import ValidationError
from tests.api.conftest import Api

METHODS = ("get", "put", "post", "delete", "patch")


async def test_the_served_document_validates_and_matches_the_router(api: Api) -> None:
    response = await api.client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    assert document == openapi_document()
    validate(document)
    served = {(r.method, r.resource.canonical) for r in api.client.app.router.routes()
              if r.resource is not None and r.method != "HEAD"}
    documented = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item if method in METHODS}
    assert served == documented
    assert {key for key in served if key[1].startswith("/api/v1/")} == (
        {(op.method, op.path) for op in ROUTES} | {("GET", "/api/v1/openapi.json")})


def test_every_route_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == {(op.method, op.path) for op in ROUTES}
    assert len(ROUTES) == len({(op.method, op.path) for op in ROUTES})


def test_operation_ids_are_unique() -> None:
    ids = [op["operationId"] for item in openapi_document()["paths"].values()
           for op in item.values()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("op", [pytest.param(op, id=f"{op.method} {op.path}")
                                for op in ROUTES])
def test_each_operation_documents_what_is_checked(op: Operation) -> None:
    doc = openapi_document()["paths"][op.path][op.method.lower()]
    params = {(p["in"], p["name"]): p for p in doc["parameters"]}
    assert set(params) == ({("path", n) for n in op.path_params}
                           | {("query", n) for n in op.query_params})
    for name in re.findall(r"\{(\w+)\}", op.path):
        param = params[("path", name)]
        assert param["required"] is True and param["description"]
        assert "pattern" in param["schema"] or "enum" in param["schema"]
    for name, param in op.query_params.items():
        assert params[("query", name)]["required"] is param.required
    if op.sortable:
        assert params[("query", "sort")]["schema"]["enum"] == [
            f"{sign}{f}" for f in op.sortable for sign in ("", "-")]
    assert doc["summary"] and doc["description"].startswith("Roles: ")
    assert doc["security"] == [{"bearer": []}]
    assert ("201" if op.created else "200") in doc["responses"]
    assert {"400", "401", "403"} <= set(doc["responses"])
    if op.body is None:
        assert "requestBody" not in doc
        return
    schema = doc["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == list(op.required)
    assert set(schema["properties"]) == set(op.body)
    assert doc["requestBody"]["required"] is bool(op.required)


@pytest.mark.parametrize(("schema", "check", "values"), [
    (SLUG, v.slug, ("kazan", "k2", "a-b", "K", "kazan-", "-a", "a", "a" * 33, "a;b")),
    (EXTENSION, v.extension_number, ("201", "99", "012", "1234567", "2O1", "1")),
    (E164, v.e164, ("+78435550101", "78435550101", "+0123456", "+7843555010199999")),
])
def test_documented_patterns_are_the_validators_patterns(schema: dict[str, str],
                                                         check: object,
                                                         values: tuple[str, ...]) -> None:
    for value in values:
        try:
            check("x", value)  # type: ignore[operator]
            valid = True
        except ValidationError:
            valid = False
        assert bool(re.search(schema["pattern"], value)) is valid, value
