"""A fake Asterisk behind the AmiClient interface: it "loads" the files in a config
directory the way Asterisk would see their sections, so apply logic is tested without a
real node (the integration tests cover the real one)."""

from __future__ import annotations

import re
from collections.abc import Mapping
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


@dataclass
class FakeAsterisk:
    """Keeps what was loaded at the last reload of each module; records every action."""

    config_dir: Path
    refuse_reload: set[str] = field(default_factory=set)
    actions: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    endpoints: set[str] = field(default_factory=set)
    contexts: set[str] = field(default_factory=set)
    loaded_modules: list[str] = field(default_factory=list)
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
