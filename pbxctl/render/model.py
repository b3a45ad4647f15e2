"""Plain, immutable inputs of the renderer (no ORM objects, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from pbxctl import names
from pbxctl.destinations import Destination
from pbxctl.numbering import DialingRules, NumberFormat, PlanEntry

# Anything but letters, digits, space and . ' ( ) - ends a voicemail.conf field or line.
_MAILBOX_SEPARATORS_RE = re.compile(r"[^\w .'()-]")


DEFAULT_CODECS = ("ulaw", "alaw")


@dataclass(frozen=True)
class DeviceLogin:
    """A device's own SIP login on its extension's endpoint: its auth username and the
    digest of its password."""

    name: str
    sip_ha1: str


@dataclass(frozen=True)
class PhoneConfig:
    """One extension as the node needs it."""

    number: str
    display_name: str
    branch: str
    department: str
    sip_ha1: str
    voicemail_pin: str | None = None      # None: the mailbox opens from its own phones
    devices: tuple[DeviceLogin, ...] = ()

    @property
    def mailbox_name(self) -> str:
        """The display name as voicemail.conf's full-name field: that line is
        ``pin,name,email,pager,options`` (options split by ``|``) with no escaping, so a
        comma ("Ivanov, Ivan") or any other separator becomes a space."""
        return " ".join(_MAILBOX_SEPARATORS_RE.sub(" ", self.display_name).split())


@dataclass(frozen=True)
class OutboundConfig:
    """A branch's outbound policy."""

    dialing: DialingRules
    allowed_classes: tuple[str, ...]
    carriers: tuple[str, ...]
    caller_id: str | None
    # The brakes (issue 13): concurrent calls (None: no limit), the longest call per class
    # in seconds, the classes that still go out when the branch is closed (None: all).
    max_calls: int | None = None
    max_seconds: tuple[tuple[str, int], ...] = ()
    after_hours_classes: tuple[str, ...] | None = None

    def limit_seconds(self, dest_class: str) -> int | None:
        """The longest call of ``dest_class``, in seconds (None: no limit)."""
        return dict(self.max_seconds).get(dest_class)


@dataclass(frozen=True)
class OpeningInterval:
    """Open from ``opens`` to ``closes`` (``HH:MM``, branch local time) on ``weekday``."""

    weekday: int
    opens: str
    closes: str


@dataclass(frozen=True)
class BranchConfig:
    """One branch served by the node."""

    slug: str
    name: str
    city: str
    phones: tuple[PhoneConfig, ...] = ()
    timezone: str = "UTC"
    outbound: OutboundConfig | None = None
    hours: tuple[OpeningInterval, ...] = ()
    holidays: tuple[date, ...] = ()

    @property
    def has_schedule(self) -> bool:
        """True when the branch is not simply always open."""
        return bool(self.hours or self.holidays)


@dataclass(frozen=True)
class CarrierConfig:
    """One carrier trunk."""

    slug: str
    host: str
    port: int
    transport: str
    auth: str
    match: tuple[str, ...]
    number_format: NumberFormat
    qualify_seconds: int = 30
    max_channels: int | None = None
    username: str | None = None
    secret: str | None = None
    send_names: bool = False


@dataclass(frozen=True)
class NumberConfig:
    """One DID served on this node: which carrier brings it, which branch owns it, where
    calls go."""

    e164: str
    carrier: str
    branch: str
    route: Destination
    after_hours: Destination | None = None


@dataclass(frozen=True)
class QueueConfig:
    """A branch queue served by the node."""

    branch: str
    name: str
    strategy: str
    members: tuple[str, ...]
    max_wait: int
    service_level: int
    overflow: Destination | None = None

    @property
    def section(self) -> str:
        """Its name in Asterisk."""
        return names.ASTERISK.queue_section(self.branch, self.name)


@dataclass(frozen=True)
class EdgePeer:
    """A SIP edge in front of the node: carriers reach the node only through it, calls to
    carriers and to the company's other nodes leave through it."""

    name: str
    sip_address: str
    sip_port: int


@dataclass(frozen=True)
class NodeConfig:
    """Everything rendered for one node."""

    name: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    sip_address: str
    sip_port: int
    media_address: str
    branches: tuple[BranchConfig, ...] = ()
    carriers: tuple[CarrierConfig, ...] = ()
    numbers: tuple[NumberConfig, ...] = ()
    numbering_plan: tuple[PlanEntry, ...] = ()
    queues: tuple[QueueConfig, ...] = ()
    rtp_start: int = 10000
    rtp_end: int = 20000
    ring_seconds: int = 30
    sip_realm: str = "pbxctl"
    codecs: tuple[str, ...] = field(default=DEFAULT_CODECS)
    banned: tuple[str, ...] = ()       # source addresses refused (security bans)
    # Behind edges (none: carriers call the node directly): the first carries calls out.
    edges: tuple[EdgePeer, ...] = ()
    # Extensions of branches served elsewhere, dialled through the edge.
    remote_extensions: tuple[str, ...] = ()
    # Branches this node is the standby of: their phones register on their own node, so
    # one not registered here is rung through the edge.
    standby_for: tuple[str, ...] = ()

    @property
    def edge(self) -> EdgePeer | None:
        """The edge calls leave through (None: the node is not behind an edge)."""
        return self.edges[0] if self.edges else None

    @property
    def phones(self) -> tuple[PhoneConfig, ...]:
        """Every phone of every branch, by number."""
        return tuple(sorted((p for b in self.branches for p in b.phones),
                            key=lambda p: int(p.number)))

    def branch(self, slug: str) -> BranchConfig:
        """The branch ``slug`` (it must be on this node)."""
        return next(b for b in self.branches if b.slug == slug)

    def queue(self, ref: str) -> QueueConfig:
        """The queue ``branch/name`` (it must be on this node)."""
        return next(q for q in self.queues if f"{q.branch}/{q.name}" == ref)

    def carrier(self, slug: str) -> CarrierConfig:
        """The carrier ``slug`` (it must be rendered on this node)."""
        return next(c for c in self.carriers if c.slug == slug)
