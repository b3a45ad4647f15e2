"""``pbxctl device``: phones that set themselves up from the provisioning server."""

from __future__ import annotations

import click

from pbxctl.cli.output import emit_json, emit_rows, note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.render.provisioning import MODELS
from pbxctl.services.devices import ProvisioningLink, device_snapshot

COLUMNS = ("name", "extension", "mac", "model")


@click.group()
def device() -> None:
    """Devices: desk phones (by MAC) and softphones that fetch their set-up, each with its
    own SIP login."""


@device.command("add")
@click.argument("extension")
@click.option("--mac", required=True, help="The phone's MAC address, e.g. 80:5E:C0:12:34:56.")
@click.option("--model", required=True, type=click.Choice(MODELS),
              help="Which files the phone asks for and how they are written.")
@click.option("--json", "as_json", is_flag=True, help="Print the device and its URL as JSON.")
@click.pass_context
def add(ctx: click.Context, extension: str, mac: str, model: str, as_json: bool) -> None:
    """Add a desk phone to EXTENSION; prints once the provisioning URL to set in the
    phone (or give it by DHCP option 66)."""

    async def work(s: Services) -> ProvisioningLink:
        return await s.devices.add(extension, mac, model)

    link = run_in_transaction(ctx, work)
    if as_json:
        emit_json({"device": link.device, "url": link.url})
    else:
        note(f"Device {link.device} added to extension {extension}. Its provisioning URL "
             "(shown only now; it holds the device's secret):")
        click.echo(f"  {link.url}")
    note("Run 'pbxctl apply' so the phone can register with its own login.")


@device.command("list")
@click.option("--extension", default=None, help="Only this extension's devices.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, extension: str | None, as_json: bool) -> None:
    """List devices (never their secrets)."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [device_snapshot(d) for d in await s.devices.list(extension)]

    emit_rows(run_in_transaction(ctx, work), COLUMNS, as_json,
              empty="no devices yet; add one with 'pbxctl device add'")


@device.command("remove")
@click.argument("device_", metavar="DEVICE")
@click.pass_context
def remove(ctx: click.Context, device_: str) -> None:
    """Remove DEVICE (its MAC, or its name such as 201-app): its login stops working at
    the next apply, its provisioning URL at once."""

    async def work(s: Services) -> None:
        await s.devices.remove(device_)

    run_in_transaction(ctx, work)
    note(f"Device {device_} removed. Run 'pbxctl apply' to update the node.")
