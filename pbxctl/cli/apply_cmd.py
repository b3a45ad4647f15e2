"""``pbxctl apply``: carry the desired state to the nodes."""

from __future__ import annotations

import click

from pbxctl.cli.output import note, printable
from pbxctl.cli.runtime import run_units
from pbxctl.errors import ApplyError
from pbxctl.services.deploy import NodeApplied, apply_nodes


@click.command()
@click.option("--node", "node_names", multiple=True, help="Only this node (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--offline", is_flag=True,
              help="Only write the files (Asterisk not running yet); no reload, no check.")
@click.pass_context
def apply(ctx: click.Context, node_names: tuple[str, ...], dry_run: bool,
          offline: bool) -> None:
    """Render the configuration, show the diff, write it, reload and verify.

    If Asterisk refuses the reload or does not show what was rendered, the previous
    files are restored and reloaded and the command fails.
    """

    applied = run_units(ctx, lambda unit: apply_nodes(unit, list(node_names) or None,
                                                        dry_run, offline))
    if not applied:
        note("No nodes yet; add one with 'pbxctl node add'.")
        return
    for node in applied:
        show_applied(node, dry_run, offline)
    fail_if_any(applied)


def fail_if_any(applied: list[NodeApplied]) -> None:
    """Exit 1 naming every node whose apply failed (and was rolled back)."""
    failures = [f"node {n.node}: {n.error}" for n in applied if n.error]
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
    if not node.changes:
        note(f"node {node.node}: no change; Asterisk already runs this configuration.")
        return
    click.echo(printable(node.diff), nl=False)
    changed = ", ".join(node.changes)
    if dry_run:
        note(f"node {node.node}: would change {changed} (dry run, nothing written).")
    elif node.error:
        return
    elif offline:
        note(f"node {node.node}: wrote {changed} "
             "(offline: start or reload Asterisk to use them).")
    else:
        note(f"node {node.node}: applied; reloaded {', '.join(node.reloaded) or 'nothing'}; "
             f"Asterisk shows {node.endpoints} endpoint(s) as rendered.")
        if node.needs_restart:
            note(f"node {node.node}: {', '.join(node.needs_restart)} changed; it takes "
                 "effect when Asterisk restarts.")
