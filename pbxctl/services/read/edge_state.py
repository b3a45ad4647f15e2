"""Load an edge's desired state from the database into the renderer's plain objects."""

from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl.db.models import Branch, Carrier, Edge, Extension, Node, PhoneNumber
from pbxctl.errors import ValidationError
from pbxctl.numbering import parse_number_format
from pbxctl.render.edge import (
    DispatcherSet,
    EdgeCarrier,
    EdgeConfig,
    EdgeNode,
    EdgeNumber,
    EdgeRegistration,
    PhoneLogin,
)
from pbxctl.services.extensions import SIP_REALM, sip_ha1


def _node(node: Node) -> EdgeNode:
    return EdgeNode(name=node.name, sip_address=node.sip_address, sip_port=node.sip_port)


def carrier_networks(carrier: Carrier) -> tuple[str, ...]:
    """The networks of a carrier's ``match`` list, addresses as /32 or /128 (a registering
    carrier's default: its registrar, as on a node)."""
    networks = {ipaddress.ip_network(entry, strict=False)
                for entry in carrier.match or _registrar_address(carrier)}
    return tuple(str(n) for n in sorted(networks, key=lambda n: (n.version, n)))


def _registrar_address(carrier: Carrier) -> list[str]:
    """A registering carrier without ``match`` calls from its registrar, which must then
    be an IP address (the edge resolves no names)."""
    if carrier.auth != "register":
        return []
    try:
        return [str(ipaddress.ip_address(carrier.host))]
    except ValueError:
        raise ValidationError(
            "match", f"carrier {carrier.slug!r} registers with {carrier.host}: behind an "
                     "edge give its IP address or the addresses its calls come from "
                     "(`match`)") from None


def registration(carrier: Carrier) -> EdgeRegistration:
    """What the edge registers for ``carrier`` (``auth`` register), over UDP: a TCP
    registration's Contact would not say how to reach the edge, so it is refused."""
    assert carrier.username is not None and carrier.secret is not None
    if carrier.transport != "udp":
        raise ValidationError("transport", f"carrier {carrier.slug!r} registers over "
                                           f"{carrier.transport}: behind an edge a "
                                           "registering carrier uses udp, so far")
    return EdgeRegistration(slug=carrier.slug, host=carrier.host, port=carrier.port,
                            username=carrier.username, secret=carrier.secret)


async def load_edge_config(session: AsyncSession, edge: Edge, config_dir: str) -> EdgeConfig:
    """Everything ``edge`` routes: a dispatcher set per branch (numbered by slug from 1),
    the carriers that call by address, every inbound form of every company number and
    every extension (for calls between nodes and from phones), every phone's logins, the
    carriers it registers with."""
    branches = (await session.scalars(
        select(Branch).order_by(Branch.slug)
        .options(selectinload(Branch.node), selectinload(Branch.standby_node)))).all()
    sets = tuple(DispatcherSet(
        set_id=index, branch=b.slug, primary=_node(b.node),
        standby=_node(b.standby_node) if b.standby_node else None)
        for index, b in enumerate(branches, start=1))
    set_of = {s.branch: s.set_id for s in sets}
    carriers = (await session.scalars(select(Carrier).order_by(Carrier.slug))).all()
    numbers = (await session.scalars(
        select(PhoneNumber).order_by(PhoneNumber.e164)
        .options(selectinload(PhoneNumber.carrier), selectinload(PhoneNumber.branch)))).all()
    called: dict[str, tuple[int, str]] = {}
    for number in numbers:
        number_format = parse_number_format("number_format", number.carrier.number_format)
        for form in number_format.inbound_forms(number.e164):
            set_id = set_of[number.branch.slug]
            earlier = called.setdefault(form, (set_id, number.e164))
            if earlier[0] != set_id:
                raise ValidationError("numbers", f"{form} arrives for both {earlier[1]} and "
                                                 f"{number.e164}, which ring in different "
                                                 "branches; the edge cannot tell them apart")
    extensions = (await session.scalars(
        select(Extension).order_by(Extension.number)
        .options(selectinload(Extension.branch), selectinload(Extension.devices)))).all()
    return EdgeConfig(
        name=edge.name, sip_address=edge.sip_address, sip_port=edge.sip_port,
        rpc_address=edge.rpc_address, rpc_port=edge.rpc_port, config_dir=config_dir,
        sets=sets,
        carriers=tuple(EdgeCarrier(c.slug, carrier_networks(c)) for c in carriers
                       if c.match or c.auth == "register"),
        registrations=tuple(registration(c) for c in carriers if c.auth == "register"),
        numbers=tuple(EdgeNumber(form, set_id) for form, (set_id, _) in sorted(called.items())),
        extensions=tuple(EdgeNumber(e.number, set_of[e.branch.slug]) for e in extensions),
        logins=tuple(login for e in extensions for login in _logins(e)), sip_realm=SIP_REALM,
    )


def _logins(extension: Extension) -> list[PhoneLogin]:
    """The extension's own login, then each device's."""
    return [PhoneLogin(extension.number, extension.number, extension.sip_ha1),
            *(PhoneLogin(d.name, extension.number, sip_ha1(d.name, d.sip_password))
              for d in extension.devices)]
