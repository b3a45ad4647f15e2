"""What an edge is rendered from, read from the database (SQLite and PostgreSQL): a set
per branch with its standby, every inbound form of every number, carriers by address."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import (
    AuditEntry,
    Branch,
    Carrier,
    Device,
    Edge,
    Extension,
    Node,
    PhoneNumber,
)
from pbxctl.errors import ValidationError
from pbxctl.render.edge import (
    DispatcherSet,
    EdgeCarrier,
    EdgeNode,
    EdgeNumber,
    EdgeRegistration,
    PhoneLogin,
)
from pbxctl.services.audit import Actor, AuditTrail
from pbxctl.services.branches import BranchService
from pbxctl.services.extensions import sip_ha1
from pbxctl.services.read.edge_state import load_edge_config


def _node(name: str, address: str) -> Node:
    return Node(name=name, ami_host=address, ami_port=5038, ami_user="pbxctl",
                ami_secret="s3cret-s3cret", config_dir="/tmp/none", sip_address=address,
                sip_port=5060, media_address=address)


def _carrier(slug: str, number_format: str, match: list[str],
             host: str = "127.0.0.9") -> Carrier:
    registering = not match
    return Carrier(slug=slug, host=host, port=5060, transport="udp",
                   auth="register" if registering else "ip", match=match,
                   username="u" + slug if registering else None,
                   secret="s3cret:" + slug if registering else None,
                   number_format=number_format, currency="RUB")


def _number(e164: str, carrier: Carrier, branch: Branch) -> PhoneNumber:
    return PhoneNumber(e164=e164, carrier=carrier, branch=branch,
                       monthly_fee=Decimal("1.00"), route=f"branch:{branch.slug}")


def _extension(number: str, branch: Branch) -> Extension:
    return Extension(number=number, branch=branch, display_name=f"Phone {number}",
                     sip_ha1="0" * 32)


EDGE = Edge(name="edge1", sip_address="127.0.0.10", sip_port=5060, rpc_address="127.0.0.10",
            rpc_port=5090, config_dir="/etc/kamailio")


@pytest.fixture
async def company(session: AsyncSession) -> dict[str, Branch]:
    a, b = _node("na", "127.0.0.11"), _node("nb", "127.0.0.12")
    kazan = Branch(slug="kazan", name="K", city="K", timezone="UTC", ext_start=200,
                   ext_end=299, node=a)
    omsk = Branch(slug="omsk", name="O", city="O", timezone="UTC", ext_start=300,
                  ext_end=399, node=b)
    tele2 = _carrier("tele2", "national:7", ["127.0.0.2/32", "127.0.0.3/32"])
    mts = _carrier("mts", "plus", [])
    sipnet = _carrier("sipnet", "e164", ["127.0.0.5/32"])
    ext201 = _extension("201", kazan)
    ext201.devices.append(Device(name="201-805ec0123456", mac="805ec0123456",
                                 model="yealink-t46u", sip_password="desk-pass"))
    session.add_all([kazan, omsk, _number("+78435550101", tele2, kazan),
                     _number("+73812550101", mts, omsk),
                     _number("+78435550102", sipnet, kazan),
                     _extension("301", omsk), ext201, _extension("202", kazan)])
    await session.flush()
    await BranchService(session, AuditTrail(session, Actor("tester", "cli"))).set_standby(
        "kazan", "nb")
    return {"kazan": kazan, "omsk": omsk}


async def test_the_edge_config_follows_branches_numbers_and_carriers(
        session: AsyncSession, company: dict[str, Branch]) -> None:
    config = await load_edge_config(session, EDGE, "/etc/kamailio/edge1")
    a, b = EdgeNode("na", "127.0.0.11", 5060), EdgeNode("nb", "127.0.0.12", 5060)
    assert config.sets == (DispatcherSet(1, "kazan", a, b), DispatcherSet(2, "omsk", b))
    # mts registers: the edge registers it, and takes its calls from its registrar
    assert config.carriers == (EdgeCarrier("mts", ("127.0.0.9/32",)),
                               EdgeCarrier("sipnet", ("127.0.0.5/32",)),
                               EdgeCarrier("tele2", ("127.0.0.2/32", "127.0.0.3/32")))
    assert config.registrations == (
        EdgeRegistration("mts", "127.0.0.9", 5060, "umts", "s3cret:mts"),)
    assert config.numbers == (
        EdgeNumber("+73812550101", 2), EdgeNumber("+78435550101", 1),
        EdgeNumber("+78435550102", 1), EdgeNumber("78435550102", 1),
        EdgeNumber("8435550101", 1))
    assert config.extensions == (EdgeNumber("201", 1), EdgeNumber("202", 1),
                                 EdgeNumber("301", 2))
    # every phone's login, a device's own included, with the HA1 the edge checks
    assert config.logins == (
        PhoneLogin("201", "201", "0" * 32),
        PhoneLogin("201-805ec0123456", "201", sip_ha1("201-805ec0123456", "desk-pass")),
        PhoneLogin("202", "202", "0" * 32), PhoneLogin("301", "301", "0" * 32))
    assert config.sip_realm == "pbxctl"
    assert config.config_dir == "/etc/kamailio/edge1"
    assert (await session.scalars(select(AuditEntry.action))).all() == ["branch.update"]


async def test_a_form_two_branches_share_is_refused(session: AsyncSession,
                                                   company: dict[str, Branch]) -> None:
    session.add(_number("+8435550101", _carrier("viet", "e164", ["127.0.0.6/32"]),
                        company["omsk"]))
    await session.flush()
    with pytest.raises(ValidationError, match="8435550101 arrives for both") as refused:
        await load_edge_config(session, EDGE, "/etc/kamailio")
    assert refused.value.field == "numbers"


async def test_carrier_networks_and_ipv6_addresses_are_kept_as_networks(
        session: AsyncSession, company: dict[str, Branch]) -> None:
    session.add(_carrier("wide", "e164", ["2001:db8::1/128", "10.0.0.0/24", "10.0.1.7/32",
                                          "2001:db8:5::/48"]))
    await session.flush()
    config = await load_edge_config(session, EDGE, "/etc/kamailio")
    wide = next(c for c in config.carriers if c.slug == "wide")
    assert wide.networks == ("10.0.0.0/24", "10.0.1.7/32", "2001:db8::1/128",
                             "2001:db8:5::/48")


async def test_a_carrier_the_edge_registers_over_tcp_is_refused(
        session: AsyncSession, company: dict[str, Branch]) -> None:
    tcp = _carrier("tcpreg", "e164", [], host="127.0.0.8")
    tcp.transport = "tcp"
    session.add(tcp)
    await session.flush()
    with pytest.raises(ValidationError, match="'tcpreg' registers over tcp") as refused:
        await load_edge_config(session, EDGE, "/etc/kamailio")
    assert refused.value.field == "transport"


async def test_a_registrar_known_by_name_needs_the_addresses_calls_come_from(
        session: AsyncSession, company: dict[str, Branch]) -> None:
    session.add(_carrier("named", "e164", [], host="sip.named.example"))
    await session.flush()
    with pytest.raises(ValidationError, match="registers with sip.named.example") as refused:
        await load_edge_config(session, EDGE, "/etc/kamailio")
    assert refused.value.field == "match"
