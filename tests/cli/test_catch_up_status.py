"""``pbxctl status`` says when a node's calls wait in its Master.csv and no catch-up has
run for a while (serve down, or storage failing), and says nothing alarming when they are
caught up."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sandboxkit.processes import free_port

from pbxctl.db.models import CdrFilePosition
from pbxctl.db.session import make_engine, transaction
from tests.conftest import Pbxctl
from tests.db.test_storage_faults import line


def caught_up(database_url: str, path: Path, ago: timedelta) -> None:
    """Record a catch-up of ``path`` up to its start, ``ago`` before now."""

    async def write() -> None:
        engine = make_engine(database_url)
        try:
            async with transaction(engine) as session:
                session.add(CdrFilePosition(node="local", path=str(path), offset=0,
                                            updated_at=datetime.now(UTC) - ago))
        finally:
            await engine.dispose()

    asyncio.run(write())


@pytest.fixture
def master(pbxctl: Pbxctl, tmp_path: Path, config_dir: Path) -> Path:
    """Node local (its AMI does not answer) with a Master.csv in tmp, not written yet."""
    path = tmp_path / "Master.csv"
    pbxctl.ok("node", "add", "local", "--ami-host", "127.0.0.1", "--ami-port",
              str(free_port()), "--ami-user", "pbxctl", "--ami-secret", "test-secret-1",
              "--config-dir", str(config_dir), "--cdr-csv", str(path))
    return path


def test_status_shows_a_node_whose_catch_up_is_behind(pbxctl: Pbxctl, master: Path) -> None:
    caught_up(pbxctl.database_url, master, timedelta(hours=1))
    master.write_bytes(line(1) + line(2) + line(3))

    shown = pbxctl.ok("status").stdout
    assert "CATCH-UP BEHIND" in shown and f"3 call(s) in {master} since" in shown
    (node,) = json.loads(pbxctl.ok("status", "--json").stdout)["nodes"]
    assert node["catch_up"]["behind"] and node["catch_up"]["calls_after"] == 3


def test_a_recent_catch_up_is_not_behind(pbxctl: Pbxctl, master: Path) -> None:
    caught_up(pbxctl.database_url, master, timedelta(seconds=10))
    master.write_bytes(line(1))
    shown = pbxctl.ok("status").stdout
    assert "BEHIND" not in shown and "CDRs: last caught up" in shown
