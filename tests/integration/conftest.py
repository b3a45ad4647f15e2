"""The sandbox Asterisk for integration tests: built when missing, started once per run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Pbxctl
from tests.support import sandbox, sipp


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


def add_sandbox_node(pbxctl: Pbxctl, config_dir: Path) -> None:
    """Point a node called local at the sandbox's Asterisk."""
    pbxctl.ok("node", "add", "local", "--ami-host", "127.0.0.1", "--ami-user",
              sandbox.AMI_USER, "--ami-secret", sandbox.AMI_SECRET,
              "--config-dir", str(config_dir), "--recordings-dir",
              str(sandbox.recordings_dir()), "--cdr-csv",
              str(sandbox.log_dir() / "cdr-csv" / "Master.csv"))


@pytest.fixture(scope="session")
def asterisk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A running Asterisk 22 in the sandbox, configured by pbxctl; yields its config dir.

    The first configuration is written with ``apply --offline`` from a throwaway database,
    as an operator installing a new node would, then Asterisk starts on it.
    """
    sandbox.build()
    config_dir = sandbox.config_dir()
    bootstrap = Pbxctl(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('boot') / 'b.db'}", {})
    bootstrap.ok("init")
    add_sandbox_node(bootstrap, config_dir)
    bootstrap.ok("apply", "--offline")
    sandbox.stop()
    sandbox.forget_registrations()
    sandbox.start()
    try:
        yield config_dir
    finally:
        sandbox.stop()


@pytest.fixture(autouse=True)
def no_stray_sipp() -> Iterator[None]:
    """SIPp left listening by a failed test would hold its port for the next one."""
    yield
    sipp.stop_all()
