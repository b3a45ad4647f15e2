"""``pbxctl serve`` against the sandbox Asterisk: a webhook receiver that is down for the
first attempts still gets ``call.ringing``, signed; Asterisk killed with -9 during a SIPp
run and started again is reconnected to by itself (seen in /metrics); calls placed while
serve itself was stopped are caught up from Master.csv; every call SIPp completed has
exactly one CDR."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from sandboxkit import sandbox
from sandboxkit.processes import metrics, start_serve, wait_for
from sandboxkit.sipp import SippCarrier

from pbxctl.webhooks.signing import is_valid
from tests.conftest import Pbxctl
from tests.integration.conftest import Receiver, calling_out, delivered

TELE2 = SippCarrier("tele2", "127.0.0.2")
FAST = {"PBXCTL_AMI_PING_INTERVAL": "1", "PBXCTL_AMI_PING_TIMEOUT": "2",
        "PBXCTL_AMI_BACKOFF_MAX": "1", "PBXCTL_WEBHOOK_FIRST_RETRY": "0.3",
        "PBXCTL_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]'}   # the receiver's network


def outbound_cdrs(pbxctl: Pbxctl, month: str, department: str) -> list[dict[str, object]]:
    rows = json.loads(pbxctl.ok("report", "costs", "--month", month, "--department",
                                department, "--detail", "--format", "json").stdout)["rows"]
    return rows


def test_serve_survives_a_crash_and_a_restart_and_delivers_webhooks(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path, receiver: str) -> None:
    branch, anna = calling_out(pbxctl, asterisk, tmp_path, TELE2, "701", "+78435550701")
    assert anna.register(tmp_path).ok
    pbxctl.env["PBXCTL_WEBHOOK_ALLOW_NETWORKS"] = FAST["PBXCTL_WEBHOOK_ALLOW_NETWORKS"]
    created = json.loads(pbxctl.ok("webhook", "add", receiver, "--events",
                                   "call.ringing,call.answered,call.missed", "--branch",
                                   branch, "--json").stdout)

    # Closed however the test ends: a file left open fails the next test (ResourceWarning).
    with (tmp_path / "serve.log").open("w") as log:
        serve, base = start_serve(pbxctl.database_url, FAST, log)
        completed: list[str] = []

        def place(numbers: list[str]) -> None:
            for number in numbers:
                answering = TELE2.answer_one_call(tmp_path)
                placed = anna.call(tmp_path, number, hold_ms=1500)
                assert placed.ok, placed.errors
                assert answering.wait().ok
                completed.append("+7" + number[1:])

        try:
            wait_for("the AMI link", lambda: metrics(base).get(
                ("pbxctl_ami_connected", "local")) == 1)

            # Customers call the branch while the CRM is down for two attempts: one call is
            # answered, one is given up before anyone answers.
            answering = anna.answer_one_call(tmp_path)
            assert TELE2.call(tmp_path, "8435550701").ok
            assert answering.wait().ok
            assert TELE2.call_cancelled(tmp_path, "8435550701", after_ms=1500).ok
            wait_for("the call events to get through", lambda: len(delivered()) >= 4)
            for headers, body, _status in Receiver.received:
                assert is_valid(created["secret"], int(headers["X-Pbxctl-Timestamp"]), body,
                                headers["X-Pbxctl-Signature"])
                assert headers["X-Pbxctl-Event"] == json.loads(body)["event"]
            assert [status for *_, status in Receiver.received[:2]] == [503, 503]
            events = sorted((e["event"], e["call"]["id"]) for e in delivered())
            assert [name for name, _ in events] == ["call.answered", "call.missed",
                                                    "call.ringing", "call.ringing"]
            (_, taken), (_, missed), *rang = events
            assert taken != missed and sorted(call for _, call in rang) == sorted([taken, missed])
            ringing = next(e["call"] for e in delivered() if e["event"] == "call.ringing")
            assert (ringing["called"], ringing["branch"], ringing["caller"]) == (
                "+78435550701", branch, "+46701234567")
            answered = next(e["call"] for e in delivered() if e["event"] == "call.answered")
            assert answered["extension"] == "701" and answered["answered_at"]

            # Forwarded out through a carrier and answered there: answered, not missed.
            pbxctl.ok("number", "route", "+78435550701", "external:+74955550099")
            pbxctl.ok("apply")
            forwarded_to = TELE2.answer_one_call(tmp_path)
            assert TELE2.call(tmp_path, "8435550701").ok
            assert forwarded_to.wait().ok
            completed.append("+74955550099")      # the forward is an outbound call of the branch
            wait_for("the forwarded call's events", lambda: len(delivered()) >= 6)
            last = [(e["event"], e["call"]["extension"]) for e in delivered()[4:]]
            assert sorted(last) == [("call.answered", None), ("call.ringing", None)]
            pbxctl.ok("number", "route", "+78435550701", "ext:701")
            pbxctl.ok("apply")

            place(["84955550001", "84955550002", "84955550003"])

            # Asterisk dies (kill -9) while a SIPp call is up.
            answering = TELE2.answer_one_call(tmp_path)
            in_flight = anna.start_call(tmp_path, "84955550009", hold_ms=30_000)
            time.sleep(2)
            assert sandbox.kill_hard() >= 1
            wait_for("the link to drop", lambda: metrics(base).get(
                ("pbxctl_ami_connected", "local")) == 0)
            assert not in_flight.wait(timeout=70).ok      # that call never completed
            answering.process.kill()
            sandbox.start()
            wait_for("the reconnect", lambda: metrics(base).get(
                ("pbxctl_ami_reconnects_total", "local"), 0) >= 1 and metrics(base).get(
                ("pbxctl_ami_connected", "local")) == 1)
            assert anna.register(tmp_path).ok
            place(["84955550011", "84955550012", "84955550013"])
            wait_for("the live CDRs", lambda: metrics(base).get(
                ("pbxctl_cdrs_stored_total", "local"), 0) >= 7)   # 1 inbound + 6 outbound
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=30)
        assert serve.returncode == 0, (tmp_path / "serve.log").read_text()[-3000:]

        # Calls while serve is stopped are caught up from Master.csv when it starts again.
        place(["84955550021", "84955550022"])
        serve, base = start_serve(pbxctl.database_url, FAST, log)
        try:
            month = time.strftime("%Y-%m", time.gmtime(time.time() + 3 * 3600))
            wait_for("the catch-up", lambda: len(outbound_cdrs(pbxctl, month, branch))
                     >= len(completed), seconds=30)
        finally:
            serve.send_signal(signal.SIGTERM)
            serve.wait(timeout=30)
        assert serve.returncode == 0

    detail = outbound_cdrs(pbxctl, month, branch)
    answered = sorted(str(r["destination"]) for r in detail)
    assert answered == sorted(completed), (answered, sorted(completed))
