"""Failed phone logins the edges count: each edge's Kamailio keeps them per source address
in memory (htable ``authfail``, forgotten an hour after the last) and answers 403 to a
source from the tenth on. Read over JSON-RPC (``htable.dump``); the database knows
nothing of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pbxctl.addresses import IpAddress, network_of
from pbxctl.errors import ApplyError
from pbxctl.kamailio.apply import RpcOpener
from pbxctl.kamailio.rpc import KamailioRpc, RpcError
from pbxctl.kamailio.verify import shown_rows
from pbxctl.render.edge import LOGIN_FAILURES_LOCKED, LOGIN_FAILURES_TABLE
from pbxctl.services.edge_deploy import rpc_opener

if TYPE_CHECKING:
    from pbxctl.services.bundle import UnitOfWork


@dataclass(frozen=True)
class EdgeLockout:
    """A source address with failed phone logins at one edge."""

    edge: str
    address: str
    failures: int

    @property
    def locked(self) -> bool:
        """True when the edge answers this source 403 (until an hour after its last
        failure)."""
        return self.failures >= LOGIN_FAILURES_LOCKED


@dataclass(frozen=True)
class EdgeLockouts:
    """What the edges said: the sources, most failures first, and the edges that did not
    answer (each with the reason)."""

    sources: tuple[EdgeLockout, ...]
    unread: tuple[str, ...]


def failed_logins(edge: str, dump: Any) -> list[EdgeLockout]:
    """The sources in an ``htable.dump authfail`` answer, most failures first."""
    try:
        counts = {address: int(value) for address, value in shown_rows(dump).items()}
    except (ApplyError, ValueError):
        raise RpcError(f"Kamailio (edge {edge}) answered htable.dump {LOGIN_FAILURES_TABLE} "
                       "in an unknown shape") from None
    return sorted((EdgeLockout(edge, address, failures) for address, failures in counts.items()),
                  key=lambda s: (-s.failures, s.address))


async def read_lockouts(edges: Sequence[tuple[str, RpcOpener]]) -> EdgeLockouts:
    """Ask each edge; one that does not answer is reported, the others still read."""
    async def all_of(rpc: KamailioRpc, found: list[EdgeLockout]) -> list[EdgeLockout]:
        return found

    return await _per_edge(edges, all_of)


async def lift_lockouts(edges: Sequence[tuple[str, RpcOpener]],
                        address: IpAddress) -> EdgeLockouts:
    """At each edge, forget the failed logins of every source in ``address``'s network
    (its IPv4 address, its IPv6 /64, as ``security unban`` lifts a ban): the sources
    forgotten, and the edges that did not answer."""
    network = network_of(address)

    async def forget(rpc: KamailioRpc, found: list[EdgeLockout]) -> list[EdgeLockout]:
        lifted = [source for source in found
                  if ipaddress.ip_address(source.address) in network]
        for source in lifted:
            await rpc.call("htable.delete", LOGIN_FAILURES_TABLE, source.address)
        return lifted

    return await _per_edge(edges, forget)


EdgeWork = Callable[[KamailioRpc, list[EdgeLockout]], Awaitable[list[EdgeLockout]]]


async def _per_edge(edges: Sequence[tuple[str, RpcOpener]], work: EdgeWork) -> EdgeLockouts:
    """At each edge, dump its failed logins and hand them to ``work`` on the same RPC
    link: the sources ``work`` returns, and the edges that did not answer (the others
    are still done)."""
    sources: list[EdgeLockout] = []
    unread: list[str] = []
    for name, open_rpc in edges:
        try:
            async with open_rpc() as rpc:
                dump = await rpc.call("htable.dump", LOGIN_FAILURES_TABLE)
                sources += await work(rpc, failed_logins(name, dump))
        except RpcError as exc:
            unread.append(f"edge {name}: {exc}")
    return EdgeLockouts(tuple(sources), tuple(unread))


async def edge_lockouts(unit: UnitOfWork) -> EdgeLockouts:
    """The failed phone logins every edge counts now."""
    return await read_lockouts(await _edges(unit))


async def lift_edge_lockouts(unit: UnitOfWork, address: IpAddress) -> EdgeLockouts:
    """The ``security unlock`` use case: every edge forgets the failed logins of
    ``address``'s source; each source forgotten is audited (``security.unlock``)."""
    lifted = await lift_lockouts(await _edges(unit), address)
    if lifted.sources:
        async with unit() as s:
            for found in lifted.sources:
                s.audit.record("security.unlock", "address", found.address,
                               before={"edge": found.edge, "failures": found.failures})
    return lifted


async def _edges(unit: UnitOfWork) -> list[tuple[str, RpcOpener]]:
    async with unit() as s:
        return [(edge.name, rpc_opener(edge, s.settings.kamailio_rpc_timeout))
                for edge in await s.edges.list()]
