"""Edges: the Kamailio SIP proxies in front of the nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl import validation as v
from pbxctl.asterisk.files import ensure_directory
from pbxctl.db.models import Edge
from pbxctl.errors import ConflictError, NotFoundError, ValidationError
from pbxctl.kamailio.files import write_file
from pbxctl.render.edge import render_edge
from pbxctl.render.templates import TemplateSet
from pbxctl.services.audit import AuditTrail, Snapshot
from pbxctl.services.nodes import path_inside
from pbxctl.services.read.edge_state import load_edge_config


@dataclass(frozen=True)
class EdgeSpec:
    """What an operator gives to add an edge."""

    name: str
    sip_address: str
    rpc: str            # ADDRESS:PORT of Kamailio's JSON-RPC over HTTP
    config_dir: str
    sip_port: int = 5060


def edge_snapshot(edge: Edge) -> Snapshot:
    """Fields of an edge as the audit trail and ``--json`` show them."""
    return {"name": edge.name, "sip_address": edge.sip_address, "sip_port": edge.sip_port,
            "rpc_address": edge.rpc_address, "rpc_port": edge.rpc_port,
            "config_dir": edge.config_dir}


class EdgeService:
    """Adds, lists and removes edges; an edge's config_dir lies under ``config_roots`` and
    is none of the ``protected`` files."""

    def __init__(self, session: AsyncSession, audit: AuditTrail,
                 config_roots: Sequence[Path], protected: Sequence[Path] = ()) -> None:
        self._session = session
        self._audit = audit
        self._config_roots = config_roots
        self._protected = protected

    async def add(self, spec: EdgeSpec) -> Edge:
        """Validate and store a new edge; SIP and RPC may not share an address and port."""
        name = v.slug("name", spec.name)
        sip_address = v.bind_address("sip_address", spec.sip_address)
        sip_port = v.port("sip_port", spec.sip_port)
        rpc_address, rpc_port = v.bind_endpoint("rpc", spec.rpc)
        if rpc_port == sip_port:
            raise ValidationError("rpc", f"port {rpc_port} is also the `sip_port`; give RPC "
                                         "a port of its own")
        edge = Edge(name=name, sip_address=sip_address, sip_port=sip_port,
                    rpc_address=rpc_address, rpc_port=rpc_port,
                    config_dir=self.config_dir_of(spec.config_dir))
        if await self._find(edge.name) is not None:
            raise ConflictError(f"edge {edge.name!r} already exists")
        self._session.add(edge)
        await self._session.flush()
        self._audit.record("edge.add", "edge", edge.name, after=edge_snapshot(edge))
        return edge

    def config_dir_of(self, value: str) -> str:
        """The real path of an edge's configuration directory, checked against the roots
        (again at render time: a link on the way may have changed since)."""
        return path_inside("config_dir", value, self._config_roots, self._protected)

    async def list(self) -> Sequence[Edge]:
        """All edges by name."""
        return (await self._session.scalars(select(Edge).order_by(Edge.name))).all()

    async def get(self, name: str) -> Edge:
        """The edge called ``name``."""
        edge = await self._find(v.slug("name", name))
        if edge is None:
            raise NotFoundError(f"no edge {name!r}; add it with 'pbxctl edge add'")
        return edge

    async def render(self, name: str, templates: TemplateSet) -> dict[str, str]:
        """Edge ``name``'s files as they should be, by path under its config_dir."""
        edge = await self.get(name)
        config = await load_edge_config(self._session, edge,
                                        self.config_dir_of(edge.config_dir))
        return render_edge(config, templates)

    async def remove(self, name: str) -> None:
        """Forget an edge (its Kamailio keeps running with its last configuration)."""
        edge = await self.get(name)
        self._audit.record("edge.remove", "edge", name, before=edge_snapshot(edge))
        await self._session.delete(edge)

    async def _find(self, name: str) -> Edge | None:
        return await self._session.scalar(select(Edge).where(Edge.name == name))


def write_edge_files(directory: Path, files: dict[str, str]) -> None:
    """Write ``files`` under ``directory``, each atomically (0640), making their
    subdirectories (0750)."""
    ensure_directory(directory)
    for relative, text in sorted(files.items()):
        write_file(directory, relative, text)
