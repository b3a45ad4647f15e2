"""Checking a request against its operation before any handler sees it — path and query
parameters through their allow-lists, the JSON body against its schema — and the helpers
handlers answer with."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator

from pbxctl.api.keys import ACTOR, BODY, ENGINE, QUERY, SETTINGS
from pbxctl.api.openapi import Operation
from pbxctl.billing.formats import json_value
from pbxctl.errors import ValidationError
from pbxctl.services.bundle import Services, unit_of_work

MAX_BODY_BYTES = 64 * 1024


async def check_request(request: web.Request, operation: Operation) -> None:
    """Refuse what the operation does not list; keep query and body for the handler."""
    for name, param in operation.path_params.items():
        param.check(name, request.match_info[name])
    request[QUERY] = _checked_query(request, operation)
    body = await _json_body(request)
    if operation.body_schema is None:
        if body is not None:
            raise ValidationError("body", "this operation takes no body")
        return
    request[BODY] = _checked_body(operation, {} if body is None else body)


def _checked_query(request: web.Request, operation: Operation) -> dict[str, str]:
    allowed = operation.query_params
    for name in request.query:
        if name not in allowed:
            raise ValidationError(name, "unknown parameter; allowed: "
                                        f"{', '.join(allowed) or 'none'}")
        if len(request.query.getall(name)) > 1:
            raise ValidationError(name, "may be given once")
    query = dict(request.query)
    for name, param in allowed.items():
        if name in query:
            param.check(name, query[name])
        elif param.required:
            raise ValidationError(name, "is required")
    return query


async def _json_body(request: web.Request) -> object | None:
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise ValidationError("body", f"larger than {MAX_BODY_BYTES} bytes")
    raw = await request.read() if request.can_read_body else b""
    if not raw.strip():
        return None
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(reason="the body must be sent as application/json")
    try:
        parsed: object = json.loads(raw, object_pairs_hook=_unique_keys,
                                    parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ValidationError("body", "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValidationError("body", f"is not valid JSON ({exc.msg} at line {exc.lineno} "
                                      f"column {exc.colno})") from None
    except RecursionError:
        raise ValidationError("body", "is nested too deeply") from None
    except ValueError as exc:   # e.g. an integer of more digits than Python converts
        raise ValidationError("body", f"is not valid JSON ({exc})") from None
    return parsed


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for key, value in pairs:
        if key in found:
            raise ValidationError(key, "is given twice in the same object")
        found[key] = value
    return found


def _no_constant(name: str) -> object:
    raise ValidationError("body", f"is not valid JSON ({name} is not a JSON number)")


def _checked_body(operation: Operation, body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("body", f"must be a JSON object, not {type(body).__name__}")
    fields = operation.body or {}
    for name in body:
        if name not in fields:
            raise ValidationError(name, f"unknown field; allowed: {', '.join(fields)}")
    for name in operation.required:
        if name not in body:
            raise ValidationError(name, "is required")
    schema = operation.body_schema or {}
    errors = sorted(Draft202012Validator(schema).iter_errors(body),
                    key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        error = errors[0]
        raise ValidationError(".".join(str(p) for p in error.absolute_path) or "body",
                              error.message)
    return body


@asynccontextmanager
async def services(request: web.Request) -> AsyncIterator[Services]:
    """The services of one transaction, changes audited under the token's name."""
    async with unit_of_work(request.app[ENGINE], request[ACTOR],
                            request.app[SETTINGS]) as unit:
        yield unit


def _plain(value: object) -> object:
    plain = json_value(value)
    if plain is value:
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")
    return plain


def answer(data: object, status: int = 200) -> web.Response:
    """JSON with dates as ISO 8601 and money as exact decimal strings."""
    return web.json_response(data, status=status, dumps=partial(json.dumps, default=_plain))


def _sort_key(value: object) -> tuple[bool, Any]:
    return (value is None, "" if value is None else value)


def listing(request: web.Request, items: Sequence[dict[str, Any]],
            filters: dict[str, Callable[[dict[str, Any]], object]] | None = None
            ) -> web.Response:
    """``items`` kept by the given filters (those in the query) and sorted by ``sort``;
    both were checked against the operation's allow-lists already."""
    query = request[QUERY]
    chosen = [item for item in items
              if all(getter(item) == query[name]
                     for name, getter in (filters or {}).items() if name in query)]
    if "sort" in query:
        key = query["sort"].lstrip("-")
        chosen.sort(key=lambda item: _sort_key(item[key]),
                    reverse=query["sort"].startswith("-"))
    return answer({"items": chosen})
