"""IP addresses as pbxctl counts and bans them. Pure.

A source is one IPv4 address, or one IPv6 /64: a single host or customer usually gets a
whole /64, so counting IPv6 addresses one by one would let it pick a fresh address for
every guess. An IPv4-mapped IPv6 address (``::ffff:192.0.2.1``) is the IPv4 address it
carries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPV6_SOURCE_PREFIX = 64


def canonical(address: IpAddress) -> IpAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it is; others unchanged."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def network_of(address: IpAddress) -> IpNetwork:
    """The source ``address`` belongs to: its IPv4 /32, or its IPv6 /64."""
    address = canonical(address)
    prefix = 32 if address.version == 4 else IPV6_SOURCE_PREFIX
    return ipaddress.ip_network((address, prefix), strict=False)


def source(address: IpAddress) -> str:
    """``network_of(address)`` as text: ``192.0.2.1`` or ``2001:db8:1:2::/64``."""
    network = network_of(address)
    return str(network.network_address) if network.version == 4 else str(network)


def parse_network(text: str) -> IpNetwork:
    """A network (``192.0.2.0/24``) or a single address; ValueError when neither."""
    return ipaddress.ip_network(text.strip(), strict=False)


def overlaps(network: IpNetwork, networks: Iterable[IpNetwork]) -> bool:
    """True when ``network`` shares an address with one of ``networks``."""
    return any(network.version == n.version and network.overlaps(n) for n in networks)
