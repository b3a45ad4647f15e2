"""Deploying desired state to nodes: render, plan, apply, record in the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.asterisk.ami import AmiClient, AmiEndpoint, PanoramiskAmiClient
from pbxctl.asterisk.apply import AmiConnector, Applier, ApplyResult
from pbxctl.asterisk.plan import Plan
from pbxctl.db.models import Node
from pbxctl.render import RenderedNode, TemplateSet, render_node
from pbxctl.services.audit import AuditTrail
from pbxctl.services.desired_state import load_node_config
from pbxctl.services.nodes import NodeService


@dataclass(frozen=True)
class Deployment:
    """One node's rendered files and the plan to carry them there."""

    node: str
    rendered: RenderedNode
    plan: Plan
    applier: Applier


def ami_connector(node: Node, timeout: float) -> AmiConnector:
    """A function that opens an AMI connection to ``node``."""
    endpoint = AmiEndpoint(node.ami_host, node.ami_port, node.ami_user, node.ami_secret)

    async def connect() -> AmiClient:
        return await PanoramiskAmiClient.connect(endpoint, timeout=timeout)

    return connect


async def prepare(nodes: NodeService, session: AsyncSession, templates: TemplateSet,
                  node_names: list[str] | None, ami_timeout: float) -> list[Deployment]:
    """Render and plan every requested node (all nodes when ``node_names`` is None)."""
    chosen = ([await nodes.get(n) for n in node_names] if node_names
              else list(await nodes.list()))
    deployments = []
    for node in chosen:
        rendered = render_node(await load_node_config(session, node), templates)
        applier = Applier(Path(node.config_dir), ami_connector(node, ami_timeout))
        deployments.append(Deployment(node.name, rendered, applier.plan(node.name, rendered),
                                      applier))
    return deployments


def record_apply(audit: AuditTrail, result: ApplyResult | None, plan: Plan,
                 error: str | None = None, offline: bool = False) -> None:
    """Put an apply (or a failed one) in the audit trail."""
    files = ", ".join(c.name for c in plan.changes)
    if error is not None:
        audit.record("apply.failed", "node", plan.node, detail=f"{files}: {error}")
    elif result is not None and result.written:
        how = "written offline" if offline else f"reloaded {', '.join(result.reloaded)}"
        audit.record("apply", "node", plan.node, detail=f"{files} ({how})")
