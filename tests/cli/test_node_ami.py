"""A node's AMI address is an IP literal, and manager.conf keeps every other client out
(issue 11, finding 3), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import update

from pbxctl.db.models import Node
from pbxctl.db.session import make_engine, transaction
from tests.conftest import Pbxctl


def store_ami_host(database_url: str, ami_host: str) -> None:
    """Write ``ami_host`` as an older pbxctl could have stored it, past the validation."""

    async def write() -> None:
        engine = make_engine(database_url)
        try:
            async with transaction(engine) as session:
                await session.execute(update(Node).values(ami_host=ami_host))
        finally:
            await engine.dispose()

    asyncio.run(write())


@pytest.mark.parametrize("host", ["localhost", "pbx.example", "2130706433", "127.1",
                                  "::ffff:127.0.0.1", "fe80::1"])
def test_node_add_refuses_what_is_not_a_usable_ip_literal(pbxctl: Pbxctl, config_dir: Path,
                                                          host: str) -> None:
    result = pbxctl("node", "add", "local", "--ami-host", host, "--ami-user", "pbxctl",
                    "--ami-secret", "test-secret-1", "--config-dir", str(config_dir),
                    "--sip-address", "127.0.0.1")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --ami-host: ")
    assert json.loads(pbxctl.ok("node", "list", "--json").stdout) == []


def test_a_wildcard_bind_keeps_ipv6_clients_out(pbxctl: Pbxctl, config_dir: Path) -> None:
    pbxctl.ok("node", "add", "local", "--ami-host", "::", "--ami-user", "pbxctl",
              "--ami-secret", "test-secret-1", "--config-dir", str(config_dir),
              "--sip-address", "127.0.0.1")
    pbxctl.ok("apply", "--offline")
    lines = (config_dir / "manager.conf").read_text().splitlines()
    assert [line for line in lines if line.startswith(("bindaddr", "deny", "permit"))] == [
        "bindaddr = ::", "deny = 0.0.0.0/0.0.0.0", "permit = 127.0.0.1/255.255.255.255",
        "deny = ::/0", "permit = ::1/128"]


def test_a_stored_host_name_is_refused_at_apply_until_set(company: Pbxctl,
                                                          config_dir: Path) -> None:
    store_ami_host(company.database_url, "pbx.example")
    refused = company("apply", "--offline")
    assert refused.exit_code == 1
    assert "node local: 'pbx.example' is not an IP address" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (config_dir / "manager.conf").exists()

    company.ok("node", "set", "local", "--ami-host", "127.0.0.1")
    company.ok("apply", "--offline")
    assert "bindaddr = 127.0.0.1\n" in (config_dir / "manager.conf").read_text()
    entry = json.loads(company.ok("audit", "--json").stdout)[-2]
    assert (entry["action"], entry["before"]["ami_host"], entry["after"]["ami_host"]) == (
        "node.update", "pbx.example", "127.0.0.1")


def test_node_set_refuses_a_host_name(company: Pbxctl) -> None:
    result = company("node", "set", "local", "--ami-host", "localhost")
    assert result.exit_code == 2
    assert "--ami-host: 'localhost' is not an IP address" in result.stderr
    node = json.loads(company.ok("node", "show", "local", "--json").stdout)
    assert node["ami_host"] == "127.0.0.1"
