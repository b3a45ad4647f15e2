"""make demo: a small company on a real Asterisk 22, provisioned and applied by pbxctl,
with SIPp phones registering and calling between branches."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

from sandboxkit import sandbox  # scripts/sandboxkit, next to this script
from sandboxkit.processes import free_port
from sandboxkit.sipp import SippCarrier, SoftPhone

from pbxctl.webhooks.signing import is_valid

ROOT = Path(__file__).resolve().parent.parent

DEMO_DIR = ROOT / "demo"
PBXCTL = str(Path(sys.executable).with_name("pbxctl"))
ENV = {**os.environ, "PBXCTL_DATABASE_URL": f"sqlite+aiosqlite:///{DEMO_DIR / 'pbxctl.db'}",
       # The demo's CRM listens on 127.0.0.1: webhooks reach loopback only when allowed.
       "PBXCTL_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]'}
DID = "+78435550101"
TELE2 = SippCarrier("tele2", "127.0.0.2")
MTS = SippCarrier("mts", "127.0.0.3")
BOLD, DIM, GREEN, RED, RESET = (("\033[1m", "\033[2m", "\033[32m", "\033[31m", "\033[0m")
                                if sys.stdout.isatty() else ("",) * 5)


def step(title: str) -> None:
    print(f"\n{BOLD}== {title}{RESET}")


def pbxctl(*args: str, show: bool = True, show_stdout: bool = True) -> str:
    """Run a pbxctl command as a user would type it, echoing it and its output."""
    print(f"{BOLD}$ pbxctl {shlex.join(args)}{RESET}")
    done = subprocess.run([PBXCTL, *args], env=ENV, capture_output=True, text=True)
    if show:
        shown = (done.stdout if show_stdout else "") + done.stderr
        for line in shown.rstrip().splitlines():
            print(f"  {line}")
    if done.returncode != 0:
        raise SystemExit(f"{RED}demo stopped: the command above failed{RESET}")
    return done.stdout


def add_phone(branch: str, number: str, name: str) -> SoftPhone:
    creds = json.loads(pbxctl("ext", "add", branch, number, "--name", name, "--json",
                              show=False))
    print(f"  extension {number} ({name}) in {branch}: user {creds['username']}, "
          f"password {creds['password'][:4]}… (shown once), server "
          f"{creds['server']}:{creds['port']}")
    return SoftPhone(creds["username"], creds["password"], creds["server"], creds["port"])


def main() -> None:
    print(f"{BOLD}pbxctl demo{RESET}: three sales branches on one Asterisk 22 node "
          "(a sandboxed Debian chroot); SIPp plays the phones and two carriers.")
    DEMO_DIR.mkdir(exist_ok=True)
    (DEMO_DIR / "pbxctl.db").unlink(missing_ok=True)
    print(f"{DIM}database: {ENV['PBXCTL_DATABASE_URL']} (embedded SQLite){RESET}")

    step("1. Create the database and describe the company")
    pbxctl("init")
    pbxctl("node", "add", "local", "--ami-host", "127.0.0.1", "--ami-user", sandbox.AMI_USER,
           "--ami-secret", sandbox.AMI_SECRET, "--config-dir", str(sandbox.config_dir()),
           "--cdr-csv", str(sandbox.master_csv()))
    pbxctl("branch", "add", "kazan", "--name", "Kazan salon", "--city", "Kazan",
           "--timezone", "Europe/Moscow", "--ext-range", "200-299")
    pbxctl("branch", "add", "omsk", "--name", "Omsk office", "--city", "Omsk",
           "--timezone", "Asia/Omsk", "--ext-range", "300-399")
    pbxctl("branch", "add", "novosibirsk", "--name", "Novosibirsk salon",
           "--city", "Novosibirsk", "--timezone", "Asia/Novosibirsk", "--ext-range", "400-499")
    anna = add_phone("kazan", "201", "Anna Petrova")
    add_phone("kazan", "202", "Boris Ivanov")
    ivan = add_phone("omsk", "301", "Иван Сидоров")
    pbxctl("branch", "list")

    step("2. Write the node's first configuration and start Asterisk on it")
    pbxctl("apply", "--offline", show=False)
    print("  pbxctl apply --offline wrote the files; starting Asterisk in the sandbox…")
    sandbox.start()
    print(f"  {GREEN}Asterisk is up{RESET}; AMI on 127.0.0.1:5038")

    step("3. A new phone: see the plan, then apply it to the running Asterisk")
    add_phone("novosibirsk", "401", "Olga Smirnova")
    plan = pbxctl("apply", "--dry-run", show=False)
    for line in plan.splitlines()[:30]:
        print(f"  {DIM}{line}{RESET}")
    print(f"  {DIM}… ({len(plan.splitlines())} diff lines in all; secrets are masked){RESET}")
    pbxctl("apply", show_stdout=False)
    pbxctl("apply")

    first_cdr_line = len(sandbox.cdr_rows())  # Master.csv keeps earlier runs' calls
    with tempfile.TemporaryDirectory() as work:
        try:
            calls(Path(work), anna, ivan, first_cdr_line)
        finally:
            sandbox.stop()
    print(f"\n{BOLD}Done.{RESET} Asterisk was stopped; the database is "
          f"{DEMO_DIR / 'pbxctl.db'}. Try: PBXCTL_DATABASE_URL="
          f"{ENV['PBXCTL_DATABASE_URL']} .venv/bin/pbxctl number history {DID}")


def show_cdr(before: int, dst: str) -> dict[str, str]:
    """Print the answered CDR for ``dst`` written after the first ``before`` rows."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        answered = [r for r in sandbox.cdr_rows()[before:]
                    if r["dst"] == dst and r["disposition"] == "ANSWERED"]
        if answered:
            break
        time.sleep(0.2)
    else:
        raise SystemExit(f"{RED}no CDR was written{RESET}")
    cdr = answered[-1]
    for key in ("start", "src", "dst", "dstchannel", "disposition", "billsec", "accountcode"):
        print(f"  {key:<12} {cdr[key]}")
    return cdr


def outcome(ok: bool, good: str, bad: str) -> str:
    return f"{GREEN}{good}{RESET}" if ok else f"{RED}{bad}{RESET}"


def calls(work_dir: Path, anna: SoftPhone, ivan: SoftPhone, first_cdr_line: int) -> None:
    """Registrations, an internal call, carriers, a number moving, outbound failover."""
    step("4. Phones register with the credentials pbxctl generated")
    for phone in (anna, ivan):
        result = phone.register(work_dir)
        print(f"  {phone.username} from 127.0.0.1:{phone.port}: "
              f"{outcome(result.ok, 'registered', 'refused')}")
        if not result.ok:
            raise SystemExit(result.errors)
    wrong = anna.register_refused(work_dir, "guessed-password")
    print(f"  201 with a wrong password: {outcome(wrong.ok, 'rejected (401)', 'ACCEPTED')}")

    step("5. Anna (Kazan, 201) calls Ivan (Omsk, 301); the CDR Asterisk wrote")
    before = len(sandbox.cdr_rows())
    answering = ivan.answer_one_call(work_dir)
    call = anna.call(work_dir, "301", hold_ms=2000)
    if not (call.ok and answering.wait().ok):
        raise SystemExit(f"{RED}the call failed{RESET}\n{call.errors}")
    print(f"  {GREEN}answered by 301{RESET}, talked 2 s; Master.csv says:")
    cdr = show_cdr(before, "301")
    print(f"  {GREEN}department (accountcode) = {cdr['accountcode']}{RESET}: the caller's "
          "branch, ready for per-department cost reports")

    step("6. Two independent carriers and a number the company owns")
    print(f"  {DIM}SIPp plays tele2 on {TELE2.address} and mts on {MTS.address}{RESET}")
    pbxctl("carrier", "add", "tele2", "--host", TELE2.address, "--auth", "ip", "--match",
           TELE2.address, "--number-format", "national:7", "--qualify", "0")
    pbxctl("carrier", "add", "mts", "--host", MTS.address, "--auth", "ip", "--match",
           MTS.address, "--number-format", "plus", "--qualify", "0")
    pbxctl("number", "add", DID, "--carrier", "tele2", "--branch", "kazan",
           "--monthly-fee", "350.00", "--route", "ext:201")
    pbxctl("branch", "outbound", "kazan", "--dialing", "national:7", "--carriers",
           "tele2,mts", "--caller-id", DID, "--allow", "local,national,mobile")
    pbxctl("apply", show_stdout=False)

    step(f"7. A customer calls {DID}; then the number moves from tele2 to mts")
    answering = anna.answer_one_call(work_dir)
    inbound = TELE2.call(work_dir, "8435550101")
    print(f"  via tele2 (sent as 8435550101): "
          f"{outcome(inbound.ok and answering.wait().ok, 'rang 201, answered', 'FAILED')}")
    pbxctl("number", "move", DID, "--carrier", "mts")
    pbxctl("apply", show_stdout=False)
    answering = anna.answer_one_call(work_dir)
    inbound = MTS.call(work_dir, DID)
    print(f"  via mts (sent as {DID}): "
          f"{outcome(inbound.ok and answering.wait().ok, 'rang 201, answered', 'FAILED')}"
          " — same route, no PBX change")
    stale = TELE2.call_refused(work_dir, "8435550101")
    print(f"  via tele2 again: {outcome(stale.ok, 'refused (404)', 'STILL ACCEPTED')}")
    pbxctl("number", "history", DID)

    step("8. Anna dials a national number; tele2 answers 503, mts carries the call")
    rejecting = TELE2.reject_calls(work_dir, code=503)
    carrying = MTS.answer_one_call(work_dir)
    before = len(sandbox.cdr_rows())
    call = anna.call(work_dir, "88432000000", hold_ms=4000)
    ok = call.ok and rejecting.wait().ok and carrying.wait().ok
    print(f"  201 dialed 8 843 200-00-00: {outcome(ok, 'answered', 'FAILED')}")
    for name, run in (("tele2", rejecting), ("mts", carrying)):
        for invite in run.invites():
            print(f"  {name} got INVITE for {invite['ruri_user']} from "
                  f"{invite['from_user']}")
    show_cdr(before, "+78432000000")
    international = anna.call(work_dir, "81046701234567")
    print(f"  201 dials Sweden, not in Kazan's policy: "
          f"{outcome(not international.ok, 'refused before any carrier', 'LET THROUGH')}")

    step("9. Accounting: the carriers' price lists, the CDRs, the month's costs")
    for carrier, prices in (("tele2", "7,Russia,1.1000,0.0000,0,60"),
                            ("mts", "7,Russia,0.9000,0.0500,0,1")):
        deck = work_dir / f"{carrier}.csv"
        deck.write_text("prefix,destination,rate_per_minute,connect_fee,min_seconds,"
                        f"increment_seconds\n{prices}\n79,Russia mobile,2.5000,0,0,1\n")
        pbxctl("rates", "import", carrier, str(deck), "--valid-from", "2026-01-01")
    # Master.csv also holds earlier runs' calls: this demo imports the lines it added.
    ours = work_dir / "Master.csv"
    ours.write_bytes(b"".join(sandbox.master_csv().read_bytes().splitlines(keepends=True)
                              [first_cdr_line:]))
    pbxctl("cdr", "import", str(ours), "--node", "local")
    month = datetime.now(ZoneInfo("Europe/Moscow")).strftime("%Y-%m")
    pbxctl("report", "costs", "--month", month, "--department", "kazan")
    pbxctl("report", "costs", "--month", month, "--department", "kazan", "--detail")

    serve_with_webhook(work_dir, anna)

    step("11. Every change is in the audit trail")
    pbxctl("audit")


class CrmReceiver(BaseHTTPRequestHandler):
    """A CRM's webhook endpoint: keeps what it is sent."""

    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        CrmReceiver.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


def serve_with_webhook(work_dir: Path, anna: SoftPhone) -> None:
    """pbxctl serve follows the node; a CRM gets signed call events; /metrics."""
    step("10. pbxctl serve: the CRM hears about calls (signed webhooks); /metrics")
    crm = ThreadingHTTPServer(("127.0.0.1", 0), CrmReceiver)
    threading.Thread(target=crm.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{crm.server_address[1]}/pbx-events"
    hook = json.loads(pbxctl("webhook", "add", url, "--events", "call.ringing,call.answered",
                             "--branch", "kazan", "--json", show=False))
    print(f"  webhook {hook['id']} -> {url}; signing secret {hook['secret'][:6]}… "
          "(shown once)")
    port = free_port()
    log = (work_dir / "serve.log").open("w")
    print(f"{BOLD}$ pbxctl serve --port {port}{RESET}")
    server = subprocess.Popen([PBXCTL, "serve", "--port", str(port)], env=ENV,
                              stdout=subprocess.DEVNULL, stderr=log)
    base = f"http://127.0.0.1:{port}/"
    try:
        if not wait_until(lambda: "pbxctl_ami_connected{node=\"local\"} 1.0"
                          in fetch(base + "metrics")):
            raise SystemExit(f"{RED}demo stopped: serve did not connect{RESET}")
        answering = anna.answer_one_call(work_dir)
        inbound = MTS.call(work_dir, DID)
        print(f"  a customer calls {DID}: "
              f"{outcome(inbound.ok and answering.wait().ok, 'answered by 201', 'FAILED')}")
        wait_until(lambda: len(CrmReceiver.received) >= 2)
        for headers, body in CrmReceiver.received:
            event = json.loads(body)
            signed = is_valid(hook["secret"], int(headers["X-Pbxctl-Timestamp"]), body,
                              headers["X-Pbxctl-Signature"])
            call = event["call"]
            print(f"  CRM got {event['event']}: {call['caller']} -> {call['called']} "
                  f"(branch {call['branch']}, extension {call['extension'] or '-'}), "
                  f"{outcome(signed, 'signature valid', 'BAD SIGNATURE')}")
        wanted = ("pbxctl_ami_connected", "pbxctl_ami_events_total",
                  "pbxctl_cdrs_stored_total", "pbxctl_webhook_deliveries_total")
        for line in fetch(base + "metrics").splitlines():
            if line.startswith(wanted):
                print(f"  {DIM}{line}{RESET}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        crm.shutdown()
        crm.server_close()


def fetch(url: str) -> str:
    """A page's text, or nothing while the server is not up."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return ""


def wait_until(condition: Callable[[], bool], seconds: float = 30) -> bool:
    """Poll ``condition`` until it holds (True) or ``seconds`` pass (False)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True


if __name__ == "__main__":
    main()
