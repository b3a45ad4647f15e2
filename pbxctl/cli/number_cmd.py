"""``pbxctl number``: the number inventory, independent of the PBX."""

from __future__ import annotations

from pathlib import Path

import click

from pbxctl.cli.output import emit_counts, emit_file, emit_rows, note, read_input_file
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.destinations import parse_destination
from pbxctl.services.numbers import NumberSpec, number_snapshot, parse_fee

COLUMNS = ("number", "carrier", "branch", "monthly_fee", "route", "after_hours", "contract")
ROUTE_HELP = ("ext:201 | branch:kazan | queue:kazan/sales | voicemail:201 | "
              "external:+46701234567 | hangup")


@click.group()
def number() -> None:
    """Numbers (DIDs) the company owns through carrier contracts."""


@number.command("add")
@click.argument("e164")
@click.option("--carrier", required=True, help="Carrier that brings the number.")
@click.option("--branch", required=True, help="Branch that pays for it.")
@click.option("--monthly-fee", required=True, help="Rental per month, e.g. 350.00.")
@click.option("--route", required=True, help=f"Where calls go: {ROUTE_HELP}.")
@click.option("--after-hours", default=None, help="Where calls go outside business hours.")
@click.option("--contract", default=None, help="Contract reference.")
@click.pass_context
def add(ctx: click.Context, e164: str, carrier: str, branch: str, monthly_fee: str, route: str,
        after_hours: str | None, contract: str | None) -> None:
    """Add number E164 (e.g. +78435550101) to the inventory."""
    async def work(s: Services) -> None:
        await s.numbers.add(NumberSpec(
            e164=e164, carrier=carrier, branch=branch,
            monthly_fee=parse_fee("monthly_fee", monthly_fee),
            route=parse_destination("route", route), contract=contract,
            after_hours=parse_destination("after_hours", after_hours) if after_hours else None))

    run_in_transaction(ctx, work)
    note(f"Number {e164} added (carrier {carrier}, branch {branch}, route {route}). "
         "Run 'pbxctl apply'.")


@number.command("list")
@click.option("--carrier", default=None)
@click.option("--branch", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, carrier: str | None, branch: str | None, as_json: bool) -> None:
    """List numbers."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [number_snapshot(n) for n in await s.numbers.list(carrier, branch)]

    emit_rows(run_in_transaction(ctx, work), COLUMNS, as_json,
              empty="no numbers; add one with 'pbxctl number add'")


@number.command("route")
@click.argument("e164")
@click.argument("destination")
@click.option("--after-hours", default=None, help="Where calls go outside business hours.")
@click.option("--no-after-hours", is_flag=True, help="Forget the after-hours destination.")
@click.pass_context
def route(ctx: click.Context, e164: str, destination: str, after_hours: str | None,
          no_after_hours: bool) -> None:
    """Send calls to E164 to DESTINATION."""

    async def work(s: Services) -> None:
        await s.numbers.route(
            e164, parse_destination("route", destination),
            parse_destination("after_hours", after_hours) if after_hours else None,
            no_after_hours)

    run_in_transaction(ctx, work)
    note(f"Number {e164} now routes to {destination}. Run 'pbxctl apply'.")


@number.command("move")
@click.argument("e164")
@click.option("--carrier", default=None, help="The carrier that brings it from now on.")
@click.option("--branch", default=None, help="The branch that pays for it from now on.")
@click.pass_context
def move(ctx: click.Context, e164: str, carrier: str | None, branch: str | None) -> None:
    """Move E164 to another carrier or paying branch; its route stays."""

    async def work(s: Services) -> None:
        await s.numbers.move(e164, carrier, branch)

    run_in_transaction(ctx, work)
    note(f"Number {e164} moved; its route is unchanged. Run 'pbxctl apply'.")


@number.command("release")
@click.argument("e164")
@click.pass_context
def release(ctx: click.Context, e164: str) -> None:
    """Give E164 back to its carrier (its history is kept)."""

    async def work(s: Services) -> None:
        await s.numbers.release(e164)

    run_in_transaction(ctx, work)
    note(f"Number {e164} released. Run 'pbxctl apply'.")


@number.command("history")
@click.argument("e164")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def history(ctx: click.Context, e164: str, as_json: bool) -> None:
    """Which carrier, branch and route E164 had, from when to when (UTC)."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"from": p.valid_from.isoformat(timespec="seconds"),
                 "to": p.valid_to.isoformat(timespec="seconds") if p.valid_to else None,
                 "carrier": p.carrier, "branch": p.branch, "route": p.route,
                 "monthly_fee": f"{p.monthly_fee:.2f}"}
                for p in await s.numbers.history(e164)]

    emit_rows(run_in_transaction(ctx, work),
              ("from", "to", "carrier", "branch", "route", "monthly_fee"), as_json,
              empty=f"no history for {e164}")


@number.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write to FILE instead of stdout.")
@click.pass_context
def export(ctx: click.Context, output: Path | None) -> None:
    """The whole inventory as CSV (number,carrier,branch,monthly_fee,contract,route,
    after_hours)."""

    async def work(s: Services) -> str:
        return await s.numbers.export_csv()

    emit_file(run_in_transaction(ctx, work), output, "numbers")


@number.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--replace", is_flag=True, help="Release numbers that are not in FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def import_(ctx: click.Context, file: Path, replace: bool, as_json: bool) -> None:
    """Add or update numbers from a CSV as written by 'number export' (idempotent; all rows
    are checked before anything changes)."""
    text = read_input_file(file)

    async def work(s: Services) -> dict[str, int]:
        return await s.numbers.import_csv(text, replace)

    emit_counts(run_in_transaction(ctx, work), as_json)
