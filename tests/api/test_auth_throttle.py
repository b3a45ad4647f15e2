"""Failed token attempts: logged with the address (never the token), counted in /metrics,
and after too many from one address within the window that address is answered 429 with
Retry-After, whatever token it shows, until the block ends."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable

import pytest

from pbxctl.api.app import create_app
from pbxctl.api.throttle import AuthThrottle, shared_address_warning
from pbxctl.settings import Settings
from tests.api.conftest import Api
from tests.support.clock import Clock


async def test_ten_bad_tokens_block_the_address_even_for_a_good_one(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    guess = "pbx_guessed-token-value"
    with caplog.at_level(logging.WARNING, "pbxctl.api.app"):
        for _ in range(9):
            response = await api.client.get("/api/v1/nodes",
                                            headers={"Authorization": f"Bearer {guess}"})
            assert response.status == 401
        for _ in range(5):            # no token at all: no guess, not counted
            assert (await api.client.get("/api/v1/nodes")).status == 401
        assert (await api.client.get("/api/v1/nodes", headers=api.auth("admin"))
                ).status == 200
        response = await api.client.get("/api/v1/nodes",
                                        headers={"Authorization": f"Bearer {guess}"})
        assert response.status == 401
    blocked = await api.client.get("/api/v1/nodes", headers=api.auth("admin"))
    assert blocked.status == 429 and (await blocked.json())["error"]["id"] == \
        "too_many_requests"
    assert 0 < int(blocked.headers["Retry-After"]) <= 300
    assert (await api.client.get("/healthz")).status == 200        # public paths stay open
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 15 and all("127.0.0.1" in m for m in logged)
    assert not any(guess in m for m in logged) and "blocked" in logged[-1]
    metrics = await (await api.client.get("/metrics")).text()
    assert 'pbxctl_api_auth_failures_total{reason="unknown"} 10.0' in metrics
    assert 'pbxctl_api_auth_failures_total{reason="missing"} 5.0' in metrics
    assert 'pbxctl_api_auth_failures_total{reason="throttled"} 1.0' in metrics


def test_failures_count_per_address_within_the_window_and_blocks_end() -> None:
    clock = Clock()
    throttle = AuthThrottle(limit=3, window=60, block=300, clock=clock)
    assert not throttle.failed("198.51.100.7")
    assert not throttle.failed("198.51.100.7")
    clock.now += 61                                  # the first two fall out of the window
    assert not throttle.failed("198.51.100.7")
    assert not throttle.failed("198.51.100.7")
    assert not throttle.failed("203.0.113.9")        # another address counts apart
    assert throttle.retry_after("198.51.100.7") == 0
    assert throttle.failed("198.51.100.7")
    assert throttle.retry_after("198.51.100.7") == 300
    assert throttle.retry_after("203.0.113.9") == 0
    clock.now += 299.5
    assert throttle.retry_after("198.51.100.7") == 1
    clock.now += 0.5
    assert throttle.retry_after("198.51.100.7") == 0


def test_a_scan_from_many_addresses_is_remembered_in_bounded_memory() -> None:
    throttle = AuthThrottle(limit=1, window=60, block=300, clock=Clock(), max_addresses=100)
    for n in range(10_000):
        throttle.failed(f"2001:db8:{n:x}::1")                   # one /64 each
    assert throttle.retry_after("2001:db8:1::1") == 0           # forgotten: oldest first
    assert throttle.retry_after(f"2001:db8:{9_999:x}::1") == 300
    remembered = [n for n in range(10_000) if throttle.retry_after(f"2001:db8:{n:x}::1")]
    assert remembered == list(range(9_900, 10_000))


async def behind_a_trusted_proxy(api: Api, aiohttp_client) -> Callable[..., Awaitable[int]]:  # noqa: ANN001
    """The API behind a trusted proxy on 127/8 that blocks after 2 failures: a function
    giving the status for a request forwarded for a client, with a token."""
    settings = Settings(api_auth_failures=2,
                        api_trusted_proxies=[ipaddress.ip_network("127.0.0.0/8")])
    client = await aiohttp_client(create_app(api.engine, settings=settings))

    async def status(forwarded_for: str, token: str = "pbx_wrong") -> int:
        response = await client.get("/api/v1/nodes", headers={
            "Authorization": f"Bearer {token}", "X-Forwarded-For": forwarded_for})
        return response.status

    return status


async def test_behind_a_trusted_proxy_each_forwarded_client_counts_apart(
        api: Api, aiohttp_client) -> None:  # noqa: ANN001
    status = await behind_a_trusted_proxy(api, aiohttp_client)
    assert [await status("198.51.100.7") for _ in range(3)] == [401, 401, 429]
    assert await status("6.6.6.6, 198.51.100.7", api.tokens["admin"]) == 429  # spoofed head
    assert await status("203.0.113.9", api.tokens["admin"]) == 200


async def test_without_a_trusted_proxy_forwarded_for_is_ignored(api: Api) -> None:
    for n in range(10):
        response = await api.client.get("/api/v1/nodes", headers={
            "Authorization": "Bearer pbx_wrong", "X-Forwarded-For": f"198.51.100.{n}"})
        assert response.status == 401
    response = await api.client.get("/api/v1/nodes", headers={
        **api.auth("admin"), "X-Forwarded-For": "203.0.113.9"})
    assert response.status == 429


async def test_an_ipv6_client_is_throttled_per_64_and_mapped_as_ipv4(
        api: Api, aiohttp_client) -> None:  # noqa: ANN001
    status = await behind_a_trusted_proxy(api, aiohttp_client)
    # A fresh address of the same /64 for each guess is the same client.
    assert [await status(f"2001:db8:1:2::{n}") for n in range(1, 4)] == [401, 401, 429]
    assert await status("2001:db8:1:3::1", api.tokens["admin"]) == 200
    assert [await status("198.51.100.7"), await status("::ffff:198.51.100.7")] == [401, 401]
    assert await status("198.51.100.7", api.tokens["admin"]) == 429


@pytest.mark.parametrize(("host", "proxies", "warns"), [
    ("127.0.0.1", [], True), ("::1", [], True), ("localhost", [], True),
    ("127.0.0.1", [ipaddress.ip_network("127.0.0.1/32")], False),
    ("0.0.0.0", [], False), ("192.0.2.10", [], False),
])
def test_serve_warns_when_every_client_may_share_the_loopback_address(
        host: str, proxies: list[ipaddress.IPv4Network], warns: bool) -> None:
    warning = shared_address_warning(host, proxies)
    assert (warning is not None) is warns
    assert warning is None or "api_trusted_proxies" in warning
