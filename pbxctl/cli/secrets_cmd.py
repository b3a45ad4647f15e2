"""``pbxctl secrets``: the key that encrypts the secrets kept in the database."""

from __future__ import annotations

import click

from pbxctl.cli.output import emit_json, emit_table, note
from pbxctl.cli.runtime import Services, run_in_transaction, run_units
from pbxctl.services.secrets import SecretsStatus, rotate_key


@click.group()
def secrets() -> None:
    """The key that encrypts the secrets kept in the database."""


@secrets.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Where the key comes from, and how many secrets each key encrypted (every one is
    opened, so a wrong key fails here)."""

    async def work(s: Services) -> SecretsStatus:
        await s.secrets.verify()
        return await s.secrets.status()

    found = run_in_transaction(ctx, work)
    if as_json:
        emit_json(vars(found))
        return
    note(f"Key from {found.source}; new secrets are encrypted with key {found.current_key}.")
    emit_table([{"key": key, "secrets": count} for key, count in sorted(found.counts.items())],
               ("key", "secrets"), empty="no secrets stored yet")


@secrets.command("rotate-key")
@click.pass_context
def rotate_key_(ctx: click.Context) -> None:
    """Generate a new key, encrypt every secret with it in one transaction, then write
    it to the key file alone (the old key opens nothing any more)."""
    rotation = run_units(ctx, rotate_key)
    note(f"Key rotated: {rotation.resealed} secret(s) encrypted with the new key; the old "
         "key no longer opens them. Keep a copy of the new key file with the backups.")
