"""A node's run-time state over AMI, for backups: read every kept AstDB family
(``DBGetTree``), and put it back (``DBPut``/``DBDel`` for pbxctl's families, ``QueueAdd``
for queue members, which app_queue then stores in AstDB again itself).

Putting back makes pbxctl's families hold exactly what the backup holds (a crisis switch
set after the backup is removed, as the restored database no longer has it); queue
members the backup holds are logged in again, members logged in since are left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pbxctl import names
from pbxctl.asterisk.ami import AmiClient
from pbxctl.asterisk.apply import AmiConnector
from pbxctl.backup.archive import MAX_REASON
from pbxctl.backup.node_state import (
    FAMILIES,
    BadNodeState,
    Entry,
    checked,
    queue_add_fields,
    queue_members,
    split_key,
)
from pbxctl.errors import AmiError
from pbxctl.services.live_switches import astdb_delete, astdb_put

QUEUES = names.ASTERISK.queue_members_family
# app_queue's answer to QueueAdd for a member already in the queue (apps/app_queue.c).
_ALREADY = "Already there"


@dataclass(frozen=True)
class PutBack:
    """What putting a node's state back did."""

    node: str
    entries: int          # pbxctl's AstDB entries written
    removed: int          # pbxctl's AstDB entries the backup did not hold, deleted
    members: int          # queue members logged in (or found already in)
    media_written: int = 0   # recordings and voicemail files put back
    media_kept: int = 0      # ...found there already, left as they were


async def read_family(ami: AmiClient, family: str) -> list[Entry]:
    """Every entry of ``family`` in the node's AstDB."""
    response = await ami.action("DBGetTree", {"Family": family})
    if not response.success:
        if "not found" in response.message.lower():
            return []
        raise AmiError(f"AstDB read of {family} failed: {response.message}")
    try:
        return [checked((family, split_key(event.get("Key", ""), family),
                         event.get("Val", "")))
                for event in response.events if event.get("Event") == "DBGetTreeResponse"]
    except BadNodeState as exc:
        raise AmiError(f"AstDB read of {family}: {exc}") from None


async def read_state(ami: AmiClient) -> list[Entry]:
    """Every entry of the families a backup keeps."""
    return [entry for family in FAMILIES for entry in await read_family(ami, family)]


async def put_state(ami: AmiClient, node: str, entries: Sequence[Entry]) -> PutBack:
    """Make the node's AstDB hold ``entries`` again (see the module's note)."""
    written = removed = members = 0
    for family in FAMILIES:
        if family == QUEUES:
            continue
        wanted = {key: value for fam, key, value in entries if fam == family}
        for _, key, _ in await read_family(ami, family):
            if key not in wanted:
                await astdb_delete(ami, family, key)
                removed += 1
        for key, value in sorted(wanted.items()):
            await astdb_put(ami, family, key, value)
            written += 1
    for _, queue, value in (e for e in entries if e[0] == QUEUES):
        for member in queue_members(queue, value):
            response = await ami.action("QueueAdd", queue_add_fields(member))
            if not response.success and _ALREADY not in response.message:
                raise AmiError(f"logging {member.name} into {queue} again failed: "
                               f"{response.message}")
            members += 1
    return PutBack(node, written, removed, members)


async def read_nodes(nodes: Sequence[tuple[str, AmiConnector]]
                     ) -> tuple[list[tuple[str, list[Entry]]], list[tuple[str, str]]]:
    """The state of each node that answers, and the reason for each one that does not
    (a backup is still worth writing without it)."""
    states: list[tuple[str, list[Entry]]] = []
    missing: list[tuple[str, str]] = []
    for name, connect in nodes:
        try:
            ami = await connect()
            try:
                states.append((name, await read_state(ami)))
            finally:
                await ami.close()
        except AmiError as exc:
            missing.append((name, str(exc)[:MAX_REASON]))
    return states, missing
