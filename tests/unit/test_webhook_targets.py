"""Which addresses webhooks may reach: public ones, and those in an allowed network;
never loopback, private, link-local, metadata... in any spelling."""

from __future__ import annotations

import ipaddress

import pytest

from pbxctl.webhooks.targets import host_refusal

ALLOWED = (ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("fd12::/16"))


@pytest.mark.parametrize(("host", "kind"), [
    ("127.0.0.1", "loopback"), ("127.1", "loopback"), ("0x7f.1", "loopback"),
    ("2130706433", "loopback"), ("0177.0.0.1", "loopback"), ("0x7f000001", "loopback"),
    ("localhost", "loopback"), ("api.LOCALHOST.", "loopback"), ("::1", "loopback"),
    ("169.254.169.254", "metadata"), ("::ffff:169.254.169.254", "metadata"),
    ("::ffff:a9fe:a9fe", "metadata"), ("fd00:ec2::254", "metadata"),
    ("64:ff9b::a9fe:a9fe", "metadata"), ("169.254.170.2", "metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"),
    ("10.0.0.1", "private"), ("172.16.5.5", "private"), ("192.168.1.1", "private"),
    ("100.64.0.1", "private"), ("fc00::1", "private"), ("::ffff:10.0.0.1", "private"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("0", "unspecified"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("233.1.1.1", "multicast"),
    ("::7f00:1", "loopback"), ("2002:7f00:1::", "loopback"),
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),
    ("192.0.2.10", "address"), ("240.0.0.1", "address"), ("255.255.255.255", "address"),
    ("1.2.3.4.5", "neither a host name nor an IP address"),
])
def test_internal_targets_are_refused_in_every_spelling(host: str, kind: str) -> None:
    refused = host_refusal(host, ())
    assert refused is not None and kind in refused


@pytest.mark.parametrize("host", ["93.184.216.34", "2606:2800:220:1::", "crm.example.com",
                                  "8.8.8.8", "localhost.example.com"])
def test_public_addresses_and_names_pass(host: str) -> None:
    assert host_refusal(host, ()) is None


def test_an_allowed_network_opens_only_itself_and_never_metadata() -> None:
    assert host_refusal("10.20.3.4", ALLOWED) is None
    assert host_refusal("::ffff:10.20.3.4", ALLOWED) is None
    assert host_refusal("fd12::5", ALLOWED) is None
    assert host_refusal("10.21.0.1", ALLOWED) is not None
    everything = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    assert "metadata" in str(host_refusal("169.254.169.254", everything))
    assert "metadata" in str(host_refusal("fd00:ec2::254", everything))
