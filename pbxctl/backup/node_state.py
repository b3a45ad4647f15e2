"""A node's run-time state as a backup keeps it: the AstDB entries of the families pbxctl
writes (crisis, recording and spend switches) and of Asterisk's own queue members logged
in at run time. Pure: what is kept, how it is stored and checked, and how a stored queue
member reads back (the AMI side is ``services/node_state.py``).

An entry is ``(family, key, value)``; families come from an allow-list, keys and values
from a narrow character set, so nothing read back from an archive can name another
family or smuggle a line break into an AMI action.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pbxctl import names

FAMILIES = (names.ASTERISK.crisis_family, names.ASTERISK.record_family,
            names.ASTERISK.spend_family, names.ASTERISK.queue_members_family)
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+@-]{0,127}")
_VALUE_RE = re.compile(r"[A-Za-z0-9 _.,;:|/@+=-]{0,4000}")
_NODE_RE = re.compile(r"[a-z][a-z0-9-]{0,31}")
MAX_STATE = 16 * 1024 * 1024     # bytes of one node's stored state

Entry = tuple[str, str, str]


class BadNodeState(ValueError):
    """Stored node state that is not what a backup writes."""


@dataclass(frozen=True)
class QueueMember:
    """A dynamic queue member as app_queue keeps it in ``Queue/PersistentMembers``."""

    queue: str
    interface: str
    penalty: int
    paused: bool
    name: str
    state_interface: str


def checked(entry: Entry) -> Entry:
    """``entry`` if its family is one a backup keeps and its key and value are plain."""
    family, key, value = entry
    if family not in FAMILIES:
        raise BadNodeState(f"AstDB family {family!r} is not one a backup keeps")
    if not _KEY_RE.fullmatch(key) or not _VALUE_RE.fullmatch(value):
        raise BadNodeState(f"AstDB entry {family}/{key!r} holds characters a backup "
                           "does not keep")
    return entry


def node_name(name: str) -> str:
    """A node's name as an archive member may carry it."""
    if not _NODE_RE.fullmatch(name):
        raise BadNodeState(f"{name!r} is not a node name")
    return name


def dump(entries: list[Entry]) -> bytes:
    """The entries as stored in the archive, sorted (one backup's bytes, every time)."""
    return json.dumps([list(checked(e)) for e in sorted(entries)], indent=1).encode() + b"\n"


def load(data: bytes) -> list[Entry]:
    """Entries read back from an archive, every one checked."""
    if len(data) > MAX_STATE:
        raise BadNodeState("the node state is larger than a backup writes")
    try:
        raw = json.loads(data)
    except ValueError:
        raise BadNodeState("the node state is not JSON") from None
    if not isinstance(raw, list) or not all(
            isinstance(e, list) and len(e) == 3 and all(isinstance(p, str) for p in e)
            for e in raw):
        raise BadNodeState("the node state is not a list of [family, key, value]")
    return [checked((e[0], e[1], e[2])) for e in raw]


def split_key(full: str, family: str) -> str:
    """The key of ``/family/key`` as DBGetTree reports it."""
    prefix = f"/{family}/"
    if not full.startswith(prefix):
        raise BadNodeState(f"AstDB key {full!r} is not in family {family}")
    return full[len(prefix):]


def queue_members(queue: str, value: str) -> list[QueueMember]:
    """The members app_queue stored for ``queue``: ``|``-separated, each
    ``interface;penalty;paused;name;state_interface;reason;wrapuptime`` (the last ones
    missing in older stores)."""
    members = []
    for item in filter(None, value.split("|")):
        parts = item.split(";")
        if len(parts) < 2 or not parts[1].lstrip("-").isdigit():
            raise BadNodeState(f"queue member {item!r} of {queue} cannot be read")
        paused = len(parts) > 2 and parts[2] not in ("", "0")
        name = parts[3] if len(parts) > 3 and parts[3] else parts[0]
        state = parts[4] if len(parts) > 4 else ""
        members.append(QueueMember(queue, parts[0], int(parts[1]), paused, name, state))
    return members


def queue_add_fields(member: QueueMember) -> dict[str, str]:
    """The QueueAdd action that logs ``member`` in again as it was."""
    fields = {"Queue": member.queue, "Interface": member.interface,
              "Penalty": str(member.penalty), "Paused": "true" if member.paused else "false",
              "MemberName": member.name}
    if member.state_interface:
        fields["StateInterface"] = member.state_interface
    return fields
