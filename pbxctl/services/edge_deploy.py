"""Deploying desired state to edges: render, plan, apply over Kamailio's JSON-RPC, record
in the audit trail (as :mod:`pbxctl.services.deploy` does for nodes)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from pbxctl.db.models import Edge
from pbxctl.errors import PbxctlError
from pbxctl.kamailio.apply import EdgeApplier, RpcOpener
from pbxctl.kamailio.plan import EdgePlan
from pbxctl.kamailio.rpc import KamailioRpc, RpcEndpoint
from pbxctl.render.templates import TemplateSet
from pbxctl.services.deploy import record_apply
from pbxctl.services.edges import EdgeService

if TYPE_CHECKING:
    from pbxctl.services.bundle import UnitOfWork


@dataclass(frozen=True)
class EdgeDeployment:
    """One edge's rendered files and the plan to carry them there."""

    edge: str
    rendered: dict[str, str]
    plan: EdgePlan
    applier: EdgeApplier


@dataclass(frozen=True)
class EdgeApplied:
    """What ``apply`` did on one edge."""

    edge: str
    changes: tuple[str, ...]   # files that differ from the edge's
    diff: str
    applied: bool = False
    reloaded: tuple[str, ...] = ()
    destinations: int = 0      # dispatcher destinations Kamailio shows, as rendered
    needs_restart: tuple[str, ...] = ()
    error: str | None = None   # the edge was rolled back to its previous files


def rpc_opener(edge: Edge, timeout: float) -> RpcOpener:
    """A function that makes a JSON-RPC client of ``edge``'s Kamailio."""
    endpoint = RpcEndpoint(edge.name, edge.rpc_address, edge.rpc_port)
    return lambda: KamailioRpc(endpoint, timeout)


async def prepare_edges(edges: EdgeService, templates: TemplateSet,
                        edge_names: list[str] | None, timeout: float) -> list[EdgeDeployment]:
    """Render and plan every requested edge (all when ``edge_names`` is None)."""
    chosen = ([await edges.get(n) for n in edge_names] if edge_names
              else list(await edges.list()))
    deployments = []
    for edge in chosen:
        rendered = await edges.render(edge.name, templates)
        applier = EdgeApplier(Path(edges.config_dir_of(edge.config_dir)),
                              rpc_opener(edge, timeout))
        deployments.append(EdgeDeployment(edge.name, rendered,
                                          applier.plan(edge.name, rendered), applier))
    return deployments


async def apply_edges(unit: UnitOfWork, edge_names: list[str] | None, dry_run: bool = False,
                      offline: bool = False) -> list[EdgeApplied]:
    """The apply use case for edges: render and plan every edge (or those named) in one
    transaction, then write, reload and verify each (nothing with ``dry_run``; files only
    with ``offline``), auditing each outcome; a failed edge is rolled back and reported,
    and the others still run."""
    async with unit() as s:
        deployments = await prepare_edges(s.edges, TemplateSet(s.settings.template_dir),
                                          edge_names, s.settings.kamailio_rpc_timeout)
    return [await _apply_one(unit, d, dry_run, offline) for d in deployments]


async def _apply_one(unit: UnitOfWork, deployment: EdgeDeployment, dry_run: bool,
                     offline: bool) -> EdgeApplied:
    plan = deployment.plan
    planned = EdgeApplied(plan.edge, tuple(c.name for c in plan.changes), plan.diff)
    if plan.empty or dry_run:
        return planned
    try:
        result = await deployment.applier.apply(plan, deployment.rendered, offline=offline)
    except PbxctlError as exc:
        async with unit() as s:
            record_apply(s.audit, "edge", plan.edge, list(planned.changes), None, str(exc),
                         offline)
        return replace(planned, error=str(exc))
    async with unit() as s:
        record_apply(s.audit, "edge", plan.edge, list(planned.changes),
                     result.reloaded if result.written else None, None, offline)
    return replace(planned, applied=True, reloaded=result.reloaded,
                   destinations=result.destinations,
                   needs_restart=() if offline else plan.needs_restart)
