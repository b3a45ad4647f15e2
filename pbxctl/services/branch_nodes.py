"""A change made on a running branch over AMI: on the branch's node, then on its standby.

The node takes the branch's calls, so its failure fails the change. A standby that is down
must not block it: what it missed is returned, audited (``standby.missed``) and shown as a
warning, and the next ``pbxctl apply`` of that node puts its switches right again.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pbxctl.asterisk.ami import AmiClient
from pbxctl.db.models import Branch, Node
from pbxctl.errors import AmiError
from pbxctl.services.audit import AuditTrail

Connector = Callable[[Node], Awaitable[AmiClient]]
Change = Callable[[AmiClient], Awaitable[None]]


@dataclass(frozen=True)
class StandbyMiss:
    """A change the branch's standby node did not take (its node did)."""

    node: str
    branch: str
    change: str
    error: str

    def __str__(self) -> str:
        return (f"standby node {self.node} of branch {self.branch} missed {self.change}: "
                f"{self.error} (the next apply of node {self.node} puts it right once the "
                "node is back)")


@asynccontextmanager
async def ami_session(connect: Connector, node: Node) -> AsyncIterator[AmiClient]:
    """An AMI connection to ``node`` for the length of an ``async with`` block."""
    ami = await connect(node)
    try:
        yield ami
    finally:
        await ami.close()


async def on_branch_nodes(connect: Connector, audit: AuditTrail, branch: Branch,
                          what: str, change: Change) -> StandbyMiss | None:
    """Make ``change`` (described as ``what``) on ``branch``'s node, then on its standby.

    ``branch.node`` and ``branch.standby_node`` must be loaded."""
    async with ami_session(connect, branch.node) as ami:
        await change(ami)
    standby = branch.standby_node
    if standby is None:
        return None
    try:
        async with ami_session(connect, standby) as ami:
            await change(ami)
    except (AmiError, OSError) as error:
        miss = StandbyMiss(standby.name, branch.slug, what, str(error))
        audit.record("standby.missed", "node", standby.name,
                     detail=f"{what} of branch {branch.slug}: {error}")
        return miss
    return None
