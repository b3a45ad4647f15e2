"""Secrets at rest (issue 11, finding 1): the database file is its owner's alone, the
secrets in it are encrypted with a key kept outside it, and the key can be rotated."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, text

from pbxctl.db.models import Node
from pbxctl.db.session import make_engine, transaction
from pbxctl.errors import PbxctlError
from pbxctl.render import TemplateSet, render_node
from pbxctl.services.extensions import sip_ha1
from pbxctl.services.read.desired_state import load_node_config
from pbxctl.services.secrets import SecretsService
from tests.conftest import Pbxctl

RAW_SECRETS = "SELECT ami_secret FROM nodes UNION ALL SELECT secret FROM carriers " \
              "WHERE secret IS NOT NULL UNION ALL SELECT secret FROM webhooks " \
              "UNION ALL SELECT sip_ha1 FROM extensions"


@pytest.fixture
def key_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The key comes from a file (not from the environment, as in the other tests)."""
    monkeypatch.delenv("PBXCTL_SECRETS_KEY")
    path = tmp_path / "keys" / "secrets.key"
    monkeypatch.setenv("PBXCTL_SECRETS_KEY_FILE", str(path))
    return path


@pytest.fixture
def pbxctl(key_file: Path, pbxctl: Pbxctl) -> Pbxctl:
    """The CLI on a database initialised with a key file."""
    return pbxctl


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def secrets(company: Pbxctl) -> dict[str, str]:
    """A node, a phone, a registering carrier and a webhook: their secrets in clear."""
    phone = json.loads(company.ok("ext", "add", "kazan", "201", "--name", "Anna",
                                  "--json").stdout)
    company.ok("carrier", "add", "mts", "--host", "sip.mts.example", "--auth", "register",
               "--username", "kazan01", "--secret", "trunk-secret-1")
    hook = json.loads(company.ok("webhook", "add", "https://crm.example.com/hook",
                                 "--events", "cdr.rated", "--json").stdout)
    return {"ami": "test-secret-1", "trunk": "trunk-secret-1", "webhook": hook["secret"],
            "ha1": sip_ha1("201", phone["password"]), "password": phone["password"]}


def raw(database_url: str) -> list[str]:
    """Every stored secret as it is in the database (the CLI runs its own event loop, so
    these tests run theirs one query at a time)."""
    return asyncio.run(_raw(database_url))


def rendered(database_url: str) -> dict[str, str]:
    """The files of node ``local`` as apply would write them."""
    return asyncio.run(_rendered(database_url))


async def _execute(database_url: str, sql: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _raw(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return [str(value) for value in (await conn.scalars(text(RAW_SECRETS))).all()]
    finally:
        await engine.dispose()


async def _rendered(database_url: str) -> dict[str, str]:
    engine = make_engine(database_url)
    try:
        async with transaction(engine) as session:
            node = (await session.scalars(select(Node))).one()
            return render_node(await load_node_config(session, node), TemplateSet()).files
    finally:
        await engine.dispose()


def test_init_creates_the_database_and_key_readable_by_the_owner_only(
        umask_022: None, key_file: Path, tmp_path: Path) -> None:
    database = tmp_path / "pbxctl.db"
    Pbxctl(f"sqlite+aiosqlite:///{database}", {"PBXCTL_CONFIG": ""}).ok("init")
    assert _mode(database) == 0o600 and _mode(key_file) == 0o600
    with sqlite3.connect(database) as conn:     # SQLite gives its side files the same mode
        assert conn.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
        conn.execute("CREATE TABLE probe (x)")
        for suffix in ("-wal", "-shm"):
            assert _mode(database.with_name(database.name + suffix)) == 0o600


def test_a_database_others_may_read_is_warned_about(key_file: Path, tmp_path: Path) -> None:
    database = tmp_path / "pbxctl.db"
    pbxctl = Pbxctl(f"sqlite+aiosqlite:///{database}", {"PBXCTL_CONFIG": ""})
    pbxctl.ok("init")
    assert "chmod" not in pbxctl.ok("node", "list").stderr
    database.chmod(0o644)
    assert f"chmod 600 {database}" in pbxctl.ok("node", "list").stderr


def test_no_secret_is_stored_in_clear(secrets: dict[str, str], company: Pbxctl,
                                            tmp_path: Path) -> None:
    stored = raw(company.database_url)
    assert len(stored) == 4 and all(value.startswith("pbxctl:v1:") for value in stored)
    for value in secrets.values():
        assert not any(value in one for one in stored)
    if company.database_url.startswith("sqlite"):
        files = b"".join(p.read_bytes() for p in tmp_path.glob("pbxctl.db*"))
        for value in secrets.values():
            assert value.encode() not in files


def test_rotate_key_keeps_everything_working_and_retires_the_old_key(
        secrets: dict[str, str], company: Pbxctl, key_file: Path) -> None:
    before, old_key = rendered(company.database_url), key_file.read_text().strip()
    assert secrets["trunk"] in before["pjsip.conf"]       # rendering gets plain values

    company.ok("secrets", "rotate-key")

    new_key = key_file.read_text().strip()
    assert new_key != old_key and "\n" not in new_key and _mode(key_file) == 0o600
    assert rendered(company.database_url) == before
    for stored in raw(company.database_url):
        token = stored.split(":", 3)[3].encode()
        with pytest.raises(InvalidToken):
            Fernet(old_key.encode()).decrypt(token)
        assert Fernet(new_key.encode()).decrypt(token)
    status = json.loads(company.ok("secrets", "status", "--json").stdout)
    assert status["counts"] == {status["current_key"]: 4}
    rotated = json.loads(company.ok("audit", "--json").stdout)[-1]
    assert rotated["action"] == "rotate-key"
    assert not any(value in json.dumps(rotated) for value in (*secrets.values(), old_key,
                                                               new_key))


def test_a_wrong_or_missing_or_exposed_key_is_a_clear_error(
        secrets: dict[str, str], company: Pbxctl, key_file: Path) -> None:
    key_file.write_text(Fernet.generate_key().decode() + "\n")
    wrong = company("carrier", "show", "mts")
    assert wrong.exit_code == 1
    assert "wrong key" in wrong.stderr and "secrets_key_file" in wrong.stderr
    assert "Traceback" not in wrong.stderr + wrong.stdout

    key_file.unlink()
    missing = company("node", "list")
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    assert "PBXCTL_SECRETS_KEY" in missing.stderr

    key_file.write_text(Fernet.generate_key().decode() + "\n")
    key_file.chmod(0o640)
    exposed = company("node", "list")
    assert exposed.exit_code == 1 and f"chmod 600 {key_file}" in exposed.stderr


def test_init_does_not_replace_a_lost_key_while_secrets_are_sealed_with_it(
        secrets: dict[str, str], company: Pbxctl, key_file: Path) -> None:
    key_file.unlink()
    lost = company("init")
    assert lost.exit_code == 1
    assert "restore the key from its backup" in lost.stderr
    assert not key_file.exists()


def test_init_encrypts_secrets_an_older_pbxctl_kept_in_clear(
        pbxctl: Pbxctl, config_dir: Path) -> None:
    pbxctl.ok("node", "add", "local", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
              "--ami-secret", "legacy-secret-1", "--config-dir", str(config_dir))
    asyncio.run(_execute(pbxctl.database_url, "UPDATE nodes SET ami_secret = 'legacy-secret-1'"))
    assert json.loads(pbxctl.ok("secrets", "status", "--json").stdout)["counts"] == {
        "clear text": 1}

    assert "Encrypted 1 secret" in pbxctl.ok("init").stderr

    assert (raw(pbxctl.database_url))[0].startswith("pbxctl:v1:")
    assert "clear text" not in json.loads(pbxctl.ok("secrets", "status", "--json").stdout)[
        "counts"]
    assert "legacy-secret-1" in (rendered(pbxctl.database_url))["manager.conf"]


def test_a_rotation_that_fails_keeps_the_old_key(secrets: dict[str, str], company: Pbxctl,
                                                  key_file: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    before, old_key = rendered(company.database_url), key_file.read_text()

    async def broken(self: SecretsService) -> int:
        raise PbxctlError("the database went away")

    monkeypatch.setattr(SecretsService, "seal_all", broken)
    failed = company("secrets", "rotate-key")
    assert failed.exit_code == 1 and "went away" in failed.stderr
    assert key_file.read_text() == old_key and _mode(key_file) == 0o600
    assert rendered(company.database_url) == before
    assert not any(e["action"] == "rotate-key"
                   for e in json.loads(company.ok("audit", "--json").stdout))


def test_keys_from_the_environment_are_not_rotated_by_pbxctl(
        secrets: dict[str, str], company: Pbxctl, key_file: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PBXCTL_SECRETS_KEY", key_file.read_text().strip())
    refused = company("secrets", "rotate-key")
    assert refused.exit_code == 1 and "secrets_key_file" in refused.stderr
    assert rendered(company.database_url)["pjsip.conf"]
