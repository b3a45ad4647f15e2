"""``pbxctl token``: bearer tokens for the HTTP API."""

from __future__ import annotations

import click

from pbxctl.cli.output import emit_rows, note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.services.tokens import ROLES


@click.group()
def token() -> None:
    """API tokens (admin, accountant, viewer)."""


@token.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.pass_context
def create(ctx: click.Context, name: str, role: str) -> None:
    """Create a token and print it once; pbxctl keeps only its hash."""

    async def work(s: Services) -> str:
        return await s.tokens.create(name, role)

    secret = run_in_transaction(ctx, work)
    note(f"Token {name} ({role}) created; it is shown only now:")
    click.echo(secret)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List tokens (names and roles only)."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"name": t.name, "role": t.role,
                 "created": t.created_at.isoformat(timespec="seconds")}
                for t in await s.tokens.list()]

    emit_rows(run_in_transaction(ctx, work), ("name", "role", "created"), as_json,
              empty="no tokens")


@token.command("revoke")
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke a token at once."""

    async def work(s: Services) -> None:
        await s.tokens.revoke(name)

    run_in_transaction(ctx, work)
    note(f"Token {name} revoked.")
