"""Deploying desired state to nodes: render, plan, apply, record in the audit trail."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.asterisk.ami import AmiClient, AmiEndpoint, PanoramiskAmiClient
from pbxctl.asterisk.apply import AmiConnector, Applier, Verifier, pjsip_answers
from pbxctl.asterisk.plan import Plan
from pbxctl.db.models import Node
from pbxctl.errors import AmiError, PbxctlError
from pbxctl.render import RenderedNode, TemplateSet, render_node
from pbxctl.services.audit import AuditTrail
from pbxctl.services.member_sync import StandbyQueues, standby_queues, sync_members
from pbxctl.services.nodes import NodeService
from pbxctl.services.read.desired_state import load_node_config
from pbxctl.services.switch_sync import Switches, put_switches, wanted_switches

if TYPE_CHECKING:
    from pbxctl.services.bundle import UnitOfWork


@dataclass(frozen=True)
class Deployment:
    """One node's rendered files and the plan to carry them there."""

    node: str
    rendered: RenderedNode
    plan: Plan
    applier: Applier
    check: Verifier | None = None   # how the apply is verified (None: everything rendered)
    switches: Switches | None = None   # the node's AstDB switches, put right after the apply
    connect: AmiConnector | None = None
    standby_queues: tuple[StandbyQueues, ...] = ()   # queue members copied from their node


def ami_connector(node: Node, timeout: float) -> AmiConnector:
    """A function that opens an AMI connection to ``node``."""
    endpoint = AmiEndpoint(node.ami_host, node.ami_port, node.ami_user, node.ami_secret)

    async def connect() -> AmiClient:
        return await PanoramiskAmiClient.connect(endpoint, timeout=timeout)

    return connect


async def prepare(nodes: NodeService, session: AsyncSession, templates: TemplateSet,
                  node_names: list[str] | None, ami_timeout: float,
                  only: tuple[str, ...] | None = None) -> list[Deployment]:
    """Render and plan every requested node (all nodes when ``node_names`` is None);
    with ``only``, just those files, verified by res_pjsip answering (other changes in
    the database wait for the next full apply)."""
    chosen = ([await nodes.get(n) for n in node_names] if node_names
              else list(await nodes.list()))
    deployments = []
    for node in chosen:
        rendered = render_node(await load_node_config(session, node), templates)
        if only is not None:
            rendered = replace(rendered, files={name: text for name, text
                                                in rendered.files.items() if name in only})
        connect = ami_connector(node, ami_timeout)
        applier = Applier(nodes.config_dir(node), connect)
        switches = await wanted_switches(session, node) if only is None else None
        queues = () if only is not None else tuple(await standby_queues(
            session, node, lambda other: ami_connector(other, ami_timeout)))
        deployments.append(Deployment(node.name, rendered, applier.plan(node.name, rendered),
                                      applier, None if only is None else pjsip_answers,
                                      switches, connect, queues))
    return deployments


def record_apply(audit: AuditTrail, kind: str, name: str, files: list[str],
                 reloaded: tuple[str, ...] | None, error: str | None = None,
                 offline: bool = False) -> None:
    """Put an apply on a node or an edge (``kind``) in the audit trail: failed (``error``),
    or written (``reloaded`` is None when nothing was)."""
    changed = ", ".join(files)
    if error is not None:
        audit.record("apply.failed", kind, name, detail=f"{changed}: {error}")
    elif reloaded is not None:
        how = "written offline" if offline else f"reloaded {', '.join(reloaded)}"
        audit.record("apply", kind, name, detail=f"{changed} ({how})")


@dataclass(frozen=True)
class NodeApplied:
    """What ``apply`` did on one node."""

    node: str
    changes: tuple[str, ...]   # files that differ from what the node has
    diff: str
    endpoints: int             # endpoints Asterisk shows once the files are loaded
    applied: bool = False
    reloaded: tuple[str, ...] = ()
    needs_restart: tuple[str, ...] = ()
    error: str | None = None   # the node was rolled back to its previous files
    switches_changed: int = 0          # AstDB switch keys put right (a missed change)
    switches_error: str | None = None  # they could not be checked (the files still apply)
    members_changed: int = 0           # queue member actions copying the branch's node
    members_error: str | None = None   # branches whose queue members were not put right


async def apply_nodes(unit: UnitOfWork, node_names: list[str] | None, dry_run: bool = False,
                      offline: bool = False, only: tuple[str, ...] | None = None
                      ) -> list[NodeApplied]:
    """The apply use case: render and plan every node (or those named) in one
    transaction, then write, reload and verify each (nothing with ``dry_run``; files only
    with ``offline``; only the files named by ``only`` when given), auditing each outcome
    in a transaction of its own. A node that fails is rolled back by the applier and
    reported, and the others still run."""
    async with unit() as s:
        deployments = await prepare(s.nodes, s.session, TemplateSet(s.settings.template_dir),
                                    node_names, s.settings.ami_timeout, only)
    return [await _apply_one(unit, d, dry_run, offline) for d in deployments]


async def _apply_one(unit: UnitOfWork, deployment: Deployment, dry_run: bool,
                     offline: bool) -> NodeApplied:
    plan = deployment.plan
    planned = NodeApplied(plan.node, tuple(c.name for c in plan.changes), plan.diff,
                          len(deployment.rendered.endpoints))
    if dry_run:
        return planned
    if plan.empty:
        return planned if offline else await _sync_switches(deployment, planned)
    try:
        result = await deployment.applier.apply(plan, deployment.rendered, offline=offline,
                                                check=deployment.check)
    except PbxctlError as exc:
        async with unit() as s:
            record_apply(s.audit, "node", plan.node, [c.name for c in plan.changes], None,
                         str(exc), offline)
        return replace(planned, error=str(exc))
    async with unit() as s:
        record_apply(s.audit, "node", plan.node, [c.name for c in plan.changes],
                     result.reloaded if result.written else None, None, offline)
    applied = replace(planned, applied=True, reloaded=tuple(result.reloaded),
                      needs_restart=() if offline else tuple(plan.needs_restart))
    return applied if offline else await _sync_switches(deployment, applied)


async def _sync_switches(deployment: Deployment, applied: NodeApplied) -> NodeApplied:
    """Put the node's AstDB switches right (see ``switch_sync``), and the queue members
    of the branches it is the standby of (see ``member_sync``); a node that cannot be
    reached keeps its files and is reported."""
    if deployment.switches is None or deployment.connect is None:
        return applied
    try:
        ami = await deployment.connect()
        try:
            changed = await put_switches(ami, deployment.switches)
            members = await sync_members(ami, deployment.standby_queues)
        finally:
            await ami.close()
    except (AmiError, OSError) as error:
        return replace(applied, switches_error=str(error))
    return replace(applied, switches_changed=changed, members_changed=members.changed,
                   members_error="; ".join(members.errors) or None)
