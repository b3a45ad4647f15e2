"""A carrier that needs registration, behind the sandbox's real Kamailio edge: the edge
registers it once, from its own address (uac module), and no node registers it; the
carrier's call to that registration's Contact, the number in its To, is answered on the
branch's node; a new password is reloaded (``uac.reg_reload``), verified and registered."""

from __future__ import annotations

import time
from pathlib import Path

from sandboxkit import kamailio, sandbox
from sandboxkit.sipp import SippCarrier

from tests.conftest import Pbxctl
from tests.integration.conftest import add_phone, kazan_and_edge_dir, wait_until_up

SECRET = "reg:secret-1"
TELE2 = SippCarrier("tele2", "127.0.0.2", asterisk=kamailio.SIP)


def test_the_edge_registers_a_carrier_once_and_takes_its_calls(
        two_nodes: Pbxctl, tmp_path: Path) -> None:
    pbxctl = two_nodes
    directory = kazan_and_edge_dir(pbxctl)
    pbxctl.ok("edge", "add", "edge1", "--sip-address", "127.0.0.10", "--rpc",
              kamailio.RPC, "--config-dir", str(directory))
    anna = add_phone(pbxctl, "kazan", "201", "Anna", "127.0.0.21")    # registers at the edge
    assert anna.server == "127.0.0.10"
    pbxctl.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "register",
              "--username", "a001", "--secret", SECRET, "--number-format", "national:7",
              "--qualify", "0")
    pbxctl.ok("number", "add", "+78435550101", "--carrier", "tele2", "--branch", "kazan",
              "--monthly-fee", "0.00", "--route", "ext:201")
    applied = pbxctl.ok("apply", "--offline")
    assert "reg:secret" not in applied.stdout + applied.stderr
    registrar = TELE2.take_registrations(tmp_path, "a001", SECRET, seconds=20)
    for node in ("node-a", "node-b"):     # the identifier order is read at start
        sandbox.start(node)
    edge = kamailio.start("edge1", directory)
    try:
        deadline = time.monotonic() + 15
        while not registrar.registrations():
            assert time.monotonic() < deadline, edge.log()[-3000:]
            time.sleep(0.5)
        time.sleep(5)      # the nodes have started: any registration of theirs is sent
        assert registrar.registrations() == [
            {"via": "127.0.0.10", "contact": "<sip:tele2@127.0.0.10:5060>",
             "valid": "true"}]
        assert "reg:secret" not in edge.log()

        wait_until_up(edge)
        assert anna.register(tmp_path).ok
        answering = anna.answer_one_call(tmp_path)
        called = TELE2.call_contact(tmp_path, "tele2", "8435550101")
        assert called.ok, (called.errors, edge.log()[-3000:])
        assert answering.wait().ok                        # on node-a

        # A new password: only the registrations are reloaded, and register again.
        registrar.stop()
        registrar = TELE2.take_registrations(tmp_path, "a001", "new:secret-2", seconds=30)
        pbxctl.ok("carrier", "update", "tele2", "--secret", "new:secret-2")
        applied = pbxctl.ok("apply", "--edge", "edge1")
        assert ("edge edge1: applied; reloaded uac registrations; Kamailio shows 2 "
                "destination(s) as rendered.") in applied.stderr, applied.stderr
        assert "secret" not in applied.stdout + applied.stderr
        deadline = time.monotonic() + 20
        while not registrar.registrations():
            assert time.monotonic() < deadline, edge.log()[-3000:]
            time.sleep(0.5)
        assert [r["valid"] for r in registrar.registrations()] == ["true"]
    finally:
        registrar.stop()
        edge.stop()
