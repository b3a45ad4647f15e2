"""Live state of a node, read over AMI: phones, carriers, calls and queues."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pbxctl import names
from pbxctl.asterisk.ami import AmiClient, AmiResponse
from pbxctl.errors import PbxctlError
from pbxctl.services.read.catch_up import CatchUpState


@dataclass(frozen=True)
class EndpointState:
    """A phone or a carrier trunk as Asterisk sees it now."""

    name: str
    kind: str  # "phone" or "carrier"
    state: str
    contacts: int
    active_channels: int


@dataclass(frozen=True)
class QueueState:
    """A queue right now."""

    name: str
    waiting: int
    longest_wait: int
    members_available: int
    members_paused: int
    members_total: int
    service_level: str  # Asterisk's own figure since its start, e.g. "92.3%"
    today: str = ""     # pbxctl's figure for the branch's day so far


@dataclass
class NodeStatus:
    """Everything ``pbxctl status`` shows for one node."""

    node: str
    connected: bool
    error: str | None = None
    active_calls: int = 0
    endpoints: list[EndpointState] = field(default_factory=list)
    queues: list[QueueState] = field(default_factory=list)
    catch_up: CatchUpState | None = None   # its Master.csv, when the node has one


def _count_contacts(text: str) -> int:
    return len([c for c in text.split(",") if c.strip()])


def endpoint_states(response: AmiResponse) -> list[EndpointState]:
    """Phones (numeric names) and carriers from a PJSIPShowEndpoints answer."""
    states = []
    for event in response.events:
        if event.get("Event") != "EndpointList":
            continue
        name = event.get("ObjectName", "")
        states.append(EndpointState(
            name=name, kind="phone" if name.isdigit() else "carrier",
            state=event.get("DeviceState", "Unknown"),
            contacts=_count_contacts(event.get("Contacts", "")),
            active_channels=int(event.get("ActiveChannels", "0") or 0)))
    return sorted(states, key=lambda s: (s.kind, s.name))


def queue_states(response: AmiResponse) -> list[QueueState]:
    """Queues from a QueueStatus answer (QueueParams, QueueMember and QueueEntry events)."""
    params: dict[str, dict[str, str]] = {}
    members: dict[str, list[dict[str, str]]] = {}
    waits: dict[str, list[int]] = {}
    for event in response.events:
        queue = event.get("Queue", "")
        kind = event.get("Event")
        if kind == "QueueParams":
            params[queue] = event
        elif kind == "QueueMember":
            members.setdefault(queue, []).append(event)
        elif kind == "QueueEntry":
            waits.setdefault(queue, []).append(int(event.get("Wait", "0") or 0))
    states = []
    for queue, p in sorted(params.items()):
        if not queue.startswith(names.ASTERISK.queue_prefix):
            continue
        crowd = members.get(queue, [])
        paused = sum(1 for m in crowd if m.get("Paused") == "1")
        # Status 1 = not in use: free to take a call.
        available = sum(1 for m in crowd if m.get("Paused") != "1" and m.get("Status") == "1")
        states.append(QueueState(
            name=queue, waiting=int(p.get("Calls", "0") or 0),
            longest_wait=max(waits.get(queue, [0])), members_available=available,
            members_paused=paused, members_total=len(crowd),
            service_level=f"{p.get('ServicelevelPerf', '0')}%"))
    return states


async def node_status(name: str, connect: Callable[[], Awaitable[AmiClient]]) -> NodeStatus:
    """Ask the node; a node that cannot be reached is reported, not raised."""
    try:
        ami = await connect()
    except PbxctlError as exc:
        return NodeStatus(node=name, connected=False, error=str(exc))
    try:
        status = NodeStatus(node=name, connected=True)
        status.endpoints = endpoint_states(await ami.action("PJSIPShowEndpoints"))
        channels = await ami.action("CoreShowChannels")
        status.active_calls = len({e.get("Linkedid") for e in channels.events
                                   if e.get("Event") == "CoreShowChannel"})
        status.queues = queue_states(await ami.action("QueueStatus"))
        return status
    finally:
        await ami.close()
