"""API handlers for nodes, branches (with their outbound policy) and extensions: the same
services as ``pbxctl node``, ``pbxctl branch`` and ``pbxctl ext``."""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from pbxctl.api.keys import BODY, QUERY, Handler
from pbxctl.api.requests import answer, listing, services
from pbxctl.errors import ValidationError
from pbxctl.services.branches import BranchSpec, branch_details, branch_snapshot
from pbxctl.services.extensions import extension_snapshot
from pbxctl.services.nodes import NodeSpec, node_snapshot
from pbxctl.services.policies import OutboundChange, policy_snapshot


async def list_nodes(request: web.Request) -> web.Response:
    """Nodes, never their AMI secrets."""
    async with services(request) as s:
        return listing(request, [node_snapshot(n) for n in await s.nodes.list()])


async def add_node(request: web.Request) -> web.Response:
    """Add a node; as ``node add``, AMI port 5038 and phones register to the AMI host
    unless told otherwise."""
    given = request[BODY]
    body = {"ami_port": 5038, **given}
    body.setdefault("sip_address", body["ami_host"])
    async with services(request) as s:
        return answer(node_snapshot(await s.nodes.add(NodeSpec(**body))), 201)


async def get_node(request: web.Request) -> web.Response:
    """One node."""
    async with services(request) as s:
        return answer(node_snapshot(await s.nodes.get(request.match_info["node"])))


async def remove_node(request: web.Request) -> web.Response:
    """Remove a node that serves no branch."""
    name = request.match_info["node"]
    async with services(request) as s:
        await s.nodes.remove(name)
    return answer({"removed": name})


async def list_branches(request: web.Request) -> web.Response:
    """Branches with their number of extensions, as ``branch list``."""
    async with services(request) as s:
        items = [{**branch_snapshot(b), "extensions": len(b.extensions)}
                 for b in await s.branches.list()]
    return listing(request, items, {"node": lambda b: b["node"], "city": lambda b: b["city"]})


async def add_branch(request: web.Request) -> web.Response:
    """Add a branch."""
    async with services(request) as s:
        branch = await s.branches.add(BranchSpec(**request[BODY]))
        return answer(branch_details(await s.branches.get(branch.slug)), 201)


async def get_branch(request: web.Request) -> web.Response:
    """One branch, as ``branch show --json``."""
    async with services(request) as s:
        return answer(branch_details(await s.branches.get(request.match_info["branch"])))


async def update_branch(request: web.Request) -> web.Response:
    """Change the branch's standby node or its phones' language, as ``branch update``."""
    body, slug = request[BODY], request.match_info["branch"]
    if not body:
        raise ValidationError("body", "say what changes: `standby_node` or `language`")
    async with services(request) as s:
        if "standby_node" in body:
            await s.branches.set_standby(slug, body["standby_node"])
        if "language" in body:
            await s.branches.set_language(slug, body["language"])
        return answer(branch_details(await s.branches.get(slug)))


async def remove_branch(request: web.Request) -> web.Response:
    """Remove a branch (with its extensions only when asked)."""
    slug = request.match_info["branch"]
    async with services(request) as s:
        await s.branches.remove(
            slug, with_extensions=request[QUERY].get("with_extensions") == "true")
    return answer({"removed": slug})


async def set_outbound(request: web.Request) -> web.Response:
    """The branch's outbound policy, as ``branch outbound``."""
    body: dict[str, Any] = {name: tuple(value) if isinstance(value, list)
                            else tuple(value.items()) if isinstance(value, dict) else value
                            for name, value in request[BODY].items()}
    async with services(request) as s:
        policy = await s.policies.set_outbound(request.match_info["branch"],
                                               OutboundChange(**body))
        return answer(policy_snapshot(policy))


async def list_extensions(request: web.Request) -> web.Response:
    """Extensions (of one branch), never their secrets."""
    async with services(request) as s:
        items = [extension_snapshot(e)
                 for e in await s.extensions.list(request[QUERY].get("branch"))]
    return listing(request, items)


async def add_extension(request: web.Request) -> web.Response:
    """Add an extension; its SIP credentials are in this answer only."""
    body = request[BODY]
    async with services(request) as s:
        extension, credentials = await s.extensions.add(
            body["branch"], body["number"], body["name"], body.get("department"),
            body.get("email"))
        return answer({**extension_snapshot(extension),
                       "credentials": dataclasses.asdict(credentials)}, 201)


async def remove_extension(request: web.Request) -> web.Response:
    """Remove an extension."""
    number = request.match_info["extension"]
    async with services(request) as s:
        await s.extensions.remove(number)
    return answer({"removed": number})


async def rotate_password(request: web.Request) -> web.Response:
    """A new SIP password, in this answer only; the old one works until the next apply."""
    async with services(request) as s:
        credentials = await s.extensions.rotate_password(request.match_info["extension"])
    return answer({"credentials": dataclasses.asdict(credentials)})


async def set_voicemail_pin(request: web.Request) -> web.Response:
    """The mailbox's PIN: the one in the body, else a generated one, in this answer only."""
    number = request.match_info["extension"]
    async with services(request) as s:
        pin = await s.extensions.set_voicemail_pin(number, request[BODY].get("pin"))
    return answer({"number": number, "pin": pin})


async def remove_voicemail_pin(request: web.Request) -> web.Response:
    """No PIN: the mailbox opens from the extension's own phones."""
    number = request.match_info["extension"]
    async with services(request) as s:
        await s.extensions.remove_voicemail_pin(number)
    return answer({"number": number, "pin": None})


async def set_email(request: web.Request) -> web.Response:
    """Where the extension's voicemail is mailed."""
    async with services(request) as s:
        extension = await s.extensions.set_email(request.match_info["extension"],
                                                 request[BODY]["email"])
        return answer(extension_snapshot(extension))


async def remove_email(request: web.Request) -> web.Response:
    """The extension's voicemail mailed to nobody."""
    async with services(request) as s:
        extension = await s.extensions.set_email(request.match_info["extension"], None)
        return answer(extension_snapshot(extension))


HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "/api/v1/nodes"): list_nodes,
    ("POST", "/api/v1/nodes"): add_node,
    ("GET", "/api/v1/nodes/{node}"): get_node,
    ("DELETE", "/api/v1/nodes/{node}"): remove_node,
    ("GET", "/api/v1/branches"): list_branches,
    ("POST", "/api/v1/branches"): add_branch,
    ("GET", "/api/v1/branches/{branch}"): get_branch,
    ("PATCH", "/api/v1/branches/{branch}"): update_branch,
    ("DELETE", "/api/v1/branches/{branch}"): remove_branch,
    ("PUT", "/api/v1/branches/{branch}/outbound"): set_outbound,
    ("GET", "/api/v1/extensions"): list_extensions,
    ("POST", "/api/v1/extensions"): add_extension,
    ("DELETE", "/api/v1/extensions/{extension}"): remove_extension,
    ("POST", "/api/v1/extensions/{extension}/password"): rotate_password,
    ("PUT", "/api/v1/extensions/{extension}/voicemail-pin"): set_voicemail_pin,
    ("DELETE", "/api/v1/extensions/{extension}/voicemail-pin"): remove_voicemail_pin,
    ("PUT", "/api/v1/extensions/{extension}/email"): set_email,
    ("DELETE", "/api/v1/extensions/{extension}/email"): remove_email,
}
