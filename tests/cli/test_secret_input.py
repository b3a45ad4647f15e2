"""Secrets reach pbxctl from a hidden prompt, a file, stdin or an environment variable,
not only on the command line (where other users see them); every command alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from pbxctl.cli import secret_input
from pbxctl.db.models import Carrier, Node
from pbxctl.db.session import make_engine, transaction
from tests.conftest import Pbxctl

NODE = ("node", "add", "west", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl")
CARRIER = ("carrier", "add", "mts", "--host", "sip.mts.example", "--auth", "register",
           "--username", "kazan01")


async def _stored(database_url: str) -> dict[str, str | None]:
    engine = make_engine(database_url)
    try:
        async with transaction(engine) as session:
            nodes = {n.name: n.ami_secret for n in await session.scalars(select(Node))}
            carriers = {c.slug: c.secret for c in await session.scalars(select(Carrier))}
            return nodes | carriers
    finally:
        await engine.dispose()


def stored(pbxctl: Pbxctl) -> dict[str, str | None]:
    """The secrets pbxctl keeps, by node name or carrier slug."""
    return asyncio.run(_stored(pbxctl.database_url))


def test_node_secret_from_a_file(pbxctl: Pbxctl, tmp_path: Path, config_dir: Path) -> None:
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text("from-a-file-1\n")
    pbxctl.ok(*NODE, "--config-dir", str(config_dir), "--ami-secret-file", str(secret_file))
    assert stored(pbxctl) == {"west": "from-a-file-1"}


def test_node_secret_from_the_environment(pbxctl: Pbxctl, config_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEST_AMI", "from-the-env-1")
    pbxctl.ok(*NODE, "--config-dir", str(config_dir), "--ami-secret-env", "WEST_AMI")
    assert stored(pbxctl) == {"west": "from-the-env-1"}
    unset = pbxctl(*NODE, "--config-dir", str(config_dir), "--ami-secret-env", "NO_SUCH_VAR")
    assert unset.exit_code == 2 and "NO_SUCH_VAR is not set" in unset.stderr


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A person at the terminal (the runner's stdin is not one)."""
    monkeypatch.setattr(secret_input, "interactive", lambda: True)


def test_node_secret_from_a_hidden_prompt_asked_twice(pbxctl: Pbxctl, config_dir: Path,
                                                      terminal: None) -> None:
    result = pbxctl(*NODE, "--config-dir", str(config_dir),
                    input="from-a-prompt-1\nfrom-a-prompt-1\n")
    assert result.exit_code == 0, result.stderr
    assert "from-a-prompt-1" not in result.stdout + result.stderr   # not echoed
    assert "Repeat for confirmation" in result.stdout + result.stderr
    assert stored(pbxctl) == {"west": "from-a-prompt-1"}


def test_carrier_secret_from_stdin_and_on_update(pbxctl: Pbxctl, tmp_path: Path) -> None:
    result = pbxctl(*CARRIER, "--secret-file", "-", input="from-stdin-1\n")
    assert result.exit_code == 0, result.stderr
    assert stored(pbxctl) == {"mts": "from-stdin-1"}
    secret_file = tmp_path / "trunk.secret"
    secret_file.write_text("updated-from-file-2")
    pbxctl.ok("carrier", "update", "mts", "--secret-file", str(secret_file))
    assert stored(pbxctl) == {"mts": "updated-from-file-2"}


def test_a_carrier_that_registers_is_asked_for_its_secret(pbxctl: Pbxctl,
                                                          terminal: None) -> None:
    result = pbxctl(*CARRIER, input="from-a-prompt-2\nfrom-a-prompt-2\n")
    assert result.exit_code == 0, result.stderr
    assert stored(pbxctl) == {"mts": "from-a-prompt-2"}
    pbxctl.ok("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip",
              "--match", "127.0.0.2")          # no secret, no question
    assert stored(pbxctl)["tele2"] is None


def test_two_sources_for_one_secret_are_refused(pbxctl: Pbxctl, tmp_path: Path,
                                                config_dir: Path) -> None:
    secret_file = tmp_path / "ami.secret"
    secret_file.write_text("from-a-file-1")
    both = pbxctl(*NODE, "--config-dir", str(config_dir), "--ami-secret", "on-argv-1",
                  "--ami-secret-file", str(secret_file))
    assert both.exit_code == 2 and "--ami-secret or --ami-secret-file" in both.stderr
    missing = pbxctl(*NODE, "--config-dir", str(config_dir),
                     "--ami-secret-file", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "--ami-secret-file" in missing.stderr
    assert stored(pbxctl) == {}


def test_a_script_is_not_asked_but_told_what_is_missing(pbxctl: Pbxctl,
                                                        config_dir: Path) -> None:
    result = pbxctl(*NODE, "--config-dir", str(config_dir), input="")
    assert result.exit_code == 2 and "--ami-secret: must be 8-128" in result.stderr
    assert stored(pbxctl) == {}
