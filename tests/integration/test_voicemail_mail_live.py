"""Voicemail to e-mail on a real Asterisk 22: a caller leaves a message (SIPp plays
audio), ``pbxctl serve`` finds it in the spool and mails it through a real SMTP server
(STARTTLS and AUTH required) to the extension's address, the recording attached as a WAV
of the message's length; the message stays in the mailbox, and a restarted serve does not
mail it again."""

from __future__ import annotations

import io
import shutil
import signal
import time
import urllib.request
import wave
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sandboxkit import sandbox
from sandboxkit.processes import start_serve, wait_for
from sandboxkit.sipp import SippCarrier

from tests.conftest import Pbxctl
from tests.integration.conftest import add_sandbox_node
from tests.support.smtp import PASSWORD, USERNAME, MailServer

NUMBER = "+74872550187"


def _mails_sent(base: str) -> float:
    with urllib.request.urlopen(base + "metrics", timeout=5) as response:
        text = response.read().decode()
    return next((s.value for family in text_string_to_metric_families(text)
                 for s in family.samples
                 if s.name == "pbxctl_voicemail_mails" and s.labels["state"] == "sent"), -1.0)


# What is tested here is serve's mailing of what Asterisk records, the same on either
# database (the queue itself is tested on both in tests/follower).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_message_left_by_a_caller_is_mailed_with_its_recording(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    carrier = SippCarrier("vmmail", "127.0.0.25")
    add_sandbox_node(pbxctl, asterisk)
    pbxctl.ok("branch", "add", "tula", "--name", "Tula", "--city", "Tula",
              "--timezone", "Europe/Moscow", "--ext-range", "860-869")
    pbxctl.ok("ext", "add", "tula", "863", "--name", "Vera", "--email", "vera@example.com")
    pbxctl.ok("carrier", "add", carrier.name, "--host", carrier.address, "--auth", "ip",
              "--match", carrier.address, "--qualify", "0")
    pbxctl.ok("number", "add", NUMBER, "--carrier", carrier.name, "--branch", "tula",
              "--monthly-fee", "0.00", "--route", "voicemail:863")
    pbxctl.ok("apply")
    mailbox = sandbox.voicemail_dir() / "pbxctl" / "863"
    shutil.rmtree(mailbox, ignore_errors=True)       # an earlier run's messages

    secret = tmp_path / "smtp-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    with MailServer(tmp_path) as smtp:
        env = {"PBXCTL_SMTP_HOST": "127.0.0.1", "PBXCTL_SMTP_PORT": str(smtp.port),
               "PBXCTL_SMTP_CA_FILE": str(smtp.ca_file), "PBXCTL_SMTP_FROM": "pbx@example.com",
               "PBXCTL_SMTP_USERNAME": USERNAME, "PBXCTL_SMTP_PASSWORD_FILE": str(secret),
               "PBXCTL_VOICEMAIL_SCAN_EVERY": "0.5"}
        log = (tmp_path / "serve.log").open("w")
        serve, base = start_serve(pbxctl.database_url, env, log)
        try:
            left = carrier.leave_message(tmp_path, NUMBER)
            assert left.ok, left.errors
            (got,) = smtp.wait_for(1, timeout=30)
            wait_for("the mail counted as sent", lambda: _mails_sent(base) == 1)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=30)

        assert (got.recipients, got.login, got.tls) == (["vera@example.com"], USERNAME, True)
        mail = got.message()
        assert "Voicemail for 863 from" in mail["Subject"] and "+46701234567" in mail["Subject"]
        inbox = mailbox / "INBOX"
        assert sorted(p.name for p in inbox.iterdir()) == ["msg0000.txt", "msg0000.wav"]
        (attachment,) = mail.iter_attachments()
        recording = attachment.get_content()
        assert recording == (inbox / "msg0000.wav").read_bytes()
        with wave.open(io.BytesIO(recording)) as audio:
            seconds = audio.getnframes() / audio.getframerate()
        said = next(int(line.split("=", 1)[1]) for line in
                    (inbox / "msg0000.txt").read_text().splitlines()
                    if line.startswith("duration="))
        assert seconds >= 1 and abs(seconds - said) <= 1, (seconds, said)

        serve, base = start_serve(pbxctl.database_url, env, log)   # a restart: not again
        try:
            time.sleep(3)
            wait_for("the metrics read", lambda: _mails_sent(base) == 1, seconds=10)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=30)
            log.close()
        assert len(smtp.handler.received) == 1
    assert serve.returncode == 0
    assert PASSWORD not in (tmp_path / "serve.log").read_text()
