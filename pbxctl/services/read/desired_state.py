"""Load one node's desired state from the database into the renderer's plain objects."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pbxctl.db.models import (
    Branch,
    CallQueue,
    Carrier,
    Edge,
    Extension,
    Node,
    NumberingPrefix,
    PhoneNumber,
    utcnow,
)
from pbxctl.destinations import parse_destination
from pbxctl.numbering import DialingRules, PlanEntry, parse_number_format
from pbxctl.render.model import (
    BranchConfig,
    CarrierConfig,
    DeviceLogin,
    EdgePeer,
    NodeConfig,
    NumberConfig,
    OpeningInterval,
    OutboundConfig,
    PhoneConfig,
    QueueConfig,
)
from pbxctl.services.extensions import SIP_REALM, sip_ha1
from pbxctl.services.read.bans import active_bans


def _branch_config(branch: Branch) -> BranchConfig:
    policy = branch.outbound
    outbound = None
    if policy is not None:
        outbound = OutboundConfig(
            dialing=DialingRules(policy.country_code, policy.national_prefix,
                                 policy.international_prefix),
            allowed_classes=tuple(policy.allowed_classes), carriers=tuple(policy.carriers),
            caller_id=policy.caller_id, max_calls=policy.max_calls,
            max_seconds=tuple(sorted((policy.max_seconds or {}).items())),
            after_hours_classes=(None if policy.after_hours_classes is None
                                 else tuple(policy.after_hours_classes)))
    return BranchConfig(
        slug=branch.slug, name=branch.name, city=branch.city, timezone=branch.timezone,
        phones=tuple(PhoneConfig(number=e.number, display_name=e.display_name,
                                 branch=branch.slug, department=e.department or branch.slug,
                                 sip_ha1=e.sip_ha1, voicemail_pin=e.voicemail_pin,
                                 devices=tuple(DeviceLogin(d.name, sip_ha1(d.name,
                                                                           d.sip_password))
                                               for d in e.devices))
                      for e in branch.extensions),
        outbound=outbound,
        hours=tuple(OpeningInterval(h.weekday, h.opens, h.closes) for h in branch.hours),
        holidays=tuple(h.day for h in branch.holidays))


def _carrier_config(carrier: Carrier) -> CarrierConfig:
    return CarrierConfig(
        slug=carrier.slug, host=carrier.host, port=carrier.port, transport=carrier.transport,
        auth=carrier.auth, match=tuple(carrier.match),
        number_format=parse_number_format("number_format", carrier.number_format),
        qualify_seconds=carrier.qualify_seconds, max_channels=carrier.max_channels,
        username=carrier.username, secret=carrier.secret, send_names=carrier.send_names)


def serves(node: Node) -> ColumnElement[bool]:
    """Branches ``node`` serves: its own and those it is the standby of (rendered alike,
    so that after a failover it answers their numbers as their own node would)."""
    return or_(Branch.node_id == node.id, Branch.standby_node_id == node.id)


async def load_node_config(session: AsyncSession, node: Node) -> NodeConfig:
    """Everything ``node`` serves, ready for :func:`pbxctl.render.render_node`.

    Every carrier is rendered on every node, so emergency calls always have a way out.
    Any edge in the database puts every node behind the edges: carriers then reach the
    node through them only, and extensions of branches it does not serve are dialled
    through the first edge (by name).
    """
    branches = (await session.scalars(
        select(Branch).where(serves(node)).order_by(Branch.slug)
        .options(selectinload(Branch.extensions).selectinload(Extension.devices),
                 selectinload(Branch.outbound),
                 selectinload(Branch.hours), selectinload(Branch.holidays)))).all()
    carriers = (await session.scalars(select(Carrier).order_by(Carrier.slug))).all()
    numbers = (await session.scalars(
        select(PhoneNumber).join(PhoneNumber.branch).where(serves(node))
        .order_by(PhoneNumber.e164)
        .options(selectinload(PhoneNumber.carrier), selectinload(PhoneNumber.branch)))).all()
    plan = (await session.scalars(select(NumberingPrefix).order_by(NumberingPrefix.prefix))).all()
    queues = (await session.scalars(
        select(CallQueue).join(CallQueue.branch).where(serves(node))
        .order_by(Branch.slug, CallQueue.name).options(selectinload(CallQueue.branch)))).all()
    banned = tuple(dict.fromkeys(b.address for b in await active_bans(session, utcnow())))
    edges = (await session.scalars(select(Edge).order_by(Edge.name))).all()
    remote = (await session.scalars(
        select(Extension.number).join(Extension.branch)
        .where(Branch.node_id != node.id, Branch.standby_node_id.is_distinct_from(node.id))
        .order_by(Extension.number))).all() if edges else []
    return NodeConfig(
        name=node.name, ami_host=node.ami_host, ami_port=node.ami_port,
        ami_user=node.ami_user, ami_secret=node.ami_secret, sip_address=node.sip_address,
        sip_port=node.sip_port, media_address=node.media_address, sip_realm=SIP_REALM,
        branches=tuple(_branch_config(b) for b in branches),
        carriers=tuple(_carrier_config(c) for c in carriers),
        numbers=tuple(NumberConfig(
            e164=n.e164, carrier=n.carrier.slug, branch=n.branch.slug,
            route=parse_destination("route", n.route),
            after_hours=parse_destination("after_hours", n.after_hours) if n.after_hours
            else None) for n in numbers),
        numbering_plan=tuple(PlanEntry(p.prefix, p.dest_class, p.description or "")
                             for p in plan),
        queues=tuple(QueueConfig(
            branch=q.branch.slug, name=q.name, strategy=q.strategy, members=tuple(q.members),
            max_wait=q.max_wait, service_level=q.service_level,
            overflow=parse_destination("overflow", q.overflow) if q.overflow else None)
            for q in queues),
        banned=banned,
        edges=tuple(EdgePeer(e.name, e.sip_address, e.sip_port) for e in edges),
        remote_extensions=tuple(remote),
        standby_for=tuple(b.slug for b in branches if b.standby_node_id == node.id)
        if edges else (),
    )
