"""Brute-force bans: which source addresses failed too often, and which may never be
banned. Pure (the clock is injected).

An address is banned when ``after`` security failures (wrong password, unknown account,
refused by an ACL) come from it within ``window`` seconds. The counter keeps at most
``tracked`` addresses: a flood from many sources forgets the quietest first, so memory
stays bounded whatever the node reports.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from pbxctl.errors import ValidationError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Asterisk's RemoteAddress: IPV4/UDP/203.0.113.9/5060 or IPV6/TCP/2001:db8::9/5060.
_REMOTE_RE = re.compile(r"IPV[46]/(?:UDP|TCP|TLS|WS|WSS)/(?P<address>[0-9A-Fa-f.:]{2,45})"
                        r"/[0-9]{1,5}")
_ADDRESS_RE = re.compile(r"[0-9A-Fa-f.:]{2,45}")


def canonical(address: IpAddress) -> IpAddress:
    """An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def remote_address(text: str) -> IpAddress | None:
    """The source address in an Asterisk security event's ``RemoteAddress``; None when
    it is not one."""
    found = _REMOTE_RE.fullmatch(text.strip())
    if found is None:
        return None
    try:
        return canonical(ipaddress.ip_address(found.group("address")))
    except ValueError:
        return None


def parse_address(field: str, text: str) -> IpAddress:
    """An IP address an operator typed (IPv4 or IPv6, no network, no host name)."""
    if _ADDRESS_RE.fullmatch(text):
        try:
            return canonical(ipaddress.ip_address(text))
        except ValueError:
            pass
    raise ValidationError(field, f"{text!r} is not an IPv4 or IPv6 address")


def parse_network(text: str) -> IpNetwork:
    """A network (``192.0.2.0/24``, ``2001:db8::/32``) or a single address; ValueError
    when it is neither."""
    return ipaddress.ip_network(text.strip(), strict=False)


def network_of(match: str) -> IpNetwork | None:
    """A carrier's ``match`` entry or host as a network; None for a host name."""
    try:
        return parse_network(match)
    except ValueError:
        return None


def allowed(address: IpAddress, networks: Iterable[IpNetwork]) -> bool:
    """True when ``address`` is in one of ``networks`` (never to be banned)."""
    address = canonical(address)
    return any(address.version == n.version and address in n for n in networks)


@dataclass(frozen=True)
class BanPolicy:
    """How many failures in how long ban an address, for how long, and how many active
    bans at most (the ACL Asterisk checks every request against stays small)."""

    after: int = 5
    window: float = 60.0
    ban_for: float = 3600.0
    limit: int = 10_000


class FailureCounter:
    """Counts each source address's failures in a sliding window."""

    def __init__(self, policy: BanPolicy, clock: Callable[[], float] = time.monotonic,
                 tracked: int = 100_000) -> None:
        self._policy = policy
        self._clock = clock
        self._tracked = tracked
        self._failures: OrderedDict[IpAddress, deque[float]] = OrderedDict()

    def failed(self, address: IpAddress) -> int | None:
        """One failure from ``address``; returns how many it made in the window when that
        reaches the policy's ``after`` (then its count starts over), else None."""
        now = self._clock()
        times = self._failures.pop(address, None) or deque()
        while times and times[0] <= now - self._policy.window:
            times.popleft()
        times.append(now)
        if len(times) >= self._policy.after:
            return len(times)
        self._failures[address] = times          # most recent last
        while len(self._failures) > self._tracked:
            self._failures.popitem(last=False)
        return None

    def forget(self, address: IpAddress) -> None:
        """Drop what was counted for ``address`` (it was banned or lifted)."""
        self._failures.pop(address, None)


_DURATION_RE = re.compile(r"(?P<count>[0-9]{1,7})(?P<unit>[smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(field: str, text: str) -> float:
    """Seconds in ``90``, ``90s``, ``15m``, ``1h`` or ``7d``."""
    found = _DURATION_RE.fullmatch(text.strip())
    if found is None:
        raise ValidationError(field, f"{text!r} is not a duration such as 90s, 15m, 1h or 7d")
    return float(int(found.group("count")) * _UNIT_SECONDS[found.group("unit")])
