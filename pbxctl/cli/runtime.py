"""Running a command's async work: settings, database, services, one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.cli.errors import presented
from pbxctl.cli.output import note
from pbxctl.db.schema_check import require_schema as require_schema  # for serve
from pbxctl.db.session import database_file_warning, key_source, make_engine
from pbxctl.errors import PbxctlError
from pbxctl.services.audit import Actor
from pbxctl.services.bundle import Services as Services  # re-exported for the commands
from pbxctl.services.bundle import UnitOfWork, unit_of_work, units
from pbxctl.settings import Settings, os_user

T = TypeVar("T")


def settings_of(ctx: click.Context) -> Settings:
    """The settings loaded by the top-level command."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


def engine_for(settings: Settings) -> AsyncEngine:
    """An engine on the configured database, sealing secrets with the configured keys
    (a warning on stderr first when the SQLite file may be read by other users)."""
    warning = database_file_warning(settings.database_url)
    if warning:
        note(warning)
    return make_engine(settings.database_url, key_source(settings))


def run_in_transaction(ctx: click.Context, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction: everything it changes commits together or not at all."""

    async def once(unit: UnitOfWork) -> T:
        async with unit() as services:
            return await work(services)

    return run_units(ctx, once)


def run_units(ctx: click.Context, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    """Run a use case that opens its own transactions (``unit()``), each with the
    services of that transaction."""
    settings = settings_of(ctx)

    async def main() -> T:
        engine = engine_for(settings)
        try:
            await require_schema(engine)
            return await work(units(engine, Actor(settings.actor or os_user(), "cli"),
                                    settings))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except PbxctlError as exc:     # named in this command's words: --ext-range, not ext_range
        raise presented(exc, ctx.command) from None
    except StatementError as exc:  # a secret that could not be sealed or opened
        if isinstance(exc.orig, PbxctlError):
            raise presented(exc.orig, ctx.command) from None
        raise


async def open_secrets(engine: AsyncEngine, settings: Settings) -> None:
    """Fail at the start (of ``serve``), not at the first AMI login or webhook, when the
    stored secrets do not open with the configured key."""
    async with unit_of_work(engine, Actor(settings.actor or os_user(), "cli"),
                            settings) as services:
        await services.secrets.verify()


def run_use_case(ctx: click.Context,
                 work: Callable[[AsyncEngine, Actor, Settings], Awaitable[T]]) -> T:
    """Run a use case that manages its own transactions on the engine (backup, restore),
    as the command line's actor; its errors named in this command's words."""
    settings = settings_of(ctx)
    try:
        return run_with_engine(
            ctx, lambda engine: work(engine, Actor(settings.actor or os_user(), "cli"),
                                     settings))
    except PbxctlError as exc:
        raise presented(exc, ctx.command) from None


def run_with_engine(ctx: click.Context, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` with a bare engine (schema management)."""
    settings = settings_of(ctx)

    async def main() -> T:
        engine = engine_for(settings)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())
