"""The provisioning server ``serve`` runs on its own listener (``provisioning_listen``):
a desk phone fetches ``/p/<key>/<file>``, a softphone its one-time link
``/q/<key>/<file>``. Anything refused (unknown key or MAC, a used or expired link, any
other path) gets the same 404 with the same body; an address refused
``provisioning_failures`` times in ``provisioning_window`` seconds gets 429 for
``provisioning_block`` seconds, whatever it asks."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.api.app import client_address
from pbxctl.api.keys import ENGINE, SETTINGS
from pbxctl.api.throttle import AuthThrottle
from pbxctl.services.audit import Actor
from pbxctl.services.bundle import unit_of_work
from pbxctl.settings import Settings

PROVISIONING_ACTOR = Actor("provisioning", "http")
PROVISIONING_THROTTLE = web.AppKey("provisioning_throttle", AuthThrottle)
NOT_FOUND_BODY = "not found\n"


def _refused() -> web.Response:
    return web.Response(status=404, text=NOT_FOUND_BODY,
                        headers={"Cache-Control": "no-store"})


async def fetch(request: web.Request) -> web.Response:
    """A phone's file, or the one refusal."""
    address = client_address(request)
    throttle = request.app[PROVISIONING_THROTTLE]
    wait = throttle.retry_after(address)
    if wait:
        return web.Response(status=429, text="too many requests\n",
                            headers={"Retry-After": str(wait)})
    key, file_name = request.match_info.get("key"), request.match_info.get("file")
    served = None
    if key is not None and file_name is not None:
        async with unit_of_work(request.app[ENGINE], PROVISIONING_ACTOR,
                                request.app[SETTINGS]) as s:
            served = await s.provisioning.fetch(
                key, file_name, address, request.headers.get("User-Agent", ""),
                datetime.now(UTC))
    if served is None:
        throttle.failed(address)
        return _refused()
    return web.Response(text=served.text, content_type=served.media_type,
                        headers={"Cache-Control": "no-store"})


def create_provisioning_app(engine: AsyncEngine, settings: Settings) -> web.Application:
    """The provisioning server's application: only GET, only the two kinds of path."""
    app = web.Application(client_max_size=1024)
    app[ENGINE] = engine
    app[SETTINGS] = settings
    app[PROVISIONING_THROTTLE] = AuthThrottle(settings.provisioning_failures,
                                              settings.provisioning_window,
                                              settings.provisioning_block)
    app.router.add_get(r"/p/{key:[A-Za-z0-9_-]{1,64}}/{file:[A-Za-z0-9._-]{1,64}}", fetch)
    app.router.add_get(r"/q/{key:[A-Za-z0-9_-]{1,64}}/{file:[A-Za-z0-9._-]{1,64}}", fetch)
    app.router.add_route("*", "/{tail:.*}", fetch)
    return app
