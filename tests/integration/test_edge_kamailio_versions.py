"""The same rendered edge on both Kamailio versions pbxctl supports, live: the host's
(Debian 12's package, Kamailio 5.6) and the sandbox chroot's (Debian sid's). Each starts
on the files ``apply --offline`` wrote, registers a carrier with its registrar, takes an
``apply --edge`` that changes the dispatcher set, a number table and the registration's
password (reloaded and verified over JSON-RPC: dispatcher.list, htable.dump,
uac.reg_dump), registers again with the new password and routes a carrier's call to the
branch's node.

The nodes are SIPp stand-ins (their Asterisk is not needed to route at the edge)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sandboxkit import kamailio, sandbox
from sandboxkit.sipp import BackgroundSipp, SippCarrier

from tests.conftest import Pbxctl
from tests.integration.test_edge_apply_live import add_nodes_kazan_and_tele2, call_through_edge

MTS = SippCarrier("mts", "127.0.0.3", asterisk=kamailio.SIP)   # registers, from the edge
SECRET, NEW_SECRET = "first:Secret-1", "second:Secret-2"


@pytest.fixture(params=[kamailio.host, kamailio.chroot], ids=["host-5.6", "chroot"])
def installation(request: pytest.FixtureRequest) -> kamailio.Installation:
    """The host's Kamailio, then the sandbox chroot's."""
    sandbox.build()
    chosen: Callable[[], kamailio.Installation] = request.param
    return chosen()


@pytest.fixture
def edge_dir(pbxctl: Pbxctl, tmp_path: Path) -> Path:
    """edge1's first files, written offline: branch kazan on node na (nb to become its
    standby), tele2 calling from 127.0.0.2 and mts registering at 127.0.0.3."""
    directory = sandbox.kamailio_dir("edge1")
    pbxctl.allow_config_root(directory)
    add_nodes_kazan_and_tele2(pbxctl, tmp_path)
    pbxctl.ok("carrier", "add", "mts", "--host", "127.0.0.3", "--auth", "register",
              "--username", "m001", "--secret", SECRET, "--number-format", "national:7",
              "--qualify", "0")
    pbxctl.ok("edge", "add", "edge1", "--sip-address", "127.0.0.10", "--rpc",
              kamailio.RPC, "--config-dir", str(directory))
    written = pbxctl.ok("apply", "--edge", "edge1", "--offline").stderr
    assert "edge edge1: wrote" in written, written
    return directory


@pytest.fixture
def registrar(tmp_path: Path) -> Iterator[list[BackgroundSipp]]:
    """mts's registrars as the test starts them, stopped after it."""
    started: list[BackgroundSipp] = []
    yield started
    for one in started:
        one.stop()


def wait_for_registration(registrar: BackgroundSipp, edge: kamailio.SandboxKamailio) -> None:
    """Until ``registrar`` accepted a REGISTER from the edge, which must be its only one."""
    deadline = time.monotonic() + 25
    while not registrar.registrations():
        assert time.monotonic() < deadline, edge.log()[-3000:]
        time.sleep(0.5)
    assert registrar.registrations()[0] == {
        "via": "127.0.0.10", "contact": "<sip:mts@127.0.0.10:5060>", "valid": "true"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_edge_runs_reloads_and_verifies_on_each_kamailio(
        pbxctl: Pbxctl, installation: kamailio.Installation, edge_dir: Path,
        registrar: list[BackgroundSipp], tmp_path: Path) -> None:
    registrar.append(MTS.take_registrations(tmp_path, "m001", SECRET, seconds=40))
    edge = kamailio.start("edge1", edge_dir, installation=installation)
    try:
        version = edge.rpc("core.version")
        assert version.startswith(f"kamailio {installation.version()} "), version
        if installation.root is None:        # the host: Debian 12's
            assert version.startswith("kamailio 5.6."), version
        wait_for_registration(registrar[0], edge)

        registrar[0].stop()
        registrar.append(MTS.take_registrations(tmp_path, "m001", NEW_SECRET, seconds=40))
        pbxctl.ok("branch", "update", "kazan", "--standby-node", "nb")
        pbxctl.ok("number", "add", "+78435550102", "--carrier", "tele2", "--branch", "kazan",
                  "--monthly-fee", "0.00", "--route", "branch:kazan")
        pbxctl.ok("carrier", "update", "mts", "--secret", NEW_SECRET)
        applied = pbxctl.ok("apply", "--edge", "edge1")
        assert ("edge edge1: applied; reloaded dispatcher, htable numbers, uac "
                "registrations; Kamailio shows 2 destination(s) as rendered."
                ) in applied.stderr, (applied.stderr, edge.log()[-3000:])
        assert "Secret" not in applied.stdout + applied.stderr
        assert edge.rpc("htable.get", "numbers", "8435550102")["item"]["value"] == "1"
        wait_for_registration(registrar[1], edge)

        log = call_through_edge(edge, tmp_path, "8435550102")
        assert "EDGE INVITE ruri_user=8435550102 carrier=tele2" in log
    finally:
        edge.stop()
