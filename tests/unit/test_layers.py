"""Imports point down the layers of docs/architecture.md: no module imports from a layer
above its own. Read from the source (ast), so an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent.parent / "pbxctl"
# Top first; a module belongs to the layer of its longest matching prefix.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("interfaces", ("pbxctl.cli", "pbxctl.api")),
    ("follower", ("pbxctl.follower", "pbxctl.webhooks.delivery", "pbxctl.metrics",
                  "pbxctl.voicemail.delivery")),
    ("services", ("pbxctl.services",)),
    ("edges", ("pbxctl.db", "pbxctl.asterisk", "pbxctl.kamailio", "pbxctl.webhooks.outbox",
               "pbxctl.voicemail.outbox")),
    ("pure logic", ("pbxctl.render", "pbxctl.billing", "pbxctl.queues", "pbxctl.numbering",
                    "pbxctl.validation", "pbxctl.destinations", "pbxctl.names",
                    "pbxctl.ami_events", "pbxctl.ami_rights", "pbxctl.bans",
                    "pbxctl.webhooks", "pbxctl.backup", "pbxctl.company",
                    "pbxctl.voicemail")),
    ("base", ("pbxctl.settings", "pbxctl.errors", "pbxctl.stopping", "pbxctl.addresses",
              "pbxctl.failures", "pbxctl")),
]


def layer_of(module: str) -> int:
    matches = [(len(prefix), index) for index, (_, prefixes) in enumerate(LAYERS)
               for prefix in prefixes if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return max(matches)[1]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(path: Path, known: dict[str, Path]) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                "pbxctl"):
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names
                      if f"{node.module}.{a.name}" in known}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("pbxctl")}
    return names


def test_no_module_imports_from_a_layer_above_it() -> None:
    known = modules()
    upward = [f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} "
              f"({LAYERS[layer_of(target)][0]})"
              for name, path in sorted(known.items())
              for target in sorted(imported(path, known))
              if layer_of(target) < layer_of(name)]
    assert upward == []


def test_the_check_sees_an_upward_import() -> None:
    assert layer_of("pbxctl.cli.main") < layer_of("pbxctl.services.branches")
    assert layer_of("pbxctl.follower.events") < layer_of("pbxctl.services.cdrs")
    assert layer_of("pbxctl.webhooks.delivery") < layer_of("pbxctl.webhooks.outbox") \
        < layer_of("pbxctl.webhooks.events")


# Constructing these, or opening a session, is the services' business (bundle.py).
BUILT_BY_THE_SERVICES = ("Service", "Store", "Switches", "Members", "AuditTrail")
SESSION_OPENERS = ("transaction", "AsyncSession", "async_sessionmaker")


def test_interfaces_build_no_service_and_open_no_session() -> None:
    found = []
    for name, path in sorted(modules().items()):
        if not name.startswith(("pbxctl.cli", "pbxctl.api")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = (node.func.id if isinstance(node.func, ast.Name) else
                          node.func.attr if isinstance(node.func, ast.Attribute) else "")
                if called.endswith(BUILT_BY_THE_SERVICES) or called in SESSION_OPENERS:
                    found.append(f"{name}:{node.lineno} calls {called}")
    assert found == []
