"""``pbxctl status``: what every node is doing now."""

from __future__ import annotations

import dataclasses
import time

import click

from pbxctl.cli.output import emit_json, emit_table, printable
from pbxctl.cli.runtime import run_in_transaction
from pbxctl.cli.types import FiniteFloatRange
from pbxctl.services.read.catch_up import CatchUpState
from pbxctl.services.read.overview import CompanyStatus, company_status, status_document


def _gather(ctx: click.Context, node: str | None) -> CompanyStatus:
    return run_in_transaction(ctx, lambda s: company_status(s, node))


def _show(company: CompanyStatus) -> None:
    for status in company.nodes:
        head = ("connected" if status.connected
                else f"NOT CONNECTED ({printable(status.error or '')})")
        click.echo(f"node {status.node}: AMI {head}; {status.active_calls} active call(s)")
        if status.catch_up:
            click.echo(f"  CDRs: {_catch_up_line(status.catch_up)}")
        if not status.connected:
            continue
        phones = [e for e in status.endpoints if e.kind == "phone"]
        registered = sum(1 for e in phones if e.contacts)
        click.echo(f"  phones: {registered} of {len(phones)} registered")
        carriers = [e for e in status.endpoints if e.kind == "carrier"]
        if carriers:
            emit_table([{"carrier": e.name, "state": e.state, "calls": e.active_channels}
                        for e in carriers], ("carrier", "state", "calls"))
        if status.queues:
            emit_table([dataclasses.asdict(q) for q in status.queues],
                       ("name", "waiting", "longest_wait", "members_available",
                        "members_paused", "members_total", "service_level", "today"))
    for state in company.crisis:
        click.echo(f"CRISIS: branch {state.branch} -> {state.destination}"
                   f"{' (recorded)' if state.record else ''} since "
                   f"{state.since:%Y-%m-%d %H:%M}Z")
    for row in company.spend:
        line = (f"department {row.department}: spent {row.spent} of {row.cap} "
                f"{row.currency} in {row.month}")
        if row.state == "blocked" and row.blocked_at:
            click.echo(f"SPEND BLOCKED: {line}; outbound calls blocked since "
                       f"{row.blocked_at:%Y-%m-%d %H:%M}Z")
        elif row.state == "unblocked" and row.unblocked_until:
            click.echo(f"spend: {line}; unblocked until {row.unblocked_until:%Y-%m-%d %H:%M}Z")
        else:
            click.echo(f"spend: {line} ({row.state})")
    last = company.backup
    if last is None:
        click.echo("backup: none recorded")
    else:
        lacking = (f"; NO STATE OF NODE {', '.join(last.nodes_missing)}"
                   if last.nodes_missing else "")
        click.echo(f"backup: last {last.at:%Y-%m-%d %H:%M}Z by {printable(last.actor)}: "
                   f"{printable(last.file)}{lacking}")


def _catch_up_line(state: CatchUpState) -> str:
    last = (f"last caught up {state.caught_up_at:%Y-%m-%d %H:%M:%S}Z"
            if state.caught_up_at else "never caught up")
    waiting = ("" if state.calls_after is None
               else f"; {state.calls_after} call(s) in {state.path} since")
    if state.behind:
        return f"CATCH-UP BEHIND: {last}{waiting} (is serve running? can it store?)"
    return f"{last}{waiting}"


@click.command()
@click.option("--node", default=None, help="Only this node.")
@click.option("--watch", "interval", type=FiniteFloatRange(0.5, 86400), default=None,
              is_flag=False,
              flag_value=2.0, help="Refresh every N seconds (default 2) until Ctrl-C.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON once.")
@click.pass_context
def status(ctx: click.Context, node: str | None, interval: float | None,
           as_json: bool) -> None:
    """Live state: AMI link, CDR catch-up, phones registered, carriers, active calls,
    queues, crisis, spend caps."""
    if as_json:
        emit_json(status_document(_gather(ctx, node)))
        return
    while True:
        company = _gather(ctx, node)
        if interval:
            click.clear()
        _show(company)
        if not interval:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return
