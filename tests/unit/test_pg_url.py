"""The test databases' URLs keep the server of PBXCTL_TEST_PG, over TCP or a unix socket."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import pg_url


@pytest.mark.parametrize(("admin", "expected"), [
    ("postgresql://postgres@127.0.0.1:5432/postgres",
     "postgresql+asyncpg://postgres@127.0.0.1:5432/pbxctl_test_1"),
    ("postgresql://alice:pw@db.example:6543/admin",
     "postgresql+asyncpg://alice:pw@db.example:6543/pbxctl_test_1"),
    ("postgresql://postgres@/postgres?host=/var/run/postgresql",
     "postgresql+asyncpg://postgres@/pbxctl_test_1?host=%2Fvar%2Frun%2Fpostgresql"),
])
def test_pg_url_names_the_new_database_on_the_same_server(admin: str, expected: str) -> None:
    url = pg_url(admin, "pbxctl_test_1")
    assert make_url(url) == make_url(expected)
    assert make_url(url).database == "pbxctl_test_1"


def test_pg_url_keeps_the_socket_directory() -> None:
    url = make_url(pg_url("postgresql://postgres@/postgres?host=/var/run/postgresql", "x"))
    assert url.query["host"] == "/var/run/postgresql"
    assert url.host is None
