"""The AMI link against a small AMI server on 127.0.0.1 that can drop the connection,
go silent (half-open) or refuse logins: the link notices, backs off and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from pbxctl.asterisk.ami import AmiEndpoint, PanoramiskAmiClient
from pbxctl.asterisk.link import AmiLink, LinkPolicy, panoramisk_connector
from pbxctl.errors import AmiError

FAST = LinkPolicy(ping_interval=0.2, ping_timeout=0.3, backoff_initial=0.05, backoff_max=0.2)


@dataclass
class AmiServer:
    """Speaks enough AMI for a login, pings and events."""

    refuse_logins: int = 0
    silent: bool = False          # stop answering (a half-open link looks like this)
    actions: list[str] = field(default_factory=list)
    logins: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                block = (await reader.readuntil(b"\r\n\r\n")).decode()
                fields = dict(line.split(": ", 1) for line in block.strip().split("\r\n"))
                action, action_id = fields.get("Action", ""), fields.get("ActionID", "")
                self.actions.append(action)
                if self.silent:
                    continue
                if action == "Login":
                    self.logins += 1
                    if self.refuse_logins:
                        self.refuse_logins -= 1
                        self._send(writer, f"Response: Error\r\nActionID: {action_id}\r\n"
                                           "Message: Authentication failed")
                        continue
                    self._send(writer, f"Response: Success\r\nActionID: {action_id}\r\n"
                                       "Message: Authentication accepted")
                elif action == "Ping":
                    self._send(writer, f"Response: Success\r\nActionID: {action_id}\r\n"
                                       "Ping: Pong")
                elif action == "Logoff":
                    self._send(writer, f"Response: Goodbye\r\nActionID: {action_id}")

    @staticmethod
    def _send(writer: asyncio.StreamWriter, text: str) -> None:
        writer.write(text.encode() + b"\r\n\r\n")

    def event(self, text: str) -> None:
        self._send(self.writers[-1], text)

    def drop(self) -> None:
        for writer in self.writers:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[AmiServer]:
    fake = AmiServer()
    listener = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    fake.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield fake
        fake.drop()


@dataclass
class Observer:
    ups: list[bool] = field(default_factory=list)
    downs: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def link_up(self, node: str, reconnect: bool) -> None:
        self.ups.append(reconnect)
        self.changed.set()

    def link_down(self, node: str, reason: str) -> None:
        self.downs.append(reason)
        self.changed.set()

    async def until(self, condition: object, seconds: float = 5.0) -> None:
        async with asyncio.timeout(seconds):
            while not condition():  # type: ignore[operator]
                self.changed.clear()
                await self.changed.wait()


def endpoint(server: AmiServer) -> AmiEndpoint:
    return AmiEndpoint("127.0.0.1", server.port, "pbxctl", "secret-123")


async def running_link(server: AmiServer, observer: Observer,
                       events: list[dict[str, str]]) -> tuple[asyncio.Event, asyncio.Task[None]]:
    link = AmiLink("local", panoramisk_connector(endpoint(server), "cdr", FAST),
                   {"Cdr": events.append}, observer, FAST)
    stop = asyncio.Event()
    return stop, asyncio.create_task(link.run(stop))


async def test_events_flow_and_a_dropped_link_comes_back(server: AmiServer) -> None:
    observer, events = Observer(), []
    stop, task = await running_link(server, observer, events)
    await observer.until(lambda: observer.ups == [False])
    server.event("Event: Cdr\r\nUniqueID: 1.1")
    server.drop()
    await observer.until(lambda: observer.ups == [False, True])
    assert observer.downs == ["connection closed by the node"]
    server.event("Event: Cdr\r\nUniqueID: 1.2")
    async with asyncio.timeout(5):
        while len(events) < 2:
            await asyncio.sleep(0.02)
    assert [e["UniqueID"] for e in events] == ["1.1", "1.2"]
    stop.set()
    await task
    assert server.actions[-1] == "Logoff"


async def test_a_silent_half_open_link_is_noticed_by_its_ping_deadline(
        server: AmiServer) -> None:
    observer = Observer()
    stop, task = await running_link(server, observer, [])
    await observer.until(lambda: observer.ups == [False])
    server.silent = True
    await observer.until(lambda: observer.downs)
    assert "no answer to Ping within 0.3 s" in observer.downs[0]
    server.silent = False
    await observer.until(lambda: observer.ups == [False, True])
    stop.set()
    await task


async def test_refused_logins_are_retried_with_backoff(server: AmiServer) -> None:
    server.refuse_logins = 3
    observer = Observer()
    stop, task = await running_link(server, observer, [])
    await observer.until(lambda: observer.ups == [False])
    assert server.logins == 4 and observer.downs == []
    stop.set()
    await task


async def test_an_unanswered_action_is_never_sent_again_after_a_reconnect(
        server: AmiServer) -> None:
    client = await PanoramiskAmiClient.connect(endpoint(server), timeout=0.5, attempts=1)
    server.silent = True
    pending = asyncio.create_task(client.action("Originate", {"Channel": "PJSIP/201"}))
    await asyncio.sleep(0.1)
    server.drop()
    with pytest.raises(AmiError):
        await pending
    server.silent = False
    again = await PanoramiskAmiClient.connect(endpoint(server), timeout=0.5, attempts=1)
    server.event("Event: FullyBooted\r\nStatus: Fully Booted")
    await again.action("Ping")
    await asyncio.sleep(0.2)
    assert server.actions.count("Originate") == 1
    assert client.lost.is_set()
    await client.close()
    await again.close()


async def test_a_failed_connect_leaves_nothing_retrying_behind() -> None:
    with socket.socket() as probe:          # a port nobody listens on, for now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(AmiError):
        await PanoramiskAmiClient.connect(AmiEndpoint("127.0.0.1", port, "pbxctl", "x" * 8),
                                          timeout=0.5, attempts=1)
    late = AmiServer()
    async with await asyncio.start_server(late.handle, "127.0.0.1", port):
        await asyncio.sleep(2.5)            # panoramisk's own retry would come after 2 s
    assert late.writers == []


async def test_a_link_that_keeps_dropping_backs_off_further_each_time(
        server: AmiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    counted: list[int] = []

    def recording(failures: int, policy: LinkPolicy, *_args: object) -> float:
        counted.append(failures)
        return 0.01

    monkeypatch.setattr("pbxctl.asterisk.link.backoff_delay", recording)

    class Flapping(Observer):
        async def link_up(self, node: str, reconnect: bool) -> None:
            await super().link_up(node, reconnect)
            server.drop()                        # gone right after every login

    flapping = Flapping()
    link = AmiLink("local", panoramisk_connector(endpoint(server), "cdr", FAST), {},
                   flapping, FAST)
    stop = asyncio.Event()
    task = asyncio.create_task(link.run(stop))
    await flapping.until(lambda: len(flapping.downs) >= 4)
    stop.set()
    await task
    assert counted[:4] == [1, 2, 3, 4]
