"""``pbxctl node``: the Asterisk servers."""

from __future__ import annotations

from pathlib import Path

import click

from pbxctl.cli.output import emit_json, emit_rows, emit_table, note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.cli.secret_input import secret_option
from pbxctl.services.nodes import NodeSpec, node_snapshot

COLUMNS = ("name", "ami_host", "ami_port", "ami_user", "sip_address", "sip_port", "config_dir")


@click.group()
def node() -> None:
    """Asterisk nodes pbxctl renders configuration for."""


@node.command("add")
@click.argument("name")
@click.option("--ami-host", required=True,
              help="AMI address, an IP literal (Asterisk binds it there too); 0.0.0.0 or :: "
              "listen on every address, permitting loopback only.")
@click.option("--ami-port", type=int, default=5038, show_default=True)
@click.option("--ami-user", required=True)
@secret_option("--ami-secret", "AMI password", prompt=lambda _: True)
@click.option("--config-dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory of the node's Asterisk configuration (e.g. /etc/asterisk).")
@click.option("--sip-address", default=None, help="Address phones register to "
              "[default: the AMI host when it is an IP address].")
@click.option("--sip-port", type=int, default=5060, show_default=True)
@click.option("--media-address", default=None, help="RTP address [default: --sip-address].")
@click.option("--recordings-dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Where the node's recorded calls are seen from here "
              "(its /var/spool/asterisk/monitor).")
@click.option("--cdr-csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The node's Master.csv as seen from here (its /var/log/asterisk/cdr-csv/"
              "Master.csv): 'pbxctl serve' backfills from it after an AMI outage.")
@click.pass_context
def add(ctx: click.Context, name: str, ami_host: str, ami_port: int, ami_user: str,
        ami_secret: str | None, config_dir: Path, sip_address: str | None, sip_port: int,
        media_address: str | None, recordings_dir: Path | None,
        cdr_csv: Path | None) -> None:
    """Add node NAME."""
    spec = NodeSpec(name=name, ami_host=ami_host, ami_port=ami_port, ami_user=ami_user,
                    ami_secret=ami_secret or "", config_dir=str(config_dir.absolute()),
                    sip_address=sip_address or ami_host, sip_port=sip_port,
                    media_address=media_address,
                    recordings_dir=str(recordings_dir.absolute()) if recordings_dir else None,
                    cdr_csv=str(cdr_csv.absolute()) if cdr_csv else None)

    async def work(s: Services) -> None:
        await s.nodes.add(spec)

    run_in_transaction(ctx, work)
    note(f"Node {name} added. Run 'pbxctl apply --node {name}' to configure it.")


@node.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List nodes."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [node_snapshot(n) for n in await s.nodes.list()]

    emit_rows(run_in_transaction(ctx, work), COLUMNS, as_json,
              empty="no nodes yet; add one with 'pbxctl node add'")


@node.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show node NAME."""

    async def work(s: Services) -> dict[str, object]:
        return node_snapshot(await s.nodes.get(name))

    data = run_in_transaction(ctx, work)
    if as_json:
        emit_json(data)
    else:
        emit_table([{"field": k, "value": v} for k, v in data.items()], ("field", "value"))


@node.command("set")
@click.argument("name")
@click.option("--ami-host", required=True,
              help="New AMI address, an IP literal (Asterisk binds it there too).")
@click.pass_context
def set_(ctx: click.Context, name: str, ami_host: str) -> None:
    """Change node NAME's AMI address."""

    async def work(s: Services) -> None:
        await s.nodes.set_ami_host(name, ami_host)

    run_in_transaction(ctx, work)
    note(f"Node {name} updated. Run 'pbxctl apply --node {name}'.")


@node.command("remove")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Remove node NAME (it must serve no branch)."""

    async def work(s: Services) -> None:
        await s.nodes.remove(name)

    run_in_transaction(ctx, work)
    note(f"Node {name} removed.")
