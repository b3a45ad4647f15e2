"""``pbxctl apply``: carry the desired state to the nodes."""

from __future__ import annotations

import asyncio

import click

from pbxctl.asterisk.apply import ApplyResult
from pbxctl.cli.output import note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.errors import ApplyError, PbxctlError
from pbxctl.render import TemplateSet
from pbxctl.services.deploy import Deployment, prepare, record_apply


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

    async def plan_all(s: Services) -> list[Deployment]:
        templates = TemplateSet(s.settings.template_dir)
        return await prepare(s.nodes, s.session, templates, list(node_names) or None,
                             s.settings.ami_timeout)

    deployments = run_in_transaction(ctx, plan_all)
    if not deployments:
        note("No nodes yet; add one with 'pbxctl node add'.")
        return
    failures = []
    for deployment in deployments:
        plan = deployment.plan
        if plan.empty:
            note(f"node {plan.node}: no change; Asterisk already runs this configuration.")
            continue
        click.echo(plan.diff, nl=False)
        changed = ", ".join(c.name for c in plan.changes)
        if dry_run:
            note(f"node {plan.node}: would change {changed} (dry run, nothing written).")
            continue
        error = _apply_one(ctx, deployment, offline)
        if error:
            failures.append(f"node {plan.node}: {error}")
    if failures:
        raise ApplyError("; ".join(failures))


def _apply_one(ctx: click.Context, deployment: Deployment, offline: bool) -> str | None:
    """Apply one node and audit the outcome; returns the error text on failure."""
    plan = deployment.plan
    try:
        result = asyncio.run(deployment.applier.apply(plan, deployment.rendered,
                                                      offline=offline))
    except PbxctlError as exc:
        reason = str(exc)
        run_in_transaction(ctx, lambda s: _audit(s, deployment, None, reason, offline))
        return reason
    run_in_transaction(ctx, lambda s: _audit(s, deployment, result, None, offline))
    if offline:
        note(f"node {plan.node}: wrote {', '.join(c.name for c in plan.changes)} "
             "(offline: start or reload Asterisk to use them).")
    else:
        note(f"node {plan.node}: applied; reloaded {', '.join(result.reloaded) or 'nothing'}; "
             f"Asterisk shows {len(deployment.rendered.endpoints)} endpoint(s) as rendered.")
        if plan.needs_restart:
            note(f"node {plan.node}: {', '.join(plan.needs_restart)} changed; it takes "
                 "effect when Asterisk restarts.")
    return None


async def _audit(s: Services, deployment: Deployment, result: ApplyResult | None,
                 error: str | None, offline: bool) -> None:
    record_apply(s.audit, result, deployment.plan, error, offline)
