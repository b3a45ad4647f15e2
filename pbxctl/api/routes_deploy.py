"""API handlers that carry the desired state to Asterisk and read its live state: the same
services as ``pbxctl apply`` and ``pbxctl status --json``."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from pbxctl.api.keys import BODY, QUERY, SETTINGS, Handler
from pbxctl.api.requests import answer, services
from pbxctl.errors import PbxctlError
from pbxctl.render import TemplateSet
from pbxctl.services.deploy import Deployment, prepare, record_apply
from pbxctl.services.overview import company_status


async def apply(request: web.Request) -> web.Response:
    """Render and plan every node (or one), then write, reload and verify each; a failed
    node is rolled back by the applier, audited, and makes the answer a 502."""
    body, settings = request[BODY], request.app[SETTINGS]
    async with services(request) as s:
        deployments = await prepare(s.nodes, s.session, TemplateSet(settings.template_dir),
                                    [body["node"]] if "node" in body else None,
                                    settings.ami_timeout)
    results = [await _apply_one(request, d, body.get("dry_run", False),
                                body.get("offline", False)) for d in deployments]
    failed = [f"node {r['node']}: {r['error']}" for r in results if r["error"]]
    if failed:
        return answer({"error": {"id": "apply_failed", "message": "; ".join(failed)},
                       "nodes": results}, 502)
    return answer({"nodes": results})


async def _apply_one(request: web.Request, deployment: Deployment, dry_run: bool,
                     offline: bool) -> dict[str, object]:
    plan = deployment.plan
    outcome: dict[str, object] = {
        "node": plan.node, "changes": [c.name for c in plan.changes], "diff": plan.diff,
        "applied": False, "reloaded": [], "needs_restart": [], "error": None}
    if plan.empty or dry_run:
        return outcome
    try:
        result = await deployment.applier.apply(plan, deployment.rendered, offline=offline)
    except PbxctlError as exc:
        async with services(request) as s:
            record_apply(s.audit, None, plan, str(exc), offline)
        return outcome | {"error": str(exc)}
    async with services(request) as s:
        record_apply(s.audit, result, plan, None, offline)
    return outcome | {"applied": True, "reloaded": list(result.reloaded),
                      "needs_restart": [] if offline else list(plan.needs_restart)}


async def status(request: web.Request) -> web.Response:
    """What every node (or one) is doing now; a node that cannot be reached is reported."""
    async with services(request) as s:
        nodes, crisis = await company_status(s, request[QUERY].get("node"))
    return answer({"nodes": [dataclasses.asdict(n) for n in nodes],
                   "crisis": [dataclasses.asdict(c) for c in crisis]})


HANDLERS: dict[tuple[str, str], Handler] = {
    ("POST", "/api/v1/apply"): apply,
    ("GET", "/api/v1/status"): status,
}
