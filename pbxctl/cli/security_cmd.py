"""``pbxctl security``: source addresses banned for repeated failed requests."""

from __future__ import annotations

from datetime import datetime

import click

from pbxctl.bans import parse_address, parse_duration
from pbxctl.cli.apply_cmd import fail_if_any, show_applied
from pbxctl.cli.output import emit_rows, note
from pbxctl.cli.runtime import Services, run_in_transaction, run_units
from pbxctl.errors import NotFoundError
from pbxctl.kamailio.rpc import RpcError
from pbxctl.services.deploy import NodeApplied
from pbxctl.services.edge_lockouts import edge_lockouts, lift_edge_lockouts
from pbxctl.services.security import ban_and_apply, unban_and_apply


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


@click.group()
def security() -> None:
    """Brute-force bans: source addresses every node refuses for a while.

    'pbxctl serve' bans a source (an IPv4 address, an IPv6 /64) after ban_after failed
    requests (wrong password, unknown account) within ban_window seconds, for ban_for
    seconds; addresses in ban_allow_networks and the carriers' addresses are never
    banned."""


@security.command("bans")
@click.option("--all", "everything", is_flag=True,
              help="Also bans lifted or expired (newest first).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def bans(ctx: click.Context, everything: bool, as_json: bool) -> None:
    """Bans in force: address, why, since when, until when."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"address": b.address, "failures": b.failures, "banned_at": _iso(b.banned_at),
                 "expires_at": _iso(b.expires_at), "lifted_at": _iso(b.lifted_at),
                 "lifted_by": b.lifted_by, "reason": b.reason}
                for b in await s.security.bans(everything)]

    columns = ("address", "banned_at", "expires_at", "failures", "reason")
    emit_rows(run_in_transaction(ctx, work),
              (*columns, "lifted_at", "lifted_by") if everything else columns, as_json,
              empty="no bans in force")


@security.command("lockouts")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def lockouts(ctx: click.Context, as_json: bool) -> None:
    """Failed phone logins each edge counts now, by source address (most first).

    An edge answers a source 403 from its tenth failure ('locked') until an hour after
    its last; Kamailio keeps the counts in memory only. An edge that cannot be read is
    named, and the command then exits 1."""
    found = run_units(ctx, edge_lockouts)
    emit_rows([{"address": s.address, "edge": s.edge, "failures": s.failures,
                "locked": s.locked} for s in found.sources],
              ("address", "edge", "failures", "locked"), as_json,
              empty="no failed phone logins at the edges")
    if found.unread:
        raise RpcError("; ".join(found.unread))


@security.command("unlock")
@click.argument("address")
@click.pass_context
def unlock(ctx: click.Context, address: str) -> None:
    """Make every edge forget the failed phone logins of ADDRESS (IPv6: its /64), which
    lifts its lockout at once (audited)."""
    lifted = run_units(ctx, lambda unit: lift_edge_lockouts(
        unit, parse_address("address", address)))
    for found in lifted.sources:
        note(f"edge {found.edge}: {found.failures} failed login(s) of {found.address} "
             "forgotten.")
    if lifted.unread:
        raise RpcError("; ".join(lifted.unread))
    if not lifted.sources:
        raise NotFoundError(f"no edge counts failed logins of {address}", "address")


@security.command("ban")
@click.argument("address")
@click.option("--for", "seconds", default="1h", show_default=True,
              help="How long: 90s, 15m, 1h, 7d.")
@click.option("--reason", default="banned by an operator", show_default=True)
@click.pass_context
def ban(ctx: click.Context, address: str, seconds: str, reason: str) -> None:
    """Ban ADDRESS (IPv4; IPv6: its /64) on every node now."""
    applied = run_units(ctx, lambda unit: ban_and_apply(
        unit, parse_address("address", address), parse_duration("seconds", seconds), reason))
    _show(applied, f"{address} banned")


@security.command("unban")
@click.argument("address")
@click.pass_context
def unban(ctx: click.Context, address: str) -> None:
    """Lift the ban covering ADDRESS (an IPv6 /64's) on every node now."""
    applied = run_units(ctx, lambda unit: unban_and_apply(
        unit, parse_address("address", address)))
    _show(applied, f"{address} unbanned")


def _show(applied: list[NodeApplied], done: str) -> None:
    for node in applied:
        show_applied(node)
    note(f"{done}; {sum(1 for n in applied if not n.error)} node(s) refuse what is banned "
         "now." if applied else f"{done}; no nodes yet.")
    fail_if_any(applied)
