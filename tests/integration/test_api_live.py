"""The API's operations that act on Asterisk, against the sandbox: apply, status and
logging an agent into a queue, pausing it and logging it out, without a reload."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from pbxctl.api.app import create_app
from pbxctl.db.session import make_engine
from tests.conftest import Pbxctl
from tests.integration.conftest import add_sandbox_node


async def _call(client: TestClient, token: str, method: str, path: str,
                body: object = None) -> tuple[int, Any]:
    response = await client.request(method, path, json=body,
                                     headers={"Authorization": f"Bearer {token}"})
    return response.status, await response.json()


def _queue(status: dict[str, Any], name: str) -> dict[str, Any]:
    (node,) = status["nodes"]
    assert node["connected"], node
    (queue,) = [q for q in node["queues"] if q["name"] == name]
    return queue


@pytest.fixture
def admin_token(pbxctl: Pbxctl, asterisk: Path) -> str:
    """A branch with two phones on the sandbox node, and an admin token."""
    add_sandbox_node(pbxctl, asterisk)
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan salon", "--city", "Kazan",
              "--timezone", "Europe/Moscow", "--ext-range", "200-299")
    for number in ("201", "202"):
        pbxctl.ok("ext", "add", "kazan", number, "--name", f"Agent {number}")
    return pbxctl.ok("token", "create", "ops", "--role", "admin").stdout.strip()


async def test_apply_status_and_agents_over_the_api(
        pbxctl: Pbxctl, admin_token: str, aiohttp_client) -> None:  # noqa: ANN001
    token = admin_token
    queue = f"api{uuid.uuid4().hex[:6]}"     # the sandbox keeps earlier tests' config
    engine = make_engine(pbxctl.database_url)
    client = await aiohttp_client(create_app(engine))
    try:
        status, created = await _call(client, token, "POST", "/api/v1/queues", {
            "branch": "kazan", "name": queue, "members": ["201"]})
        assert status == 201, created
        status, applied = await _call(client, token, "POST", "/api/v1/apply")
        assert status == 200, applied
        (node,) = applied["nodes"]
        assert node["applied"] and "queues.conf" in node["changes"]
        status, again = await _call(client, token, "POST", "/api/v1/apply")
        assert status == 200 and again["nodes"][0]["changes"] == []

        _, live = await _call(client, token, "GET", "/api/v1/status")
        assert _queue(live, f"q-kazan-{queue}")["members_total"] == 1

        status, done = await _call(client, token, "POST", "/api/v1/agents/202/login",
                                   {"queue": f"kazan/{queue}"})
        assert status == 200 and done["queues"] == [f"kazan/{queue}"], done
        _, live = await _call(client, token, "GET", "/api/v1/status")
        assert _queue(live, f"q-kazan-{queue}")["members_total"] == 2
        status, done = await _call(client, token, "POST", "/api/v1/agents/202/pause",
                                   {"queue": f"kazan/{queue}"})
        assert status == 200 and done["queues"] == [f"kazan/{queue}"]
        _, live = await _call(client, token, "GET", "/api/v1/status")
        assert _queue(live, f"q-kazan-{queue}")["members_paused"] == 1
        status, _ = await _call(client, token, "POST", "/api/v1/agents/202/logout",
                                 {"queue": f"kazan/{queue}"})
        assert status == 200
        _, live = await _call(client, token, "GET", "/api/v1/status")
        assert _queue(live, f"q-kazan-{queue}")["members_total"] == 1

        status, refused = await _call(client, token, "POST", "/api/v1/agents/202/dance")
        assert status == 400 and "action" in refused["error"]["message"]
        _, audit = await _call(client, token, "GET", "/api/v1/audit")
        assert [e["action"] for e in audit["items"] if e["actor"] == "ops"] == [
            "queue.add", "apply", "queue.login", "queue.pause", "queue.logout"]
    finally:
        await engine.dispose()
