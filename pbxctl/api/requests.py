"""Checking a request against its operation before any handler sees it: only the query
parameters and body fields the operation lists, of the right types (JSON Schema)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator

from pbxctl.api.keys import ACTOR, BODY, ENGINE, QUERY, SETTINGS
from pbxctl.api.openapi import Operation
from pbxctl.db.session import transaction
from pbxctl.errors import ValidationError
from pbxctl.services.audit import AuditTrail
from pbxctl.services.bundle import Services, services_for

MAX_BODY_BYTES = 64 * 1024


def _first_error(schema: dict[str, Any], instance: object, where: str) -> None:
    errors = sorted(Draft202012Validator(schema).iter_errors(instance),
                    key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        field = ".".join(str(p) for p in error.absolute_path) or where
        raise ValidationError(field, error.message)


async def check_request(request: web.Request, operation: Operation) -> None:
    """Validate query and body; keep them on the request for the handler."""
    if any(len(request.query.getall(name)) > 1 for name in request.query):
        raise ValidationError("query", "each parameter may be given once")
    query = dict(request.query)
    _first_error(operation.query_schema, query, "query")
    request[QUERY] = query
    schema = operation.body_schema
    if schema is None:
        return
    if request.content_length and request.content_length > MAX_BODY_BYTES:
        raise ValidationError("body", f"larger than {MAX_BODY_BYTES} bytes")
    raw = await request.read() if request.can_read_body else b""
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise ValidationError("body", "is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object")
    _first_error(schema, body, "body")
    request[BODY] = body


@asynccontextmanager
async def services(request: web.Request) -> AsyncIterator[Services]:
    """The services of one transaction, changes audited under the token's name."""
    async with transaction(request.app[ENGINE]) as session:
        yield services_for(session, AuditTrail(session, request[ACTOR]),
                           request.app[SETTINGS])


def _plain(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def answer(data: object, status: int = 200) -> web.Response:
    """JSON with dates as ISO 8601 and money as exact decimal strings."""
    return web.json_response(data, status=status, dumps=partial(json.dumps, default=_plain))


def listing(request: web.Request, items: Sequence[dict[str, Any]],
            filters: dict[str, Callable[[dict[str, Any]], object]] | None = None
            ) -> web.Response:
    """Items filtered by the allow-listed query parameters and sorted by ``sort``."""
    query = request[QUERY]
    chosen = [item for item in items
              if all(str(getter(item)) == query[name]
                     for name, getter in (filters or {}).items() if name in query)]
    if "sort" in query:
        key = query["sort"].lstrip("-")
        chosen.sort(key=lambda item: str(item.get(key) or ""),
                    reverse=query["sort"].startswith("-"))
    return answer({"items": chosen})
