"""API handlers for webhooks: the same service as ``pbxctl webhook``."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from pbxctl.api.keys import BODY, Handler
from pbxctl.api.requests import answer, services


async def list_webhooks(request: web.Request) -> web.Response:
    """Webhooks with their delivery counts."""
    async with services(request) as s:
        hooks = await s.webhooks.list()
    return answer({"items": [dataclasses.asdict(h) for h in hooks]})


async def add_webhook(request: web.Request) -> web.Response:
    """Add a webhook; its signing secret is in this answer only."""
    body = request[BODY]
    async with services(request) as s:
        hook_id, secret = await s.webhooks.add(
            body["url"], body["events"], body.get("branch"))
    return answer({"id": hook_id, "secret": secret}, 201)


async def remove_webhook(request: web.Request) -> web.Response:
    """Remove a webhook (its id was checked to be a number)."""
    hook_id = int(request.match_info["id"])
    async with services(request) as s:
        await s.webhooks.remove(hook_id)
    return answer({"removed": hook_id})


HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "/api/v1/webhooks"): list_webhooks,
    ("POST", "/api/v1/webhooks"): add_webhook,
    ("DELETE", "/api/v1/webhooks/{id}"): remove_webhook,
}
