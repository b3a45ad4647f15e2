"""``pbxctl serve``: the long-running process: HTTP API, AMI links, webhooks, metrics."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Callable

import click
from aiohttp import web

from pbxctl.api.app import create_app
from pbxctl.api.keys import ENGINE, SETTINGS
from pbxctl.api.provisioning import create_provisioning_app
from pbxctl.api.throttle import shared_address_warning
from pbxctl.bans import BanPolicy
from pbxctl.cli.output import note
from pbxctl.cli.runtime import engine_for, open_secrets, require_schema, settings_of
from pbxctl.errors import PbxctlError
from pbxctl.follower.backups import BackupSchedule
from pbxctl.follower.bans import BanKeeper
from pbxctl.follower.in_flight import InFlightCalls
from pbxctl.follower.node import follow_policy
from pbxctl.follower.spend_brake import SpendBrake
from pbxctl.follower.supervisor import Supervisor
from pbxctl.metrics import ServeMetrics
from pbxctl.services.audit import Actor
from pbxctl.services.bundle import units
from pbxctl.settings import Settings
from pbxctl.voicemail.delivery import MailPolicy, VoicemailMailer, smtp_server
from pbxctl.webhooks.delivery import RetryPolicy

SERVE_ACTOR = Actor("pbxctl serve", "serve")   # who bans and lifts bans in the audit trail


def _supervisor(s: Settings, app: web.Application, metrics: ServeMetrics) -> Supervisor:
    engine = app[ENGINE]
    flying = InFlightCalls()
    return Supervisor(
        engine, metrics,
        follow_policy(s),
        RetryPolicy(first_delay=s.webhook_first_retry, max_attempts=s.webhook_max_attempts,
                    request_timeout=s.webhook_timeout,
                    allow_networks=tuple(s.webhook_allow_networks)),
        BanKeeper(units(engine, SERVE_ACTOR, s),
                  BanPolicy(after=s.ban_after, window=s.ban_window, ban_for=s.ban_for,
                            limit=s.ban_limit),
                  metrics),
        SpendBrake(units(engine, SERVE_ACTOR, s), s.spend_check_every, flying, metrics),
        flying,
        BackupSchedule(engine, s, SERVE_ACTOR, metrics, _backup_passphrase(s))
        if s.backup_dir is not None else None,
        _mailer(s, app, metrics))


def _mailer(s: Settings, app: web.Application, metrics: ServeMetrics
            ) -> VoicemailMailer | None:
    """Voicemail to e-mail, when an SMTP server is set."""
    try:
        server = smtp_server(s)
    except PbxctlError as exc:
        raise click.ClickException(str(exc)) from None
    if server is None:
        return None
    return VoicemailMailer(app[ENGINE], server,
                           MailPolicy(first_delay=s.mail_first_retry,
                                      max_attempts=s.mail_max_attempts,
                                      scan_every=s.voicemail_scan_every), metrics)


def _backup_passphrase(s: Settings) -> bytes | None:
    """The first line of ``backup_passphrase_file``, when set."""
    if s.backup_passphrase_file is None:
        return None
    try:
        line = s.backup_passphrase_file.read_bytes().split(b"\n", 1)[0].removesuffix(b"\r")
    except OSError as exc:
        raise click.ClickException(f"backup_passphrase_file: {exc}") from None
    if not line:
        raise click.ClickException("backup_passphrase_file: the passphrase is empty")
    return line


def _listen_address(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) of ``provisioning_listen``."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise click.ClickException(f"provisioning_listen: {listen!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _provisioning(listen: str) -> Callable[[web.Application], AsyncIterator[None]]:
    """The provisioning server on its own listener, for as long as ``app`` runs."""
    host, port = _listen_address(listen)

    async def run(app: web.Application) -> AsyncIterator[None]:
        runner = web.AppRunner(create_provisioning_app(app[ENGINE], app[SETTINGS]),
                               access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        logging.getLogger(__name__).info("provisioning phones on http://%s:%d/", host, port)
        yield
        await runner.cleanup()

    return run


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (bind to a trusted one: /metrics has no token).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the HTTP API (/api/v1, /healthz, /metrics), follow every node over AMI
    (CDRs, queues, call events), deliver webhooks and mail voicemail, until SIGTERM or
    Ctrl-C; with provisioning_listen set, serve phones their set-up there too."""
    settings = settings_of(ctx)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("pbxctl.asterisk.ami").setLevel(logging.WARNING)  # panoramisk chatter

    async def application() -> web.Application:
        engine = engine_for(settings)
        await require_schema(engine)
        await open_secrets(engine, settings)
        metrics = ServeMetrics()
        app = create_app(engine, metrics.registry, settings)

        async def background(app: web.Application) -> AsyncIterator[None]:
            supervisor = _supervisor(settings, app, metrics)
            supervisor.start()
            yield
            await supervisor.stop()
            await app[ENGINE].dispose()

        app.cleanup_ctx.append(background)
        if settings.provisioning_listen is not None:
            app.cleanup_ctx.append(_provisioning(settings.provisioning_listen))
        return app

    warning = shared_address_warning(host, settings.api_trusted_proxies)
    if warning:
        logging.getLogger(__name__).warning("%s", warning)
    note(f"pbxctl serving on http://{host}:{port}/ (API under /api/v1)")
    web.run_app(application(), host=host, port=port, print=None,
                handle_signals=True, loop=asyncio.new_event_loop())
