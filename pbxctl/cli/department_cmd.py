"""``pbxctl department``: spend caps per department and lifting the spend brake."""

from __future__ import annotations

from datetime import date, datetime

import click

from pbxctl.cli.output import emit_rows, note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.services.spend import limit_snapshot


@click.group()
def department() -> None:
    """Departments: monthly spend caps the spend brake of 'pbxctl serve' enforces.

    A department is an extension's --department, else its branch."""


@department.command("limit")
@click.argument("name")
@click.option("--monthly", default=None, metavar="AMOUNT",
              help="Cap on a month's call cost, e.g. 5000 or 5000.50.")
@click.option("--warn-at", type=int, default=80, show_default=True, metavar="PERCENT",
              help="Send spend.warning at this share of the cap.")
@click.option("--currency", default="RUB", show_default=True,
              help="Calls priced in this currency count (as the carriers' decks price).")
@click.option("--none", "remove", is_flag=True, help="Remove the cap (lifts a block).")
@click.pass_context
def limit(ctx: click.Context, name: str, monthly: str | None, warn_at: int, currency: str,
          remove: bool) -> None:
    """Cap department NAME's monthly spend: 'pbxctl serve' warns at --warn-at percent
    and blocks its outbound calls (never emergency numbers) at the cap, within seconds."""
    if remove == (monthly is not None):
        raise click.UsageError("give --monthly AMOUNT or --none")
    if remove:
        run_in_transaction(ctx, lambda s: s.spend.remove_limit(name))
        note(f"Department {name}: no spend cap (a block in force was lifted).")
        return
    assert monthly is not None

    async def work(s: Services) -> dict[str, object]:
        return limit_snapshot(await s.spend.set_limit(name, monthly, warn_at, currency))

    snap = run_in_transaction(ctx, work)
    note(f"Department {name}: capped at {snap['monthly']} {snap['currency']} a month, "
         f"warning at {snap['warn_at_percent']} %. 'pbxctl serve' enforces it.")


@department.command("limits")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def limits(ctx: click.Context, as_json: bool) -> None:
    """Every department's spend cap."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"department": lim.department, **limit_snapshot(lim)}
                for lim in await s.spend.limits()]

    emit_rows(run_in_transaction(ctx, work),
              ("department", "monthly", "currency", "warn_at_percent"), as_json,
              empty="no spend caps")


@department.command("unblock")
@click.argument("name")
@click.option("--until", "until", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Lifted until this day starts in the department's zone [default: the "
                   "rest of the month].")
@click.pass_context
def unblock(ctx: click.Context, name: str, until: datetime | None) -> None:
    """Lift the spend brake's block of department NAME at once (audited)."""
    day: date | None = until.date() if until is not None else None

    async def work(s: Services) -> str:
        return (await s.spend.unblock(name, day)).isoformat(timespec="seconds")

    ends = run_in_transaction(ctx, work)
    note(f"Department {name}: outbound calls unblocked until {ends} (UTC).")
