"""serve's voicemail to e-mail against a real SMTP server (aiosmtpd, STARTTLS and AUTH
required): a new message is mailed once with its recording, retried with backoff while
the server refuses, given up after the last attempt, and never mailed twice, whatever
restarts in between; /metrics shows the queue."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import select

from pbxctl.db.models import VoicemailMail, Webhook, WebhookMessage
from pbxctl.db.session import make_engine, transaction
from pbxctl.errors import PbxctlError
from pbxctl.metrics import ServeMetrics
from pbxctl.settings import Settings
from pbxctl.voicemail.delivery import (
    MailPolicy,
    SmtpServer,
    VoicemailMailer,
    queue_new_messages,
    send_due,
    smtp_server,
)
from tests.conftest import Pbxctl
from tests.support.smtp import PASSWORD, USERNAME, MailServer

INFO = """;
[message]
origmailbox=201
callerid="Boris" <+46701234567>
origtime=1796097600
msg_id={msg_id}
duration=7
"""
FAST = MailPolicy(first_delay=0.05, max_delay=0.2, max_attempts=3, scan_every=0.05,
                  poll_interval=0.05)


@pytest.fixture
def spool(pbxctl: Pbxctl, tmp_path: Path) -> Path:
    """A node whose recordings (and so voicemail) live in the test's directory, and
    extension 201 whose voicemail is mailed; returns 201's INBOX."""
    recordings = tmp_path / "spool" / "monitor"
    recordings.mkdir(parents=True)
    pbxctl.ok("node", "add", "local", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
              "--ami-secret", "test-secret-1", "--config-dir", str(tmp_path),
              "--recordings-dir", str(recordings))
    pbxctl.ok("branch", "add", "kazan", "--name", "Kazan", "--city", "Kazan",
              "--timezone", "Europe/Moscow", "--ext-range", "200-299")
    pbxctl.ok("ext", "add", "kazan", "201", "--name", "Anna", "--email", "anna@example.com")
    pbxctl.ok("ext", "add", "kazan", "202", "--name", "Boris")   # no address: not mailed
    inbox = tmp_path / "spool" / "voicemail" / "pbxctl" / "201" / "INBOX"
    inbox.mkdir(parents=True)
    return inbox


def _leave(inbox: Path, number: int, recording: bytes, settled: bool = True) -> None:
    """A message as Asterisk leaves it: its .txt and .wav."""
    (inbox / f"msg{number:04d}.txt").write_text(INFO.format(msg_id=f"1796097600-{number:08d}"))
    wav = inbox / f"msg{number:04d}.wav"
    wav.write_bytes(recording)
    if settled:
        os.utime(wav, (time.time() - 10, time.time() - 10))


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[MailServer]:
    with MailServer(tmp_path) as server:
        yield server


def _server(mail: MailServer | None, tmp_path: Path, password: str = PASSWORD,
            port: int | None = None) -> SmtpServer:
    secret = tmp_path / "smtp-password"
    secret.write_text(password + "\n")
    secret.chmod(0o600)
    found = smtp_server(Settings(
        smtp_host="127.0.0.1", smtp_port=port or (mail.port if mail else 1),
        smtp_from="pbx@example.com", smtp_username=USERNAME, smtp_password_file=secret,
        smtp_ca_file=mail.ca_file if mail else None, smtp_timeout=5))
    assert found is not None
    return found


class Seen(ServeMetrics):
    """/metrics, read back."""

    def exposed(self) -> dict[str, float]:
        text = generate_latest(self.registry).decode()
        return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                if line.startswith("pbxctl_voicemail")}


def _round(url: str, server: SmtpServer, seen: Seen, policy: MailPolicy = FAST) -> int:
    """One of serve's rounds in a process of its own: look at the spool, send what is
    due; returns how many were attempted."""
    async def run() -> int:
        engine = make_engine(url)
        try:
            await queue_new_messages(engine, server)
            attempted = await send_due(engine, server, policy, seen)
            await seen.refresh_from_database(engine)
            return attempted
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _rows(url: str) -> list[tuple[str, str, int]]:
    async def run() -> list[tuple[str, str, int]]:
        engine = make_engine(url)
        try:
            async with transaction(engine) as session:
                return [(m.message_key, m.state, m.attempts) for m in (await session.scalars(
                    select(VoicemailMail).order_by(VoicemailMail.id))).all()]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_a_new_message_is_mailed_once_over_starttls_with_auth(
        pbxctl: Pbxctl, spool: Path, smtp: MailServer, tmp_path: Path) -> None:
    recording = b"RIFF" + os.urandom(3000)
    _leave(spool, 0, recording)
    seen = Seen()
    assert _round(pbxctl.database_url, _server(smtp, tmp_path), seen) == 1
    (got,) = smtp.wait_for(1)
    assert (got.sender, got.recipients, got.login, got.tls) == (
        "pbx@example.com", ["anna@example.com"], USERNAME, True)
    mail = got.message()
    assert mail["Subject"] == 'Voicemail for 201 from "Boris" <+46701234567> (0:07)'
    assert mail["Date"] == "Tue, 01 Dec 2026 07:00:00 +0300"     # Kazan's time
    (attachment,) = mail.iter_attachments()
    assert attachment.get_content() == recording

    for _restart in range(2):    # later rounds, in new processes: nothing is sent again
        assert _round(pbxctl.database_url, _server(smtp, tmp_path), seen) == 0
    assert len(smtp.handler.received) == 1
    assert _rows(pbxctl.database_url) == [("201/1796097600-00000000", "sent", 1)]
    assert sorted(p.name for p in spool.iterdir()) == ["msg0000.txt", "msg0000.wav"]  # kept
    exposed = seen.exposed()
    assert exposed['pbxctl_voicemail_mails{state="sent"}'] == 1
    assert exposed['pbxctl_voicemail_mails{state="pending"}'] == 0
    assert exposed['pbxctl_voicemail_mail_attempts_total{outcome="sent"}'] == 1


def test_a_refused_mail_is_tried_again_with_backoff_until_sent(
        pbxctl: Pbxctl, spool: Path, smtp: MailServer, tmp_path: Path) -> None:
    _leave(spool, 0, b"RIFF0000WAVE")
    smtp.handler.refuse = 2
    seen, server = Seen(), _server(smtp, tmp_path)
    # each retry waits 2 to 4 s (jitter): the next round, a process of its own, comes
    # well before that on a loaded machine too
    slow = MailPolicy(first_delay=4.0, max_delay=4.0, max_attempts=3)
    assert _round(pbxctl.database_url, server, seen, slow) == 1
    failed_at = time.monotonic()
    assert _rows(pbxctl.database_url) == [("201/1796097600-00000000", "pending", 1)]
    assert _round(pbxctl.database_url, server, seen, slow) == 0     # not due yet: backoff
    while not smtp.handler.received:
        assert time.monotonic() < failed_at + 60
        time.sleep(0.1)
        _round(pbxctl.database_url, server, seen, slow)
    assert time.monotonic() - failed_at >= 4.0     # at least 2 s, twice
    assert smtp.handler.refused == 2 and len(smtp.handler.received) == 1
    assert _rows(pbxctl.database_url) == [("201/1796097600-00000000", "sent", 3)]
    exposed = seen.exposed()
    assert exposed['pbxctl_voicemail_mail_attempts_total{outcome="failed"}'] == 2
    assert exposed['pbxctl_voicemail_mail_attempts_total{outcome="sent"}'] == 1


def test_a_mail_is_given_up_after_the_last_attempt_logged_and_counted(
        pbxctl: Pbxctl, spool: Path, smtp: MailServer, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    pbxctl.ok("webhook", "add", "https://crm.example.com/pbx", "--events",
              "voicemail.mail_failed")
    pbxctl.ok("webhook", "add", "https://crm.example.com/kazan", "--events",
              "voicemail.mail_failed,call.missed", "--branch", "kazan")
    pbxctl.ok("branch", "add", "omsk", "--name", "Omsk", "--city", "Omsk",
              "--timezone", "Asia/Omsk", "--ext-range", "300-399")
    pbxctl.ok("webhook", "add", "https://crm.example.com/omsk", "--events",
              "voicemail.mail_failed", "--branch", "omsk")
    _leave(spool, 0, b"RIFF0000WAVE")
    smtp.handler.refuse = 100
    seen, server = Seen(), _server(smtp, tmp_path)
    deadline = time.monotonic() + 10
    while _rows(pbxctl.database_url)[-1:] != [("201/1796097600-00000000", "failed", 3)]:
        assert time.monotonic() < deadline, _rows(pbxctl.database_url)
        time.sleep(0.1)
        with caplog.at_level(logging.WARNING):
            _round(pbxctl.database_url, server, seen)
    time.sleep(0.3)
    assert _round(pbxctl.database_url, server, seen) == 0       # never tried again
    assert smtp.handler.refused == 3 and smtp.handler.received == []
    assert "failed 3 times" in caplog.text and "giving up" in caplog.text
    exposed = seen.exposed()
    assert exposed['pbxctl_voicemail_mails{state="failed"}'] == 1
    assert exposed['pbxctl_voicemail_mail_attempts_total{outcome="given_up"}'] == 1
    events = asyncio.run(_webhook_messages(pbxctl.database_url))
    assert [url for url, _event, _body in events] == ["https://crm.example.com/pbx",
                                                      "https://crm.example.com/kazan"]
    for _url, event, body in events:     # once for each webhook that wants it, not omsk's
        assert event == "voicemail.mail_failed"
        assert body["event"] == event and body["node"] == "local"
        assert {k: v for k, v in body["mail"].items() if k not in ("id", "error")} == {
            "message": "201/1796097600-00000000", "mailbox": "201", "branch": "kazan",
            "recipient": "anna@example.com", "attempts": 3}
        assert "451" in body["mail"]["error"]


async def _webhook_messages(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    engine = make_engine(url)
    try:
        async with transaction(engine) as session:
            rows = (await session.execute(
                select(Webhook.url, WebhookMessage.event, WebhookMessage.payload)
                .join(Webhook, Webhook.id == WebhookMessage.webhook_id)
                .order_by(WebhookMessage.id))).all()
            return [(hook, event, json.loads(payload)) for hook, event, payload in rows]
    finally:
        await engine.dispose()


def test_a_mail_pending_when_serve_stops_is_sent_once_by_the_next_serve(
        pbxctl: Pbxctl, spool: Path, tmp_path: Path) -> None:
    _leave(spool, 0, b"RIFF-first")
    with MailServer(tmp_path) as down:
        port = down.port                 # a port where nothing listens afterwards
    seen = Seen()
    assert _round(pbxctl.database_url, _server(None, tmp_path, port=port), seen) == 1
    assert _rows(pbxctl.database_url) == [("201/1796097600-00000000", "pending", 1)]
    _leave(spool, 1, b"RIFF-second")

    def serve_for(seconds: float, server: SmtpServer) -> None:
        async def run() -> None:
            engine = make_engine(pbxctl.database_url)
            stop = asyncio.Event()
            task = asyncio.create_task(VoicemailMailer(engine, server, FAST, seen).run(stop))
            await asyncio.sleep(seconds)
            stop.set()
            await task
            await engine.dispose()

        asyncio.run(run())

    with MailServer(tmp_path) as smtp:
        for _restart in range(3):
            serve_for(1.0, _server(smtp, tmp_path))
        received = smtp.wait_for(2)
        time.sleep(0.3)
        assert sorted(r.message().get_payload()[1].get_content()   # type: ignore[index]
                      for r in received) == [b"RIFF-first", b"RIFF-second"]
    assert _rows(pbxctl.database_url) == [("201/1796097600-00000000", "sent", 2),
                                          ("201/1796097600-00000001", "sent", 1)]


def test_two_serves_on_one_database_send_each_mail_once(
        pbxctl: Pbxctl, spool: Path, smtp: MailServer, tmp_path: Path) -> None:
    for number in range(6):
        _leave(spool, number, f"RIFF-{number}".encode())
    asyncio.run(_queue(pbxctl.database_url, _server(smtp, tmp_path)))
    server, seen = _server(smtp, tmp_path), Seen()
    start = threading.Barrier(2)

    def serve() -> int:          # each sender in a thread with its own loop and engine
        async def run() -> int:
            engine = make_engine(pbxctl.database_url)
            try:
                start.wait()
                return await send_due(engine, server, FAST, seen)
            finally:
                await engine.dispose()

        return asyncio.run(run())

    with ThreadPoolExecutor(2) as pool:
        attempted = [f.result() for f in [pool.submit(serve), pool.submit(serve)]]
    assert sum(attempted) == 6
    received = smtp.wait_for(6)
    time.sleep(0.3)
    assert sorted(r.message().get_payload()[1].get_content()   # type: ignore[index]
                  for r in received) == [f"RIFF-{n}".encode() for n in range(6)]
    assert {(state, attempts) for _key, state, attempts in _rows(pbxctl.database_url)} \
        == {("sent", 1)}


async def _queue(url: str, server: SmtpServer) -> None:
    engine = make_engine(url)
    try:
        assert await queue_new_messages(engine, server) == 6
    finally:
        await engine.dispose()


def test_a_wrong_password_or_an_untrusted_certificate_sends_nothing(
        pbxctl: Pbxctl, spool: Path, smtp: MailServer, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    _leave(spool, 0, b"RIFF0000WAVE")
    wrong = _server(smtp, tmp_path, password="not-the-password")
    untrusted = SmtpServer("127.0.0.1", smtp.port, True, "pbx@example.com", USERNAME,
                           PASSWORD, None, 5)
    seen = Seen()
    with caplog.at_level(logging.WARNING):
        assert _round(pbxctl.database_url, wrong, seen) == 1
        time.sleep(0.3)
        assert _round(pbxctl.database_url, untrusted, seen) == 1
    assert smtp.handler.received == [] and smtp.handler.refused == 0
    assert "not-the-password" not in caplog.text and PASSWORD not in caplog.text
    assert "SMTPAuthenticationError" in caplog.text and "CERTIFICATE_VERIFY_FAILED" \
        in caplog.text
    assert _rows(pbxctl.database_url) == [("201/1796097600-00000000", "pending", 2)]


def test_a_message_still_being_recorded_or_a_link_is_not_mailed(
        pbxctl: Pbxctl, spool: Path, smtp: MailServer, tmp_path: Path) -> None:
    _leave(spool, 0, b"RIFF-recording", settled=False)
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"not a voicemail")
    (spool / "msg0001.txt").write_text(INFO.format(msg_id="1796097600-00000001"))
    (spool / "msg0001.wav").symlink_to(secret)
    (spool / "msg0002.txt").write_text(";\n[message]\norigtime=1796097600\n")  # half written
    _leave(spool, 3, b"x")
    (spool / "msg0003.txt").write_text(";\n[message]\n")
    assert _round(pbxctl.database_url, _server(smtp, tmp_path), Seen()) == 0
    assert _rows(pbxctl.database_url) == []
    os.utime(spool / "msg0000.wav", (time.time() - 10, time.time() - 10))
    assert _round(pbxctl.database_url, _server(smtp, tmp_path), Seen()) == 1
    assert [r.message()["Message-ID"] for r in smtp.wait_for(1)] == [
        "<voicemail.local.201.1796097600-00000000@example.com>"]


def test_smtp_settings_that_cannot_work_or_would_leak_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o644)
    assert smtp_server(Settings()) is None
    cases = [
        ({}, "smtp_from"),
        ({"smtp_from": "pbx@example.com\r\nBcc: x@example.com"}, "smtp_from"),
        ({"smtp_from": "pbx@example.com", "smtp_username": USERNAME},
         "smtp_username/smtp_password_file"),
        ({"smtp_from": "pbx@example.com", "smtp_username": USERNAME,
          "smtp_password_file": secret}, "smtp_password_file"),
        ({"smtp_from": "pbx@example.com", "smtp_username": USERNAME,
          "smtp_password_file": secret, "smtp_starttls": False}, "smtp_starttls"),
        ({"smtp_from": "pbx@example.com", "smtp_username": USERNAME,
          "smtp_password_file": tmp_path / "missing"}, "smtp_password_file"),
        ({"smtp_from": "pbx@example.com", "smtp_ca_file": tmp_path / "missing.pem"},
         "smtp_ca_file"),
        ({"smtp_from": "pbx@example.com", "smtp_ca_file": secret}, "smtp_ca_file"),
    ]
    for given, field in cases:
        with pytest.raises(PbxctlError) as refused:
            smtp_server(Settings(smtp_host="127.0.0.1", **given))
        assert refused.value.field == field, given
        assert PASSWORD not in str(refused.value)
    secret.chmod(0o600)
    server = smtp_server(Settings(smtp_host="127.0.0.1", smtp_from="pbx@example.com",
                                  smtp_username=USERNAME, smtp_password_file=secret))
    assert server is not None and server.password == PASSWORD
    assert PASSWORD not in repr(server)
