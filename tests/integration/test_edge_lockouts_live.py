"""Failed phone logins at a real Kamailio edge (the host's 5.6 and the sandbox chroot's),
seen by ``pbxctl security lockouts``: a scanner on 127.0.0.66 guesses 201's password ten
times; the edge counts each, the listing shows the source locked, and the right password
from there is refused; ``security unlock`` lifts the lockout (audited). No node is
needed: the edge refuses before routing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sandboxkit import kamailio, sandbox
from sandboxkit.sipp import SoftPhone

from tests.conftest import Pbxctl
from tests.integration.conftest import add_phone

SCANNER = "127.0.0.66"


@pytest.mark.parametrize("installation", [kamailio.host, kamailio.chroot],
                         ids=["host-5.6", "chroot"])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_edges_lockouts_are_listed(
        pbxctl: Pbxctl, installation: Callable[[], kamailio.Installation],
        tmp_path: Path) -> None:
    sandbox.build()
    directory = sandbox.kamailio_dir("edge1")
    pbxctl.allow_config_root(directory)
    (tmp_path / "na").mkdir()
    pbxctl.ok("node", "add", "na", "--ami-host", "127.0.0.11", "--ami-user", "pbxctl",
              "--ami-secret", "secret-of-na", "--sip-address", "127.0.0.11",
              "--config-dir", str(tmp_path / "na"))
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan", "--city", "Kazan", "--timezone",
              "Europe/Moscow", "--ext-range", "200-299", "--node", "na")
    pbxctl.ok("edge", "add", "edge1", "--sip-address", "127.0.0.10", "--rpc",
              kamailio.RPC, "--config-dir", str(directory))
    anna = add_phone(pbxctl, "kazan", "201", "Anna", "127.0.0.21")
    pbxctl.ok("apply", "--edge", "edge1", "--offline")
    edge = kamailio.start("edge1", directory, installation=installation())
    try:
        assert pbxctl.ok("security", "lockouts").stderr.strip() == (
            "no failed phone logins at the edges")
        scanner = SoftPhone(anna.username, anna.password, anna.server, address=SCANNER)
        for _ in range(10):
            assert scanner.register_refused(tmp_path, "guessed-wrong").ok, edge.log()[-2000:]
        listed = json.loads(pbxctl.ok("security", "lockouts", "--json").stdout)
        assert listed == [{"address": SCANNER, "edge": "edge1", "failures": 10,
                           "locked": True}]
        refused = scanner.register(tmp_path)
        assert not refused.ok and "403" in refused.errors, refused.errors
        # an operator lifts the lockout: the source is challenged again, counted afresh
        unlocked = pbxctl.ok("security", "unlock", SCANNER)
        assert f"edge edge1: 10 failed login(s) of {SCANNER} forgotten." in unlocked.stderr
        assert scanner.register_refused(tmp_path, "guessed-wrong-again").ok, \
            edge.log()[-2000:]
        assert json.loads(pbxctl.ok("security", "lockouts", "--json").stdout) == [
            {"address": SCANNER, "edge": "edge1", "failures": 1, "locked": False}]
        audit = json.loads(pbxctl.ok("audit", "--json").stdout)
        assert [(a["object_key"], a["before"]) for a in audit
                if a["action"] == "security.unlock"] == [
            (SCANNER, {"edge": "edge1", "failures": 10})]
        nothing = pbxctl("security", "unlock", "127.0.0.67")
        assert nothing.exit_code == 1 and "no edge counts failed logins of 127.0.0.67" in \
            nothing.stderr, nothing.stderr
    finally:
        edge.stop()
    stopped = pbxctl("security", "lockouts")
    assert stopped.exit_code == 1
    assert "edge edge1: cannot reach edge edge1's Kamailio RPC at 127.0.0.10:5090" in \
        stopped.stderr, stopped.stderr
