"""``pbxctl apply``: carry the desired state to the nodes and the edges."""

from __future__ import annotations

import click

from pbxctl.cli.output import note, printable
from pbxctl.cli.runtime import run_units
from pbxctl.errors import ApplyError
from pbxctl.services.bundle import UnitOfWork
from pbxctl.services.deploy import NodeApplied, apply_nodes
from pbxctl.services.edge_deploy import EdgeApplied, apply_edges


@click.command()
@click.option("--node", "node_names", multiple=True, help="Only this node (repeatable).")
@click.option("--edge", "edge_names", multiple=True, help="Only this edge (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--offline", is_flag=True, help="Only write the files (Asterisk or Kamailio "
              "not running yet); no reload, no check.")
@click.pass_context
def apply(ctx: click.Context, node_names: tuple[str, ...], edge_names: tuple[str, ...],
          dry_run: bool, offline: bool) -> None:
    """Render the configuration, show the diff, write it, reload and verify: every node,
    then every edge (with --node or --edge, only those named).

    If Asterisk or Kamailio refuses the reload or does not show what was rendered, the
    previous files are restored and reloaded and the command fails.
    """
    every = not node_names and not edge_names

    async def work(unit: UnitOfWork) -> tuple[list[NodeApplied], list[EdgeApplied]]:
        nodes = (await apply_nodes(unit, list(node_names) or None, dry_run, offline)
                 if every or node_names else [])
        edges = (await apply_edges(unit, list(edge_names) or None, dry_run, offline)
                 if every or edge_names else [])
        return nodes, edges

    nodes, edges = run_units(ctx, work)
    if not nodes and not edges:
        note("No nodes yet; add one with 'pbxctl node add'.")
        return
    for node in nodes:
        show_applied(node, dry_run, offline)
    for edge in edges:
        show_edge_applied(edge, dry_run, offline)
    fail_if_any(nodes, edges)


def fail_if_any(applied: list[NodeApplied], edges: list[EdgeApplied] | None = None) -> None:
    """Exit 1 naming every node and edge whose apply failed (and was rolled back)."""
    failures = [f"node {n.node}: {n.error}" for n in applied if n.error]
    failures += [f"edge {e.edge}: {e.error}" for e in edges or [] if e.error]
    if failures:
        raise ApplyError("; ".join(failures))


def show_applied(node: NodeApplied, dry_run: bool = False, offline: bool = False) -> None:
    """The diff and outcome of an apply on one node."""
    if node.switches_changed:
        note(f"node {node.node}: put {node.switches_changed} crisis/recording switch(es) "
             "right in AstDB (changed while the node was down).")
    if node.switches_error:
        note(f"WARNING: node {node.node}: crisis and recording switches not checked: "
             f"{node.switches_error}")
    if node.members_changed:
        note(f"node {node.node}: made {node.members_changed} change(s) to the queue members "
             "of the branches it is the standby of (as on their node).")
    if node.members_error:
        note(f"WARNING: node {node.node}: queue members not put right: {node.members_error}")
    _show(f"node {node.node}", "Asterisk", node.changes, node.diff, node.error, dry_run,
          offline, f"reloaded {', '.join(node.reloaded) or 'nothing'}; Asterisk shows "
          f"{node.endpoints} endpoint(s) as rendered.", node.needs_restart)


def show_edge_applied(edge: EdgeApplied, dry_run: bool = False, offline: bool = False) -> None:
    """The diff and outcome of an apply on one edge."""
    _show(f"edge {edge.edge}", "Kamailio", edge.changes, edge.diff, edge.error, dry_run,
          offline, f"reloaded {', '.join(edge.reloaded) or 'nothing'}; Kamailio shows "
          f"{edge.destinations} destination(s) as rendered.", edge.needs_restart)


def _show(what: str, program: str, changes: tuple[str, ...], diff: str, error: str | None,
          dry_run: bool, offline: bool, applied: str, needs_restart: tuple[str, ...]) -> None:
    if not changes:
        note(f"{what}: no change; {program} already runs this configuration.")
        return
    click.echo(printable(diff), nl=False)
    changed = ", ".join(changes)
    if dry_run:
        note(f"{what}: would change {changed} (dry run, nothing written).")
    elif error:
        return
    elif offline:
        note(f"{what}: wrote {changed} (offline: start or reload {program} to use them).")
    else:
        note(f"{what}: applied; {applied}")
        if needs_restart:
            note(f"{what}: {', '.join(needs_restart)} changed; it takes effect when "
                 f"{program} restarts.")
