"""API handlers for reports, spend caps and the audit trail: the same services and
formats as ``pbxctl report costs|sla|spend``, ``pbxctl department`` and
``pbxctl audit --json``."""

from __future__ import annotations

from aiohttp import web

from pbxctl import validation as v
from pbxctl.api.keys import BODY, QUERY, Handler
from pbxctl.api.requests import answer, services
from pbxctl.billing.formats import to_csv, to_json
from pbxctl.billing.periods import parse_month
from pbxctl.queues.service_level import SLA_COLUMNS
from pbxctl.services.audit import audit_row, parse_since
from pbxctl.services.read.reports import render_costs
from pbxctl.services.read.service_levels import sla_report
from pbxctl.services.read.spend import SPEND_COLUMNS, spend_report
from pbxctl.services.spend import limit_snapshot

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(body: bytes, content_type: str, name: str) -> web.Response:
    return web.Response(body=body, headers={
        "Content-Type": content_type, "Content-Disposition": f'attachment; filename="{name}"'})


async def cost_report(request: web.Request) -> web.Response:
    """The month's costs per department (or its rated calls), as JSON, CSV, CSV for Excel
    or an .xlsx workbook."""
    query = request[QUERY]
    year, month = parse_month("month", query["month"])
    fmt, detail = query.get("format", "json"), query.get("detail") == "true"
    async with services(request) as s:
        report = await s.reports.costs(year, month, query.get("department"),
                                                      detail)
    body = render_costs(report, "csv" if fmt == "excel" else fmt, detail, fmt == "excel")
    if fmt == "json":
        return web.Response(body=body, content_type="application/json")
    name = f"pbxctl-costs-{report.month}{'-detail' if detail else ''}"
    if fmt == "xlsx":
        return _download(body, XLSX, f"{name}.xlsx")
    return _download(body, "text/csv; charset=utf-8",
                     f"{name}{'-excel' if fmt == 'excel' else ''}.csv")


async def sla(request: web.Request) -> web.Response:
    """Service level per queue (or per queue and day) for a month, as JSON or CSV."""
    query = request[QUERY]
    year, month = parse_month("month", query["month"])
    async with services(request) as s:
        rows = await sla_report(s.session, year, month, query.get("queue"),
                                query.get("by", "queue"))
    if query.get("format", "json") == "csv":
        return _download(to_csv(rows, SLA_COLUMNS), "text/csv; charset=utf-8",
                         f"pbxctl-sla-{query['month']}.csv")
    return web.Response(body=to_json(rows, {"month": query["month"]}),
                        content_type="application/json")


async def spend(request: web.Request) -> web.Response:
    """Month-to-date spend per department with its cap and the brake's state."""
    query = request[QUERY]
    async with services(request) as s:
        rows = await spend_report(s.session, query.get("month"))
    if query.get("format", "json") == "csv":
        return _download(to_csv(rows, SPEND_COLUMNS), "text/csv; charset=utf-8",
                         f"pbxctl-spend-{query.get('month', 'now')}.csv")
    return web.Response(body=to_json(rows), content_type="application/json")


async def list_limits(request: web.Request) -> web.Response:
    """Every department's cap, as ``department limits --json``."""
    async with services(request) as s:
        return answer({"items": [{"department": limit.department, **limit_snapshot(limit)}
                                 for limit in await s.spend.limits()]})


async def set_limit(request: web.Request) -> web.Response:
    """Cap a department's monthly spend, as ``department limit NAME --monthly``."""
    body = request[BODY]
    department = request.match_info["department"]
    async with services(request) as s:
        limit = await s.spend.set_limit(department, body["monthly"], body.get("warn_at", 80),
                                        body.get("currency", "RUB"))
        return answer({"department": limit.department, **limit_snapshot(limit)})


async def remove_limit(request: web.Request) -> web.Response:
    """Remove a department's cap, as ``department limit NAME --none``."""
    department = request.match_info["department"]
    async with services(request) as s:
        await s.spend.remove_limit(department)
    return answer({"removed": department})


async def unblock(request: web.Request) -> web.Response:
    """Lift the brake's block of a department, as ``department unblock``."""
    until = request[BODY].get("until")
    day = v.iso_date("until", until) if until is not None else None
    async with services(request) as s:
        ends = await s.spend.unblock(request.match_info["department"], day)
    return answer({"department": request.match_info["department"],
                   "unblocked_until": ends.isoformat(timespec="seconds")})


async def audit_log(request: web.Request) -> web.Response:
    """The audit trail, oldest first (from a date or time, of one kind of object)."""
    query = request[QUERY]
    since = parse_since("since", query["since"]) if "since" in query else None
    async with services(request) as s:
        entries = await s.audit.entries(since, query.get("object_type"))
        return answer({"items": [audit_row(e) for e in entries]})


HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "/api/v1/reports/costs"): cost_report,
    ("GET", "/api/v1/reports/sla"): sla,
    ("GET", "/api/v1/reports/spend"): spend,
    ("GET", "/api/v1/departments/limits"): list_limits,
    ("PUT", "/api/v1/departments/{department}/limit"): set_limit,
    ("DELETE", "/api/v1/departments/{department}/limit"): remove_limit,
    ("POST", "/api/v1/departments/{department}/unblock"): unblock,
    ("GET", "/api/v1/audit"): audit_log,
}
