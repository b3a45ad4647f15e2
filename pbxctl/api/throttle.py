"""Failed token attempts per client source (an IPv4 address, an IPv6 /64): after
``limit`` failures within ``window`` seconds the source is refused (429) for ``block``
seconds, whatever token it shows, so it cannot go on guessing. A request with no token
guesses nothing and is not counted."""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Sequence

from pbxctl.addresses import IpNetwork, source
from pbxctl.failures import FailureCounter


def throttle_key(address: str) -> str:
    """The source ``address`` is counted as; text that is no address counts as itself."""
    try:
        return source(ipaddress.ip_address(address))
    except ValueError:
        return address


def shared_address_warning(host: str, trusted_proxies: Sequence[IpNetwork]) -> str | None:
    """Why serve's throttle may block every client at once: listening on loopback with
    no trusted proxy, clients usually reach it through a local TLS proxy, so they share
    one address; None when that is not the case."""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback or trusted_proxies:
        return None
    return (f"listening on {host} with api_trusted_proxies empty: behind a local proxy "
            "every client shares its address, and failed tokens from one block them all; "
            "set api_trusted_proxies to the proxy's address")


class AuthThrottle:
    """Counts failed authentications per source, in memory (one ``serve`` process)."""

    def __init__(self, limit: int, window: float, block: float,
                 clock: Callable[[], float] = time.monotonic,
                 max_addresses: int = 10_000) -> None:
        self._block = block
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: FailureCounter[str] = FailureCounter(limit, window, clock,
                                                             max_addresses)
        self._blocked_until: dict[str, float] = {}

    def retry_after(self, address: str) -> int:
        """Whole seconds until ``address`` may try again; 0 when it may now."""
        key = throttle_key(address)
        until = self._blocked_until.get(key)
        if until is None:
            return 0
        left = until - self._clock()
        if left <= 0:
            del self._blocked_until[key]
            return 0
        return max(1, math.ceil(left))

    def failed(self, address: str) -> bool:
        """Count a failure of ``address``; True when its source is blocked from now on."""
        key = throttle_key(address)
        if self._failures.failed(key) is None:
            return False
        self._blocked_until[key] = self._clock() + self._block
        while len(self._blocked_until) > self._max_addresses:   # the oldest block first
            del self._blocked_until[next(iter(self._blocked_until))]
        return True
