"""``pbxctl audit``: who changed what, when."""

from __future__ import annotations

import click

from pbxctl.cli.output import emit_rows
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.services.audit import audit_row, parse_since

COLUMNS = ("at", "actor", "interface", "action", "object", "change")


def _summary(before: dict[str, object] | None, after: dict[str, object] | None) -> str:
    if before and after:
        changed = [f"{k}: {before.get(k)} -> {after.get(k)}"
                   for k in after if before.get(k) != after.get(k)]
        return "; ".join(changed)
    shown = after or before or {}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


@click.command()
@click.option("--since", default=None,
              help="Only entries from this ISO date/time (UTC if no zone).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with full before/after.")
@click.pass_context
def audit(ctx: click.Context, since: str | None, as_json: bool) -> None:
    """Show the audit trail, oldest first."""
    since_at = parse_since("--since", since) if since is not None else None

    async def work(s: Services) -> list[dict[str, object]]:
        entries = await s.audit.entries(since_at)
        if as_json:
            return [audit_row(e) for e in entries]
        return [{"at": e.at.strftime("%Y-%m-%d %H:%M:%SZ"), "actor": e.actor,
                 "interface": e.interface, "action": e.action,
                 "object": f"{e.object_type} {e.object_key}",
                 "change": e.detail or _summary(e.before, e.after)} for e in entries]

    emit_rows(run_in_transaction(ctx, work), COLUMNS, as_json, empty="no audit entries")
