"""serve's scheduled backups: every ``backup_every`` seconds one archive into
``backup_dir`` (see :mod:`pbxctl.backup.retention` for names and what is kept), the node
state included; /metrics told of each outcome; a failure logged and sent to webhooks as
``backup.failed``, and tried again after ``backup_retry`` seconds.

The schedule follows the newest archive in the directory, so a restart of serve neither
backs up at once nor skips a backup that was due.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.backup.retention import scheduled_name, to_delete, written_at
from pbxctl.db.models import utcnow
from pbxctl.errors import PbxctlError
from pbxctl.services.audit import Actor
from pbxctl.services.backups import BackupResult, create_backup
from pbxctl.services.bundle import unit_of_work
from pbxctl.settings import Settings
from pbxctl.stopping import sleep_unless
from pbxctl.webhooks.events import backup_failed_event
from pbxctl.webhooks.outbox import enqueue

log = logging.getLogger(__name__)
DIR_MODE = 0o700


class BackupMetrics(Protocol):
    """Told of each scheduled backup's outcome (for /metrics)."""

    def backup_succeeded(self, at: datetime) -> None:
        """A good backup exists as of ``at``."""
        ...

    def backup_failed(self) -> None:
        """A scheduled backup failed."""
        ...


def backup_directory(path: Path) -> Path:
    """``path``, made (0700) when missing; one that others may enter, or a symbolic
    link, is refused (its mode is the operator's to change, not serve's)."""
    if path.is_symlink():
        raise PbxctlError(f"the backup directory {path} is a symbolic link", "backup_dir")
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PbxctlError(f"the backup directory {path} is mode {mode:o}: others could "
                          f"read the backups; chmod 700 it, or use a directory of its own",
                          "backup_dir")
    return path


def newest(directory: Path) -> datetime | None:
    """When the newest scheduled backup in ``directory`` was written."""
    if not directory.is_dir():
        return None
    times = [when for entry in directory.iterdir() if (when := written_at(entry.name))]
    return max(times, default=None)


def prune(directory: Path, keep: int) -> list[str]:
    """Delete the scheduled backups beyond the newest ``keep``; returns their names."""
    deleted = []
    for name in to_delete(os.listdir(directory), keep):
        path = directory / name
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
            deleted.append(name)
    return deleted


class BackupSchedule:
    """Writes the scheduled backups until told to stop."""

    def __init__(self, engine: AsyncEngine, settings: Settings, actor: Actor,
                 metrics: BackupMetrics, passphrase: bytes | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        assert settings.backup_dir is not None
        self._engine, self._settings, self._actor = engine, settings, actor
        self._dir = settings.backup_dir
        self._metrics = metrics
        self._passphrase = passphrase
        self._clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Back up whenever due until ``stop`` is set."""
        every = timedelta(seconds=self._settings.backup_every)
        last = newest(self._dir)
        if last is not None:
            self._metrics.backup_succeeded(last)
        due = last + every if last is not None else self._clock()
        while not stop.is_set():
            wait = (due - self._clock()).total_seconds()
            if wait > 0:
                await sleep_unless(stop, wait)
                continue
            done = await self.once()
            due = self._clock() + (every if done else timedelta(
                seconds=min(self._settings.backup_retry, self._settings.backup_every)))

    async def once(self) -> BackupResult | None:
        """One backup now, pruned after; None when it failed (reported)."""
        started = self._clock()
        out = self._dir / scheduled_name(started, self._passphrase is not None)
        try:
            backup_directory(self._dir)
            result = await create_backup(self._engine, self._actor, self._settings, out,
                                         self._passphrase,
                                         with_media=self._settings.backup_media)
        except Exception as error:   # any failure is reported; serve goes on
            await self._failed(started, out, error)
            return None
        self._metrics.backup_succeeded(result.manifest.created_at)
        for node, reason in result.manifest.nodes_missing:
            log.warning("scheduled backup %s: no state of node %s: %s", out, node, reason)
        for name in prune(self._dir, self._settings.backup_keep):
            log.info("scheduled backup %s deleted (backup_keep=%d)", name,
                     self._settings.backup_keep)
        log.info("scheduled backup written: %s (%d bytes)", out, result.size)
        return result

    async def _failed(self, at: datetime, out: Path, error: Exception) -> None:
        message = str(error) if isinstance(error, PbxctlError | OSError) \
            else f"{type(error).__name__}: {error}"
        log.error("scheduled backup %s failed: %s", out, message)
        self._metrics.backup_failed()
        try:
            async with unit_of_work(self._engine, self._actor, self._settings) as s:
                await enqueue(s.session, [backup_failed_event(at, str(out), message)])
        except Exception as queueing:   # the database may be what failed
            log.error("backup.failed could not be queued for the webhooks: %s", queueing)
