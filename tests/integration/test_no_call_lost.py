"""No call is lost when things break: ``pbxctl serve`` follows the sandbox Asterisk while
SIPp places a steady load of outbound calls (digest auth, out through a SIPp carrier), and
the test breaks what serve depends on:

- serve itself, ``kill -9`` and started again ten times while it stores, then frozen
  (SIGSTOP) for ten seconds (both engines);
- its PostgreSQL connections, terminated twenty times 0.1 s apart, three times over;
- its PostgreSQL server (a throw-away cluster of the test's own), stopped for longer than
  serve holds a CDR in memory, then crashed (``-m immediate``) and started again.

After each, every ANSWERED call Asterisk wrote to Master.csv is stored exactly once, and a
later ``cdr import`` of the same lines inserts nothing.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import asyncpg
import pytest
from sandboxkit import sandbox
from sandboxkit.processes import metric, start_serve, wait_for
from sandboxkit.sipp import SippCarrier, SoftPhone
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pbxctl.db.session import make_engine
from tests.conftest import PG_ADMIN_URL, Pbxctl
from tests.integration.conftest import calling_out
from tests.support import postgres

CARRIER = SippCarrier("tele2", "127.0.0.2")
RATE = 20                     # new calls a second
FAST = {"PBXCTL_AMI_PING_INTERVAL": "1", "PBXCTL_AMI_PING_TIMEOUT": "2",
        "PBXCTL_AMI_BACKOFF_MAX": "1", "PBXCTL_STORAGE_RETRY_MAX": "1",
        "PBXCTL_STORAGE_GIVE_UP": "4", "PBXCTL_CDR_CATCH_UP_EVERY": "5"}


@dataclass
class Company:
    """A branch whose phone calls out through the SIPp carrier."""

    pbxctl: Pbxctl
    branch: str
    phone: SoftPhone
    work: Path


def set_up(pbxctl: Pbxctl, asterisk: Path, work: Path) -> Company:
    branch, phone = calling_out(pbxctl, asterisk, work, CARRIER, "801", "+78435550801")
    return Company(pbxctl, branch, phone, work)


class Serve:
    """``pbxctl serve`` as a process the test can kill, restart and freeze."""

    def __init__(self, database_url: str, log: IO[str], env: dict[str, str]) -> None:
        self.database_url, self.log, self.env = database_url, log, env
        self.process, self.base = start_serve(database_url, env, log)

    def wait_until_following(self) -> None:
        """Until its link is up and Master.csv is marked (calls from now on count)."""
        wait_for("the AMI link and the first catch-up", lambda: metric(
            self.base, "pbxctl_ami_connected", node="local") == 1 and metric(
            self.base, "pbxctl_cdr_catchups_total", node="local", outcome="ok") >= 1)

    def kill_and_restart(self) -> None:
        """``kill -9``, then started again."""
        self.process.kill()
        self.process.wait()
        time.sleep(random.uniform(0.0, 1.0))
        self.process, self.base = start_serve(self.database_url, self.env, self.log)

    def metric(self, name: str, **labels: str) -> float:
        return metric(self.base, name, **labels)


@contextmanager
def serving(database_url: str, work: Path, settings: dict[str, str] | None = None
            ) -> Iterator[Serve]:
    """serve following the sandbox (``settings``: more PBXCTL_* variables); stopped with
    SIGTERM (and a clean exit checked) at the end, killed if the test failed."""
    with (work / "serve.log").open("w") as log:
        serve = Serve(database_url, log, {**FAST, **(settings or {})})
        try:
            serve.wait_until_following()
            yield serve
        except BaseException:
            serve.process.kill()
            serve.process.wait()
            raise
        serve.process.send_signal(signal.SIGTERM)
        serve.process.wait(timeout=60)
        assert serve.process.returncode == 0, (work / "serve.log").read_text()[-3000:]


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


class Load:
    """RATE calls a second for ``seconds`` from the branch's phone, all answered."""

    def __init__(self, company: Company, seconds: int) -> None:
        self.carrier = CARRIER.answer_all_calls(company.work, seconds + 60)
        self.calls = company.phone.place_calls(company.work, "84955550100", RATE,
                                               RATE * seconds)

    def wait(self) -> None:
        self.calls.wait(timeout=300)
        self.carrier.process.kill()
        self.carrier.process.wait()


def answered_in_file(start: int, branch: str) -> tuple[bytes, Counter[str]]:
    """Master.csv's lines after byte ``start``, and its ANSWERED calls of the branch
    (uniqueid: how many rows)."""
    with sandbox.master_csv().open("rb") as handle:
        handle.seek(start)
        data = handle.read()
    data = data[:data.rfind(b"\n") + 1]
    rows = [dict(zip(sandbox.CDR_COLUMNS, row, strict=False))
            for row in csv.reader(io.StringIO(data.decode()))]
    return data, Counter(r["uniqueid"] for r in rows
                         if r["accountcode"] == branch and r["disposition"] == "ANSWERED")


def answered_in_database(database_url: str, branch: str) -> Counter[str]:
    async def read() -> Counter[str]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = (await connection.execute(text(
                    "SELECT uniqueid FROM cdrs WHERE department = :branch "
                    "AND disposition = 'ANSWERED'"), {"branch": branch})).all()
        finally:
            await engine.dispose()
        return Counter(row[0] for row in rows)

    return asyncio.run(read())


def assert_every_answered_call_stored_once(company: Company, start: int,
                                           at_least: int) -> None:
    data, in_file = answered_in_file(start, company.branch)
    assert sum(in_file.values()) >= at_least, "the load did not get through"
    database_url = company.pbxctl.database_url
    wait_for("every answered call stored", lambda: answered_in_database(
        database_url, company.branch) == in_file, seconds=90)
    again = company.work / "again.csv"
    again.write_bytes(data)
    result = json.loads(company.pbxctl.ok("cdr", "import", str(again), "--node", "local",
                                          "--json").stdout)
    assert result["inserted"] == 0, result
    assert answered_in_database(database_url, company.branch) == in_file


def test_serve_killed_ten_times_and_frozen_while_storing_loses_no_call(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    company = set_up(pbxctl, asterisk, tmp_path)
    with serving(pbxctl.database_url, tmp_path) as serve:
        start = file_size(sandbox.master_csv())
        load = Load(company, seconds=60)
        for _ in range(10):
            time.sleep(random.uniform(1.5, 3.0))
            serve.kill_and_restart()
        serve.process.send_signal(signal.SIGSTOP)   # frozen: Asterisk's AMI writes wait
        time.sleep(10)
        serve.process.send_signal(signal.SIGCONT)
        load.wait()
        assert_every_answered_call_stored_once(company, start, at_least=RATE * 30)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_database_connections_cut_twenty_times_lose_no_call(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    company = set_up(pbxctl, asterisk, tmp_path)
    database = make_url(pbxctl.database_url).database
    with serving(pbxctl.database_url, tmp_path) as serve:
        start = file_size(sandbox.master_csv())
        load = Load(company, seconds=30)
        cut = 0
        for _ in range(3):
            time.sleep(5)
            cut += asyncio.run(cut_connections(database, times=20, apart=0.1))
        load.wait()
        assert cut > 0, "no connection of serve's was cut"
        assert_every_answered_call_stored_once(company, start, at_least=RATE * 20)
        assert serve.process.poll() is None, "serve died"
        assert serve.metric("pbxctl_writes_dropped_total") == 0


async def cut_connections(database: str, times: int, apart: float) -> int:
    """Terminate every connection to ``database`` ``times`` times, ``apart`` seconds
    apart; returns how many were terminated."""
    admin = await asyncpg.connect(PG_ADMIN_URL)
    cut = 0
    try:
        for _ in range(times):
            cut += len([row for row in await admin.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()", database) if row[0]])
            await asyncio.sleep(apart)
    finally:
        await admin.close()
    return cut


@pytest.fixture
def own_postgres() -> Iterator[tuple[Pbxctl, postgres.Cluster]]:
    """pbxctl on a database of a throw-away cluster the test may stop and crash."""
    cluster = postgres.new_cluster()
    try:
        cluster.create_database("pbxctl")
        runner = Pbxctl(cluster.url("pbxctl"), {})
        runner.ok("init")
        yield runner, cluster
    finally:
        postgres.remove(cluster)


def test_postgresql_restarts_lose_no_call(own_postgres: tuple[Pbxctl, postgres.Cluster],
                                          asterisk: Path, tmp_path: Path) -> None:
    pbxctl, cluster = own_postgres
    company = set_up(pbxctl, asterisk, tmp_path)
    with serving(pbxctl.database_url, tmp_path) as serve:
        start = file_size(sandbox.master_csv())
        load = Load(company, seconds=35)
        time.sleep(5)
        cluster.stop("fast")           # down longer than serve holds a CDR in memory
        time.sleep(8)
        cluster.start()
        time.sleep(8)
        cluster.stop("immediate")      # a crash: recovery on start
        time.sleep(1)
        cluster.start()
        load.wait()
        assert_every_answered_call_stored_once(company, start, at_least=RATE * 25)
        assert serve.process.poll() is None, "serve died"
        assert serve.metric("pbxctl_storage_failures_total", node="local") > 0
        assert serve.metric("pbxctl_cdrs_caught_up_total", node="local") > 0
        assert serve.metric("pbxctl_cdr_oldest_unstored_age_seconds", node="local") == 0
