"""The edge's rendered Kamailio configuration, checked by real Kamailios (the sandbox
chroot's, Debian sid's package, and the host's, Debian 12's 5.6): what ``pbxctl edge
render`` writes, Kamailio accepts, with the listening sockets, the dispatcher list and the
db_text tables it names."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from scripts.sandboxkit import kamailio, sandbox
from tests.conftest import Pbxctl


@pytest.mark.parametrize("installation", [kamailio.chroot, kamailio.host],
                         ids=["chroot", "host"])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_kamailio_accepts_the_rendered_edge(
        company: Pbxctl, installation: Callable[[], kamailio.Installation]) -> None:
    sandbox.build()
    edge_dir = sandbox.kamailio_dir("edge1")
    company.allow_config_root(edge_dir)
    (edge_dir.parent / "b").mkdir(exist_ok=True)
    company.allow_config_root(edge_dir.parent / "b")
    company.ok("node", "add", "nb", "--ami-host", "127.0.0.12", "--ami-user", "pbxctl",
               "--ami-secret", "test-secret-2", "--config-dir", str(edge_dir.parent / "b"))
    company.ok("branch", "update", "kazan", "--standby-node", "nb")
    company.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip",
               "--match", "127.0.0.2", "--number-format", "national:7")
    company.ok("number", "add", "+78435550101", "--carrier", "tele2", "--branch", "kazan",
               "--monthly-fee", "350.00", "--route", "branch:kazan")
    company.ok("edge", "add", "edge1", "--sip-address", "127.0.0.10", "--rpc",
               "127.0.0.10:5090", "--config-dir", str(edge_dir))
    company.ok("edge", "render", "edge1", "-o", str(edge_dir))

    checked = installation().check(edge_dir / "kamailio.cfg")
    assert checked.returncode == 0, checked.stderr[-3000:]
    assert "udp: 127.0.0.10:5060" in checked.stderr + checked.stdout

    (edge_dir / "kamailio.cfg").write_text(
        (edge_dir / "kamailio.cfg").read_text().replace("request_route {", "request_route {{"))
    refused = installation().check(edge_dir / "kamailio.cfg")
    assert refused.returncode != 0, "Kamailio accepted a broken configuration"
