"""The mail of a voicemail message: read from Asterisk's msgNNNN.txt, dated in the
branch's zone, the recording attached, nothing from the caller able to add a header."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from pbxctl import validation as v
from pbxctl.errors import ValidationError
from pbxctl.voicemail.mail import (
    MAX_ATTACHMENT_BYTES,
    BadMessage,
    Mailbox,
    MessageInfo,
    build_mail,
    caller_text,
    parse_info,
)

# As Asterisk 22's app_voicemail writes it (Vladivostok is UTC+10 all year).
INFO = """;
; Message Information file
;
[message]
origmailbox=861
context=pbxctl-carrier-in
macrocontext=
exten=+74872550186
rdnis=unknown
priority=3
callerchan=PJSIP/vmcarrier-00000001
callerid="Ivan; =Petrov" <+46701234567>
origdate=Tue Dec  1 04:00:00 AM UTC 2026
origtime=1796097600
category=
msg_id=1796097600-00000000
flag=
duration=65
"""
BOX = Mailbox("sandbox", "861", "Vera", "Asia/Vladivostok", "vera@example.com")
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40)


def _parsed(mail: EmailMessage) -> EmailMessage:
    again = message_from_bytes(mail.as_bytes(), policy=policy.default)
    assert isinstance(again, EmailMessage)
    return again


def test_the_message_file_is_read_as_asterisk_writes_it() -> None:
    info = parse_info(INFO)
    assert info == MessageInfo("1796097600-00000000", '"Ivan; =Petrov" <+46701234567>',
                               datetime(2026, 12, 1, 4, 0, tzinfo=UTC), 65)
    for broken in (INFO.replace("duration=65\n", ""), INFO.replace("origtime=", "x="),
                   INFO.replace("msg_id=1796097600-00000000", "msg_id=../../etc"), ""):
        with pytest.raises(BadMessage):
            parse_info(broken)


def test_the_mail_carries_the_recording_and_the_branch_s_time() -> None:
    mail = _parsed(build_mail(BOX, parse_info(INFO), WAV, "pbx@example.com"))
    assert mail["To"] == "vera@example.com"
    assert mail["From"] == "Voicemail <pbx@example.com>"
    assert mail["Subject"] == 'Voicemail for 861 from "Ivan Petrov" <+46701234567> (1:05)'
    assert mail["Date"] == "Tue, 01 Dec 2026 14:00:00 +1000"
    assert mail["Message-ID"] == "<voicemail.sandbox.861.1796097600-00000000@example.com>"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Tuesday 01 December 2026, 14:00 (Asia/Vladivostok)" in text
    assert "1:05" in text and "*97" in text
    (attachment,) = mail.iter_attachments()
    assert attachment.get_content_type() == "audio/wav"
    assert attachment.get_filename() == "voicemail-861-20261201-140000.wav"
    assert attachment.get_content() == WAV


def test_a_recording_too_large_to_mail_is_left_out() -> None:
    mail = build_mail(BOX, parse_info(INFO), bytes(MAX_ATTACHMENT_BYTES + 1),
                      "pbx@example.com")
    assert list(mail.iter_attachments()) == []
    assert "too large to attach" in mail.as_string()


@pytest.mark.parametrize("hostile", [
    "Eve\r\nBcc: all@example.com", "Eve\nX-Injected: yes", "Eve\x00\x1b[2J",
    "=?utf-8?b?QmNjOiBhbGxAZXhhbXBsZS5jb20=?=\r\n", "Eve\u2028Bcc: x@example.com",
    "Eve\u0085Bcc: x@example.com", "\r\n\r\n", "x" * 5000])
def test_a_hostile_caller_id_adds_no_header(hostile: str) -> None:
    info = parse_info(INFO.replace('"Ivan; =Petrov" <+46701234567>', hostile))
    raw = build_mail(BOX, info, WAV, "pbx@example.com").as_bytes()
    mail = _parsed(build_mail(BOX, info, WAV, "pbx@example.com"))
    assert mail["Bcc"] is None and mail["X-Injected"] is None
    assert len(mail["Subject"]) <= 120
    assert raw.isascii()
    headers = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert [h.split(b":")[0] for h in headers if not h.startswith((b" ", b"\t"))] == [
        b"From", b"To", b"Subject", b"Date", b"Message-ID", b"MIME-Version", b"Content-Type"]


def test_a_caller_name_in_another_script_is_kept_and_encoded() -> None:
    assert caller_text('"Иван Петров" <+79161234567>') == '"Иван Петров" <+79161234567>'
    assert caller_text("\x00\r\n") == "unknown caller"
    info = parse_info(INFO.replace('"Ivan; =Petrov"', '"Иван Петров"'))
    raw = build_mail(BOX, info, WAV, "pbx@example.com").as_bytes()
    assert raw.isascii()
    assert "Иван Петров" in _parsed(build_mail(BOX, info, WAV, "pbx@example.com"))["Subject"]


@pytest.mark.parametrize("address", [
    "anna@example.com", "a.petrova+vm@sales.example.ru", "o'brien@example.co.uk",
    f"{'a' * 64}@example.com"])
def test_plain_addresses_are_allowed(address: str) -> None:
    assert v.email("email", address) == address


@pytest.mark.parametrize("address", [
    "anna@example.com\r\nBcc: x@example.com", "anna@example.com\n", "anna@example.com,",
    "Anna <anna@example.com>", '"a b"@example.com', "anna@[127.0.0.1]", "anna@localhost",
    "anna..b@example.com", ".anna@example.com", "anna@-example.com", "anna@example.c",
    f"{'a' * 65}@example.com", f"a@{'b' * 63}.{'c' * 63}.{'d' * 63}.{'e' * 60}.com",
    "anna@example.com|x", "anna;x@example.com", "анна@example.com", ""])
def test_anything_else_is_refused_naming_the_field(address: str) -> None:
    with pytest.raises(ValidationError) as refused:
        v.email("email", address)
    assert refused.value.field == "email"
