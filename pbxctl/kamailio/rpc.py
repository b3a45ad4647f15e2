"""A small client of Kamailio's JSON-RPC over HTTP (the jsonrpcs module behind xhttp)."""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from pbxctl.errors import PbxctlError
from pbxctl.render.edge import host_port


class RpcError(PbxctlError):
    """Kamailio's RPC could not be reached or answered nonsense."""


class RpcRefused(RpcError):
    """Kamailio answered a call with a JSON-RPC error: it did not do what was asked."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class RpcEndpoint:
    """Where one edge's Kamailio answers JSON-RPC."""

    edge: str
    address: str
    port: int

    @property
    def url(self) -> str:
        """The HTTP URL the jsonrpcs module serves (``/RPC``)."""
        return f"http://{host_port(self.address, self.port)}/RPC"

    def __str__(self) -> str:
        return f"edge {self.edge}'s Kamailio RPC at {host_port(self.address, self.port)}"


class KamailioRpc:
    """JSON-RPC calls to one edge, each within ``timeout`` seconds; use ``async with``."""

    def __init__(self, endpoint: RpcEndpoint, timeout: float) -> None:
        self.endpoint = endpoint
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> KamailioRpc:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, *params: str) -> Any:
        """The ``result`` of ``method``; :class:`RpcRefused` when Kamailio answers with an
        error, :class:`RpcError` when it cannot be reached or answers something else."""
        if self._session is None:
            raise RuntimeError("KamailioRpc is used outside 'async with'")
        request = {"jsonrpc": "2.0", "method": method, "params": list(params),
                   "id": next(self._ids)}
        try:
            async with self._session.post(self.endpoint.url, json=request) as response:
                body = await response.read()
        except TimeoutError as exc:
            raise RpcError(f"{self.endpoint} did not answer {method} within "
                           f"{self._timeout.total:g} s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise RpcError(f"cannot reach {self.endpoint}: {_reason(exc)}") from exc
        return self._result(method, response.status, body)

    def _result(self, method: str, status: int, body: bytes) -> Any:
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not ("result" in answer or "error" in answer):
            raise RpcError(f"{self.endpoint} answered {method} with HTTP {status} and no "
                           f"JSON-RPC reply: {body[:200]!r}")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            code = error.get("code") if isinstance(error.get("code"), int) else None
            raise RpcRefused(f"Kamailio (edge {self.endpoint.edge}) refused {method}: "
                             f"{error.get('message', answer['error'])}", code)
        return answer["result"]


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words (``connection refused``)."""
    if isinstance(exc, aiohttp.ClientConnectorError) and exc.os_error.errno:
        return os.strerror(exc.os_error.errno).lower()
    return str(exc) or type(exc).__name__
