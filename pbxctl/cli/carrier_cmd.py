"""``pbxctl carrier``: independent operators and their SIP trunks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from pbxctl.cli.output import emit_json, emit_rows, emit_table, note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.cli.secret_input import secret_option
from pbxctl.services.carriers import CarrierSpec, carrier_snapshot

COLUMNS = ("slug", "host", "port", "transport", "auth", "number_format", "max_channels",
           "currency", "contract")

F = TypeVar("F", bound=Callable[..., Any])


def _trunk_options(required: bool) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        options = [
            click.option("--host", required=required, help="Carrier SIP server."),
            click.option("--port", type=int, default=None, help="[default: 5060]"),
            click.option("--transport", type=click.Choice(["udp", "tcp"]), default=None),
            click.option("--auth", type=click.Choice(["ip", "register"]), required=required,
                         help="ip: the carrier is recognised by address (--match); "
                              "register: pbxctl registers with --username/--secret."),
            click.option("--match", multiple=True,
                         help="Address or network the carrier sends from (repeatable)."),
            click.option("--username", default=None),
            click.option("--number-format", default=None,
                         help="e164 | plus | national:CC  [default: e164]"),
            click.option("--max-channels", type=int, default=None),
            click.option("--qualify", "qualify_seconds", type=int, default=None,
                         help="Seconds between OPTIONS pings, 0 = off [default: 30]."),
            click.option("--currency", default=None, help="[default: RUB]"),
            click.option("--contract", default=None, help="Contract reference."),
            click.option("--send-names/--no-send-names", default=None,
                         help="Show callers' display names (staff names) to this carrier "
                              "[default: no: calls carry the number only]."),
        ]
        func = secret_option("--secret", "trunk password",
                             prompt=_registers if required else None)(func)
        for option in reversed(options):
            func = option(func)
        return func
    return decorate


def _registers(values: dict[str, Any]) -> bool:
    return values.get("auth") == "register"


def _spec(kwargs: dict[str, object]) -> CarrierSpec:
    match = kwargs.pop("match")
    return CarrierSpec(match=tuple(match) if match else None, **kwargs)  # type: ignore[arg-type]


@click.group()
def carrier() -> None:
    """Carriers: independent operators whose trunks bring and carry the calls."""


@carrier.command("add")
@click.argument("slug")
@_trunk_options(required=True)
@click.pass_context
def add(ctx: click.Context, /, slug: str, **kwargs: object) -> None:
    """Add carrier SLUG (also its PJSIP endpoint name)."""
    spec = _spec(kwargs)

    async def work(s: Services) -> None:
        await s.carriers.add(slug, spec)

    run_in_transaction(ctx, work)
    note(f"Carrier {slug} added. Run 'pbxctl apply' to create its trunk.")


@carrier.command("update")
@click.argument("slug")
@_trunk_options(required=False)
@click.pass_context
def update(ctx: click.Context, /, slug: str, **kwargs: object) -> None:
    """Change some settings of carrier SLUG."""
    spec = _spec(kwargs)

    async def work(s: Services) -> None:
        await s.carriers.update(slug, spec)

    run_in_transaction(ctx, work)
    note(f"Carrier {slug} updated. Run 'pbxctl apply' to carry it to the nodes.")


@carrier.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List carriers."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [carrier_snapshot(c) for c in await s.carriers.list()]

    emit_rows(run_in_transaction(ctx, work), COLUMNS, as_json,
              empty="no carriers yet; add one with 'pbxctl carrier add'")


@carrier.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show carrier SLUG (never its secret) and the numbers it serves."""

    async def work(s: Services) -> dict[str, object]:
        data = carrier_snapshot(await s.carriers.get(slug))
        data["numbers"] = [n.e164 for n in await s.numbers.list(carrier=slug)]
        return data

    data = run_in_transaction(ctx, work)
    if as_json:
        emit_json(data)
        return
    emit_table([{"field": k, "value": ", ".join(v) if isinstance(v, list) else v}
                for k, v in data.items()], ("field", "value"))


@carrier.command("remove")
@click.argument("slug")
@click.pass_context
def remove(ctx: click.Context, slug: str) -> None:
    """Remove carrier SLUG (it must serve no number)."""

    async def work(s: Services) -> None:
        await s.carriers.remove(slug)

    run_in_transaction(ctx, work)
    note(f"Carrier {slug} removed. Run 'pbxctl apply' to update the nodes.")
