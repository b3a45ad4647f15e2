"""``pbxctl rates``: carriers' price lists, versioned by date."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from pbxctl.cli.output import emit_json, emit_rows, note, read_input_file
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.services.rates import parse_day


@click.group()
def rates() -> None:
    """Rate decks: each carrier's prices, valid from a date on."""


@rates.command("import")
@click.argument("carrier")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--valid-from", default=None,
              help="Date the prices apply from (unless the file has a valid_from column).")
@click.option("--json", "as_json", is_flag=True, help="Print what was stored as JSON.")
@click.pass_context
def import_(ctx: click.Context, carrier: str, file: Path, valid_from: str | None,
            as_json: bool) -> None:
    """Import a deck: prefix,destination,rate_per_minute,connect_fee,min_seconds,
    increment_seconds[,valid_from]. Every line is checked first; a deck with any bad line
    is not activated. Calls made from its date on are priced by it ('pbxctl cdr rerate'
    prices stored calls again)."""
    day = parse_day("--valid-from", valid_from) if valid_from else None
    text = read_input_file(file)
    lines = text.count("\n")
    if lines > 10_000:
        note(f"Checking and storing {lines} lines…")

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"carrier": d.carrier, "valid_from": d.valid_from.isoformat(),
                 "rates": d.rates, "status": d.status}
                for d in await s.rates.import_deck(carrier, text, str(file), day)]

    stored = run_in_transaction(ctx, work)
    if as_json:
        emit_json(stored)
        return
    for deck in stored:
        note(f"{deck['carrier']} deck valid from {deck['valid_from']}: {deck['rates']} "
             f"rates, {deck['status']}.")


@rates.command("list")
@click.argument("carrier", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, carrier: str | None, as_json: bool) -> None:
    """List deck versions."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"carrier": d.carrier, "valid_from": d.valid_from.isoformat(),
                 "rates": d.rates, "source": d.source} for d in await s.rates.decks(carrier)]

    emit_rows(run_in_transaction(ctx, work), ("carrier", "valid_from", "rates", "source"),
              as_json, empty="no rate decks; import one with 'pbxctl rates import'")


@rates.command("show")
@click.argument("carrier")
@click.argument("number")
@click.option("--on", "on_day", default=None, help="Date of the call [default: today, UTC].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, carrier: str, number: str, on_day: str | None,
         as_json: bool) -> None:
    """Which prefix, deck and price apply to NUMBER through CARRIER."""
    day = parse_day("--on", on_day) if on_day else datetime.now(UTC).date()

    async def work(s: Services) -> dict[str, object]:
        answer = await s.rates.price(carrier, number, day)
        r = answer.rate
        return {"carrier": answer.carrier, "number": answer.number,
                "deck_valid_from": answer.valid_from.isoformat(), "prefix": r.prefix,
                "destination": r.destination, "rate_per_minute": f"{r.rate_per_minute:f}",
                "connect_fee": f"{r.connect_fee:f}", "min_seconds": r.min_seconds,
                "increment_seconds": r.increment_seconds, "currency": answer.currency}

    data = run_in_transaction(ctx, work)
    if as_json:
        emit_json(data)
        return
    click.echo(f"{data['number']} via {data['carrier']}: prefix {data['prefix']} "
               f"({data['destination']}), deck valid from {data['deck_valid_from']}")
    click.echo(f"  {data['rate_per_minute']} {data['currency']}/min, connection "
               f"{data['connect_fee']}, billed {data['min_seconds']}/"
               f"{data['increment_seconds']} s")
