"""``pbxctl serve``: the long-running HTTP API process."""

from __future__ import annotations

import asyncio

import click
from aiohttp import web

from pbxctl.api.app import ENGINE, create_app
from pbxctl.cli.output import note
from pbxctl.cli.runtime import require_schema, settings_of
from pbxctl.db.session import make_engine


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (bind to a trusted one: /metrics has no token).")
@click.option("--port", type=int, default=8080, show_default=True)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the HTTP API (/api/v1, /healthz, /metrics) until SIGTERM or Ctrl-C."""
    settings = settings_of(ctx)

    async def application() -> web.Application:
        engine = make_engine(settings.database_url)
        await require_schema(engine)
        app = create_app(engine)

        async def dispose(app: web.Application) -> None:
            await app[ENGINE].dispose()

        app.on_cleanup.append(dispose)
        return app

    note(f"pbxctl serving on http://{host}:{port}/ (API under /api/v1)")
    web.run_app(application(), host=host, port=port, print=None,
                handle_signals=True, loop=asyncio.new_event_loop())
