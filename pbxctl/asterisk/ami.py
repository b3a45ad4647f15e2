"""Our small AMI interface, with panoramisk behind it so it can be swapped or faked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from panoramisk import Manager

from pbxctl.errors import AmiError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AmiResponse:
    """A response to one action, with the events of an event-list action."""

    success: bool
    message: str
    fields: dict[str, str]
    events: list[dict[str, str]] = field(default_factory=list)


class AmiClient(Protocol):
    """What pbxctl needs from an AMI connection."""

    async def action(self, name: str, fields: Mapping[str, str] | None = None) -> AmiResponse:
        """Send an action and wait (with a deadline) for its complete response."""
        ...

    async def close(self) -> None:
        """Log off and close the connection."""
        ...


# panoramisk takes "Added interface to queue" for the start of an event list and waits for
# its end, which never comes: these actions answer with one response, full stop.
_ONE_RESPONSE = frozenset({"queueadd"})


class _NeverResend:
    """panoramisk re-sends unanswered actions after a reconnect unless they are
    "forgetable"; we never want that (an Originate must not ring twice)."""

    def __contains__(self, _action: object) -> bool:
        return True


class _SupervisedManager(Manager):  # type: ignore[misc]
    """A panoramisk Manager that never reconnects by itself: whoever owns it decides when
    and how (with backoff), and learns of a lost connection through ``lost``."""

    pinger: asyncio.TimerHandle | None  # set by panoramisk

    def __init__(self, **config: object) -> None:
        super().__init__(**config)
        self.lost = asyncio.Event()

    def connection_made(self, f: asyncio.Future[object]) -> None:
        if f.cancelled() or f.exception() is not None:
            return  # the caller awaiting connect() sees the error; no retry behind its back
        super().connection_made(f)

    def connection_lost(self, exc: object) -> None:
        self._connected = False
        if self.pinger:
            self.pinger.cancel()
            self.pinger = None
        self.lost.set()


@dataclass(frozen=True)
class AmiEndpoint:
    """Where and as whom to log in."""

    host: str
    port: int
    username: str
    secret: str


def _register(manager: Manager, name: str, callback: Callable[[dict[str, str]], None]
              ) -> None:
    manager.register_event(name, lambda _manager, event: callback(
        {str(k): str(v) for k, v in event.items()}))


class PanoramiskAmiClient:
    """An :class:`AmiClient` over a panoramisk Manager (created inside the running loop)."""

    def __init__(self, manager: Manager, timeout: float) -> None:
        self._manager = manager
        self._timeout = timeout

    @classmethod
    async def connect(cls, endpoint: AmiEndpoint, *, timeout: float = 10.0,
                      attempts: int = 3, events: str = "off",
                      handlers: Mapping[str, Callable[[dict[str, str]], None]] | None = None
                      ) -> PanoramiskAmiClient:
        """Connect and log in, retrying with exponential backoff and jitter. ``handlers``
        (event name → callback) are in place before the login, so no event slips by."""
        last_error: Exception | None = None
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(min(8.0, 0.5 * 2 ** attempt) * random.uniform(0.5, 1.0))
            manager = _SupervisedManager(
                loop=asyncio.get_running_loop(), host=endpoint.host, port=endpoint.port,
                username=endpoint.username, secret=endpoint.secret, events=events,
                ping_delay=3600, forgetable_actions=_NeverResend(), log=log)
            for name, handler in (handlers or {}).items():
                _register(manager, name, handler)
            try:
                await asyncio.wait_for(cls._login(manager), timeout)
                return cls(manager, timeout)
            except AmiError:
                manager.close()
                raise
            except (OSError, TimeoutError) as exc:
                manager.close()
                last_error = exc
        raise AmiError(f"cannot reach AMI at {endpoint.host}:{endpoint.port}: "
                       f"{last_error or 'no answer'}")

    @staticmethod
    async def _login(manager: Manager) -> None:
        connected = manager.connect()
        await connected  # raises OSError when refused
        if manager.protocol is None or manager.authenticated_future is None:
            raise OSError("connection closed before login")
        response = await manager.authenticated_future
        if not response.success:
            raise AmiError(f"AMI login refused: {response.get('Message', 'unknown reason')}")

    @property
    def lost(self) -> asyncio.Event:
        """Set when the connection is gone (closed by the peer, Asterisk shut down)."""
        return self._manager.lost  # type: ignore[no-any-return]

    async def action(self, name: str, fields: Mapping[str, str] | None = None) -> AmiResponse:
        """Send one action; an event-list action returns its events too."""
        payload = {"Action": name, **(fields or {})}
        try:
            result = await asyncio.wait_for(self._manager.send_action(
                payload, as_list=False if name.lower() in _ONE_RESPONSE else None),
                self._timeout)
        except TimeoutError:
            raise AmiError(f"AMI action {name} got no answer within {self._timeout:g} s") from None
        messages = result if isinstance(result, list) else [result]
        head = messages[0]
        events = [dict(m) for m in messages[1:] if "Event" in m
                  and not str(m.get("Event", "")).endswith("Complete")]
        return AmiResponse(success=bool(head.success),
                           message=str(head.get("Message", "")),
                           fields={k: str(v) for k, v in head.items()}, events=events)

    async def close(self) -> None:
        """Log off (best effort) and close."""
        if (self._manager.protocol is not None and not self._manager.protocol.closed
                and not self.lost.is_set()):
            with contextlib.suppress(TimeoutError, OSError):
                await asyncio.wait_for(self._manager.send_action({"Action": "Logoff"}), 2)
        self._manager.close()
