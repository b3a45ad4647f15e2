"""A node whose state cannot be read: the backup is still written and says so, or
nothing is written when every node's state is required; a restore asked for that node's
state refuses before it touches the database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Pbxctl


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_node_that_does_not_answer(company: Pbxctl, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    written = company.ok("backup", "-o", str(archive), "--json")
    shown = json.loads(written.stdout)
    assert list(shown["nodes_missing"]) == ["local"] and shown["node_state"] == {}
    assert "Warning: the state of node local is not in this backup" in written.stderr
    (row,) = [e for e in json.loads(company.ok("audit", "--json").stdout)
              if e["action"] == "backup.create"]
    assert row["after"]["nodes_missing"] == ["local"]

    strict = tmp_path / "strict.tar"
    refused = company("backup", "-o", str(strict), "--require-nodes")
    assert refused.exit_code == 1 and not strict.exists()
    assert "no backup written: the state of node local could not be read" in \
        refused.stderr and "(--require-nodes)" in refused.stderr

    target = Pbxctl(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}", dict(company.env))
    asked = target("restore", str(archive), "--to-node", "local")
    assert asked.exit_code == 1, asked.stderr
    assert "--to-node: the backup holds no state of node local" in asked.stderr
    unknown = target("restore", str(archive), "--to-node", "omsk")
    assert unknown.exit_code == 1 and "no state of node 'omsk'" in unknown.stderr
    assert "(empty database)" in target.ok("db", "current").stdout
    usage = target("restore", str(archive), "--nodes-only")
    assert usage.exit_code == 2 and "--to-node" in usage.stderr
