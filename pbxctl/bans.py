"""Brute-force bans: the source in Asterisk's reports, a carrier's networks, what an
operator may type, whether a node reads the bans. Pure.

A source (:func:`pbxctl.addresses.network_of`: an IPv4 address, an IPv6 /64) is banned
when ``after`` security failures (wrong password, unknown account, refused by an ACL) come
from it within ``window`` seconds, counted by :class:`pbxctl.failures.FailureCounter`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pbxctl import names
from pbxctl.addresses import IpAddress, IpNetwork, canonical, parse_network
from pbxctl.errors import ValidationError

# Asterisk's RemoteAddress: IPV4/UDP/203.0.113.9/5060 or IPV6/TCP/2001:db8::9/5060.
_REMOTE_RE = re.compile(r"IPV[46]/(?:UDP|TCP|TLS|WS|WSS)/(?P<address>[0-9A-Fa-f.:]{2,45})"
                        r"/[0-9]{1,5}")
_ADDRESS_RE = re.compile(r"[0-9A-Fa-f.:]{2,45}")


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


def carrier_network(match: str) -> IpNetwork | None:
    """A carrier's ``match`` entry or host as a network; None for a host name."""
    try:
        return parse_network(match)
    except ValueError:
        return None


@dataclass(frozen=True)
class BanPolicy:
    """How many failures in how long ban a source, for how long, and how many active
    bans at most (the ACL Asterisk checks every request against stays small)."""

    after: int = 5
    window: float = 60.0
    ban_for: float = 3600.0
    limit: int = 10_000


_DURATION_RE = re.compile(r"(?P<count>[0-9]{1,7})(?P<unit>[smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(field: str, text: str) -> float:
    """Seconds in ``90``, ``90s``, ``15m``, ``1h`` or ``7d``."""
    found = _DURATION_RE.fullmatch(text.strip())
    if found is None:
        raise ValidationError(field, f"{text!r} is not a duration such as 90s, 15m, 1h or 7d")
    return float(int(found.group("count")) * _UNIT_SECONDS[found.group("unit")])


_INCLUDE_RE = re.compile(r'\s*#include\s+"?' + re.escape(names.ASTERISK.bans_file) + r'"?\s*')


def includes_bans(pjsip_conf: str) -> bool:
    """True when a node's ``pjsip.conf`` includes the bans file (else Asterisk never
    reads the bans written there)."""
    return any(_INCLUDE_RE.fullmatch(line) for line in pjsip_conf.splitlines())
