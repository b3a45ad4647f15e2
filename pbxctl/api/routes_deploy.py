"""API handlers that carry the desired state to Asterisk and read its live state: the same
services as ``pbxctl apply`` and ``pbxctl status --json``."""

from __future__ import annotations

from aiohttp import web

from pbxctl.api.keys import BODY, QUERY, Handler
from pbxctl.api.requests import answer, services
from pbxctl.services.deploy import apply_nodes
from pbxctl.services.read.overview import company_status, status_document


async def apply(request: web.Request) -> web.Response:
    """Render and plan every node (or one), then write, reload and verify each; a failed
    node is rolled back by the applier, audited, and makes the answer a 502."""
    body = request[BODY]
    applied = await apply_nodes(lambda: services(request),
                                [body["node"]] if "node" in body else None,
                                body.get("dry_run", False), body.get("offline", False))
    results = [{"node": n.node, "changes": list(n.changes), "diff": n.diff,
                "applied": n.applied, "reloaded": list(n.reloaded),
                "needs_restart": list(n.needs_restart), "error": n.error,
                "switches_changed": n.switches_changed, "switches_error": n.switches_error}
               for n in applied]
    failed = [f"node {n.node}: {n.error}" for n in applied if n.error]
    if failed:
        return answer({"error": {"id": "apply_failed", "message": "; ".join(failed)},
                       "nodes": results}, 502)
    return answer({"nodes": results})


async def status(request: web.Request) -> web.Response:
    """What every node (or one) is doing now; a node that cannot be reached is reported."""
    async with services(request) as s:
        company = await company_status(s, request[QUERY].get("node"))
    return answer(status_document(company))


HANDLERS: dict[tuple[str, str], Handler] = {
    ("POST", "/api/v1/apply"): apply,
    ("GET", "/api/v1/status"): status,
}
