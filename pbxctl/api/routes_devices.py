"""API handlers of devices: desk phones and softphones that fetch their set-up."""

from __future__ import annotations

from aiohttp import web

from pbxctl.api.keys import BODY, QUERY, SETTINGS, Handler
from pbxctl.api.requests import answer, listing, services
from pbxctl.render.provisioning import ACCOUNT_FILE, LINPHONE_FILE
from pbxctl.services.devices import device_snapshot


async def list_devices(request: web.Request) -> web.Response:
    """Devices (of one extension), never their secrets."""
    async with services(request) as s:
        items = [device_snapshot(d)
                 for d in await s.devices.list(request[QUERY].get("extension"))]
    return listing(request, items)


async def add_device(request: web.Request) -> web.Response:
    """Add a desk phone; its provisioning URL is in this answer only."""
    body = request[BODY]
    async with services(request) as s:
        link = await s.devices.add(body["extension"], body["mac"], body["model"])
    return answer({"device": link.device, "url": link.url}, 201)


async def remove_device(request: web.Request) -> web.Response:
    """Remove a device."""
    device = request.match_info["device"]
    async with services(request) as s:
        await s.devices.remove(device)
    return answer({"removed": device})


async def softphone_link(request: web.Request) -> web.Response:
    """A one-time link for the extension's softphone, in this answer only."""
    minutes = request[BODY].get("minutes", request.app[SETTINGS].provisioning_link_minutes)
    async with services(request) as s:
        link = await s.devices.softphone_link(request.match_info["extension"], minutes)
    return answer({"device": link.device, "url": link.url + LINPHONE_FILE,
                   "account_url": link.url + ACCOUNT_FILE, "expires": link.expires})


HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "/api/v1/devices"): list_devices,
    ("POST", "/api/v1/devices"): add_device,
    ("DELETE", "/api/v1/devices/{device}"): remove_device,
    ("POST", "/api/v1/extensions/{extension}/softphone-link"): softphone_link,
}
