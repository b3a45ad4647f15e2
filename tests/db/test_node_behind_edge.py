"""What a node is rendered from when branches have standbys and edges exist (SQLite and
PostgreSQL): the branches it is the standby of, rendered as its own; the edges; the
extensions it reaches through the edge."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import Branch, CallQueue, Edge, Node
from pbxctl.render.model import EdgePeer
from pbxctl.services.read.desired_state import load_node_config
from tests.db.test_edge_state import EDGE, company

__all__ = ["company"]


async def _node(session: AsyncSession, name: str) -> Node:
    return (await session.scalars(select(Node).where(Node.name == name))).one()


async def test_a_standby_renders_the_branch_as_its_own_node_does(
        session: AsyncSession, company: dict[str, Branch]) -> None:
    session.add(CallQueue(branch=company["kazan"], name="sales", strategy="ringall",
                          members=["201"], max_wait=60, service_level=20, target_percent=80))
    await session.flush()
    a = await load_node_config(session, await _node(session, "na"))
    b = await load_node_config(session, await _node(session, "nb"))
    assert [br.slug for br in a.branches] == ["kazan"]
    assert [br.slug for br in b.branches] == ["kazan", "omsk"]      # omsk's, kazan's standby
    assert b.branch("kazan") == a.branch("kazan")
    assert [n.e164 for n in b.numbers] == ["+73812550101", "+78435550101", "+78435550102"]
    assert [n for n in b.numbers if n.branch == "kazan"] == list(a.numbers)
    assert b.queues == a.queues
    assert [p.number for p in b.phones] == ["201", "202", "301"]


async def test_without_an_edge_nothing_goes_through_one(
        session: AsyncSession, company: dict[str, Branch]) -> None:
    a = await load_node_config(session, await _node(session, "na"))
    assert a.edges == () and a.edge is None and a.remote_extensions == ()
    b = await load_node_config(session, await _node(session, "nb"))
    assert b.standby_for == ()                # no edge: nothing to ring through


async def test_an_edge_puts_every_node_behind_it_and_other_nodes_extensions_through_it(
        session: AsyncSession, company: dict[str, Branch]) -> None:
    session.add_all([replace_edge("edge2", "127.0.0.20"), replace_edge("edge1", "127.0.0.10")])
    await session.flush()
    a = await load_node_config(session, await _node(session, "na"))
    b = await load_node_config(session, await _node(session, "nb"))
    assert a.edges == (EdgePeer("edge1", "127.0.0.10", 5060),
                       EdgePeer("edge2", "127.0.0.20", 5060))
    assert a.edge == EdgePeer("edge1", "127.0.0.10", 5060) and b.edges == a.edges
    assert a.remote_extensions == ("301",)    # omsk: its node nb, no standby
    assert b.remote_extensions == ()          # nb serves both branches
    assert (a.standby_for, b.standby_for) == ((), ("kazan",))


def replace_edge(name: str, address: str) -> Edge:
    """A copy of the test edge under another name and address."""
    return Edge(name=name, sip_address=address, sip_port=EDGE.sip_port,
                rpc_address=address, rpc_port=EDGE.rpc_port, config_dir=EDGE.config_dir)
