"""serve's scheduled backups: written 0600 into a 0700 directory under their own names,
only its own older archives pruned (the newest kept), the schedule following the newest
one; a failure counted, logged and sent to webhooks as backup.failed; /metrics and
status show the last good backup."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client import generate_latest
from sqlalchemy import select

from pbxctl.backup.retention import scheduled_name, to_delete, written_at
from pbxctl.db.models import WebhookMessage
from pbxctl.db.session import make_engine, transaction
from pbxctl.follower.backups import BackupSchedule, newest
from pbxctl.metrics import ServeMetrics
from pbxctl.services.audit import Actor
from pbxctl.services.backups import BackupResult
from pbxctl.settings import Settings
from tests.conftest import Pbxctl

SERVE = Actor("pbxctl serve", "serve")
NOW = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def test_only_its_own_archives_beyond_the_newest_are_deleted() -> None:
    ours = [scheduled_name(NOW - timedelta(days=d), encrypted=d == 1) for d in range(5)]
    others = ["pbxctl-backup-20261101T000000Z.tar", "notes.txt",
              "pbxctl-scheduled-2026.tar", ".pbxctl-scheduled-20261130T220000Z.tar.x.tmp"]
    assert written_at(ours[1]) == NOW - timedelta(days=1)
    assert sorted(to_delete(ours + others, 2)) == sorted(ours[2:])
    assert sorted(to_delete(ours, 0)) == sorted(ours[1:])        # the newest always stays
    assert to_delete(others, 1) == []


class Seen:
    """The outcomes the schedule reports, and the same on real /metrics."""

    def __init__(self) -> None:
        self.metrics = ServeMetrics()
        self.succeeded: list[datetime] = []
        self.failures = 0

    def backup_succeeded(self, at: datetime) -> None:
        self.succeeded.append(at)
        self.metrics.backup_succeeded(at)

    def backup_failed(self) -> None:
        self.failures += 1
        self.metrics.backup_failed()

    def exposed(self) -> dict[str, float]:
        text = generate_latest(self.metrics.registry).decode()
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                if line.startswith("pbxctl_backup")}


def _once(pbxctl: Pbxctl, directory: Path, seen: Seen,
          at: datetime = NOW) -> BackupResult | None:
    """One scheduled backup (keeping 2) at ``at``."""
    async def run() -> BackupResult | None:
        settings = Settings(database_url=pbxctl.database_url, backup_dir=directory,
                            backup_keep=2)
        engine = make_engine(pbxctl.database_url)
        try:
            return await BackupSchedule(engine, settings, SERVE, seen,
                                        clock=lambda: at).once()
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_scheduled_backups_are_kept_private_and_pruned(pbxctl: Pbxctl,
                                                       tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    seen = Seen()
    for days in (3, 2, 1):
        assert _once(pbxctl, directory, seen, NOW - timedelta(days=days)) is not None
    manual = directory / "pbxctl-backup-20261101T000000Z.tar"
    manual.write_bytes(b"an operator's own")
    done = _once(pbxctl, directory, seen)

    assert done is not None and done.path == directory / scheduled_name(NOW, False)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(done.path.stat().st_mode) == 0o600
    assert sorted(p.name for p in directory.iterdir()) == sorted([
        manual.name, scheduled_name(NOW - timedelta(days=1), False), done.path.name])
    assert newest(directory) == NOW
    assert seen.failures == 0 and len(seen.succeeded) == 4
    exposed = seen.exposed()
    assert exposed["pbxctl_backup_last_success_timestamp_seconds"] == \
        seen.succeeded[-1].timestamp()
    assert exposed["pbxctl_backup_failures_total"] == 0
    assert exposed["pbxctl_backup_age_seconds"] >= 0

    shown = json.loads(pbxctl.ok("status", "--json").stdout)["backup"]
    assert (shown["file"], shown["actor"], shown["nodes_missing"]) == (
        str(done.path.resolve()), "pbxctl serve", [])
    # the time the audit trail recorded, a moment after the manifest's: the same minute
    # only most of the time
    recorded = datetime.fromisoformat(shown["at"])
    assert recorded >= done.manifest.created_at
    assert f"backup: last {recorded:%Y-%m-%d %H:%M}Z by pbxctl serve" in \
        pbxctl.ok("status").stdout


async def _webhook_events(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    try:
        async with transaction(engine) as session:
            return [(m.event, m.payload) for m in (await session.scalars(
                select(WebhookMessage).order_by(WebhookMessage.id))).all()]
    finally:
        await engine.dispose()


def test_a_failed_backup_is_counted_logged_and_sent_to_webhooks(
        pbxctl: Pbxctl, tmp_path: Path, caplog) -> None:  # noqa: ANN001
    pbxctl.ok("webhook", "add", "https://crm.example.com/pbx", "--events", "backup.failed")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the backup directory should be")
    seen = Seen()
    assert _once(pbxctl, blocker / "backups", seen) is None
    assert seen.failures == 1 and seen.succeeded == []
    assert seen.exposed()["pbxctl_backup_failures_total"] == 1
    assert seen.exposed()["pbxctl_backup_age_seconds"] == -1
    assert "scheduled backup" in caplog.text and "failed" in caplog.text
    ((event, payload),) = asyncio.run(_webhook_events(pbxctl.database_url))
    body = json.loads(payload)
    assert event == "backup.failed" and body["event"] == "backup.failed"
    assert body["backup"]["file"].endswith(scheduled_name(NOW, False))
    assert json.loads(pbxctl.ok("status", "--json").stdout)["backup"] is None


def test_a_backup_directory_others_may_enter_is_refused_not_changed(
        pbxctl: Pbxctl, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    seen = Seen()
    assert _once(pbxctl, shared, seen) is None
    assert seen.failures == 1 and list(shared.iterdir()) == []
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755


def test_a_symlinked_backup_directory_is_refused(pbxctl: Pbxctl, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    seen = Seen()
    assert _once(pbxctl, tmp_path / "link", seen) is None
    assert seen.failures == 1 and list(real.iterdir()) == []


class StopsAfterOne(Seen):
    """Stops the schedule at its first good backup (or the one it finds)."""

    def __init__(self, stop: asyncio.Event) -> None:
        super().__init__()
        self.stop = stop

    def backup_succeeded(self, at: datetime) -> None:
        super().backup_succeeded(at)
        self.stop.set()


def _run(pbxctl: Pbxctl, directory: Path) -> StopsAfterOne:
    async def run() -> StopsAfterOne:
        stop = asyncio.Event()
        seen = StopsAfterOne(stop)
        engine = make_engine(pbxctl.database_url)
        settings = Settings(database_url=pbxctl.database_url, backup_dir=directory)
        try:
            await BackupSchedule(engine, settings, SERVE, seen, clock=lambda: NOW).run(stop)
        finally:
            await engine.dispose()
        return seen

    return asyncio.run(run())


def test_the_schedule_backs_up_at_once_when_none_is_there_and_follows_the_newest(
        pbxctl: Pbxctl, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    first = _run(pbxctl, directory)
    assert [p.name for p in directory.iterdir()] == [scheduled_name(NOW, False)]
    assert len(first.succeeded) == 1
    again = _run(pbxctl, directory)          # serve restarted: the newest one is known
    assert again.succeeded == [NOW] and len(list(directory.iterdir())) == 1
