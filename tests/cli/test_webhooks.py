"""Webhooks: configured from the CLI, queued once per event, delivered signed to a real
HTTP receiver with retries and backoff, with a delivery log; a restart loses nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from click.testing import Result
from sqlalchemy import func, select

from pbxctl.ami_events import CallStage
from pbxctl.db.models import WebhookMessage
from pbxctl.db.session import make_engine, transaction
from pbxctl.webhooks.delivery import RetryPolicy, deliver_due
from pbxctl.webhooks.events import CallEvents
from pbxctl.webhooks.outbox import enqueue
from pbxctl.webhooks.signing import is_valid
from tests.conftest import Pbxctl

NO_WAIT = RetryPolicy(first_delay=0.001, max_delay=0.001, max_attempts=3)


@dataclass
class Receiver:
    """An HTTP endpoint that answers 503 to the first ``fail`` requests."""

    fail: int = 0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
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
        async with aiohttp.ClientSession() as http:
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
    patient = RetryPolicy(first_delay=3600, max_attempts=5)
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
