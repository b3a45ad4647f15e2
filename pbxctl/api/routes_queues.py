"""API handlers for branch queues and their members at run time: the same services as
``pbxctl queue`` (members log in, out and pause at once over AMI, without a reload)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pbxctl.api.keys import BODY, Handler
from pbxctl.api.requests import answer, listing, services
from pbxctl.destinations import parse_destination
from pbxctl.errors import ValidationError
from pbxctl.services.queues import QueueSpec, queue_snapshot


def _spec(body: dict[str, Any]) -> QueueSpec:
    fields = {k: v for k, v in body.items() if k not in ("branch", "name")}
    if "members" in fields:
        fields["members"] = tuple(fields["members"])
    if fields.get("overflow") is not None:
        fields["overflow"] = parse_destination("overflow", fields["overflow"])
    return QueueSpec(**fields)


def _ref(request: web.Request) -> str:
    return f"{request.match_info['branch']}/{request.match_info['queue']}"


async def list_queues(request: web.Request) -> web.Response:
    """Queues (of one branch)."""
    async with services(request) as s:
        items = [queue_snapshot(q) for q in await s.queues.list()]
    return listing(request, items, {"branch": lambda q: str(q["queue"]).partition("/")[0]})


async def add_queue(request: web.Request) -> web.Response:
    """Add a queue; numbers route to it as ``queue:BRANCH/NAME``."""
    body = request[BODY]
    async with services(request) as s:
        queue = await s.queues.add(body["branch"], body["name"],
                                                           _spec(body))
        return answer(queue_snapshot(queue), 201)


async def get_queue(request: web.Request) -> web.Response:
    """One queue."""
    async with services(request) as s:
        return answer(queue_snapshot(await s.queues.get(_ref(request))))


async def update_queue(request: web.Request) -> web.Response:
    """Change some of a queue's settings."""
    if not request[BODY]:
        raise ValidationError("body", "say what changes")
    async with services(request) as s:
        queue = await s.queues.update(_ref(request),
                                                              _spec(request[BODY]))
        return answer(queue_snapshot(queue))


async def remove_queue(request: web.Request) -> web.Response:
    """Remove a queue no number routes to."""
    async with services(request) as s:
        await s.queues.remove(_ref(request))
    return answer({"removed": _ref(request)})


async def member_action(request: web.Request) -> web.Response:
    """``queue login``, ``logout``, ``pause`` or ``unpause``: at once over AMI."""
    action, extension = request.match_info["action"], request.match_info["extension"]
    async with services(request) as s:
        touched = await s.queue_members.act(
            action, extension, request[BODY].get("queue"))
        missed = [str(m) for m in s.queue_members.standby_misses]
    return answer({"extension": extension, "action": action, "queues": touched,
                   "standby_missed": missed})


HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "/api/v1/queues"): list_queues,
    ("POST", "/api/v1/queues"): add_queue,
    ("GET", "/api/v1/queues/{branch}/{queue}"): get_queue,
    ("PATCH", "/api/v1/queues/{branch}/{queue}"): update_queue,
    ("DELETE", "/api/v1/queues/{branch}/{queue}"): remove_queue,
    ("POST", "/api/v1/agents/{extension}/{action}"): member_action,
}
