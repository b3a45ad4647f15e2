"""The Kamailio JSON-RPC client against a small aiohttp server answering as Kamailio does:
results, errors (HTTP 500 with a JSON-RPC error), nonsense, silence, and no server."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from aiohttp import web

from pbxctl.kamailio.rpc import KamailioRpc, RpcEndpoint, RpcError, RpcRefused


def kamailio_app(answers: dict[str, tuple[int, Any]], seen: list[dict[str, Any]]
                 ) -> web.Application:
    """Answers each method with (HTTP status, body); an unknown one never answers."""

    async def rpc(request: web.Request) -> web.Response:
        call = await request.json()
        seen.append(call)
        if call["method"] not in answers:
            await asyncio.sleep(30)
        status, body = answers[call["method"]]
        text = body if isinstance(body, str) else json.dumps({**body, "id": call["id"]})
        return web.Response(status=status, text=text, content_type="application/json")

    app = web.Application()
    app.router.add_post("/RPC", rpc)
    return app


@pytest.fixture
async def kamailio(aiohttp_server: Any) -> tuple[RpcEndpoint, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    server = await aiohttp_server(kamailio_app({
        "core.version": (200, {"jsonrpc": "2.0", "result": "kamailio 6.1.5"}),
        "htable.dump": (200, {"jsonrpc": "2.0", "result": []}),
        "dispatcher.reload": (500, {"jsonrpc": "2.0",
                                    "error": {"code": 500, "message": "Ongoing reload"}}),
        "broken": (200, "<html>oops</html>"),
    }, seen))
    return RpcEndpoint("edge1", "127.0.0.1", server.port), seen


async def test_a_result_comes_back_and_the_call_is_json_rpc(kamailio: Any) -> None:
    endpoint, seen = kamailio
    async with KamailioRpc(endpoint, timeout=5) as rpc:
        assert await rpc.call("core.version") == "kamailio 6.1.5"
        assert await rpc.call("htable.dump", "numbers") == []
    assert [(c["jsonrpc"], c["method"], c["params"]) for c in seen] == [
        ("2.0", "core.version", []), ("2.0", "htable.dump", ["numbers"])]
    assert seen[0]["id"] != seen[1]["id"]


async def test_an_error_answer_is_a_refusal_with_its_code_and_message(kamailio: Any) -> None:
    endpoint, _ = kamailio
    async with KamailioRpc(endpoint, timeout=5) as rpc:
        with pytest.raises(RpcRefused) as refused:
            await rpc.call("dispatcher.reload")
    assert refused.value.code == 500
    assert str(refused.value) == ("Kamailio (edge edge1) refused dispatcher.reload: "
                                  "Ongoing reload")


async def test_an_answer_that_is_no_json_rpc_is_an_error(kamailio: Any) -> None:
    endpoint, _ = kamailio
    async with KamailioRpc(endpoint, timeout=5) as rpc:
        with pytest.raises(RpcError, match="answered broken with HTTP 200 and no JSON-RPC "
                                           "reply") as error:
            await rpc.call("broken")
    assert not isinstance(error.value, RpcRefused)


async def test_silence_ends_at_the_timeout(kamailio: Any) -> None:
    endpoint, _ = kamailio
    async with KamailioRpc(endpoint, timeout=0.3) as rpc:
        with pytest.raises(RpcError) as error:
            await rpc.call("htable.reload", "numbers")
    assert str(error.value) == (f"edge edge1's Kamailio RPC at 127.0.0.1:{endpoint.port} "
                                "did not answer htable.reload within 0.3 s")


async def test_no_kamailio_is_named_with_its_address() -> None:
    with socket.socket() as probe:   # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with KamailioRpc(RpcEndpoint("edge1", "127.0.0.1", port), timeout=5) as rpc:
        with pytest.raises(RpcError) as error:
            await rpc.call("core.version")
    assert str(error.value) == (f"cannot reach edge edge1's Kamailio RPC at 127.0.0.1:{port}: "
                                "connection refused")
