"""Counting failures per source (one counter, shared with the API throttle), sources
(IPv4 address, IPv6 /64), reading Asterisk's RemoteAddress, whether a node's pjsip.conf
reads the bans, and what an operator may type for an address or a duration."""

from __future__ import annotations

import ipaddress

import pytest

from pbxctl.addresses import network_of, overlaps, source
from pbxctl.ami_events import SecurityFailure, parse_event
from pbxctl.bans import includes_bans, parse_address, parse_duration, remote_address
from pbxctl.errors import ValidationError
from pbxctl.failures import FailureCounter
from pbxctl.follower.bans import apply_wait
from tests.support.clock import Clock

A = ipaddress.ip_address("203.0.113.9")
B = ipaddress.ip_address("2001:db8::66")




def test_the_fifth_failure_within_the_window_bans() -> None:
    clock = Clock()
    counter = FailureCounter(5, 60, clock)
    assert [counter.failed(A) for _ in range(4)] == [None] * 4
    assert counter.failed(B) is None              # counted apart
    assert counter.failed(A) == 5
    assert counter.failed(A) is None              # starts over


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    counter = FailureCounter(3, 60, clock)
    counter.failed(A)
    counter.failed(A)
    clock.now += 60                               # both are out of the window
    assert counter.failed(A) is None
    clock.now += 30
    assert counter.failed(A) is None
    assert counter.failed(A) == 3


def test_a_flood_from_many_sources_keeps_memory_bounded() -> None:
    counter = FailureCounter(2, 60, Clock(), tracked=100)
    counter.failed(A)
    for n in range(1000):
        counter.failed(ipaddress.ip_address(f"198.51.{n // 256}.{n % 256}"))
    assert len(counter) == 100
    assert counter.failed(A) is None              # the quietest was forgotten


def test_forgetting_an_address_drops_its_count() -> None:
    counter = FailureCounter(2, 60, Clock())
    counter.failed(A)
    counter.forget(A)
    assert counter.failed(A) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("IPV4/UDP/127.0.0.66/5060", "127.0.0.66"),
    ("IPV4/TCP/203.0.113.9/40000", "203.0.113.9"),
    ("IPV6/UDP/2001:db8::66/5060", "2001:db8::66"),
    ("IPV6/UDP/::ffff:203.0.113.9/5060", "203.0.113.9"),
    ("IPV4/UDP/999.0.0.1/5060", None),
    ("IPV4/UDP/example.com/5060", None),
    ("IPV4/UDP/127.0.0.66", None),
    ("127.0.0.66", None),
    ("", None),
])
def test_remote_address(text: str, expected: str | None) -> None:
    found = remote_address(text)
    assert (None if found is None else str(found)) == expected


def test_a_security_failure_event_is_read_with_its_source() -> None:
    event = parse_event({"Event": "ChallengeResponseFailed", "Service": "PJSIP",
                         "AccountID": "201", "RemoteAddress": "IPV4/UDP/127.0.0.66/5061"})
    assert event == SecurityFailure("ChallengeResponseFailed", "PJSIP", "201",
                                    ipaddress.ip_address("127.0.0.66"))
    assert parse_event({"Event": "ChallengeSent", "RemoteAddress": "IPV4/UDP/1.2.3.4/1"}
                       ) is None
    unreadable = parse_event({"Event": "InvalidAccountID", "RemoteAddress": "x\r\ny"})
    assert isinstance(unreadable, SecurityFailure) and unreadable.address is None


@pytest.mark.parametrize(("address", "expected"), [
    ("203.0.113.9", "203.0.113.9"),
    ("::ffff:203.0.113.9", "203.0.113.9"),                 # mapped: the IPv4 address
    ("2001:db8:1:2::5", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:1:2:3", "2001:db8:1:2::/64"),       # same /64, same source
    ("2001:db8:1:3::5", "2001:db8:1:3::/64"),
])
def test_a_source_is_an_ipv4_address_or_an_ipv6_64(address: str, expected: str) -> None:
    assert source(ipaddress.ip_address(address)) == expected


def test_never_banned_networks_are_checked_against_the_whole_source() -> None:
    networks = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.1.0.0/16"),
                ipaddress.ip_network("2001:db8:9::10/128")]
    assert overlaps(network_of(ipaddress.ip_address("10.1.2.3")), networks)
    assert overlaps(network_of(ipaddress.ip_address("::ffff:127.0.0.1")), networks)
    assert not overlaps(network_of(ipaddress.ip_address("127.0.0.66")), networks)
    assert not overlaps(network_of(B), networks)
    # The office at 2001:db8:9::10 shares its /64 with ::66: banning it would ban the office.
    assert overlaps(network_of(ipaddress.ip_address("2001:db8:9::66")), networks)


def test_failures_from_one_ipv6_64_count_together() -> None:
    counter: FailureCounter[object] = FailureCounter(3, 60, Clock())
    for n in range(2):
        assert counter.failed(network_of(ipaddress.ip_address(f"2001:db8:1:2::{n}"))) is None
    assert counter.failed(network_of(ipaddress.ip_address("2001:db8:1:2::ff"))) == 3


@pytest.mark.parametrize(("text", "reads"), [
    ('[global]\n#include "pjsip_bans.conf"\n', True),
    ("#include pjsip_bans.conf\n", True),
    ('[global]\ntype=global\n', False),
    ('; #include "pjsip_bans.conf"\n', False),
    ('#include "pjsip_bans.conf.old"\n', False),
])
def test_whether_pjsip_conf_reads_the_bans(text: str, reads: bool) -> None:
    assert includes_bans(text) is reads


def test_applies_are_at_least_some_seconds_apart() -> None:
    assert apply_wait(1000.0, None, 5.0) == 0.0        # never applied: now
    assert apply_wait(1001.5, 1000.0, 5.0) == 3.5
    assert apply_wait(1005.0, 1000.0, 5.0) == 0.0
    assert apply_wait(2000.0, 1000.0, 5.0) == 0.0


@pytest.mark.parametrize("text", ["example.com", "10.0.0.0/8", "1.2.3", "", "::1\n",
                                  "127.0.0.1 ", "0x7f000001", "2130706433"])
def test_an_operator_address_must_be_an_ip_literal(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_address("address", text)
    assert refused.value.field == "address"


def test_addresses_are_canonical() -> None:
    assert str(parse_address("address", "::ffff:203.0.113.9")) == "203.0.113.9"
    assert str(parse_address("address", "2001:DB8:0::66")) == "2001:db8::66"


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900),
                                               ("1h", 3600), ("7d", 604800)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration("seconds", text) == seconds


@pytest.mark.parametrize("text", ["", "1w", "h", "-5m", "1.5h", "99999999s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_duration("seconds", text)
