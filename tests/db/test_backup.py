"""Backups that restore: a company on one engine, backed up, restored into the other, gives
the same reports, audit trail, tokens and secrets; damaged, forged, foreign or wrong
archives are refused and change nothing."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from pbxctl.backup.archive import FORMAT_VERSION, ArchiveReader, Manifest
from pbxctl.backup.crypto import DecryptingReader
from pbxctl.db.migrate import upgrade
from pbxctl.db.models import Carrier, Extension, Node, Webhook
from pbxctl.db.schema_check import SCHEMA_HEAD
from pbxctl.db.secrets import key_id
from pbxctl.db.session import make_engine
from pbxctl.db.snapshot import snapshot
from pbxctl.services.audit import Actor
from pbxctl.services.bundle import unit_of_work
from pbxctl.services.extensions import sip_ha1
from pbxctl.settings import Settings
from tests.billing.test_cost_report import MASTER
from tests.cli.test_billing_cli import DECK
from tests.conftest import Pbxctl, pg_database


@pytest.fixture
def accounts(company: Pbxctl, tmp_path: Path) -> dict[str, str]:
    """A company with carriers (one registering, with a secret), a deck, CDRs, a number,
    a phone, an API token, a webhook, a standby node and an edge: what the tests compare
    after a restore."""
    for name in ("standby", "kamailio"):
        (tmp_path / name).mkdir()
    company.ok("node", "add", "standby", "--ami-host", "127.0.0.12", "--ami-user", "pbxctl",
               "--ami-secret", "test-secret-2", "--config-dir", str(tmp_path / "standby"))
    company.ok("branch", "update", "kazan", "--standby-node", "standby")
    company.ok("edge", "add", "edge1", "--sip-address", "127.0.0.10", "--rpc",
               "127.0.0.10:5090", "--config-dir", str(tmp_path / "kamailio"))
    for slug, address in (("tele2", "127.0.0.2"), ("mts", "127.0.0.3")):
        company.ok("carrier", "add", slug, "--host", address, "--auth", "ip", "--match",
                   address)
    secret_file = tmp_path / "beeline.secret"
    secret_file.write_text("carrier-secret-9\n")
    company.ok("carrier", "add", "beeline", "--host", "sip.beeline.example", "--auth",
               "register", "--username", "kazan01", "--secret-file", str(secret_file),
               "--match", "127.0.0.5")   # behind an edge: where its calls come from
    deck = tmp_path / "tele2.csv"
    deck.write_text(DECK)
    company.ok("rates", "import", "tele2", str(deck), "--valid-from", "2026-10-01")
    phone = json.loads(company.ok("ext", "add", "kazan", "201", "--name", "Anna Petrova",
                                  "--json").stdout)
    company.ok("number", "add", "+78435550101", "--carrier", "tele2", "--branch", "kazan",
               "--monthly-fee", "350.00", "--route", "ext:201")
    master = tmp_path / "Master.csv"
    master.write_bytes(MASTER)
    company.ok("cdr", "import", str(master))
    token = company.ok("token", "create", "crm", "--role", "viewer").stdout.strip().split()[-1]
    hook = json.loads(company.ok("webhook", "add", "https://crm.example.com/pbx", "--events",
                                 "call.answered", "--json").stdout)
    return {"password": phone["password"], "token": token, "webhook_secret": hook["secret"]}


@pytest.fixture
def other_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of the other engine than ``database_url``'s."""
    if database_url.startswith("postgresql"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
        return
    with pg_database() as url:
        yield url


def on(url: str, source: Pbxctl) -> Pbxctl:
    """The CLI on another database, with the same settings (and secrets key)."""
    return Pbxctl(url, dict(source.env))


def contents(archive: Path, passphrase: bytes | None = None) -> tuple[Manifest,
                                                                      dict[str, list[Any]]]:
    """An archive's manifest and every table's rows, decoded."""
    with archive.open("rb") as raw:
        stream: Any = DecryptingReader(raw, passphrase) if passphrase else raw
        reader = ArchiveReader(stream)
        rows = {entry.name: list(found) for entry, found in reader.tables()}
        return reader.manifest, rows


def secrets_of(url: str) -> dict[str, Any]:
    """Every sealed secret, opened with the test's key."""
    async def read() -> dict[str, Any]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return {"ha1": await conn.scalar(select(Extension.sip_ha1)),
                        "carrier": await conn.scalar(select(Carrier.secret).where(
                            Carrier.slug == "beeline")),
                        "webhook": await conn.scalar(select(Webhook.secret)),
                        "ami": await conn.scalar(select(Node.ami_secret))}
        finally:
            await engine.dispose()
    return asyncio.run(read())


def test_a_backup_restores_on_the_other_engine_complete(
        accounts: dict[str, str], company: Pbxctl, other_url: str, tmp_path: Path,
        secrets_key: str) -> None:
    costs = company.ok("report", "costs", "--month", "2026-10").stdout
    detail = company.ok("report", "costs", "--month", "2026-10", "--detail").stdout
    company.ok("apply", "--offline")            # the node's files, as rendered now
    audit_before = json.loads(company.ok("audit", "--json").stdout)
    archive = tmp_path / "first.tar"
    company.ok("backup", "-o", str(archive))
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert json.loads(company.ok("audit", "--json").stdout)[-1]["action"] == "backup.create"

    restored = on(other_url, company)
    result = restored.ok("restore", str(archive))
    assert "cdrs" in result.stdout and "schema" in result.stderr
    assert restored.ok("report", "costs", "--month", "2026-10").stdout == costs
    assert restored.ok("report", "costs", "--month", "2026-10", "--detail").stdout == detail
    audit_after = json.loads(restored.ok("audit", "--json").stdout)
    assert audit_after[:-1] == audit_before
    assert audit_after[-1]["action"] == "backup.restore"

    # sealed secrets open with the same key and are what they were
    assert secrets_of(other_url) == {
        "ha1": sip_ha1("201", accounts["password"]), "carrier": "carrier-secret-9",
        "webhook": accounts["webhook_secret"], "ami": "test-secret-1"}
    restored.ok("secrets", "status")                 # opens every secret
    # the restored database renders exactly what the node runs (HA1s, carrier secret)
    assert "no change" in restored.ok("apply", "--dry-run", "--offline").stderr
    tokens = json.loads(restored.ok("token", "list", "--json").stdout)
    assert [t["name"] for t in tokens] == ["crm"]
    assert token_lookup(other_url, accounts["token"]) == "crm"
    # sequences go on after the restored ids (PostgreSQL); new rows work on both
    restored.ok("branch", "add", "perm", "--name", "Perm", "--city", "Perm",
                "--timezone", "Asia/Yekaterinburg", "--ext-range", "400-499")

    again = tmp_path / "second.tar"
    restored.ok("backup", "-o", str(again))
    first_manifest, first = contents(archive)
    second_manifest, second = contents(again)
    assert second_manifest.schema_revision == first_manifest.schema_revision
    assert first_manifest.engine != second_manifest.engine
    for name, rows in first.items():
        if name in ("audit_log", "branches"):
            continue
        assert second[name] == rows, name
    assert second["audit_log"][:len(first["audit_log"])] == first["audit_log"]
    assert [r["action"] for r in second["audit_log"][len(first["audit_log"]):]] == [
        "backup.restore", "branch.add"]
    assert second["branches"][:len(first["branches"])] == first["branches"]
    assert sum(len(rows) for rows in first.values()) == first_manifest.total_rows
    assert first_manifest.total_rows > 40 and len(first["cdrs"]) == 13
    assert [e["name"] for e in first["edges"]] == ["edge1"]
    assert [b["standby_node_id"] is not None for b in first["branches"]] == [True, False]
    assert first_manifest.secrets_keys == (key_id(secrets_key),)
    assert first["carriers"][-1]["secret"].startswith(f"pbxctl:v1:{key_id(secrets_key)}:")


def token_lookup(url: str, token: str) -> str | None:
    async def read() -> str | None:
        engine = make_engine(url)
        try:
            async with unit_of_work(engine, Actor("tester", "api"), Settings()) as services:
                found = await services.tokens.check(token)
                return None if found is None else found.name
        finally:
            await engine.dispose()
    return asyncio.run(read())


def rewritten(archive: Path, out: Path, change: Any, drop: tuple[str, ...] = (),
              drop_columns: dict[str, tuple[str, ...]] | None = None) -> Path:
    """A copy of a plain archive whose manifest ``change`` edits (a forger's copy: the
    members and their checksums as they were), without the tables in ``drop``; the
    columns in ``drop_columns`` are taken out of their tables honestly (rows, manifest and
    checksum), as an older pbxctl wrote them."""
    narrowed = {name: _without_columns(archive, name, columns)
                for name, columns in (drop_columns or {}).items()}
    with tarfile.open(archive) as source, tarfile.open(out, "w") as copy:
        for member in source.getmembers():
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            table = member.name.removeprefix("tables/").removesuffix(".jsonl.gz")
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest["tables"] = [narrowed[t["name"]][1] if t["name"] in narrowed else t
                                      for t in manifest["tables"] if t["name"] not in drop]
                data = json.dumps(change(manifest)).encode()
            elif table in drop:
                continue
            elif table in narrowed:
                data = narrowed[table][0]
            member.size = len(data)
            copy.addfile(member, io.BytesIO(data))
    return out


def _without_columns(archive: Path, table: str, columns: tuple[str, ...]
                     ) -> tuple[bytes, dict[str, Any]]:
    """Table ``table`` of ``archive`` without ``columns``: its member and manifest entry."""
    with tarfile.open(archive) as source:
        entry = next(t for t in json.loads(source.extractfile(  # type: ignore[union-attr]
            "manifest.json").read())["tables"] if t["name"] == table)
        data = source.extractfile(f"tables/{table}.jsonl.gz").read()  # type: ignore[union-attr]
    rows = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    lines = "".join(json.dumps({k: v for k, v in row.items() if k not in columns},
                               ensure_ascii=False, separators=(",", ":")) + "\n"
                    for row in rows)
    member = gzip.compress(lines.encode(), mtime=0)
    return member, {**entry, "columns": [c for c in entry["columns"] if c[0] not in columns],
                    "sealed": [c for c in entry["sealed"] if c not in columns],
                    "sha256": hashlib.sha256(member).hexdigest()}


def flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def test_damaged_forged_foreign_and_locked_archives_are_refused_and_change_nothing(
        accounts: dict[str, str], company: Pbxctl, other_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "good.tar"
    company.ok("backup", "-o", str(archive))
    passphrase = tmp_path / "pass"
    passphrase.write_text("correct horse battery staple\n")
    locked = tmp_path / "locked.tar.enc"
    company.ok("backup", "-o", str(locked), "--passphrase-file", str(passphrase))
    wrong = tmp_path / "wrong"
    wrong.write_text("incorrect horse\n")
    good = archive.read_bytes()
    with tarfile.open(archive) as tar:
        cdrs = tar.getmember("tables/cdrs.jsonl.gz")
    cases: dict[str, tuple[bytes, tuple[str, ...], str]] = {
        "truncated": (good[:len(good) // 2], (), "cut short"),
        "tampered": (flip_byte(good, cdrs.offset_data + cdrs.size // 2), (),
                     "tables/cdrs.jsonl.gz"),
        "not an archive": (b"hello, I am a shopping list\n" * 40, (), "not a pbxctl backup"),
        "wrong passphrase": (locked.read_bytes(), ("--passphrase-file", str(wrong)),
                             "passphrase does not open"),
        "encrypted and tampered": (flip_byte(locked.read_bytes(), len(locked.read_bytes())
                                             // 2), ("--passphrase-file", str(passphrase)),
                                   "damaged or was changed"),
        "encrypted and truncated": (locked.read_bytes()[:-1000],
                                    ("--passphrase-file", str(passphrase)),
                                    "damaged or was changed"),
    }
    newer = rewritten(archive, tmp_path / "newer.tar",
                      lambda m: {**m, "schema_revision": "9999"})
    later_format = rewritten(archive, tmp_path / "format.tar",
                             lambda m: {**m, "format_version": FORMAT_VERSION + 1})
    target = on(other_url, company)
    for name, (data, options, message) in cases.items():
        bad = tmp_path / f"{name}.tar"
        bad.write_bytes(data)
        result = target("restore", str(bad), *options)
        assert (name, result.exit_code) == (name, 1), result.stderr
        assert message in result.stderr, (name, result.stderr)
    for bad, message in ((newer, "schema revision 9999, which this pbxctl"),
                         (later_format, f"format version {FORMAT_VERSION + 1} is newer")):
        result = target("restore", str(bad))
        assert result.exit_code == 1 and message in result.stderr, result.stderr
    missing = target("restore", str(locked))
    assert missing.exit_code == 2 and "--passphrase-file: the archive is encrypted" in \
        missing.stderr
    assert "(empty database)" in target.ok("db", "current").stdout

    # a database that holds rows is refused as it is, and nothing changes in it
    audit = company.ok("audit", "--json").stdout
    refused = company("restore", str(archive))
    assert refused.exit_code == 1 and "the database is not empty" in refused.stderr
    assert "--force" in refused.stderr and company.ok("audit", "--json").stdout == audit

    # another key than the one that sealed the archive's secrets: refused before anything
    other_key = Pbxctl(other_url, {**company.env, "PBXCTL_SECRETS_KEY":
                                   "Y2lvdXhhZ2VudGxlbWFuYmFja3Vwc2tleTEyMzQ1Njc="})
    keyless = other_key("restore", str(archive))
    assert keyless.exit_code == 1 and "secrets key file kept with the backups" in \
        keyless.stderr
    assert "(empty database)" in target.ok("db", "current").stdout

    # the right passphrase opens it; and the passphrase is never an option on argv
    target.ok("restore", str(locked), "--passphrase-file", str(passphrase))
    assert company("backup", "--passphrase", "x").exit_code == 2


def test_force_replaces_what_a_database_holds(
        accounts: dict[str, str], company: Pbxctl, other_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    written = json.loads(company.ok("backup", "--json").stdout)
    archive = tmp_path / written["file"]
    assert archive.name.startswith("pbxctl-backup-") and archive.suffix == ".tar"
    assert written["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    created = json.loads(company.ok("audit", "--json").stdout)[-1]
    assert created["action"] == "backup.create"
    assert created["after"]["sha256"] == written["sha256"]
    assert company("backup", "-o", str(tmp_path / "nowhere" / "b.tar")).exit_code == 2
    target = on(other_url, company)
    target.ok("init")
    target.ok("node", "add", "other", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
              "--ami-secret", "other-secret-1", "--config-dir", str(tmp_path / "asterisk"))
    result = target.ok("restore", str(archive), "--force")
    assert "Replaced what the database held (audit_log, nodes, numbering_plan)" in result.stderr
    assert target.ok("node", "list", "--json").stdout == \
        company.ok("node", "list", "--json").stdout
    last = json.loads(target.ok("audit", "--json").stdout)[-1]
    assert last["action"] == "backup.restore" and "nodes" in last["before"]["tables_with_rows"]


def test_an_older_archive_is_migrated_after(accounts: dict[str, str], company: Pbxctl,
                                            other_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    company.ok("backup", "-o", str(archive))
    older = rewritten(archive, tmp_path / "older.tar",
                      lambda m: {**m, "schema_revision": "0016"},
                      drop=("department_limits", "spend_states", "voicemail_mails", "edges",
                            "devices"),
                      drop_columns={"extensions": ("voicemail_pin", "email"),
                                    "branches": ("standby_node_id", "language")})
    target = on(other_url, company)
    done = json.loads(target.ok("restore", str(older), "--json").stdout)
    assert done["schema_revision"] == "0016" and done["schema_now"] == SCHEMA_HEAD
    assert target.ok("report", "costs", "--month", "2026-10").stdout == \
        company.ok("report", "costs", "--month", "2026-10").stdout
    target.ok("department", "limit", "kazan", "--monthly", "100.00")


async def test_the_snapshot_sees_one_moment_and_holds_no_writer_off(
        database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    await upgrade(engine)
    try:
        async with snapshot(engine) as conn:
            if conn.dialect.name == "postgresql":
                assert await conn.scalar(text("SHOW transaction_isolation")) == \
                    "repeatable read"
                assert await conn.scalar(text("SHOW transaction_read_only")) == "on"
            before = await conn.scalar(text("SELECT count(*) FROM audit_log"))
            async with engine.begin() as writer:      # not kept waiting (SQLite: a copy)
                await writer.execute(text(
                    "INSERT INTO audit_log (at, actor, interface, action, object_type, "
                    "object_key) VALUES (CURRENT_TIMESTAMP, 'x', 'cli', 'x', 'x', 'x')"))
            assert await conn.scalar(text("SELECT count(*) FROM audit_log")) == before
    finally:
        await engine.dispose()
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["pbxctl.db"])  # copy gone


def test_a_failure_while_loading_rolls_everything_back(
        accounts: dict[str, str], company: Pbxctl, other_url: str, tmp_path: Path) -> None:
    """Rows a forger made consistent with the manifest that the database refuses (a
    primary key twice): the schema created and the rows inserted before go too."""
    archive = tmp_path / "b.tar"
    company.ok("backup", "-o", str(archive))
    with tarfile.open(archive) as tar:
        member = tar.extractfile("tables/numbering_plan.jsonl.gz")
        assert member is not None
        lines = gzip.decompress(member.read()).splitlines(keepends=True)
    doubled = gzip.compress(b"".join(lines + lines[-1:]), mtime=0)

    def forge(manifest: dict[str, Any]) -> dict[str, Any]:
        for table in manifest["tables"]:
            if table["name"] == "numbering_plan":
                table["rows"] += 1
                table["sha256"] = hashlib.sha256(doubled).hexdigest()
        return manifest

    forged = rewritten(archive, tmp_path / "forged.tar", forge)
    with tarfile.open(forged) as tar, tarfile.open(tmp_path / "final.tar", "w") as out:
        for info in tar.getmembers():
            data = tar.extractfile(info).read()  # type: ignore[union-attr]
            if info.name == "tables/numbering_plan.jsonl.gz":
                data = doubled
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    target = on(other_url, company)
    result = target("restore", str(tmp_path / "final.tar"))
    assert result.exit_code == 1, result.stderr
    assert "refuses the archive's rows of numbering_plan" in result.stderr
    assert "(empty database)" in target.ok("db", "current").stdout
    assert tables_in(other_url) == []


def tables_in(url: str) -> list[str]:
    async def read() -> list[str]:
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                return sorted(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()
    return asyncio.run(read())
