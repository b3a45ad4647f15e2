"""``pbxctl init`` and ``pbxctl db``: create and upgrade the schema."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.cli.output import note
from pbxctl.cli.runtime import Services, run_in_transaction, run_with_engine, settings_of
from pbxctl.db import migrate
from pbxctl.db.session import key_source


@click.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create a fresh database (or bring an existing one up to date)."""

    async def work(engine: AsyncEngine) -> str | None:
        before = await migrate.current_revision(engine)
        await migrate.upgrade(engine)
        return before

    async def seed(s: Services) -> tuple[int, int]:
        return await s.numplan.seed_if_empty(), await s.secrets.seal_leftovers()

    async def count_sealed(s: Services) -> int:
        return await s.secrets.sealed_count()

    keys = key_source(settings_of(ctx))
    before = run_with_engine(ctx, work)
    if keys.key is None and not keys.file.exists() and run_in_transaction(ctx, count_sealed):
        raise click.ClickException(
            f"{keys.where} is missing but the database holds encrypted secrets: restore the "
            "key from its backup (a new key would not open them)")
    if keys.create():
        note(f"Created the key that encrypts the secrets in the database: {keys.file} "
             "(mode 0600). Back it up apart from the database: without it they cannot "
             "be read.")
    seeded, sealed = run_in_transaction(ctx, seed)
    if seeded:
        note(f"Loaded the shipped numbering plan ({seeded} prefixes); see 'pbxctl numplan list'.")
    if sealed:
        note(f"Encrypted {sealed} secret(s) stored in clear text by an older pbxctl.")
    url = ctx.find_root().obj.database_url
    if before is None:
        note(f"Created the pbxctl database at {_safe_url(url)} "
             f"(schema {migrate.head_revision()}).")
    else:
        note(f"The database at {_safe_url(url)} already exists; schema is at "
             f"{migrate.head_revision()}.")


@click.group()
def db() -> None:
    """Database schema (Alembic migrations shipped with pbxctl)."""


@db.command()
@click.option("--revision", default="head", show_default=True,
              help="Target revision.")
@click.pass_context
def upgrade(ctx: click.Context, revision: str) -> None:
    """Upgrade the schema."""
    run_with_engine(ctx, lambda engine: migrate.upgrade(engine, revision))
    note(f"Schema upgraded to {revision}. Run 'pbxctl init' to encrypt secrets kept in "
         "clear text by an older pbxctl.")


@db.command()
@click.argument("revision")
@click.pass_context
def downgrade(ctx: click.Context, revision: str) -> None:
    """Downgrade the schema to REVISION ('base' removes every pbxctl table)."""
    run_with_engine(ctx, lambda engine: migrate.downgrade(engine, revision))
    note(f"Schema downgraded to {revision}.")


@db.command()
@click.pass_context
def current(ctx: click.Context) -> None:
    """Print the schema revision of the database and the newest one available."""
    revision = run_with_engine(ctx, migrate.current_revision)
    click.echo(f"current: {revision or '(empty database)'}")
    click.echo(f"head:    {migrate.head_revision()}")


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    return make_url(url).render_as_string(hide_password=True)
