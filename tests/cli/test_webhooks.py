"""Webhooks: configured from the CLI, queued once per event, delivered signed to a real
HTTP receiver with retries and backoff, with a delivery log; a restart loses nothing."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from click.testing import Result
from sqlalchemy import func, select
from yarl import URL

from pbxctl.ami_events import CallStage
from pbxctl.db.models import WebhookMessage
from pbxctl.db.session import make_engine, transaction
from pbxctl.webhooks.delivery import RetryPolicy, deliver_due, read_capped, webhook_session
from pbxctl.webhooks.events import CallEvents
from pbxctl.webhooks.outbox import claim_due_messages, enqueue
from pbxctl.webhooks.signing import is_valid
from tests.conftest import Pbxctl

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
NO_WAIT = RetryPolicy(first_delay=0.001, max_delay=0.001, max_attempts=3,
                      allow_networks=LOOPBACK)


@pytest.fixture(autouse=True)
def receivers_on_loopback(company: Pbxctl) -> None:
    """The receivers here listen on 127.0.0.1, which webhooks may reach only when the
    operator allows it."""
    company.env["PBXCTL_WEBHOOK_ALLOW_NETWORKS"] = '["127.0.0.0/8"]'


@dataclass
class Receiver:
    """An HTTP endpoint that answers 503 to the first ``fail`` requests."""

    fail: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    delay: float = 0.0      # seconds before each answer

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        await asyncio.sleep(self.delay)
        if self.fail:
            self.fail -= 1
            return web.Response(status=503, text="down for maintenance")
        return web.Response(status=204)


@pytest.fixture
async def receiver(aiohttp_server) -> AsyncIterator[Receiver]:  # noqa: ANN001
    hook = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/pbx", hook.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    hook.url = str(server.make_url("/hooks/pbx"))
    yield hook


@dataclass
class Outcomes:
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0, "gave_up": 0})

    def delivered(self) -> None:
        self.counts["ok"] += 1

    def failed_attempt(self) -> None:
        self.counts["failed"] += 1

    def gave_up(self) -> None:
        self.counts["gave_up"] += 1


def ringing_call(linkedid: str = "1795500000.7", branch: str = "kazan") -> list:
    return CallEvents("local").feed(CallStage(linkedid, "ringing", "+79161234567",
                                              "+78435550101", branch))


async def run(pbxctl: Pbxctl, *args: str) -> Result:
    """The CLI from an async test (it runs its own event loop, so in a thread)."""
    return await asyncio.to_thread(pbxctl.ok, *args)


async def add_hook(pbxctl: Pbxctl, url: str, events: str, *extra: str) -> tuple[int, str]:
    created = json.loads((await run(pbxctl, "webhook", "add", url, "--events", events,
                                    *extra, "--json")).stdout)
    return created["id"], created["secret"]


async def deliver(database_url: str, policy: RetryPolicy = NO_WAIT,
                  outcomes: Outcomes | None = None) -> int:
    engine = make_engine(database_url)
    try:
        async with webhook_session(policy) as http:
            return await deliver_due(engine, http, policy, outcomes or Outcomes())
    finally:
        await engine.dispose()


async def queue(database_url: str, events: list) -> None:
    engine = make_engine(database_url)
    try:
        async with transaction(engine) as session:
            await enqueue(session, events)
    finally:
        await engine.dispose()


def test_add_list_remove_and_the_secret_is_shown_once(company: Pbxctl) -> None:
    result = company.ok("webhook", "add", "https://crm.example.com/pbx?src=pbxctl",
                        "--events", "call.ringing,call.missed", "--branch", "kazan")
    secret = result.stdout.strip()
    assert len(secret) == 64
    listing = company.ok("webhook", "list", "--json").stdout
    assert secret not in listing
    (hook,) = json.loads(listing)
    assert hook["events"] == "call.ringing,call.missed" and hook["branch"] == "kazan"
    assert "webhook.add" in company.ok("audit").stdout
    company.ok("webhook", "remove", str(hook["id"]))
    assert json.loads(company.ok("webhook", "list", "--json").stdout) == []
    assert company("webhook", "remove", str(hook["id"])).exit_code == 1


@pytest.mark.parametrize(("args", "message"), [
    (("ftp://crm.example.com/x", "--events", "call.ringing"), "http"),
    (("https://user:pw@crm.example.com/x", "--events", "call.ringing"), "credentials"),
    (("https://crm.example.com/x\nHost: evil", "--events", "call.ringing"), "characters"),
    (("https://crm.example.com:99999/x", "--events", "call.ringing"), "port"),
    (("https://crm.example.com/x", "--events", "call.rang"), "call.rang"),
    (("https://crm.example.com/x", "--events", ""), "unknown event"),
    (("https://crm.example.com/x", "--events", "cdr.rated", "--branch", "Kazan;"), "--branch"),
])
def test_bad_webhooks_are_refused_and_change_nothing(company: Pbxctl, args: tuple[str, ...],
                                                     message: str) -> None:
    result = company("webhook", "add", *args)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert json.loads(company.ok("webhook", "list", "--json").stdout) == []


def test_a_branch_that_does_not_exist_is_refused(company: Pbxctl) -> None:
    result = company("webhook", "add", "https://crm.example.com/x", "--events",
                     "call.ringing", "--branch", "tver")
    assert result.exit_code == 1 and "tver" in result.stderr


async def test_events_are_queued_once_for_the_webhooks_that_want_them(
        company: Pbxctl) -> None:
    everything, _ = await add_hook(company, "http://127.0.0.1:9/all", "call.ringing,cdr.rated")
    kazan, _ = await add_hook(company, "http://127.0.0.1:9/kazan", "call.ringing", "--branch",
                        "kazan")
    await add_hook(company, "http://127.0.0.1:9/omsk", "call.ringing", "--branch", "omsk")
    await add_hook(company, "http://127.0.0.1:9/missed", "call.missed")
    await queue(company.database_url, ringing_call())
    await queue(company.database_url, ringing_call())        # the same event again
    engine = make_engine(company.database_url)
    async with transaction(engine) as session:
        rows = (await session.execute(select(WebhookMessage.webhook_id, func.count())
                                      .group_by(WebhookMessage.webhook_id))).all()
    await engine.dispose()
    assert sorted(rows) == [(everything, 1), (kazan, 1)]


async def test_delivery_is_signed_and_retried_until_the_receiver_is_back(
        company: Pbxctl, receiver: Receiver) -> None:
    _, secret = await add_hook(company, receiver.url, "call.ringing")
    await queue(company.database_url, ringing_call())
    receiver.fail = 2
    outcomes = Outcomes()
    for _ in range(3):
        assert await deliver(company.database_url, outcomes=outcomes) == 1
    assert await deliver(company.database_url) == 0            # nothing left to do
    assert outcomes.counts == {"ok": 1, "failed": 2, "gave_up": 0}
    bodies = {body for _, body in receiver.received}
    assert len(bodies) == 1                                      # the same body each time
    for headers, body in receiver.received:
        assert headers["X-Pbxctl-Event"] == "call.ringing"
        assert is_valid(secret, int(headers["X-Pbxctl-Timestamp"]), body,
                        headers["X-Pbxctl-Signature"])
    payload = json.loads(receiver.received[-1][1])
    assert payload["call"]["called"] == "+78435550101" and payload["call"]["branch"] == "kazan"
    (message,) = json.loads((await run(company, "webhook", "deliveries", "--json")).stdout)
    assert message["state"] == "delivered" and message["attempts"] == 3
    tries = json.loads((await run(company, "webhook", "attempts", str(message["id"]),
                                  "--json")).stdout)
    assert [t["status"] for t in tries] == [503, 503, 204]


async def test_retries_wait_their_turn(company: Pbxctl, receiver: Receiver) -> None:
    await add_hook(company, receiver.url, "call.ringing")
    await queue(company.database_url, ringing_call())
    receiver.fail = 1
    patient = RetryPolicy(first_delay=3600, max_attempts=5, allow_networks=LOOPBACK)
    assert await deliver(company.database_url, patient) == 1
    assert await deliver(company.database_url, patient) == 0   # next try is an hour away
    (message,) = json.loads((await run(company, "webhook", "deliveries", "--json")).stdout)
    assert message["state"] == "pending" and message["next_attempt"]
    assert message["last_error"] == "HTTP 503"


async def test_a_receiver_that_stays_down_is_given_up_and_can_be_retried(
        company: Pbxctl, receiver: Receiver) -> None:
    hook, _ = await add_hook(company, receiver.url, "call.ringing")
    down, _ = await add_hook(company, "http://127.0.0.1:9/nobody-listens", "call.ringing")
    await queue(company.database_url, ringing_call())
    receiver.fail = 10
    outcomes = Outcomes()
    for _ in range(NO_WAIT.max_attempts):
        await deliver(company.database_url, outcomes=outcomes)
    assert outcomes.counts["gave_up"] == 2
    failed = json.loads((await run(company, "webhook", "deliveries", "--state", "failed",
                                   "--json")).stdout)
    assert {m["webhook"] for m in failed} == {hook, down}
    assert any("Connect" in m["last_error"] for m in failed if m["webhook"] == down)
    receiver.fail = 0
    await run(company, "webhook", "retry", str(hook))
    assert await deliver(company.database_url) == 1
    states = {m["webhook"]: m["state"] for m in json.loads(
        (await run(company, "webhook", "deliveries", "--json")).stdout)}
    assert states == {hook: "delivered", down: "failed"}


async def test_two_senders_at_once_send_each_message_once(company: Pbxctl,
                                                          receiver: Receiver) -> None:
    await add_hook(company, receiver.url, "call.ringing")
    await queue(company.database_url,
                [event for n in range(6) for event in ringing_call(f"1795500000.{n}")])
    receiver.delay = 0.5      # the first sender's batch is still out when the second looks
    attempted = await asyncio.gather(deliver(company.database_url),
                                     deliver(company.database_url))
    assert sum(attempted) == 6
    deliveries = [headers["X-Pbxctl-Delivery"] for headers, _ in receiver.received]
    assert len(deliveries) == len(set(deliveries)) == 6


async def test_a_claim_lapses_when_its_sender_never_records_the_attempt(
        company: Pbxctl) -> None:
    await add_hook(company, "http://127.0.0.1:9/hooks", "call.ringing")
    await queue(company.database_url, ringing_call())
    engine = make_engine(company.database_url)
    now = datetime.now(UTC)
    try:
        async with transaction(engine) as session:      # a sender that dies after this
            (claimed,) = await claim_due_messages(session, now, now + timedelta(minutes=1), 10)
        async with transaction(engine) as session:      # another sender meanwhile
            assert await claim_due_messages(session, now + timedelta(seconds=59),
                                            now + timedelta(minutes=2), 10) == []
        async with transaction(engine) as session:      # once the claim has lapsed
            (again,) = await claim_due_messages(session, now + timedelta(minutes=1),
                                                now + timedelta(minutes=2), 10)
    finally:
        await engine.dispose()
    assert again == claimed


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:5432/", "http://10.0.0.1/",
    "http://[::ffff:169.254.169.254]/", "http://2130706433/", "http://0x7f.1/",
    "http://127.1/", "http://0177.0.0.1/", "http://localhost:8080/", "http://[::1]/",
    "http://[fe80::1]/", "http://100.64.0.1/", "http://[fd00:ec2::254]/", "http://0.0.0.0/",
])
def test_internal_targets_are_refused_unless_their_network_is_allowed(
        company: Pbxctl, url: str) -> None:
    company.env.pop("PBXCTL_WEBHOOK_ALLOW_NETWORKS")
    result = company("webhook", "add", url, "--events", "call.ringing")
    assert result.exit_code == 2, result.stderr
    assert "url: webhooks may not be sent there: " in result.stderr
    assert json.loads(company.ok("webhook", "list", "--json").stdout) == []


def test_an_allowed_network_is_the_only_exception(company: Pbxctl) -> None:
    company.env["PBXCTL_WEBHOOK_ALLOW_NETWORKS"] = '["10.20.0.0/16"]'
    company.ok("webhook", "add", "http://10.20.1.5/hooks", "--events", "call.ringing")
    refused = company("webhook", "add", "http://10.0.0.1/hooks", "--events", "call.ringing")
    assert refused.exit_code == 2 and "private" in refused.stderr
    refused = company("webhook", "add", "http://169.254.169.254/", "--events", "call.ringing")
    assert refused.exit_code == 2 and "metadata" in refused.stderr


class StaticDns(AbstractResolver):
    """A DNS that answers every name with one address (what a rebinding attacker does)."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [{"hostname": host, "host": self.address, "port": port,
                 "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


async def test_a_name_is_checked_on_the_address_it_resolves_to_when_delivering(
        company: Pbxctl, receiver: Receiver) -> None:
    """crm.example.com was public when added; now its DNS answers 127.0.0.1."""
    port = URL(receiver.url).port
    await add_hook(company, f"http://crm.example.com:{port}/hooks/pbx", "call.ringing")
    await queue(company.database_url, ringing_call())
    engine = make_engine(company.database_url)
    public_only = RetryPolicy(first_delay=0.001, max_delay=0.001, max_attempts=3)
    try:
        async with webhook_session(public_only, StaticDns("127.0.0.1")) as http:
            assert await deliver_due(engine, http, public_only, Outcomes()) == 1
        assert receiver.received == []
        (message,) = json.loads((await run(company, "webhook", "deliveries", "--json")
                                 ).stdout)
        assert "127.0.0.1 is a loopback address" in message["last_error"]
        # The same resolved address, once its network is allowed, is where it connects.
        async with webhook_session(NO_WAIT, StaticDns("127.0.0.1")) as http:
            await asyncio.sleep(0.01)             # past the (1 ms) retry delay
            assert await deliver_due(engine, http, NO_WAIT, Outcomes()) == 1
        assert len(receiver.received) == 1
    finally:
        await engine.dispose()


async def test_an_ip_literal_is_checked_again_when_delivering(company: Pbxctl,
                                                              receiver: Receiver) -> None:
    await add_hook(company, receiver.url, "call.ringing")   # allowed when it was added
    await queue(company.database_url, ringing_call())
    assert await deliver(company.database_url,
                         RetryPolicy(first_delay=0.001, max_delay=0.001)) == 1
    assert receiver.received == []
    (message,) = json.loads((await run(company, "webhook", "deliveries", "--json")).stdout)
    assert message["state"] == "pending" and "loopback" in message["last_error"]


@dataclass
class Firehose:
    """Answers 200 with an endless body, counting what it managed to send."""

    sent: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            for _ in range(16 * 1024):                       # 1 GiB if nobody stops it
                await response.write(chunk)
                self.sent += len(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return response


async def test_an_endless_answer_is_read_only_up_to_the_cap(company: Pbxctl,
                                                            aiohttp_server) -> None:  # noqa: ANN001
    firehose = Firehose()
    app = web.Application()
    app.router.add_post("/hooks", firehose.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    url = str(server.make_url("/hooks"))
    async with webhook_session(NO_WAIT) as http, http.post(url, data=b"{}") as response:
        assert await read_capped(response, NO_WAIT.max_response_bytes) == 64 * 1024
        assert response.closed
    await add_hook(company, url, "call.ringing")
    await queue(company.database_url, ringing_call())
    outcomes = Outcomes()
    assert await deliver(company.database_url, outcomes=outcomes) == 1
    assert outcomes.counts["ok"] == 1
    assert firehose.sent < 16 * 1024 * 65536
