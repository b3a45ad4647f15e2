"""A throw-away PostgreSQL cluster of the test's own (Debian's initdb and pg_ctl), for
faults that must never touch the machine's shared server: stopping and restarting it."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sandboxkit.processes import free_port

OWNER = "postgres"   # initdb refuses to run as root


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found: apt-get install postgresql")
    return found[-1]


@dataclass
class Cluster:
    """A running cluster on 127.0.0.1:``port`` with trust auth for ``postgres``."""

    directory: Path
    port: int

    def url(self, database: str) -> str:
        """An asyncpg URL for one of its databases."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", OWNER, "--", _bin("pg_ctl"), "-D",
                        str(self.directory / "data"), *args], check=True,
                       capture_output=True, timeout=120)

    def start(self) -> None:
        """Start it and wait until it takes connections."""
        self._ctl("-l", str(self.directory / "log"), "-w", "-o",
                  f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                  "-c fsync=off -c max_connections=50", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop it (``fast``: roll back and disconnect; ``immediate``: as a crash)."""
        self._ctl("-m", mode, "-w", "stop")

    def create_database(self, name: str) -> None:
        """An empty database."""

        async def create() -> None:
            connection = await asyncpg.connect(host="127.0.0.1", port=self.port,
                                               user="postgres", database="postgres")
            try:
                await connection.execute(f'CREATE DATABASE "{name}"')
            finally:
                await connection.close()

        asyncio.run(create())


def new_cluster() -> Cluster:
    """initdb a cluster in a new directory owned by ``postgres`` and start it."""
    directory = Path(tempfile.mkdtemp(prefix="pbxctl-pg-"))
    owner = pwd.getpwnam(OWNER)
    os.chown(directory, owner.pw_uid, owner.pw_gid)
    os.chmod(directory, 0o700)
    subprocess.run(["runuser", "-u", OWNER, "--", _bin("initdb"), "-D",
                    str(directory / "data"), "-A", "trust", "-U", "postgres", "--no-sync",
                    "-E", "UTF8"], check=True, capture_output=True, timeout=120)
    cluster = Cluster(directory, free_port())
    cluster.start()
    return cluster


def remove(cluster: Cluster) -> None:
    """Stop the cluster (if running) and delete its files."""
    with contextlib.suppress(subprocess.CalledProcessError):
        cluster.stop("immediate")
    shutil.rmtree(cluster.directory, ignore_errors=True)
