"""A fake Asterisk behind the AmiClient interface: it "loads" the files in a config
directory the way Asterisk would see their sections, and keeps queue members the way
app_queue does, so apply, status and queue members are tested without a real node (the
integration tests cover the real one). :class:`FakeAmiServer` puts it behind a real AMI
socket on 127.0.0.1 for code that connects by itself (the API)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pbxctl.asterisk.ami import AmiResponse

_SECTION_RE = re.compile(r"^\[([^\]]+)\]\s*$")


def _sections(text: str) -> list[tuple[str, dict[str, str]]]:
    sections: list[tuple[str, dict[str, str]]] = []
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if match := _SECTION_RE.match(line):
            sections.append((match.group(1), {}))
        elif "=" in line and sections:
            key, _, value = line.partition("=")
            sections[-1][1].setdefault(key.strip(), value.strip())
    return sections


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _queue_members(text: str) -> dict[str, list[tuple[str, str]]]:
    """Each queue of a queues.conf with its static members as (interface, name)."""
    queues: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if match := _SECTION_RE.match(line):
            current = match.group(1) if match.group(1) != "general" else None
            if current:
                queues[current] = []
        elif current and line.startswith("member"):
            interface, _penalty, name, *_rest = line.partition("=>")[2].strip().split(",")
            queues[current].append((interface, name))
    return queues


@dataclass
class Member:
    """A queue member as app_queue keeps it."""

    name: str
    dynamic: bool
    paused: bool = False


@dataclass
class FakeAsterisk:
    """Keeps what was loaded at the last reload of each module; records every action."""

    config_dir: Path
    refuse_reload: set[str] = field(default_factory=set)
    actions: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    endpoints: set[str] = field(default_factory=set)
    contexts: set[str] = field(default_factory=set)
    queues: dict[str, dict[str, Member]] = field(default_factory=dict)
    loaded_modules: list[str] = field(default_factory=list)
    astdb: dict[str, str] = field(default_factory=dict)    # "family/key" -> value
    refuse_astdb: bool = False
    closed: int = 0

    async def connect(self) -> FakeAsterisk:
        return self

    async def action(self, name: str, fields: Mapping[str, str] | None = None) -> AmiResponse:
        fields = dict(fields or {})
        self.actions.append((name, fields))
        if name == "Reload":
            module = fields["Module"]
            if module in self.refuse_reload:
                return AmiResponse(False, "Module does not support reloading", {})
            self._load(module)
            return AmiResponse(True, "Module Reloaded", {})
        if name == "ModuleCheck":
            return AmiResponse(fields["Module"] in self.loaded_modules, "", {})
        if name == "ModuleLoad":
            self.loaded_modules.append(fields["Module"])
            return AmiResponse(True, "Module was successfully loaded.", {})
        if name == "PJSIPShowEndpoints":
            events = [{"Event": "EndpointList", "ObjectName": n} for n in sorted(self.endpoints)]
            return AmiResponse(True, "A listing of Endpoints follows", {}, events)
        if name == "ShowDialPlan":
            found = fields["Context"] in self.contexts
            return AmiResponse(found, "" if found else "Did not find context", {})
        if name == "CoreShowChannels":
            return AmiResponse(True, "Channels will follow", {}, [])
        if name.startswith("Queue"):
            return self._queue_action(name, fields)
        if name.startswith("DB"):
            return self._astdb_action(name, fields)
        return AmiResponse(False, "Invalid/unknown command", {})

    def _astdb_action(self, name: str, fields: dict[str, str]) -> AmiResponse:
        if self.refuse_astdb:
            return AmiResponse(False, "Failed to update entry", {})
        if name == "DBGetTree":       # as Asterisk 22 answers (seen in the sandbox)
            prefix = f"{fields['Family']}/"
            return AmiResponse(True, "Result will follow", {}, [
                {"Event": "DBGetTreeResponse", "Key": f"/{key}", "Val": value}
                for key, value in sorted(self.astdb.items()) if key.startswith(prefix)])
        key = f"{fields['Family']}/{fields['Key']}"
        if name == "DBPut":
            self.astdb[key] = fields["Val"]
            return AmiResponse(True, "Updated database successfully", {})
        if key not in self.astdb:
            return AmiResponse(False, "Database entry not found", {})
        if name == "DBDel":
            del self.astdb[key]
            return AmiResponse(True, "Key deleted successfully", {})
        return AmiResponse(True, "Result will follow", {})

    def _queue_action(self, name: str, fields: dict[str, str]) -> AmiResponse:
        if name == "QueueStatus":
            events = []
            for queue, members in sorted(self.queues.items()):
                events.append({"Event": "QueueParams", "Queue": queue, "Calls": "0",
                               "ServicelevelPerf": "100.0"})
                events += [{"Event": "QueueMember", "Queue": queue, "Name": m.name,
                            "Location": interface, "Status": "1",
                            "Paused": "1" if m.paused else "0",
                            "Membership": "dynamic" if m.dynamic else "static"}
                           for interface, m in sorted(members.items())]
            return AmiResponse(True, "Queue status will follow", {}, events)
        members = self.queues.get(fields.get("Queue", ""))
        interface = fields.get("Interface", "")
        if name == "QueueAdd":
            if members is None:
                return AmiResponse(False, "Unable to add interface to queue: No such queue", {})
            if interface in members:
                return AmiResponse(False, "Unable to add interface: Already there", {})
            members[interface] = Member(fields.get("MemberName", interface), dynamic=True,
                                        paused=fields.get("Paused") == "true")
            return AmiResponse(True, "Added interface to queue", {})
        if name == "QueueRemove":
            if members is None or interface not in members:
                return AmiResponse(False, "Unable to remove interface: Not there", {})
            if not members[interface].dynamic:
                return AmiResponse(False, "Unable to remove interface: Not dynamic", {})
            del members[interface]
            return AmiResponse(True, "Removed interface from queue", {})
        if name == "QueuePause":
            if members is None or interface not in members:
                return AmiResponse(False, "Interface not found", {})
            members[interface].paused = fields["Paused"] == "true"
            state = "paused" if members[interface].paused else "unpaused"
            return AmiResponse(True, f"Interface {state} successfully", {})
        return AmiResponse(False, "Invalid/unknown command", {})

    async def close(self) -> None:
        self.closed += 1

    def _load(self, module: str) -> None:
        if module == "res_pjsip.so":
            text = _read(self.config_dir / "pjsip.conf")
            self.endpoints = {n for n, opts in _sections(text) if opts.get("type") == "endpoint"}
        elif module == "pbx_config.so":
            text = _read(self.config_dir / "extensions.conf")
            self.contexts = {n for n, _ in _sections(text) if n not in ("general", "globals")}
        elif module == "app_queue.so":
            # Dynamic members of queues that stay are kept (persistentmembers, AstDB).
            configured = _queue_members(_read(self.config_dir / "queues.conf"))
            self.queues = {queue: {
                **{i: m for i, m in self.queues.get(queue, {}).items() if m.dynamic},
                **{interface: Member(name, dynamic=False) for interface, name in static}}
                for queue, static in configured.items()}


# Event-list actions and the event that ends each list.
_LIST_END = {"PJSIPShowEndpoints": "EndpointListComplete",
             "CoreShowChannels": "CoreShowChannelsComplete",
             "QueueStatus": "QueueStatusComplete", "DBGetTree": "DBGetTreeComplete",
             "DBGet": "DBGetComplete"}


@dataclass
class FakeAmiServer:
    """A :class:`FakeAsterisk` behind a real AMI socket: a login with the right user and
    secret, then each action answered the way Asterisk frames it (event lists included)."""

    asterisk: FakeAsterisk
    username: str = "pbxctl"
    secret: str = "secret-123"
    port: int = 0
    logins: int = 0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeAmiServer]:
        """Listen on 127.0.0.1 (a free port) until the block ends."""
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                block = (await reader.readuntil(b"\r\n\r\n")).decode()
                fields = dict(line.split(": ", 1) for line in block.strip().split("\r\n"))
                name, action_id = fields.pop("Action", ""), fields.pop("ActionID", "")
                for reply in await self._answer(name, fields):
                    writer.write(f"{reply}ActionID: {action_id}\r\n\r\n".encode())
                await writer.drain()
                if name == "Logoff":
                    break
        writer.close()

    async def _answer(self, name: str, fields: dict[str, str]) -> list[str]:
        if name == "Login":
            if (fields.get("Username"), fields.get("Secret")) != (self.username, self.secret):
                return ["Response: Error\r\nMessage: Authentication failed\r\n"]
            self.logins += 1
            return ["Response: Success\r\nMessage: Authentication accepted\r\n"]
        if name == "Logoff":
            return ["Response: Goodbye\r\nMessage: Thanks for all the fish.\r\n"]
        response = await self.asterisk.action(name, fields)
        head = (f"Response: {'Success' if response.success else 'Error'}\r\n"
                f"Message: {response.message}\r\n")
        if name not in _LIST_END or not response.success:
            return [head]
        events = ["".join(f"{k}: {v}\r\n" for k, v in event.items())
                  for event in response.events]
        return [head + "EventList: start\r\n", *events,
                f"Event: {_LIST_END[name]}\r\nEventList: Complete\r\n"
                f"ListItems: {len(events)}\r\n"]
