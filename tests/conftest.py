"""Shared fixtures: a real database per test (SQLite file or a fresh PostgreSQL database)
and a runner for the ``pbxctl`` command line."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.cli.main import cli
from pbxctl.db.migrate import upgrade
from pbxctl.db.session import make_engine, transaction

PG_ADMIN_URL = os.environ.get("PBXCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_FIX = ("PostgreSQL is required for the tests and did not answer at {url}: {error}.\n"
          "Start it (Debian: pg_ctlcluster --skip-systemctl-redirect 15 main start) or point "
          "PBXCTL_TEST_PG at a server where this user may CREATE DATABASE.")


async def _pg_execute(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_run(sql: str) -> None:
    try:
        asyncio.run(_pg_execute(sql))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.fail(PG_FIX.format(url=PG_ADMIN_URL, error=exc), pytrace=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each supported kind, dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'pbxctl.db'}"
        return
    with pg_database() as url:
        yield url


def pg_url(admin_url: str, database: str) -> str:
    """The asyncpg URL of ``database`` on the server and as the user of ``admin_url``,
    reached over TCP or a unix socket (``postgresql://postgres@/postgres?host=/run/x``)."""
    url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=database)
    return url.render_as_string(hide_password=False)


# Test databases are dropped by one thread in the background while the next tests run
# (a drop waits for a checkpoint); the session waits for them all at its end.
_DROPPER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-drop")
_drops: list[Future[None]] = []


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"pbxctl_test_{uuid.uuid4().hex[:12]}"
    _pg_run(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(PG_ADMIN_URL, name)
    finally:
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        _drops.append(_DROPPER.submit(lambda: asyncio.run(_pg_execute(drop))))


@pytest.fixture(scope="session", autouse=True)
def pg_databases_dropped() -> Iterator[None]:
    """At the end of the session every test database is gone, or the session fails."""
    yield
    _DROPPER.shutdown(wait=True)
    failed = [error for error in (drop.exception() for drop in _drops) if error]
    if failed:
        pytest.fail(PG_FIX.format(url=PG_ADMIN_URL, error=failed[0]), pytrace=False)


@pytest.fixture(autouse=True)
def secrets_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test seals its secrets with a key of its own, from the environment (the tests
    of key files take it away)."""
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("PBXCTL_SECRETS_KEY", key)
    return key


@dataclass
class Pbxctl:
    """Runs ``pbxctl`` in-process against one database, as a given OS user."""

    database_url: str
    env: dict[str, str]

    def __call__(self, *args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        env = {"PBXCTL_DATABASE_URL": self.database_url, "PBXCTL_ACTOR": "tester", **self.env}
        return runner.invoke(cli, list(args), env=env, input=input, catch_exceptions=False)

    def allow_config_root(self, root: Path) -> None:
        """Let nodes keep their config_dir under ``root`` (the node_config_roots setting)."""
        roots = json.loads(self.env.get("PBXCTL_NODE_CONFIG_ROOTS", "[]"))
        self.env["PBXCTL_NODE_CONFIG_ROOTS"] = json.dumps([*roots, str(root)])

    def ok(self, *args: str) -> Result:
        """Run and insist on success."""
        result = self(*args)
        assert result.exit_code == 0, (args, result.stdout, result.stderr)
        return result


@pytest.fixture
def pbxctl(database_url: str, tmp_path: Path) -> Pbxctl:
    """The CLI against a fresh, initialised database; nodes may keep their config_dir in
    the test's temporary directory."""
    runner = Pbxctl(database_url, {"PBXCTL_CONFIG": "", "PBXCTL_TEMPLATE_DIR": ""})
    runner.env = {k: v for k, v in runner.env.items() if v}
    runner.allow_config_root(tmp_path)
    runner.ok("init")
    return runner


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """An empty directory standing in for a node's /etc/asterisk."""
    path = tmp_path / "asterisk"
    path.mkdir()
    return path


@pytest.fixture
def company(pbxctl: Pbxctl, config_dir: Path) -> Pbxctl:
    """A small company: node local (config dir in tmp), branches kazan and omsk."""
    pbxctl.ok("node", "add", "local", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
              "--ami-secret", "test-secret-1", "--config-dir", str(config_dir))
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan salon", "--city", "Kazan",
              "--timezone", "Europe/Moscow", "--ext-range", "200-299")
    pbxctl.ok("branch", "add", "omsk", "--name", "Omsk office", "--city", "Omsk",
              "--timezone", "Asia/Omsk", "--ext-range", "300-399")
    return pbxctl


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test's database, migrated; disposed of afterwards."""
    migrated = make_engine(database_url)
    await upgrade(migrated)
    try:
        yield migrated
    finally:
        await migrated.dispose()


@pytest.fixture
async def session(database_url: str):  # noqa: ANN201 - an async generator fixture
    """A session on a migrated database; the test's work is committed at the end."""
    engine = make_engine(database_url)
    await upgrade(engine)
    try:
        async with transaction(engine) as db_session:
            yield db_session
    finally:
        await engine.dispose()
