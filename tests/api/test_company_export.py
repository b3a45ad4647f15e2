"""GET /api/v1/export: the company file, for admin tokens only."""

from __future__ import annotations

import yaml

from tests.api.conftest import Api


async def test_admins_get_the_file_export_writes(api: Api) -> None:
    status, text = await api.call("GET", "/api/v1/export", format="yaml")
    assert status == 200
    assert text.encode() == await api.cli("export")
    status, document = await api.call("GET", "/api/v1/export")
    assert status == 200 and document == yaml.safe_load(text)
    assert document["nodes"] and "ami_secret" not in document["nodes"][0]


async def test_other_roles_may_not_read_it(api: Api) -> None:
    for role in ("accountant", "viewer"):
        status, body = await api.call("GET", "/api/v1/export", role=role)
        assert status == 403, (role, body)
