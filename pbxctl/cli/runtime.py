"""Running a command's async work: settings, database, services, one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.db.schema_check import require_schema as require_schema  # for serve
from pbxctl.db.session import make_engine, transaction
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.bundle import Services as Services  # re-exported for the commands
from pbxctl.services.bundle import services_for
from pbxctl.settings import Settings, os_user

T = TypeVar("T")


def settings_of(ctx: click.Context) -> Settings:
    """The settings loaded by the top-level command."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


def run_in_transaction(ctx: click.Context, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction: everything it changes commits together or not at all."""
    settings = settings_of(ctx)

    async def main() -> T:
        engine = make_engine(settings.database_url)
        try:
            await require_schema(engine)
            async with transaction(engine) as session:
                audit = AuditTrail(session, Actor(settings.actor or os_user(), "cli"))
                return await work(services_for(session, audit, settings))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def run_with_engine(ctx: click.Context, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` with a bare engine (schema management)."""
    settings = settings_of(ctx)

    async def main() -> T:
        engine = make_engine(settings.database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())
