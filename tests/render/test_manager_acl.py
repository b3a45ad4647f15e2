"""manager.conf binds AMI to an IP literal and denies every other client of each address
family it can be reached by (issue 11, finding 3)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pbxctl import validation as v
from pbxctl.errors import RenderError, ValidationError
from pbxctl.render import TemplateSet, render_node
from tests.render.test_golden import company_node

V4 = ["deny = 0.0.0.0/0.0.0.0", "permit = 127.0.0.1/255.255.255.255"]
V6 = ["deny = ::/0", "permit = ::1/128"]


def manager_conf(ami_host: str) -> list[str]:
    text = render_node(replace(company_node(), ami_host=ami_host), TemplateSet()
                       ).files["manager.conf"]
    return [line for line in text.splitlines()
            if line.startswith(("bindaddr", "deny", "permit"))]


@pytest.mark.parametrize(("host", "rules"), [
    ("127.0.0.1", V4),
    ("::1", V6),
    ("0.0.0.0", V4 + V6),
    ("::", V4 + V6),
    ("10.1.2.3", [*V4, "permit = 10.1.2.3/255.255.255.255"]),
    ("2001:db8::5", [*V6, "permit = 2001:db8::5/128"]),
])
def test_rules_per_address_family(host: str, rules: list[str]) -> None:
    assert manager_conf(host) == [f"bindaddr = {host}", *rules]


def test_no_ipv6_address_gets_an_ipv4_netmask() -> None:
    """It was ``permit = ::1/255.255.255.255``, which Asterisk refuses."""
    assert not [line for host in ("::1", "::", "2001:db8::5")
                for line in manager_conf(host) if ":" in line and "255.255" in line]


@pytest.mark.parametrize("host", ["::", "0.0.0.0"])
def test_a_wildcard_bind_denies_both_families(host: str) -> None:
    """`::` used to bind every IPv6 address behind an IPv4-only deny: no deny for IPv6."""
    lines = manager_conf(host)
    assert "deny = ::/0" in lines and "deny = 0.0.0.0/0.0.0.0" in lines
    assert [line for line in lines if line.startswith("permit")] == [
        "permit = 127.0.0.1/255.255.255.255", "permit = ::1/128"]


@pytest.mark.parametrize(("value", "expected"), [
    ("127.0.0.1", "127.0.0.1"), ("0:0:0:0:0:0:0:1", "::1"), ("::", "::"),
    ("10.1.2.3", "10.1.2.3"), ("2001:DB8::5", "2001:db8::5")])
def test_ip_literals_are_accepted_in_their_usual_spelling(value: str, expected: str) -> None:
    assert v.bind_address("ami_host", value) == expected


@pytest.mark.parametrize(("value", "reason"), [
    ("localhost", "not an IP address"), ("pbx.example", "not an IP address"),
    ("2130706433", "not an IP address"), ("127.1", "not an IP address"),
    ("0x7f.1", "not an IP address"), ("127.0.0.1 ", "not an IP address"),
    ("::ffff:127.0.0.1", "write the IPv4 address 127.0.0.1"),
    ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"), ("::1%lo", "scoped"),
    ("ff02::1", "multicast"), ("224.0.0.1", "multicast")])
def test_anything_but_a_usable_ip_literal_is_refused(value: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as refused:
        v.bind_address("ami_host", value)
    assert refused.value.field == "ami_host"


@pytest.mark.parametrize(("stored", "reason"), [
    ("localhost", "'localhost' is not an IP address"),
    ("pbx.example", "'pbx.example' is not an IP address"),
    ("fe80::1", "'fe80::1' is link-local")])
def test_an_address_stored_before_is_refused_at_render(stored: str, reason: str) -> None:
    """Asterisk falls back to 0.0.0.0 with a host name, and cannot bind a link-local IPv6
    address without an interface: no manager.conf is made for them."""
    with pytest.raises(RenderError, match=f"node local: {reason}") as refused:
        manager_conf(stored)
    assert refused.value.field == "ami_host"
