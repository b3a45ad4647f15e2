"""``pbxctl ext``: phones and softphones."""

from __future__ import annotations

import dataclasses

import click

from pbxctl.cli.output import emit_json, emit_rows, note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.services.extensions import SipCredentials, extension_snapshot

COLUMNS = ("number", "branch", "name", "department")


@click.group()
def ext() -> None:
    """Extensions: phones and softphones with generated SIP credentials."""


def _print_credentials(creds: SipCredentials, as_json: bool) -> None:
    if as_json:
        emit_json(dataclasses.asdict(creds))
        return
    note("SIP credentials (shown only now; pbxctl keeps only a hash):")
    click.echo(f"  server:    {creds.server}:{creds.port} ({creds.transport.upper()})")
    click.echo(f"  username:  {creds.username}")
    click.echo(f"  password:  {creds.password}")
    click.echo(f"  realm:     {creds.realm}")


@ext.command("add")
@click.argument("branch")
@click.argument("number")
@click.option("--name", required=True, help="Display name, e.g. 'Anna Petrova'.")
@click.option("--department", default=None,
              help="Cost centre for this phone's calls [default: the branch].")
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON.")
@click.pass_context
def add(ctx: click.Context, branch: str, number: str, name: str, department: str | None,
        as_json: bool) -> None:
    """Add extension NUMBER to BRANCH and print its SIP credentials once."""

    async def work(s: Services) -> SipCredentials:
        _extension, creds = await s.extensions.add(branch, number, name, department)
        return creds

    creds = run_in_transaction(ctx, work)
    note(f"Extension {number} ({name}) added to branch {branch}.")
    _print_credentials(creds, as_json)
    note("Run 'pbxctl apply' so the phone can register.")


@ext.command("list")
@click.option("--branch", default=None, help="Only this branch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, branch: str | None, as_json: bool) -> None:
    """List extensions."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [extension_snapshot(e) for e in await s.extensions.list(branch)]

    emit_rows(run_in_transaction(ctx, work), COLUMNS, as_json,
              empty="no extensions yet; add one with 'pbxctl ext add'")


@ext.command("remove")
@click.argument("number")
@click.pass_context
def remove(ctx: click.Context, number: str) -> None:
    """Remove extension NUMBER."""

    async def work(s: Services) -> None:
        await s.extensions.remove(number)

    run_in_transaction(ctx, work)
    note(f"Extension {number} removed. Run 'pbxctl apply' to update the node.")


@ext.command("passwd")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON.")
@click.pass_context
def passwd(ctx: click.Context, number: str, as_json: bool) -> None:
    """Give extension NUMBER a new SIP password (printed once)."""

    async def work(s: Services) -> SipCredentials:
        return await s.extensions.rotate_password(number)

    creds = run_in_transaction(ctx, work)
    note(f"New password for extension {number}; the old one stops working at the next apply.")
    _print_credentials(creds, as_json)
