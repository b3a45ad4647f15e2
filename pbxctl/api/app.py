"""The aiohttp application: the app factory, bearer-token auth (failures logged and
throttled per address) and role checks against the ROUTES table, request checks, JSON
errors with stable ids (an unexpected failure too: a 500 with a reference in the log, no
traceback to the client), security headers, and the wiring of the route modules'
handlers."""

from __future__ import annotations

import ipaddress
import logging
import uuid
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.addresses import canonical
from pbxctl.api import (
    routes_company,
    routes_deploy,
    routes_devices,
    routes_numbers,
    routes_queues,
    routes_reports,
    routes_sites,
    routes_webhooks,
)
from pbxctl.api.keys import (
    ACTOR,
    AUTH_FAILURES,
    ENGINE,
    METRICS,
    REQUESTS,
    SETTINGS,
    THROTTLE,
    Handler,
)
from pbxctl.api.openapi import PUBLIC, ROUTE_BY_KEY, ROUTES, openapi_document
from pbxctl.api.requests import MAX_BODY_BYTES, check_request
from pbxctl.api.throttle import AuthThrottle
from pbxctl.errors import ConflictError, NotFoundError, PbxctlError, ValidationError
from pbxctl.services.audit import Actor
from pbxctl.services.bundle import unit_of_work
from pbxctl.settings import Settings

COSTS_PAGE = Path(__file__).with_name("static") / "costs.html"
HANDLERS: dict[tuple[str, str], Handler] = {
    **routes_sites.HANDLERS, **routes_numbers.HANDLERS, **routes_queues.HANDLERS,
    **routes_webhooks.HANDLERS, **routes_deploy.HANDLERS, **routes_reports.HANDLERS,
    **routes_company.HANDLERS, **routes_devices.HANDLERS}
HTTP_ERROR_IDS = {404: "not_found", 405: "method_not_allowed", 413: "too_large",
                  415: "unsupported_media_type"}
log = logging.getLogger(__name__)


def error(status: int, error_id: str, message: str) -> web.Response:
    """A JSON error with a stable id a client can act on."""
    return web.json_response({"error": {"id": error_id, "message": message}}, status=status)


@web.middleware
async def auth_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a missing or unknown token (401) and a role the route does not allow (403);
    check the request; turn pbxctl's and HTTP errors into JSON; count every answer for
    /metrics."""
    route = request.match_info.route.resource
    path = route.canonical if route is not None else request.path
    try:
        response = await _authorised(request, handler, path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error(exc.status, HTTP_ERROR_IDS.get(exc.status, "http_error"), exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
    except ValidationError as exc:
        response = error(400, "invalid_input", str(exc))
    except NotFoundError as exc:
        response = error(404, "not_found", str(exc))
    except ConflictError as exc:
        response = error(409, "conflict", str(exc))
    except PbxctlError as exc:
        response = error(502, "failed", str(exc))
    except Exception:
        reference = uuid.uuid4().hex[:12]
        log.exception("%s %s failed unexpectedly (reference %s)", request.method, path,
                      reference)
        response = error(500, "internal_error",
                         f"the server failed unexpectedly; reference {reference} in its log")
    # Unknown URLs share one label: a scanner must not grow the metrics without bound.
    label = path if route is not None else "unmatched"
    request.app[REQUESTS].labels(label, str(response.status)).inc()
    return response


async def _authorised(request: web.Request, handler: Handler, path: str
                      ) -> web.StreamResponse:
    if path in PUBLIC:
        return await handler(request)
    address = client_address(request)
    throttle = request.app[THROTTLE]
    wait = throttle.retry_after(address)
    if wait:
        request.app[AUTH_FAILURES].labels("throttled").inc()
        response = error(429, "too_many_requests", "too many failed token attempts from "
                         f"this address; try again in {wait} s")
        response.headers["Retry-After"] = str(wait)
        return response
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = None
    if scheme.lower() == "bearer" and presented.strip():   # RFC 7235: any case
        async with unit_of_work(request.app[ENGINE], Actor("api", "api"),
                                request.app[SETTINGS]) as s:
            token = await s.tokens.check(presented.strip())
    if token is None:
        reason = "unknown" if presented.strip() else "missing"
        request.app[AUTH_FAILURES].labels(reason).inc()
        blocked = reason == "unknown" and throttle.failed(address)   # no token: no guess
        log.warning("API request from %s refused: %s bearer token%s", address, reason,
                    "; address blocked for a while" if blocked else "")
        return error(401, "unauthorized", "unknown token" if presented.strip()
                     else "missing bearer token")
    operation = ROUTE_BY_KEY.get((request.method, path))
    if operation is None:
        return await handler(request)      # aiohttp's 404 or 405, answered as JSON
    if token.role not in operation.roles:
        return error(403, "forbidden", f"role {token.role} may not {request.method} {path}")
    request[ACTOR] = Actor(token.name, "api")
    await check_request(request, operation)
    return await handler(request)


def client_address(request: web.Request) -> str:
    """The client's address (IPv4-mapped as IPv4): the peer's, or the one a trusted proxy
    appended last to X-Forwarded-For (a client may write anything before it)."""
    peer = request.remote or "unknown"
    trusted = request.app[SETTINGS].api_trusted_proxies
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    try:
        peer_address = canonical(ipaddress.ip_address(peer))
    except ValueError:
        return peer
    if any(peer_address in network for network in trusted):
        try:
            return str(canonical(ipaddress.ip_address(forwarded)))
        except ValueError:
            pass
    return str(peer_address)


async def costs_page(_request: web.Request) -> web.FileResponse:
    """The accountants' page: sign in with a token, pick a month, see and download. No
    other site may frame it (a token typed into a framed page could be clickjacked)."""
    return web.FileResponse(COSTS_PAGE, headers={
        "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                                   "style-src 'unsafe-inline'; img-src 'self' blob:; "
                                   "frame-ancestors 'none'",
        "X-Frame-Options": "DENY"})


async def _security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    # aiohttp adds "Server: Python/3.x aiohttp/3.y" unless one is set; say no versions.
    response.headers["Server"] = "pbxctl"


async def healthz(request: web.Request) -> web.Response:
    """Alive, and the database answers."""
    async with unit_of_work(request.app[ENGINE], Actor("api", "api"),
                            request.app[SETTINGS]) as s:
        await s.session.execute(text("SELECT 1"))
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    return web.Response(body=generate_latest(request.app[METRICS]),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(_request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API."""
    return web.json_response(openapi_document())


def create_app(engine: AsyncEngine, registry: CollectorRegistry | None = None,
               settings: Settings | None = None) -> web.Application:
    """The API application on ``engine``, counting into ``registry`` (default: its own)."""
    app = web.Application(middlewares=[auth_and_errors], client_max_size=MAX_BODY_BYTES)
    app.on_response_prepare.append(_security_headers)
    registry = registry or CollectorRegistry()
    settings = settings or Settings()
    app[ENGINE] = engine
    app[SETTINGS] = settings
    app[METRICS] = registry
    app[REQUESTS] = Counter("pbxctl_http_requests", "HTTP requests answered",
                            ["route", "status"], registry=registry)
    app[AUTH_FAILURES] = Counter("pbxctl_api_auth_failures", "API requests refused for "
                                 "their token (missing, unknown) or address (throttled)",
                                 ["reason"], registry=registry)
    app[THROTTLE] = AuthThrottle(settings.api_auth_failures, settings.api_auth_window,
                                 settings.api_auth_block)
    app.router.add_get("/", costs_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi)
    for operation in ROUTES:
        app.router.add_route(operation.method, operation.path,
                             HANDLERS[(operation.method, operation.path)])
    return app
