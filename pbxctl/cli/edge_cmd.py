"""``pbxctl edge``: the Kamailio SIP edges in front of the nodes."""

from __future__ import annotations

from pathlib import Path

import click

from pbxctl.cli.output import emit_rows, note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.kamailio.plan import mask_edge_file
from pbxctl.render.templates import TemplateSet
from pbxctl.services.edges import EdgeSpec, edge_snapshot, write_edge_files

COLUMNS = ("name", "sip_address", "sip_port", "rpc_address", "rpc_port", "config_dir")


@click.group()
def edge() -> None:
    """Kamailio SIP edges: carriers call them, they pick the branch's node."""


@edge.command("add")
@click.argument("name")
@click.option("--sip-address", required=True, help="Address carriers send SIP to (an IP).")
@click.option("--sip-port", type=int, default=5060, show_default=True)
@click.option("--rpc", required=True, metavar="ADDRESS:PORT",
              help="Where Kamailio answers JSON-RPC over HTTP, e.g. 127.0.0.10:5090.")
@click.option("--config-dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory of the edge's Kamailio configuration (e.g. /etc/kamailio).")
@click.pass_context
def add(ctx: click.Context, name: str, sip_address: str, sip_port: int, rpc: str,
        config_dir: Path) -> None:
    """Add edge NAME."""
    spec = EdgeSpec(name=name, sip_address=sip_address, sip_port=sip_port, rpc=rpc,
                    config_dir=str(config_dir.absolute()))

    async def work(s: Services) -> None:
        await s.edges.add(spec)

    run_in_transaction(ctx, work)
    note(f"Edge {name} added. Run 'pbxctl edge render {name} -o DIR' to write its files.")


@edge.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List edges."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [edge_snapshot(e) for e in await s.edges.list()]

    emit_rows(run_in_transaction(ctx, work), COLUMNS, as_json,
              empty="no edges yet; add one with 'pbxctl edge add'")


@edge.command("remove")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Remove edge NAME (its Kamailio keeps its last configuration)."""

    async def work(s: Services) -> None:
        await s.edges.remove(name)

    run_in_transaction(ctx, work)
    note(f"Edge {name} removed.")


@edge.command("render")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Write the files into DIR (atomically, 0640) instead of "
              "printing them.")
@click.pass_context
def render(ctx: click.Context, name: str, output: Path | None) -> None:
    """Render edge NAME's Kamailio files (kamailio.cfg, dispatcher.list, db/); printed,
    the carriers' passwords and the phones' HA1 digests are masked."""

    async def work(s: Services) -> dict[str, str]:
        return await s.edges.render(name, TemplateSet(s.settings.template_dir))

    files = run_in_transaction(ctx, work)
    if output is None:
        for relative, text in sorted(files.items()):
            click.echo(f"==> {relative} <==")
            click.echo(mask_edge_file(relative, text), nl=False)
        return
    write_edge_files(output, files)
    note(f"Wrote {len(files)} files of edge {name} to {output}.")
