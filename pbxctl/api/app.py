"""The aiohttp application: bearer-token auth, JSON errors with stable ids, the routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.api.openapi import ROUTES, openapi_document
from pbxctl.billing.formats import to_csv
from pbxctl.billing.periods import parse_month
from pbxctl.db.session import transaction
from pbxctl.errors import ConflictError, NotFoundError, PbxctlError, ValidationError
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.branches import BranchService, branch_snapshot
from pbxctl.services.carriers import CarrierService, carrier_snapshot
from pbxctl.services.extensions import ExtensionService, extension_snapshot
from pbxctl.services.numbers import NumberService, number_snapshot
from pbxctl.services.reports import REPORT_COLUMNS, ReportService
from pbxctl.services.tokens import TokenService

ENGINE = web.AppKey("engine", AsyncEngine)
METRICS = web.AppKey("metrics", CollectorRegistry)
REQUESTS = web.AppKey("requests", Counter)
ACTOR = web.RequestKey("actor", Actor)
PUBLIC = frozenset({"/", "/healthz", "/metrics", "/api/v1/openapi.json"})
COSTS_PAGE = Path(__file__).with_name("static") / "costs.html"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(status: int, error_id: str, message: str) -> web.Response:
    """A JSON error with a stable id a client can act on."""
    return web.json_response({"error": {"id": error_id, "message": message}}, status=status)


@web.middleware
async def auth_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a missing or unknown token (401) and a role the route does not allow (403);
    turn pbxctl's errors into JSON; count every answer for /metrics."""
    route = request.match_info.route.resource
    path = route.canonical if route is not None else request.path
    try:
        response = await _authorised(request, handler, path)
    except web.HTTPException:
        raise
    except ValidationError as exc:
        response = error(400, "invalid_input", str(exc))
    except NotFoundError as exc:
        response = error(404, "not_found", str(exc))
    except ConflictError as exc:
        response = error(409, "conflict", str(exc))
    except PbxctlError as exc:
        response = error(502, "failed", str(exc))
    request.app[REQUESTS].labels(path, str(response.status)).inc()
    return response


async def _authorised(request: web.Request, handler: Handler, path: str
                      ) -> web.StreamResponse:
    if path in PUBLIC:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return error(401, "unauthorized", "missing bearer token")
    async with transaction(request.app[ENGINE]) as session:
        token = await TokenService(session, AuditTrail(session, Actor("api", "api"))
                                   ).check(header.removeprefix("Bearer ").strip())
    if token is None:
        return error(401, "unauthorized", "unknown token")
    roles = ROUTES.get(path, {}).get(request.method)
    if roles is None or token.role not in roles:
        return error(403, "forbidden", f"role {token.role} may not {request.method} {path}")
    request[ACTOR] = Actor(token.name, "api")
    return await handler(request)


async def costs_page(_request: web.Request) -> web.FileResponse:
    """The accountants' page: sign in with a token, pick a month, see and download."""
    return web.FileResponse(COSTS_PAGE, headers={
        "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline'; "
                                   "style-src 'unsafe-inline'; img-src 'self' blob:"})


async def healthz(request: web.Request) -> web.Response:
    """Alive, and the database answers."""
    async with transaction(request.app[ENGINE]) as session:
        await session.execute(text("SELECT 1"))
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    return web.Response(body=generate_latest(request.app[METRICS]),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(_request: web.Request) -> web.Response:
    """The OpenAPI 3.1 description of this API."""
    return web.json_response(openapi_document())


def _listing(service: type, method: str, snapshot: Callable[[object], dict[str, object]]
             ) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        async with transaction(request.app[ENGINE]) as session:
            audit = AuditTrail(session, request[ACTOR])
            items = await getattr(service(session, audit), method)()
            return web.json_response({"items": [snapshot(i) for i in items]})
    return handle


async def cost_report(request: web.Request) -> web.StreamResponse:
    """The month's costs per department, as JSON or CSV."""
    year, month = parse_month("month", request.query.get("month", ""))
    department = request.query.get("department") or None
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv", "excel"):
        raise ValidationError("format", "use json, csv or excel")
    async with transaction(request.app[ENGINE]) as session:
        report = await ReportService(session).costs(year, month, department)
    if fmt == "json":
        return web.json_response({"month": report.month, "unrated_calls": report.unrated,
                                  "rows": [{k: (str(v) if not isinstance(v, int | str)
                                                else v) for k, v in asdict(r).items()}
                                           for r in report.rows]})
    body = to_csv(report.rows, REPORT_COLUMNS, excel=fmt == "excel")
    name = f"pbxctl-costs-{report.month}{'-excel' if fmt == 'excel' else ''}.csv"
    return web.Response(body=body, headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"'})


async def audit_log(request: web.Request) -> web.Response:
    """The audit trail, newest last."""
    async with transaction(request.app[ENGINE]) as session:
        entries = await AuditTrail(session, request[ACTOR]).entries()
        return web.json_response({"items": [
            {"at": e.at.isoformat(), "actor": e.actor, "interface": e.interface,
             "action": e.action, "object": f"{e.object_type} {e.object_key}",
             "before": e.before, "after": e.after, "detail": e.detail} for e in entries]})


def create_app(engine: AsyncEngine, registry: CollectorRegistry | None = None
               ) -> web.Application:
    """The API application on ``engine``, counting into ``registry`` (default: its own)."""
    app = web.Application(middlewares=[auth_and_errors])
    registry = registry or CollectorRegistry()
    app[ENGINE] = engine
    app[METRICS] = registry
    app[REQUESTS] = Counter("pbxctl_http_requests", "HTTP requests answered",
                            ["route", "status"], registry=registry)
    app.router.add_get("/", costs_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_get("/api/v1/branches", _listing(BranchService, "list", branch_snapshot))
    app.router.add_get("/api/v1/extensions",
                       _listing(ExtensionService, "list", extension_snapshot))
    app.router.add_get("/api/v1/carriers", _listing(CarrierService, "list", carrier_snapshot))
    app.router.add_get("/api/v1/numbers", _listing(NumberService, "list", number_snapshot))
    app.router.add_get("/api/v1/reports/costs", cost_report)
    app.router.add_get("/api/v1/audit", audit_log)
    return app


