"""API handlers that carry the desired state to Asterisk and read its live state: the same
services as ``pbxctl apply`` and ``pbxctl status --json``."""

from __future__ import annotations

from functools import partial

from aiohttp import web

from pbxctl.api.keys import BODY, QUERY, Handler
from pbxctl.api.requests import answer, services
from pbxctl.services.deploy import apply_nodes
from pbxctl.services.edge_deploy import apply_edges
from pbxctl.services.read.overview import company_status, status_document


async def apply(request: web.Request) -> web.Response:
    """Render and plan every node and edge (or the one named), then write, reload and
    verify each; a failed one is rolled back by its applier, audited, and makes the
    answer a 502."""
    body = request[BODY]
    dry_run, offline = body.get("dry_run", False), body.get("offline", False)
    every = "node" not in body and "edge" not in body
    unit = partial(services, request)

    applied = (await apply_nodes(unit, [body["node"]] if "node" in body else None, dry_run,
                                 offline) if every or "node" in body else [])
    edges = (await apply_edges(unit, [body["edge"]] if "edge" in body else None, dry_run,
                               offline) if every or "edge" in body else [])
    results = {
        "nodes": [{"node": n.node, "changes": list(n.changes), "diff": n.diff,
                   "applied": n.applied, "reloaded": list(n.reloaded),
                   "needs_restart": list(n.needs_restart), "error": n.error,
                   "switches_changed": n.switches_changed,
                   "switches_error": n.switches_error,
                   "members_changed": n.members_changed, "members_error": n.members_error}
                  for n in applied],
        "edges": [{"edge": e.edge, "changes": list(e.changes), "diff": e.diff,
                   "applied": e.applied, "reloaded": list(e.reloaded),
                   "destinations": e.destinations, "needs_restart": list(e.needs_restart),
                   "error": e.error} for e in edges]}
    failed = ([f"node {n.node}: {n.error}" for n in applied if n.error]
              + [f"edge {e.edge}: {e.error}" for e in edges if e.error])
    if failed:
        return answer({"error": {"id": "apply_failed", "message": "; ".join(failed)},
                       **results}, 502)
    return answer(results)


async def status(request: web.Request) -> web.Response:
    """What every node (or one) is doing now; a node that cannot be reached is reported."""
    async with services(request) as s:
        company = await company_status(s, request[QUERY].get("node"))
    return answer(status_document(company))


HANDLERS: dict[tuple[str, str], Handler] = {
    ("POST", "/api/v1/apply"): apply,
    ("GET", "/api/v1/status"): status,
}
