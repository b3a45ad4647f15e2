"""Where a webhook may be delivered: public addresses only, unless the operator allows a
network (``webhook_allow_networks``). Pure.

Refused: loopback, private (RFC 1918, CGNAT 100.64/10, ULA fc00::/7), link-local,
unspecified, multicast, reserved and documentation ranges, and IPv4 addresses hidden in
IPv6 ones (mapped ``::ffff:a.b.c.d``, compatible ``::a.b.c.d``, NAT64, 6to4, Teredo).
Cloud metadata addresses are refused even inside an allowed network. Host names are
checked again on every address they resolve to when a delivery connects.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence

from pbxctl.addresses import IpAddress, IpNetwork

METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
# Every label a number (decimal, octal or 0x hex): inet_aton's forms (127.1, 2130706433).
_NUMERIC_HOST_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+))*\.?",
                              re.IGNORECASE)
_LOCALHOST_RE = re.compile(r"(?:.+\.)?localhost\.?", re.IGNORECASE)


def embedded_ipv4(address: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4,
    Teredo client), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if (address in _COMPATIBLE and int(address) > 1) or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    return address.teredo[1] if address.teredo is not None else None


def _kind(address: IpAddress) -> str | None:
    if address in METADATA:
        return "a cloud metadata address"
    for kind, found in (("a loopback", address.is_loopback),
                        ("an unspecified", address.is_unspecified),
                        ("a link-local", address.is_link_local),
                        ("a multicast", address.is_multicast),
                        ("a private", address.is_private or address in _CGNAT),
                        ("a reserved", address.is_reserved or not address.is_global)):
        if found:
            return f"{kind} address"
    return None


def refusal(address: IpAddress, allowed: Sequence[IpNetwork]) -> str | None:
    """Why a delivery may not connect to ``address``; None when it may."""
    inner = embedded_ipv4(address)
    if inner is not None:
        why = refusal(inner, allowed)
        return None if why is None else f"{address} ({why})"
    kind = _kind(address)
    if kind is None:
        return None
    if address not in METADATA and any(address in network for network in allowed):
        return None
    return f"{address} is {kind}" + (
        "" if address in METADATA else " (allow its network in webhook_allow_networks)")


def literal_address(host: str) -> IpAddress | None:
    """The address a host written as an IP literal means, in any form a resolver accepts
    (``127.1``, ``0x7f.1``, ``2130706433``, ``0177.0.0.1``); None for a host name.
    Raises ValueError for a host of numbers that is no address (``1.2.3.4.5``)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if not _NUMERIC_HOST_RE.fullmatch(host):
            return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except OSError:
        raise ValueError(f"{host} is neither a host name nor an IP address") from None


def host_refusal(host: str, allowed: Sequence[IpNetwork]) -> str | None:
    """Why a URL's host may not receive webhooks, as far as the host itself tells (names
    other than ``localhost`` are checked on their addresses when delivering)."""
    if _LOCALHOST_RE.fullmatch(host):
        return f"{host} is a loopback name"
    try:
        address = literal_address(host)
    except ValueError as exc:
        return str(exc)
    return None if address is None else refusal(address, allowed)
