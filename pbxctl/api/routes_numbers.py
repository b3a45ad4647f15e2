"""API handlers for carriers, the number inventory and routes: the same services as
``pbxctl carrier``, ``pbxctl number`` and ``pbxctl branch outbound``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pbxctl.api.keys import BODY, QUERY, Handler
from pbxctl.api.requests import answer, listing, services
from pbxctl.destinations import parse_destination
from pbxctl.errors import ValidationError
from pbxctl.services.carriers import CarrierSpec, carrier_snapshot
from pbxctl.services.numbers import NumberSpec, number_snapshot, parse_fee
from pbxctl.services.policies import policy_snapshot


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
        return answer(carrier_snapshot(await s.carriers.get(request.match_info["carrier"])))


async def update_carrier(request: web.Request) -> web.Response:
    """Change some of a carrier's fields."""
    if not request[BODY]:
        raise ValidationError("body", "say what changes")
    async with services(request) as s:
        carrier = await s.carriers.update(request.match_info["carrier"],
                                          _carrier_spec(request[BODY]))
        return answer(carrier_snapshot(carrier))


async def remove_carrier(request: web.Request) -> web.Response:
    """Remove a carrier that serves no number."""
    slug = request.match_info["carrier"]
    async with services(request) as s:
        await s.carriers.remove(slug)
    return answer({"removed": slug})


async def list_numbers(request: web.Request) -> web.Response:
    """The number inventory (of one carrier and/or branch)."""
    query = request[QUERY]
    async with services(request) as s:
        items = [number_snapshot(n)
                 for n in await s.numbers.list(query.get("carrier"), query.get("branch"))]
    return listing(request, items)


async def add_number(request: web.Request) -> web.Response:
    """Add a number the company rents from a carrier."""
    body = request[BODY]
    spec = NumberSpec(**{**body, "monthly_fee": parse_fee("monthly_fee", body["monthly_fee"]),
                         "route": parse_destination("route", body["route"]),
                         "after_hours": (parse_destination("after_hours", body["after_hours"])
                                         if body.get("after_hours") else None)})
    async with services(request) as s:
        return answer(number_snapshot(await s.numbers.add(spec)), 201)


async def get_number(request: web.Request) -> web.Response:
    """One number with its history, as ``number history``."""
    e164 = request.match_info["e164"]
    async with services(request) as s:
        number = await s.numbers.get(e164)
        history = [{"carrier": p.carrier, "branch": p.branch, "route": p.route,
                    "monthly_fee": p.monthly_fee, "valid_from": p.valid_from,
                    "valid_to": p.valid_to} for p in await s.numbers.history(e164)]
        return answer({**number_snapshot(number), "history": history})


async def route_number(request: web.Request) -> web.Response:
    """Route a number, as ``number route``."""
    body = request[BODY]
    async with services(request) as s:
        number = await s.numbers.route(
            request.match_info["e164"], parse_destination("route", body["route"]),
            parse_destination("after_hours", body["after_hours"]) if body.get("after_hours")
            else None,
            clear_after_hours="after_hours" in body and body["after_hours"] is None)
        return answer(number_snapshot(number))


async def move_number(request: web.Request) -> web.Response:
    """Another carrier or another paying branch; the route stays (``number move``)."""
    body = request[BODY]
    async with services(request) as s:
        number = await s.numbers.move(request.match_info["e164"], body.get("carrier"),
                                      body.get("branch"))
        return answer(number_snapshot(number))


async def release_number(request: web.Request) -> web.Response:
    """Give a number back to its carrier; its history stays."""
    e164 = request.match_info["e164"]
    async with services(request) as s:
        await s.numbers.release(e164)
    return answer({"released": e164})


async def list_routes(request: web.Request) -> web.Response:
    """Inbound: where each number's calls go. Outbound: how each branch calls out."""
    branch = request[QUERY].get("branch")
    async with services(request) as s:
        inbound = [{"number": n.e164, "branch": n.branch.slug, "carrier": n.carrier.slug,
                    "route": n.route, "after_hours": n.after_hours}
                   for n in await s.numbers.list(branch=branch)]
        branches = [await s.branches.get(branch)] if branch else await s.branches.list()
        outbound = [{"branch": b.slug, "policy": policy_snapshot(b.outbound)}
                    for b in branches]
    return answer({"inbound": inbound, "outbound": outbound})


HANDLERS: dict[tuple[str, str], Handler] = {
    ("GET", "/api/v1/carriers"): list_carriers,
    ("POST", "/api/v1/carriers"): add_carrier,
    ("GET", "/api/v1/carriers/{carrier}"): get_carrier,
    ("PATCH", "/api/v1/carriers/{carrier}"): update_carrier,
    ("DELETE", "/api/v1/carriers/{carrier}"): remove_carrier,
    ("GET", "/api/v1/numbers"): list_numbers,
    ("POST", "/api/v1/numbers"): add_number,
    ("GET", "/api/v1/numbers/{e164}"): get_number,
    ("PUT", "/api/v1/numbers/{e164}/route"): route_number,
    ("POST", "/api/v1/numbers/{e164}/move"): move_number,
    ("DELETE", "/api/v1/numbers/{e164}"): release_number,
    ("GET", "/api/v1/routes"): list_routes,
}
