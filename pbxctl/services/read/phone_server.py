"""Where a phone registers: the edge when the company has one, else its branch's node."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl.db.models import Edge, Node


async def phone_server(session: AsyncSession, node: Node) -> tuple[str, int]:
    """The SIP address and port a phone of a branch on ``node`` registers at: the first
    edge by name (any edge puts every node behind the edges), else the node itself."""
    edge = await session.scalar(select(Edge).order_by(Edge.name).limit(1))
    if edge is not None:
        return edge.sip_address, edge.sip_port
    return node.sip_address, node.sip_port
