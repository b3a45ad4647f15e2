"""``pbxctl status``: what every node is doing now."""

from __future__ import annotations

import dataclasses
import time

import click

from pbxctl.cli.output import emit_json, emit_table, printable
from pbxctl.cli.runtime import run_in_transaction
from pbxctl.cli.types import FiniteFloatRange
from pbxctl.services.live_switches import CrisisState
from pbxctl.services.read.catch_up import CatchUpState
from pbxctl.services.read.overview import company_status
from pbxctl.services.read.status import NodeStatus


def _gather(ctx: click.Context, node: str | None
            ) -> tuple[list[NodeStatus], list[CrisisState]]:
    return run_in_transaction(ctx, lambda s: company_status(s, node))


def _show(statuses: list[NodeStatus], crisis: list[CrisisState]) -> None:
    for status in statuses:
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
    for state in crisis:
        click.echo(f"CRISIS: branch {state.branch} -> {state.destination}"
                   f"{' (recorded)' if state.record else ''} since "
                   f"{state.since:%Y-%m-%d %H:%M}Z")


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
    queues, crisis."""
    if as_json:
        statuses, crisis = _gather(ctx, node)
        emit_json({"nodes": [dataclasses.asdict(s) for s in statuses],
                   "crisis": [dataclasses.asdict(c) for c in crisis]})
        return
    while True:
        statuses, crisis = _gather(ctx, node)
        if interval:
            click.clear()
        _show(statuses, crisis)
        if not interval:
            return
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            return
