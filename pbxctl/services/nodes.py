"""Nodes: the Asterisk servers pbxctl renders configuration for."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pbxctl import validation as v
from pbxctl.db.models import Branch, Node
from pbxctl.db.session import key_source, sqlite_file
from pbxctl.errors import ConflictError, NotFoundError, ValidationError
from pbxctl.services.audit import AuditTrail, Snapshot
from pbxctl.settings import Settings

DEFAULT_NODE = "local"


@dataclass(frozen=True)
class NodeSpec:
    """What an operator gives to add a node."""

    name: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    config_dir: str
    sip_address: str
    sip_port: int = 5060
    media_address: str | None = None
    recordings_dir: str | None = None
    cdr_csv: str | None = None


def node_snapshot(node: Node) -> Snapshot:
    """Public fields of a node (the AMI secret is never included)."""
    return {
        "name": node.name, "ami_host": node.ami_host, "ami_port": node.ami_port,
        "ami_user": node.ami_user, "config_dir": node.config_dir,
        "sip_address": node.sip_address, "sip_port": node.sip_port,
        "media_address": node.media_address, "recordings_dir": node.recordings_dir,
        "cdr_csv": node.cdr_csv,
    }


def protected_files(settings: Settings) -> list[Path]:
    """pbxctl's own files no node path may lead to: the SQLite database and its journals,
    the secrets key file."""
    database = sqlite_file(settings.database_url)
    journals = [] if database is None else [
        database, *(database.with_name(database.name + end) for end in ("-journal", "-wal",
                                                                          "-shm"))]
    return [*journals, key_source(settings).file]


def path_inside(field: str, value: str, roots: Sequence[Path],
                protected: Sequence[Path] = (), *, file: bool = False) -> str:
    """The real path (every symbolic link followed) of an absolute directory, or with
    ``file`` a file, that is one of ``roots`` or lies under one; never one of the
    ``protected`` files (pbxctl's database, its key)."""
    path = v.file_path(field, value) if file else v.directory(field, value)
    real = Path(os.path.realpath(path))
    if real in {Path(os.path.realpath(p)) for p in protected}:
        raise ValidationError(field, f"{value!r} is pbxctl's own database or secrets key "
                                     "file")
    if any(real.is_relative_to(os.path.realpath(root)) for root in roots):
        return str(real)
    raise ValidationError(field, f"{value!r} is not inside an allowed directory "
                                 f"({', '.join(map(str, roots)) or 'none'}; the "
                                 "node_config_roots setting)")


class NodeService:
    """Adds, lists and removes nodes; a node's config_dir, recordings_dir and cdr_csv lie
    under ``config_roots`` and are none of the ``protected`` files."""

    def __init__(self, session: AsyncSession, audit: AuditTrail,
                 config_roots: Sequence[Path], protected: Sequence[Path] = ()) -> None:
        self._session = session
        self._audit = audit
        self._config_roots = config_roots
        self._protected = protected

    def _inside(self, field: str, value: str, file: bool = False) -> str:
        return path_inside(field, value, self._config_roots, self._protected, file=file)

    async def add(self, spec: NodeSpec) -> Node:
        """Validate and store a new node."""
        node = Node(
            name=v.slug("name", spec.name),
            ami_host=v.bind_address("ami_host", spec.ami_host),
            ami_port=v.port("ami_port", spec.ami_port),
            ami_user=v.ami_user("ami_user", spec.ami_user),
            ami_secret=v.secret("ami_secret", spec.ami_secret),
            config_dir=self._inside("config_dir", spec.config_dir),
            sip_address=v.ip_address("sip_address", spec.sip_address),
            sip_port=v.port("sip_port", spec.sip_port),
            media_address=v.ip_address("media_address",
                                       spec.media_address or spec.sip_address),
            recordings_dir=(self._inside("recordings_dir", spec.recordings_dir)
                            if spec.recordings_dir else None),
            cdr_csv=self._inside("cdr_csv", spec.cdr_csv, file=True) if spec.cdr_csv else None,
        )
        if await self._find(node.name) is not None:
            raise ConflictError(f"node {node.name!r} already exists")
        self._session.add(node)
        await self._session.flush()
        self._audit.record("node.add", "node", node.name, after=node_snapshot(node))
        return node

    def config_dir(self, node: Node) -> Path:
        """Where ``node``'s files go: the real path, checked again against the roots (a
        link on the way may have changed since the node was added)."""
        return Path(self._inside("config_dir", node.config_dir))

    async def list(self) -> Sequence[Node]:
        """All nodes by name."""
        return (await self._session.scalars(select(Node).order_by(Node.name))).all()

    async def get(self, name: str) -> Node:
        """The node called ``name``."""
        node = await self._find(name)
        if node is None:
            raise NotFoundError(f"no node {name!r}; add it with 'pbxctl node add'")
        return node

    async def resolve(self, name: str | None, field: str = "node") -> Node:
        """The node called ``name``; without a name, ``local``, else the only node."""
        if name is not None:
            v.slug(field, name)
            return await self.get(name)
        nodes = await self.list()
        by_name = {n.name: n for n in nodes}
        if DEFAULT_NODE in by_name:
            return by_name[DEFAULT_NODE]
        if len(nodes) == 1:
            return nodes[0]
        if not nodes:
            raise ValidationError(field, "no node exists yet; add one with 'pbxctl node add'")
        raise ValidationError(field, f"several nodes exist and none is called "
                                     f"{DEFAULT_NODE!r}; say which one")

    async def set_ami_host(self, name: str, ami_host: str) -> Node:
        """Give node ``name`` another AMI address (an IP literal)."""
        node = await self.get(name)
        before = node_snapshot(node)
        node.ami_host = v.bind_address("ami_host", ami_host)
        self._audit.record("node.update", "node", name, before=before,
                           after=node_snapshot(node))
        return node

    async def remove(self, name: str) -> None:
        """Remove a node that serves no branch, not even as its standby."""
        node = await self.get(name)
        count = await self._session.scalar(
            select(func.count()).select_from(Branch)
            .where(or_(Branch.node_id == node.id, Branch.standby_node_id == node.id)))
        if count:
            raise ConflictError(f"node {name!r} still serves {count} branch(es), as their "
                                "node or standby; move or remove them first")
        self._audit.record("node.remove", "node", name, before=node_snapshot(node))
        await self._session.delete(node)

    async def _find(self, name: str) -> Node | None:
        return await self._session.scalar(select(Node).where(Node.name == name))
