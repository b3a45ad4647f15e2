"""API handlers that act on or read the live system: queue agents over AMI, apply,
status, reports and the audit trail."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from aiohttp import web

from pbxctl.api.keys import BODY, QUERY, SETTINGS
from pbxctl.api.requests import answer, services
from pbxctl.api.routes_config import Handler
from pbxctl.billing.formats import to_csv
from pbxctl.billing.periods import parse_month
from pbxctl.errors import ApplyError, PbxctlError, ValidationError
from pbxctl.render import TemplateSet
from pbxctl.services.deploy import Deployment, prepare, record_apply
from pbxctl.services.overview import company_status
from pbxctl.services.queue_stats import sla_report
from pbxctl.services.queues import QueueMembers, QueueService
from pbxctl.services.reports import REPORT_COLUMNS, ReportService

AGENT_ACTIONS = ("login", "logout", "pause", "unpause")


async def agent_action(request: web.Request) -> web.Response:
    """Log a phone in or out of queues, pause or unpause it, at once over AMI."""
    action, extension = request.match_info["action"], request.match_info["extension"]
    if action not in AGENT_ACTIONS:
        raise ValidationError("action", f"use one of {', '.join(AGENT_ACTIONS)}")
    async with services(request) as s:
        touched = await QueueMembers(QueueService(s.session, s.audit), s.ami, s.audit).act(
            action, extension, request[BODY].get("queue"))
    return answer({"extension": extension, "action": action, "queues": touched})


async def apply(request: web.Request) -> web.Response:
    """Render, diff, write, reload and verify every node (or one); ``dry_run`` only diffs.
    A failed node is rolled back by the applier and recorded in the audit trail."""
    body = request[BODY]
    async with services(request) as s:
        deployments = await prepare(s.nodes, s.session,
                                    TemplateSet(request.app[SETTINGS].template_dir),
                                    [body["node"]] if "node" in body else None,
                                    request.app[SETTINGS].ami_timeout)
    results = [await _apply_one(request, d, bool(body.get("dry_run"))) for d in deployments]
    failed = [r for r in results if r.get("error")]
    if failed:
        raise ApplyError("; ".join(f"node {r['node']}: {r['error']}" for r in failed))
    return answer({"nodes": results})


async def _apply_one(request: web.Request, deployment: Deployment, dry_run: bool
                     ) -> dict[str, object]:
    plan = deployment.plan
    outcome: dict[str, object] = {"node": plan.node, "changes": [c.name for c in plan.changes],
                                  "diff": plan.diff}
    if plan.empty or dry_run:
        return outcome | {"applied": False}
    try:
        result = await deployment.applier.apply(plan, deployment.rendered)
    except PbxctlError as exc:
        async with services(request) as s:
            record_apply(s.audit, None, plan, str(exc), False)
        return outcome | {"applied": False, "error": str(exc)}
    async with services(request) as s:
        record_apply(s.audit, result, plan, None, False)
    return outcome | {"applied": True, "reloaded": list(result.reloaded),
                      "needs_restart": list(plan.needs_restart)}


async def status(request: web.Request) -> web.Response:
    """What every node is doing now."""
    async with services(request) as s:
        nodes, crisis = await company_status(s)
    return answer({"nodes": [dataclasses.asdict(n) for n in nodes],
                   "crisis": [dataclasses.asdict(c) for c in crisis]})


async def cost_report(request: web.Request) -> web.StreamResponse:
    """The month's costs per department, as JSON or CSV."""
    query = request[QUERY]
    year, month = parse_month("month", query.get("month", ""))
    fmt = query.get("format", "json")
    async with services(request) as s:
        report = await ReportService(s.session).costs(year, month, query.get("department"))
    if fmt == "json":
        return answer({"month": report.month, "unrated_calls": report.unrated,
                       "rows": [dataclasses.asdict(r) for r in report.rows]})
    body = to_csv(report.rows, REPORT_COLUMNS, excel=fmt == "excel")
    name = f"pbxctl-costs-{report.month}{'-excel' if fmt == 'excel' else ''}.csv"
    return web.Response(body=body, headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"'})


async def sla(request: web.Request) -> web.Response:
    """Service level per queue (or per queue and day) for a month."""
    query = request[QUERY]
    year, month = parse_month("month", query.get("month", ""))
    async with services(request) as s:
        rows = await sla_report(s.session, year, month, query.get("queue"),
                                query.get("by", "queue"))
    return answer({"month": f"{year:04d}-{month:02d}",
                   "rows": [dataclasses.asdict(r) for r in rows]})


async def audit_log(request: web.Request) -> web.Response:
    """The audit trail, oldest first (optionally from a UTC date)."""
    since_text = request[QUERY].get("since")
    try:
        since = (datetime.fromisoformat(since_text).replace(tzinfo=UTC)
                 if since_text else None)
    except ValueError:
        raise ValidationError("since", f"{since_text!r} is not a date") from None
    async with services(request) as s:
        entries = await s.audit.entries(since)
        return answer({"items": [
            {"at": e.at, "actor": e.actor, "interface": e.interface, "action": e.action,
             "object": f"{e.object_type} {e.object_key}", "before": e.before,
             "after": e.after, "detail": e.detail} for e in entries]})


HANDLERS: dict[tuple[str, str], Handler] = {
    ("POST", "/api/v1/agents/{extension}/{action}"): agent_action,
    ("POST", "/api/v1/apply"): apply,
    ("GET", "/api/v1/status"): status,
    ("GET", "/api/v1/reports/costs"): cost_report,
    ("GET", "/api/v1/reports/sla"): sla,
    ("GET", "/api/v1/audit"): audit_log,
}
