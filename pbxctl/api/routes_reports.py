"""API handlers for reports and the audit trail: the same services and formats as
``pbxctl report costs``, ``pbxctl report sla`` and ``pbxctl audit --json``."""

from __future__ import annotations

from aiohttp import web

from pbxctl.api.keys import QUERY, Handler
from pbxctl.api.requests import answer, services
from pbxctl.billing.formats import to_csv, to_json
from pbxctl.billing.periods import parse_month
from pbxctl.queues.service_level import SLA_COLUMNS
from pbxctl.services.audit import audit_row, parse_since
from pbxctl.services.read.reports import render_costs
from pbxctl.services.read.service_levels import sla_report

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
    ("GET", "/api/v1/audit"): audit_log,
}
