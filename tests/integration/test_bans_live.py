"""Brute-force bans on the sandbox Asterisk: a SIPp "scanner" on 127.0.0.66 guesses phone
201's password; after ``ban_after`` wrong ones serve bans it, and from then on Asterisk
answers it 403 even with the right password, until the ban is lifted (by an operator, or
when its time is up). Phone 201 on 127.0.0.1 registers and calls throughout."""

from __future__ import annotations

import json
from pathlib import Path

from sandboxkit.processes import wait_for
from sandboxkit.sipp import SippCarrier, SoftPhone

from tests.conftest import Pbxctl
from tests.integration.conftest import calling_out
from tests.integration.test_no_call_lost import serving

SCANNER = "127.0.0.66"
CARRIER = SippCarrier("tele2", "127.0.0.2")
BAN_AFTER = 3


def refused_by_the_acl(scanner: SoftPhone, work: Path) -> bool:
    """The right password from the scanner's address gets a 403 at once."""
    result = scanner.register(work)
    return not result.ok and "403" in result.errors


def calls_out(phone: SoftPhone, work: Path) -> bool:
    carrier = CARRIER.answer_one_call(work)
    placed = phone.call(work, "84955550100")
    return placed.ok and carrier.wait().ok


def scan(scanner: SoftPhone, work: Path) -> None:
    for _ in range(BAN_AFTER):
        assert scanner.register_refused(work, "guessed-wrong").ok


def test_a_scanner_gets_no_service_until_unbanned_while_201_works(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    _branch, phone = calling_out(pbxctl, asterisk, tmp_path, CARRIER, "201", "+78435550201")
    scanner = SoftPhone(phone.username, phone.password, address=SCANNER)
    with serving(pbxctl.database_url, tmp_path,
                 {"PBXCTL_BAN_AFTER": str(BAN_AFTER), "PBXCTL_BAN_FOR": "3600"}) as serve:
        assert phone.register(tmp_path).ok
        scan(scanner, tmp_path)
        wait_for("the scanner refused by the ACL", lambda: refused_by_the_acl(
            scanner, tmp_path), seconds=30)
        assert serve.metric("pbxctl_security_bans_total") == 1
        assert serve.metric("pbxctl_security_failures_total", node="local") >= BAN_AFTER
        assert phone.register(tmp_path).ok
        assert calls_out(phone, tmp_path)
        [ban] = json.loads(pbxctl.ok("security", "bans", "--json").stdout)
        assert (ban["address"], ban["failures"]) == (SCANNER, BAN_AFTER)

        pbxctl.ok("security", "unban", SCANNER)
        assert scanner.register(tmp_path).ok
        assert phone.register(tmp_path).ok
        assert calls_out(phone, tmp_path)
    assert "deny" not in (asterisk / "pjsip_bans.conf").read_text()


def test_a_ban_ends_by_itself(pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    _branch, phone = calling_out(pbxctl, asterisk, tmp_path, CARRIER, "202", "+78435550202")
    scanner = SoftPhone(phone.username, phone.password, address=SCANNER)
    with serving(pbxctl.database_url, tmp_path,
                 {"PBXCTL_BAN_AFTER": str(BAN_AFTER), "PBXCTL_BAN_FOR": "10"}):
        scan(scanner, tmp_path)
        wait_for("the scanner refused by the ACL", lambda: refused_by_the_acl(
            scanner, tmp_path), seconds=30)
        wait_for("the ban to end", lambda: scanner.register(tmp_path).ok, seconds=60)
        assert phone.register(tmp_path).ok
    audit = json.loads(pbxctl.ok("audit", "--json").stdout)
    assert [(e["action"], e["actor"]) for e in audit if e["object_key"] == SCANNER] == [
        ("security.ban", "pbxctl serve"), ("security.expired", "pbxctl serve")]
