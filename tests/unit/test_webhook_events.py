"""Call events from the dialplan's user events, cdr.rated payloads, signatures, retries."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pbxctl.ami_events import CallStage, parse_event
from pbxctl.asterisk.link import LinkPolicy, backoff_delay
from pbxctl.webhooks.delivery import RetryPolicy, retry_delay
from pbxctl.webhooks.events import CallEvents, cdr_rated_event
from pbxctl.webhooks.signing import MAX_AGE_SECONDS, is_valid, signature

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def user_event(stage: str, linkedid: str = "1795500000.1", **fields: str) -> CallStage:
    """The dialplan's user event as AMI sends it, read as pbxctl reads it."""
    event = parse_event({"Event": "UserEvent", "UserEvent": "PbxctlCall", "Stage": stage,
                         "Linkedid": linkedid, "Uniqueid": linkedid, **fields})
    assert isinstance(event, CallStage)
    return event


def ringing(linkedid: str = "1795500000.1", **fields: str) -> CallStage:
    return user_event("ringing", linkedid, **({"Number": "+78435550101", "Branch": "kazan",
                                               "CallerIDNum": "+79161234567"} | fields))


def test_an_answered_call_rings_then_is_answered_and_is_not_missed() -> None:
    clock = Clock()
    calls = CallEvents("local", clock)
    (ring,) = calls.feed(ringing(Queue="kazan/sales"))
    assert ring.name == "call.ringing" and ring.branch == "kazan"
    assert ring.key == "local:1795500000.1:call.ringing"
    assert ring.payload == {"event": "call.ringing", "node": "local", "call": {
        "id": "1795500000.1", "caller": "+79161234567", "called": "+78435550101",
        "branch": "kazan", "queue": "kazan/sales", "extension": None,
        "ringing_at": "2026-11-24T09:00:00Z", "answered_at": None, "ended_at": None}}
    clock.now = T0 + timedelta(seconds=4)
    (answer,) = calls.feed(user_event("answered", Number="+78435550101", Extension="201"))
    assert answer.name == "call.answered"
    assert answer.payload["call"]["extension"] == "201"
    assert answer.payload["call"]["answered_at"] == "2026-11-24T09:00:04Z"
    # a second phone answering (ring-all race) or the end of the call adds nothing
    assert calls.feed(user_event("answered", Extension="202")) == []
    assert calls.feed(user_event("ended")) == []


def test_a_call_that_ends_unanswered_is_missed() -> None:
    clock = Clock()
    calls = CallEvents("local", clock)
    calls.feed(ringing())
    clock.now = T0 + timedelta(seconds=30)
    (missed,) = calls.feed(user_event("ended", Number="+78435550101"))
    assert missed.name == "call.missed" and missed.key.endswith(":call.missed")
    assert missed.payload["call"]["ended_at"] == "2026-11-24T09:00:30Z"
    assert calls.feed(user_event("ended")) == []   # once only


def test_other_events_and_unknown_calls_are_ignored() -> None:
    calls = CallEvents("local")
    assert parse_event({"Event": "UserEvent", "UserEvent": "Other", "Stage": "ringing"}) \
        is None
    assert parse_event({"Event": "Hangup", "Linkedid": "1.1"}) is None
    assert calls.feed(user_event("answered", linkedid="9.9")) == []
    assert calls.feed(user_event("ended", linkedid="9.9")) == []
    assert calls.feed(user_event("ringing", linkedid="../../etc")) == []


def test_text_from_outside_is_dropped_rather_than_passed_on() -> None:
    calls = CallEvents("local")
    (ring,) = calls.feed(ringing(CallerIDNum='"><script>', Queue="kazan/sales;rm -rf"))
    assert ring.payload["call"]["caller"] is None
    assert ring.payload["call"]["queue"] is None


def test_calls_whose_end_never_came_are_forgotten() -> None:
    clock = Clock()
    calls = CallEvents("local", clock)
    calls.feed(ringing())
    clock.now = T0 + timedelta(hours=13)
    calls.feed(ringing(linkedid="1795600000.2"))
    assert calls.feed(user_event("ended")) == []   # the first call was forgotten


def test_cdr_rated_event_carries_price_and_department() -> None:
    record = {"key": "local:1795500000.1:2", "node": "local", "uniqueid": "1795500000.1",
              "start": T0, "answer": T0, "end": T0 + timedelta(seconds=75), "src": "201",
              "dst": "+74951234567", "disposition": "ANSWERED", "direction": "outbound",
              "department": "kazan", "carrier": "tele2", "destination": "+74951234567",
              "prefix": "7495", "currency": "RUB", "unrated_reason": None, "billsec": 75,
              "duration": 80, "charged_seconds": 120, "cost": Decimal("2.4000")}
    event = cdr_rated_event(record)
    assert event.name == "cdr.rated" and event.branch == "kazan"
    assert event.key == "local:1795500000.1:2:cdr.rated"
    assert event.payload["cdr"]["cost"] == "2.4000" and event.payload["cdr"]["rated"] is True
    assert event.payload["cdr"]["start"] == "2026-11-24T09:00:00Z"
    unrated = cdr_rated_event(record | {"cost": None, "unrated_reason": "no prefix"})
    assert unrated.payload["cdr"]["rated"] is False


def test_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    body = b'{"event":"call.ringing"}'
    expected = hmac.new(b"s3cret", b"1795500000." + body, hashlib.sha256).hexdigest()
    assert signature("s3cret", 1795500000, body) == f"sha256={expected}"
    now = 1795500000 + 10
    assert is_valid("s3cret", 1795500000, body, f"sha256={expected}", now=now)
    assert not is_valid("s3cret", 1795500001, body, f"sha256={expected}", now=now)
    assert not is_valid("other", 1795500000, body, f"sha256={expected}", now=now)
    assert not is_valid("s3cret", 1795500000, body + b" ", f"sha256={expected}", now=now)


def test_a_signature_too_old_or_not_ascii_is_simply_not_valid() -> None:
    body = b'{"event":"call.ringing"}'
    good = signature("s3cret", 1795500000, body)
    assert is_valid("s3cret", 1795500000, body, good, now=1795500000 + MAX_AGE_SECONDS)
    assert not is_valid("s3cret", 1795500000, body, good, now=1795500000 + 301)
    assert not is_valid("s3cret", 1795500000, body, good, now=1795500000 - 301)
    assert is_valid("s3cret", 1795500000, body, good, now=1795500000 + 900, max_age=900)
    for presented in ("sha256=é", good[:-1] + "\u00e9", "\udcff", "sha256=\u202e" + good[8:]):
        assert not is_valid("s3cret", 1795500000, body, presented, now=1795500000)


def test_reconnect_backoff_grows_is_capped_and_jittered() -> None:
    policy = LinkPolicy(backoff_initial=0.5, backoff_max=30.0)
    highest = [backoff_delay(n, policy, uniform=lambda low, high: high) for n in range(1, 10)]
    assert highest == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    lowest = [backoff_delay(n, policy, uniform=lambda low, high: low) for n in range(1, 4)]
    assert lowest == [0.25, 0.5, 1.0]


def test_webhook_retries_back_off_then_give_up() -> None:
    policy = RetryPolicy(first_delay=5, max_delay=3600, max_attempts=4)
    top = [retry_delay(n, policy, uniform=lambda low, high: high) for n in (1, 2, 3)]
    assert top == [timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20)]
    assert retry_delay(4, policy) is None
    capped = RetryPolicy(first_delay=5, max_delay=60, max_attempts=50)
    assert retry_delay(20, capped, uniform=lambda low, high: high) == timedelta(seconds=60)
