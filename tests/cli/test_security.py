"""``pbxctl security``: bans made and lifted by an operator, audited; bad addresses,
durations and never-banned addresses refused with nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Pbxctl


def bans(pbxctl: Pbxctl, *args: str) -> list[dict[str, object]]:
    result: list[dict[str, object]] = json.loads(
        pbxctl.ok("security", "bans", "--json", *args).stdout)
    return result


def test_ban_list_and_unban_are_audited(pbxctl: Pbxctl) -> None:
    result = pbxctl.ok("security", "ban", "203.0.113.9", "--for", "2h", "--reason", "scanner")
    assert "203.0.113.9 banned; no nodes yet." in result.stderr
    pbxctl.ok("security", "ban", "2001:DB8::66")           # IPv6: its whole /64
    listed = bans(pbxctl)
    assert [(b["address"], b["reason"]) for b in listed] == [
        ("2001:db8::/64", "banned by an operator"), ("203.0.113.9", "scanner")]
    assert "203.0.113.9" in pbxctl.ok("security", "bans").stdout

    pbxctl.ok("security", "unban", "203.0.113.9")
    assert [b["address"] for b in bans(pbxctl)] == ["2001:db8::/64"]
    lifted = [b for b in bans(pbxctl, "--all") if b["address"] == "203.0.113.9"]
    assert [b["lifted_by"] for b in lifted] == ["tester"]
    audit = json.loads(pbxctl.ok("audit", "--json").stdout)
    assert [(e["action"], e["object_key"], e["actor"]) for e in audit
            if e["action"].startswith("security.")] == [
        ("security.ban", "203.0.113.9", "tester"), ("security.ban", "2001:db8::/64", "tester"),
        ("security.unban", "203.0.113.9", "tester")]


@pytest.mark.parametrize(("args", "message"), [
    (("ban", "example.com"), "address: 'example.com' is not an IPv4 or IPv6 address"),
    (("ban", "10.0.0.0/8"), "is not an IPv4 or IPv6 address"),
    (("ban", "127.0.0.1"), "127.0.0.1 overlaps a network never banned"),
    (("ban", "::1"), "::/64 overlaps a network never banned"),
    (("ban", "203.0.113.9", "--for", "1w"), "--for: '1w' is not a duration"),
    (("ban", "203.0.113.9", "--for", "0s"), "--for: a ban lasts from 1 second"),
    (("ban", "203.0.113.9", "--reason", "scan\x1b[2J"), "--reason: 1 to 200 printable"),
    (("ban", "203.0.113.9", "--reason", "x" * 201), "--reason: 1 to 200 printable"),
])
def test_bad_bans_are_refused_and_change_nothing(pbxctl: Pbxctl, args: tuple[str, ...],
                                                 message: str) -> None:
    result = pbxctl("security", *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert bans(pbxctl, "--all") == []


def test_a_carrier_address_is_never_banned(pbxctl: Pbxctl) -> None:
    pbxctl.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip",
              "--match", "127.0.0.2", "--match", "192.0.2.0/24")
    for address in ("127.0.0.2", "192.0.2.77"):
        result = pbxctl("security", "ban", address)
        assert result.exit_code == 2 and "never banned" in result.stderr


def test_an_edge_address_is_never_banned(pbxctl: Pbxctl, tmp_path: Path) -> None:
    (tmp_path / "edge1").mkdir()
    pbxctl.ok("edge", "add", "edge1", "--sip-address", "127.0.0.10", "--rpc",
              "127.0.0.10:5090", "--config-dir", str(tmp_path / "edge1"))
    result = pbxctl("security", "ban", "127.0.0.10")
    assert result.exit_code == 2 and "an edge's addresses" in result.stderr
    pbxctl.ok("security", "ban", "127.0.0.11")


def test_banning_twice_or_lifting_what_is_not_banned_fails(pbxctl: Pbxctl) -> None:
    pbxctl.ok("security", "ban", "203.0.113.9")
    again = pbxctl("security", "ban", "203.0.113.9")
    assert again.exit_code == 1 and "203.0.113.9 is banned already" in again.stderr
    missing = pbxctl("security", "unban", "198.51.100.1")
    assert missing.exit_code == 1 and "198.51.100.1 is not banned" in missing.stderr


def test_an_ipv6_ban_covers_its_64_and_any_address_in_it_lifts_it(pbxctl: Pbxctl) -> None:
    pbxctl.ok("security", "ban", "2001:db8:1:2::5")
    again = pbxctl("security", "ban", "2001:db8:1:2:ffff::9")
    assert again.exit_code == 1 and "2001:db8:1:2::/64 is banned already" in again.stderr
    pbxctl.ok("security", "ban", "2001:db8:1:3::5")        # the next /64 is another source
    pbxctl.ok("security", "unban", "2001:db8:1:2::77")
    assert [b["address"] for b in bans(pbxctl)] == ["2001:db8:1:3::/64"]


def test_a_64_holding_a_never_banned_address_is_not_banned(pbxctl: Pbxctl) -> None:
    pbxctl.env["PBXCTL_BAN_ALLOW_NETWORKS"] = '["2001:db8:9::10/128"]'
    refused = pbxctl("security", "ban", "2001:db8:9::66")
    assert refused.exit_code == 2 and "2001:db8:9::/64 overlaps a network never banned" \
        in refused.stderr
    assert bans(pbxctl, "--all") == []


def test_with_ban_limit_bans_in_force_the_one_ending_soonest_makes_room(
        pbxctl: Pbxctl) -> None:
    pbxctl.env["PBXCTL_BAN_LIMIT"] = "2"
    pbxctl.ok("security", "ban", "203.0.113.1", "--for", "2h")
    pbxctl.ok("security", "ban", "203.0.113.2", "--for", "1h")
    pbxctl.ok("security", "ban", "203.0.113.3", "--for", "3h")
    assert [b["address"] for b in bans(pbxctl)] == ["203.0.113.1", "203.0.113.3"]
    lifted = [b for b in bans(pbxctl, "--all") if b["lifted_at"]]
    assert [(b["address"], b["lifted_by"]) for b in lifted] == [("203.0.113.2", "ban_limit")]
    audit = json.loads(pbxctl.ok("audit", "--json").stdout)
    assert [e["object_key"] for e in audit if e["action"] == "security.displaced"] == [
        "203.0.113.2"]
