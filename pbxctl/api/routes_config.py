"""API handlers for the desired state: nodes, branches, extensions, carriers, numbers,
routes, queues and webhooks — the same services the CLI uses."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pbxctl.api.keys import BODY, QUERY
from pbxctl.api.requests import answer, listing, services
from pbxctl.errors import ValidationError
from pbxctl.services.branches import BranchSpec, branch_snapshot
from pbxctl.services.carriers import CarrierSpec, carrier_snapshot
from pbxctl.services.extensions import extension_snapshot
from pbxctl.services.nodes import NodeSpec, node_snapshot
from pbxctl.services.numbers import NumberSpec, number_snapshot
from pbxctl.services.policies import OutboundChange, policy_snapshot
from pbxctl.services.queues import QueueService, QueueSpec, queue_snapshot
from pbxctl.services.webhooks import WebhookService

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _path(request: web.Request, name: str) -> str:
    return request.match_info[name]


async def list_nodes(request: web.Request) -> web.Response:
    """Nodes."""
    async with services(request) as s:
        return listing(request, [node_snapshot(n) for n in await s.nodes.list()])


async def add_node(request: web.Request) -> web.Response:
    """Add a node (its AMI secret is stored, never shown)."""
    body = request[BODY]
    body.setdefault("sip_address", body["ami_host"])
    body.setdefault("ami_port", 5038)
    async with services(request) as s:
        return answer(node_snapshot(await s.nodes.add(NodeSpec(**body))), 201)


async def get_node(request: web.Request) -> web.Response:
    """One node."""
    async with services(request) as s:
        return answer(node_snapshot(await s.nodes.get(_path(request, "name"))))


async def remove_node(request: web.Request) -> web.Response:
    """Remove a node."""
    async with services(request) as s:
        await s.nodes.remove(_path(request, "name"))
    return answer({"removed": _path(request, "name")})


async def list_branches(request: web.Request) -> web.Response:
    """Branches."""
    async with services(request) as s:
        items = [branch_snapshot(b) for b in await s.branches.list()]
    return listing(request, items, {"node": lambda b: b["node"], "city": lambda b: b["city"]})


async def add_branch(request: web.Request) -> web.Response:
    """Add a branch."""
    async with services(request) as s:
        branch = await s.branches.add(BranchSpec(**request[BODY]))
        return answer(branch_snapshot(await s.branches.get(branch.slug)), 201)


async def get_branch(request: web.Request) -> web.Response:
    """One branch with its extensions and outbound policy."""
    async with services(request) as s:
        branch = await s.branches.get(_path(request, "slug"))
        return answer({**branch_snapshot(branch),
                       "extensions": sorted(e.number for e in branch.extensions),
                       "outbound": policy_snapshot(branch.outbound)})


async def remove_branch(request: web.Request) -> web.Response:
    """Remove a branch (with its extensions only when asked)."""
    with_extensions = request[QUERY].get("with_extensions") == "true"
    async with services(request) as s:
        await s.branches.remove(_path(request, "slug"), with_extensions=with_extensions)
    return answer({"removed": _path(request, "slug")})


async def set_outbound(request: web.Request) -> web.Response:
    """The branch's outbound policy, as ``pbxctl branch outbound``."""
    body = dict(request[BODY])
    for name in ("carriers", "allow"):
        if name in body:
            body[name] = ",".join(body[name])
    async with services(request) as s:
        policy = await s.policies.set_outbound(_path(request, "slug"), OutboundChange(**body))
        return answer(policy_snapshot(policy))


async def list_extensions(request: web.Request) -> web.Response:
    """Extensions, never their secrets."""
    async with services(request) as s:
        items = [extension_snapshot(e) for e in await s.extensions.list()]
    return listing(request, items, {"branch": lambda e: e["branch"]})


async def add_extension(request: web.Request) -> web.Response:
    """Add an extension; its SIP credentials are in this answer only."""
    body = request[BODY]
    async with services(request) as s:
        extension, credentials = await s.extensions.add(
            body["branch"], body["number"], body["name"], body.get("department"))
        return answer({**extension_snapshot(extension),
                       "credentials": dataclasses.asdict(credentials)}, 201)


async def remove_extension(request: web.Request) -> web.Response:
    """Remove an extension."""
    async with services(request) as s:
        await s.extensions.remove(_path(request, "number"))
    return answer({"removed": _path(request, "number")})


async def rotate_password(request: web.Request) -> web.Response:
    """A new SIP password, shown in this answer only."""
    async with services(request) as s:
        credentials = await s.extensions.rotate_password(_path(request, "number"))
    return answer({"credentials": dataclasses.asdict(credentials)})


def _carrier_spec(body: dict[str, Any]) -> CarrierSpec:
    fields = {k: v for k, v in body.items() if k != "slug"}
    if "match" in fields:
        fields["match"] = tuple(fields["match"])
    return CarrierSpec(**fields)


async def list_carriers(request: web.Request) -> web.Response:
    """Carriers, never their secrets."""
    async with services(request) as s:
        return listing(request, [carrier_snapshot(c) for c in await s.carriers.list()])


async def add_carrier(request: web.Request) -> web.Response:
    """Add a carrier."""
    async with services(request) as s:
        carrier = await s.carriers.add(request[BODY]["slug"], _carrier_spec(request[BODY]))
        return answer(carrier_snapshot(carrier), 201)


async def get_carrier(request: web.Request) -> web.Response:
    """One carrier."""
    async with services(request) as s:
        return answer(carrier_snapshot(await s.carriers.get(_path(request, "slug"))))


async def update_carrier(request: web.Request) -> web.Response:
    """Change some of a carrier's fields."""
    if not request[BODY]:
        raise ValidationError("body", "say what changes")
    async with services(request) as s:
        carrier = await s.carriers.update(_path(request, "slug"), _carrier_spec(request[BODY]))
        return answer(carrier_snapshot(carrier))


async def remove_carrier(request: web.Request) -> web.Response:
    """Remove a carrier that serves no number."""
    async with services(request) as s:
        await s.carriers.remove(_path(request, "slug"))
    return answer({"removed": _path(request, "slug")})


async def list_numbers(request: web.Request) -> web.Response:
    """The number inventory."""
    async with services(request) as s:
        items = [number_snapshot(n) for n in await s.numbers.list()]
    return listing(request, items, {"carrier": lambda n: n["carrier"],
                                    "branch": lambda n: n["branch"]})


async def add_number(request: web.Request) -> web.Response:
    """Add a number the company rents from a carrier."""
    async with services(request) as s:
        return answer(number_snapshot(await s.numbers.add(NumberSpec(**request[BODY]))), 201)


async def get_number(request: web.Request) -> web.Response:
    """One number with its history."""
    e164 = _path(request, "e164")
    async with services(request) as s:
        number = await s.numbers.get(e164)
        history = [{"carrier": p.carrier, "branch": p.branch, "route": p.route,
                    "monthly_fee": p.monthly_fee, "valid_from": p.valid_from,
                    "valid_to": p.valid_to} for p in await s.numbers.history(e164)]
        return answer({**number_snapshot(number), "history": history})


async def route_number(request: web.Request) -> web.Response:
    """Route a number (``after_hours: null`` clears the after-hours route)."""
    body = request[BODY]
    async with services(request) as s:
        number = await s.numbers.route(
            _path(request, "e164"), body["route"], body.get("after_hours"),
            clear_after_hours="after_hours" in body and body["after_hours"] is None)
        return answer(number_snapshot(number))


async def move_number(request: web.Request) -> web.Response:
    """Another carrier or another paying branch; the route stays."""
    body = request[BODY]
    async with services(request) as s:
        number = await s.numbers.move(_path(request, "e164"), body.get("carrier"),
                                      body.get("branch"))
        return answer(number_snapshot(number))


async def release_number(request: web.Request) -> web.Response:
    """Give a number back to its carrier."""
    async with services(request) as s:
        await s.numbers.release(_path(request, "e164"))
    return answer({"released": _path(request, "e164")})


async def list_routes(request: web.Request) -> web.Response:
    """Inbound: where each number's calls go. Outbound: how each branch calls out."""
    async with services(request) as s:
        inbound = [{"number": n.e164, "branch": n.branch.slug, "carrier": n.carrier.slug,
                    "route": n.route, "after_hours": n.after_hours}
                   for n in await s.numbers.list()]
        outbound = [{"branch": b.slug, **(policy_snapshot(b.outbound) or {})}
                    for b in await s.branches.list()]
    return answer({"inbound": inbound, "outbound": outbound})


def _queue_spec(body: dict[str, Any]) -> QueueSpec:
    fields = {k: v for k, v in body.items() if k not in ("branch", "name")}
    if "members" in fields:
        fields["members"] = ",".join(fields["members"])
    return QueueSpec(**fields)


def _queue_ref(request: web.Request) -> str:
    return f"{_path(request, 'branch')}/{_path(request, 'name')}"


async def list_queues(request: web.Request) -> web.Response:
    """Queues."""
    async with services(request) as s:
        items = [queue_snapshot(q) for q in await QueueService(s.session, s.audit).list()]
    return listing(request, items, {"branch": lambda q: str(q["queue"]).split("/")[0]})


async def add_queue(request: web.Request) -> web.Response:
    """Add a queue."""
    body = request[BODY]
    async with services(request) as s:
        queue = await QueueService(s.session, s.audit).add(body["branch"], body["name"],
                                                           _queue_spec(body))
        return answer(queue_snapshot(queue), 201)


async def get_queue(request: web.Request) -> web.Response:
    """One queue."""
    async with services(request) as s:
        return answer(queue_snapshot(await QueueService(s.session, s.audit).get(
            _queue_ref(request))))


async def update_queue(request: web.Request) -> web.Response:
    """Change a queue."""
    if not request[BODY]:
        raise ValidationError("body", "say what changes")
    async with services(request) as s:
        queue = await QueueService(s.session, s.audit).update(_queue_ref(request),
                                                              _queue_spec(request[BODY]))
        return answer(queue_snapshot(queue))


async def remove_queue(request: web.Request) -> web.Response:
    """Remove a queue."""
    async with services(request) as s:
        await QueueService(s.session, s.audit).remove(_queue_ref(request))
    return answer({"removed": _queue_ref(request)})


async def list_webhooks(request: web.Request) -> web.Response:
    """Webhooks with their delivery counts."""
    async with services(request) as s:
        hooks = await WebhookService(s.session, s.audit).list()
    return answer({"items": [dataclasses.asdict(h) for h in hooks]})


async def add_webhook(request: web.Request) -> web.Response:
    """Add a webhook; its signing secret is in this answer only."""
    body = request[BODY]
    async with services(request) as s:
        hook_id, secret = await WebhookService(s.session, s.audit).add(
            body["url"], ",".join(body["events"]), body.get("branch"))
    return answer({"id": hook_id, "secret": secret}, 201)


async def remove_webhook(request: web.Request) -> web.Response:
    """Remove a webhook."""
    text = _path(request, "id")
    if not text.isdigit():
        raise ValidationError("id", "must be a webhook id (a number)")
    async with services(request) as s:
        await WebhookService(s.session, s.audit).remove(int(text))
    return answer({"removed": int(text)})


HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "/api/v1/nodes"): list_nodes, ("POST", "/api/v1/nodes"): add_node,
    ("GET", "/api/v1/nodes/{name}"): get_node, ("DELETE", "/api/v1/nodes/{name}"): remove_node,
    ("GET", "/api/v1/branches"): list_branches, ("POST", "/api/v1/branches"): add_branch,
    ("GET", "/api/v1/branches/{slug}"): get_branch,
    ("DELETE", "/api/v1/branches/{slug}"): remove_branch,
    ("PUT", "/api/v1/branches/{slug}/outbound"): set_outbound,
    ("GET", "/api/v1/extensions"): list_extensions,
    ("POST", "/api/v1/extensions"): add_extension,
    ("DELETE", "/api/v1/extensions/{number}"): remove_extension,
    ("POST", "/api/v1/extensions/{number}/password"): rotate_password,
    ("GET", "/api/v1/carriers"): list_carriers, ("POST", "/api/v1/carriers"): add_carrier,
    ("GET", "/api/v1/carriers/{slug}"): get_carrier,
    ("PATCH", "/api/v1/carriers/{slug}"): update_carrier,
    ("DELETE", "/api/v1/carriers/{slug}"): remove_carrier,
    ("GET", "/api/v1/numbers"): list_numbers, ("POST", "/api/v1/numbers"): add_number,
    ("GET", "/api/v1/numbers/{e164}"): get_number,
    ("PUT", "/api/v1/numbers/{e164}/route"): route_number,
    ("POST", "/api/v1/numbers/{e164}/move"): move_number,
    ("DELETE", "/api/v1/numbers/{e164}"): release_number,
    ("GET", "/api/v1/routes"): list_routes,
    ("GET", "/api/v1/queues"): list_queues, ("POST", "/api/v1/queues"): add_queue,
    ("GET", "/api/v1/queues/{branch}/{name}"): get_queue,
    ("PATCH", "/api/v1/queues/{branch}/{name}"): update_queue,
    ("DELETE", "/api/v1/queues/{branch}/{name}"): remove_queue,
    ("GET", "/api/v1/webhooks"): list_webhooks, ("POST", "/api/v1/webhooks"): add_webhook,
    ("DELETE", "/api/v1/webhooks/{id}"): remove_webhook,
}
