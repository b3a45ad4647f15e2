"""SIPp as phones and carriers: thin wrappers over the scenarios next to this file."""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

STARTUP_SECONDS = 60       # at most, until a SIPp started in the background listens
_INVITE_RE = re.compile(r"INVITE ruri_user=(?P<ruri_user>\S*) from_user=(?P<from_user>\S*) "
                        r"pai_user=(?P<pai_user>\S*) from_name=(?P<from_name>.*)")
_REGISTER_RE = re.compile(r"^REGISTER via=(?P<via>\S*) contact=(?P<contact>.*) "
                          r"valid=(?P<valid>\S*)$", re.MULTILINE)
_MWI_RE = re.compile(r"^MWI Messages-Waiting: *(?P<waiting>yes|no)$", re.MULTILINE)
_STATE_RE = re.compile(r"^STATE (?:<state[^>]*>(?P<state>[a-z]+)</state>)?$", re.MULTILINE)
_EVENT_RE = re.compile(r"^(?P<event>INVITE|ANSWERED|BYE) ruri_user=(?P<ruri_user>\S*)"
                       r"(?: ms=(?P<ms>[0-9]+))?", re.MULTILINE)
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
_ports = itertools.count(5071)
# SIPp binds audio RTP at -mp and video at -mp + 2: keep 4 apart, above Asterisk's RTP range.
_media_ports = itertools.count(30000, 4)


def sipp_binary() -> str:
    """The host's sipp (Debian package sip-tester); scripts/sandbox.sh build installs it."""
    found = shutil.which("sipp")
    if found is None:
        raise RuntimeError("sipp is not installed; run 'scripts/sandbox.sh build' "
                           "(it installs sip-tester)")
    return found


@dataclass(frozen=True)
class SippResult:
    """How one SIPp run ended."""

    ok: bool
    returncode: int
    errors: str


@dataclass
class SoftPhone:
    """A phone played by SIPp, bound to its own loopback port."""

    username: str
    password: str
    server: str = "127.0.0.1"
    server_port: int = 5060
    address: str = "127.0.0.1"
    port: int = 0
    media_port: int = 0
    auth_user: str = ""     # a device's own login; the username when empty

    def __post_init__(self) -> None:
        self.port = self.port or next(_ports)
        self.media_port = self.media_port or next(_media_ports)
        self.auth_user = self.auth_user or self.username

    def _base(self, scenario: str, work_dir: Path, *keys: str) -> list[str]:
        """SIPp as this phone running ``scenario``; ``keys`` (``-key`` pairs) come before
        ``-sf``, where SIPp wants them."""
        return [sipp_binary(), f"{self.server}:{self.server_port}", *keys, "-sf",
                str(SCENARIOS / scenario), "-i", self.address, "-p", str(self.port),
                "-mp", str(self.media_port), "-m", "1", "-nostdin", "-timeout_error",
                "-trace_err", "-error_file", str(work_dir / f"{self.username}-{scenario}.err")]

    def register(self, work_dir: Path, password: str | None = None) -> SippResult:
        """REGISTER with digest auth; ok when Asterisk answers 200. The message-lamp NOTIFY
        Asterisk sends on registering is answered (-aa) before SIPp leaves the port."""
        return self._run(work_dir, "register.xml", password, "-timeout", "10", "-aa")

    def register_refused(self, work_dir: Path, password: str) -> SippResult:
        """REGISTER with a wrong password; ok when Asterisk refuses it."""
        return self._run(work_dir, "register_fail.xml", password, "-timeout", "10")

    def call(self, work_dir: Path, number: str, hold_ms: int = 1000) -> SippResult:
        """Place one authenticated call to ``number``; ok when answered and hung up."""
        cmd = [*self._base("uac_call.xml", work_dir), "-key", "caller", self.username,
               "-s", number, "-au", self.auth_user, "-ap", self.password,
               "-d", str(hold_ms), "-timeout", "60"]
        return _finish(subprocess.run(_fresh(cmd), capture_output=True, text=True, timeout=90),
                       work_dir / f"{self.username}-uac_call.xml.err")

    def start_call(self, work_dir: Path, number: str, hold_ms: int) -> BackgroundSipp:
        """Place one authenticated call to ``number`` in the background."""
        cmd = [*self._base("uac_call.xml", work_dir), "-key", "caller", self.username,
               "-s", number, "-au", self.auth_user, "-ap", self.password,
               "-d", str(hold_ms), "-timeout", "60"]
        process = _background(cmd)
        return BackgroundSipp(process, work_dir / f"{self.username}-uac_call.xml.err")

    def start_held_call(self, work_dir: Path, number: str, seconds: int = 60
                        ) -> BackgroundSipp:
        """Place one authenticated call to ``number`` in the background and stay on it
        until Asterisk hangs up (at most ``seconds``); ok when answered and hung up by
        Asterisk."""
        cmd = [*self._base("uac_call_held.xml", work_dir), "-key", "caller", self.username,
               "-s", number, "-au", self.auth_user, "-ap", self.password,
               "-timeout", str(seconds), "-timeout_error"]
        process = _background(cmd)
        return BackgroundSipp(process, work_dir / f"{self.username}-uac_call_held.xml.err")

    def place_calls(self, work_dir: Path, number: str, rate: int, count: int,
                    hold_ms: int = 500, stats: Path | None = None) -> BackgroundSipp:
        """Place ``count`` authenticated calls to ``number``, ``rate`` new calls a second,
        in the background: a steady load. ``stats``: where SIPp writes its counters
        (``;``-separated, the last line final)."""
        cmd = [sipp_binary(), f"{self.server}:{self.server_port}", "-sf",
               str(SCENARIOS / "uac_call.xml"), "-i", self.address, "-p", str(self.port),
               "-mp", str(self.media_port), "-key", "caller", self.username, "-s", number,
               "-au", self.auth_user, "-ap", self.password, "-d", str(hold_ms),
               "-r", str(rate), "-m", str(count), "-l", str(rate * 10), "-nostdin",
               "-timeout", str(count // rate + 90), "-trace_err", "-error_file",
               str(work_dir / f"{self.username}-load.err")]
        if stats is not None:
            cmd += ["-trace_stat", "-stf", str(stats), "-fd", "1"]
        process = _background(cmd)
        return BackgroundSipp(process, work_dir / f"{self.username}-load.err")

    def answer_one_call(self, work_dir: Path, after_ms: int = 0) -> BackgroundSipp:
        """Start answering one incoming call in the background (after ringing for
        ``after_ms`` when given)."""
        scenario = "uas_answer_delayed.xml" if after_ms else "uas_answer.xml"
        cmd = [*self._base(scenario, work_dir), "-timeout", "60"]
        if after_ms:
            cmd += ["-d", str(after_ms)]
        process = _background(cmd)
        wait_listening(process, self.address, self.port)
        return BackgroundSipp(process, work_dir / f"{self.username}-{scenario}.err")

    def ring_until_cancelled(self, work_dir: Path) -> BackgroundSipp:
        """Start ringing for one incoming call in the background, never answering it;
        ok when the call was cancelled (picked up elsewhere, or given up)."""
        return self._take_one_call(work_dir, "uas_ring.xml")

    def refuse_busy(self, work_dir: Path) -> BackgroundSipp:
        """Start refusing one incoming call as busy (486) in the background; ok when a
        call came and was refused."""
        return self._take_one_call(work_dir, "uas_busy.xml")

    def _take_one_call(self, work_dir: Path, scenario: str) -> BackgroundSipp:
        """Run ``scenario`` for one incoming call in the background, once SIPp listens."""
        cmd = [*self._base(scenario, work_dir), "-timeout", "60"]
        process = _background(cmd)
        wait_listening(process, self.address, self.port)
        return BackgroundSipp(process, work_dir / f"{self.username}-{scenario}.err")

    def listen_for_lamp(self, work_dir: Path) -> BackgroundSipp:
        """Answer the message-summary NOTIFYs Asterisk sends to this (registered) phone in
        the background, for at most 90 s; ``lamps()`` tells what each said, ``stop()`` ends
        the listening."""
        log_file = work_dir / f"{self.username}-mwi.log"
        error_file = work_dir / f"{self.username}-mwi_listen.xml.err"
        cmd = [sipp_binary(), "-sf", str(SCENARIOS / "mwi_listen.xml"), "-i", self.address,
               "-p", str(self.port), "-m", "100", "-nostdin", "-timeout", "90", "-trace_logs",
               "-log_file", str(log_file), "-trace_err", "-error_file", str(error_file)]
        process = _background(cmd)
        wait_listening(process, self.address, self.port)
        return BackgroundSipp(process, error_file, log_file)

    def watch(self, work_dir: Path, extension: str) -> BackgroundSipp:
        """Subscribe to ``extension``'s dialog state (a busy lamp) in the background, until
        6 s pass without a NOTIFY; ``states()`` tells what each NOTIFY said."""
        log_file = work_dir / f"{self.username}-watch-{extension}.log"
        cmd = [*self._base("subscribe_dialog.xml", work_dir, "-key", "watched", extension), "-s",
               self.username, "-au", self.auth_user, "-ap", self.password, "-timeout", "90",
               "-trace_logs", "-log_file", str(log_file)]
        process = _background(cmd)
        return BackgroundSipp(process, work_dir / f"{self.username}-subscribe_dialog.xml.err",
                              log_file)

    def watch_refused(self, work_dir: Path, extension: str) -> SippResult:
        """Subscribe to ``extension``'s state; ok when Asterisk refuses it with 404."""
        cmd = [*self._base("subscribe_refused.xml", work_dir, "-key", "watched", extension), "-s",
               self.username, "-au", self.auth_user, "-ap", self.password, "-timeout", "20"]
        return _finish(subprocess.run(_fresh(cmd), capture_output=True, text=True, timeout=30),
                       work_dir / f"{self.username}-subscribe_refused.xml.err")

    def _run(self, work_dir: Path, scenario: str, password: str | None,
             *extra: str) -> SippResult:
        cmd = [*self._base(scenario, work_dir), "-s", self.username, "-au", self.auth_user,
               "-ap", password if password is not None else self.password, *extra]
        return _finish(subprocess.run(_fresh(cmd), capture_output=True, text=True, timeout=30),
                       work_dir / f"{self.username}-{scenario}.err")


_running: list[subprocess.Popen[str]] = []


def wait_listening(process: subprocess.Popen[str], address: str, port: int,
                   tcp: bool = False) -> None:
    """Until SIPp ``process`` has bound its SIP socket on ``address``:``port`` (UDP, or a
    listening TCP socket): from then on what is sent there waits in the socket for it. A
    fixed pause was not enough on a loaded machine (the first INVITE found no one there);
    a run that ends first (a port in use) or never binds fails here."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _bound(process.pid, address, port, tcp):
        if process.poll() is not None:
            raise RuntimeError(f"SIPp ended before listening on {address}:{port} "
                               f"(exit {process.returncode}): {process.args}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(f"SIPp did not listen on {address}:{port} within "
                               f"{STARTUP_SECONDS} s: {process.args}")
        time.sleep(0.05)


def _bound(pid: int, address: str, port: int, tcp: bool) -> bool:
    """Whether process ``pid`` holds a socket bound on ``address``:``port`` (IPv4), as the
    network namespace's /proc/net/udp (or a LISTEN row of /proc/net/tcp) shows it."""
    host = int.from_bytes(bytes(int(part) for part in address.split(".")), "little")
    wanted = f"{host:08X}:{port:04X}"
    try:
        owned = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        table = Path("/proc/net/tcp" if tcp else "/proc/net/udp").read_text()
    except FileNotFoundError:       # (the process has just ended)
        return False
    for row in table.splitlines()[1:]:
        fields = row.split()
        if fields[1] == wanted and (not tcp or fields[3] == "0A") \
                and f"socket:[{fields[9]}]" in owned:
            return True
    return False


def _background(cmd: list[str]) -> subprocess.Popen[str]:
    """Start SIPp in the background, its terminal output dropped (errors and traces go to
    the files its command names)."""
    return subprocess.Popen(_fresh(cmd), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)


def _fresh(cmd: list[str]) -> list[str]:
    """``cmd``, its error and log files removed first. SIPp writes them only once it has
    something to say, so a run that failed without a word (killed after its time) would
    otherwise be reported with an earlier run's errors (a carrier SIPp of the same name
    that timed out on purpose), and its log read as an earlier run's INVITEs."""
    for option, value in itertools.pairwise(cmd):
        if option in ("-error_file", "-log_file"):
            Path(value).unlink(missing_ok=True)
    return cmd


def stop_all() -> None:
    """Kill every background SIPp still running (after a failed test)."""
    while _running:
        process = _running.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


@dataclass
class BackgroundSipp:
    """A SIPp run going on while the test does something else."""

    process: subprocess.Popen[str]
    error_file: Path
    log_file: Path | None = None

    def __post_init__(self) -> None:
        _running.append(self.process)

    def invites(self) -> list[dict[str, str]]:
        """The INVITEs a carrier scenario logged: ruri_user, from_user, pai_user,
        from_name (the From display name)."""
        return [m.groupdict() for m in _INVITE_RE.finditer(self._log())]

    def events(self) -> list[tuple[float | None, str, str]]:
        """(seconds on SIPp's clock, INVITE/ANSWERED/BYE, Request-URI user) of every call
        a ``carrier_answer_all.xml`` run logged, in order; INVITEs have no time."""
        return [(int(m["ms"]) / 1000 if m["ms"] else None, m["event"], m["ruri_user"])
                for m in _EVENT_RE.finditer(self._log())]

    def registrations(self) -> list[dict[str, str]]:
        """The authenticated REGISTERs a ``take_registrations`` run logged: via (the
        address it came from), contact, valid (``true`` when the credentials matched)."""
        return [m.groupdict() for m in _REGISTER_RE.finditer(self._log())]

    def states(self) -> list[str]:
        """The dialog state of every NOTIFY a ``watch`` run received, in order (empty: the
        NOTIFY held no dialog, the phone is idle)."""
        return [m["state"] or "" for m in _STATE_RE.finditer(self._log())]

    def lamps(self) -> list[bool]:
        """Messages-Waiting of every NOTIFY a ``listen_for_lamp`` run answered, in order."""
        return [m["waiting"] == "yes" for m in _MWI_RE.finditer(self._log())]

    def _log(self) -> str:
        """What the run has logged so far (nothing before its log exists)."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        return self.log_file.read_text()

    def stop(self) -> None:
        """End a run that listens until told to."""
        self.process.terminate()
        self.process.wait(timeout=10)

    def wait(self, timeout: float = 70) -> SippResult:
        """Wait for the run to end (killing it after ``timeout`` seconds)."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return _finish(self.process, self.error_file)


def _finish(process: subprocess.CompletedProcess[str] | subprocess.Popen[str],
            error_file: Path) -> SippResult:
    errors = error_file.read_text(errors="replace") if error_file.exists() else ""
    return SippResult(process.returncode == 0, process.returncode or 0, errors[-2000:])


@dataclass
class SippCarrier:
    """A carrier's SIP trunk played by SIPp on its own loopback address (never 127.0.0.1,
    which the phones use), recognised by Asterisk by that address alone."""

    name: str
    address: str
    port: int = 5060
    asterisk: str = "127.0.0.1:5060"
    transport: str = "udp"           # or tcp: one connection (SIPp's t1)

    def _transport(self) -> list[str]:
        return ["-t", "t1"] if self.transport == "tcp" else []

    def _listen(self, work_dir: Path, scenario: str, sets: list[str], *extra: str
                ) -> BackgroundSipp:
        log_file = work_dir / f"{self.name}-{scenario}.log"
        error_file = work_dir / f"{self.name}-{scenario}.err"
        cmd = [sipp_binary(), *sets, *self._transport(), "-sf", str(SCENARIOS / scenario),
               "-i", self.address, "-p", str(self.port), "-mp", str(next(_media_ports)),
               "-nostdin",
               "-trace_logs", "-log_file", str(log_file), "-trace_err", "-error_file",
               str(error_file), *extra]
        process = _background(cmd)
        wait_listening(process, self.address, self.port, tcp=self.transport == "tcp")
        return BackgroundSipp(process, error_file, log_file)

    def answer_one_call(self, work_dir: Path) -> BackgroundSipp:
        """Answer the next call Asterisk sends to this carrier."""
        return self._listen(work_dir, "carrier_answer.xml", [], "-timeout", "60",
                            "-timeout_error")

    def answer_all_calls(self, work_dir: Path, seconds: int,
                         calls: int | None = None) -> BackgroundSipp:
        """Answer every call Asterisk sends to this carrier for ``seconds`` (or until
        ``calls`` calls have ended: ok when they all ended well within ``seconds``);
        ``events()`` tells when each was offered, answered and hung up by Asterisk."""
        until = ("-m", str(calls), "-timeout_error") if calls else ()
        return self._listen(work_dir, "carrier_answer_all.xml", [], "-timeout", str(seconds),
                            *until)

    def reject_calls(self, work_dir: Path, count: int = 1, code: int = 503) -> BackgroundSipp:
        """Refuse the next ``count`` calls with ``code``."""
        return self._listen(work_dir, "carrier_reject.xml",
                            ["-set", "code", str(code), "-set", "max", str(count)],
                            "-timeout", "60", "-timeout_error")

    def answer_one_call_from_edge(self, work_dir: Path) -> BackgroundSipp:
        """As a node behind the edge: answer the edge's OPTIONS probes and the next call it
        relays, which must carry the X-Pbxctl-Carrier header (logged as ``carrier=``)."""
        return self._listen(work_dir, "edge_node_answer.xml", [], "-timeout", "60",
                            "-timeout_error")

    def take_registrations(self, work_dir: Path, user: str, password: str,
                           seconds: int) -> BackgroundSipp:
        """As the carrier's registrar for ``seconds``: challenge every REGISTER and accept
        it with ``user``/``password``; ``registrations()`` tells what registered."""
        return self._listen(work_dir, "carrier_registrar.xml",
                            ["-key", "user", user, "-key", "password", password],
                            "-timeout", str(seconds))

    def listen(self, work_dir: Path, seconds: int) -> BackgroundSipp:
        """Refuse whatever arrives for ``seconds``; ``invites()`` tells what did."""
        return self._listen(work_dir, "carrier_reject.xml", [], "-timeout", str(seconds))

    def _call_command(self, work_dir: Path, scenario: str, did: str, caller: str,
                      hold_ms: int) -> tuple[list[str], Path]:
        error_file = work_dir / f"{self.name}-{scenario}.err"
        return [sipp_binary(), self.asterisk, "-key", "caller", caller, *self._transport(),
                "-sf", str(SCENARIOS / scenario), "-s", did, "-d", str(hold_ms), "-i", self.address,
                "-p", str(next(_ports) + 2000), "-mp", str(next(_media_ports)), "-m", "1",
                "-nostdin", "-timeout", "60", "-timeout_error", "-trace_err", "-error_file",
                str(error_file)], error_file

    def _call(self, work_dir: Path, scenario: str, did: str, caller: str,
              hold_ms: int) -> SippResult:
        cmd, error_file = self._call_command(work_dir, scenario, did, caller, hold_ms)
        return _finish(subprocess.run(_fresh(cmd), capture_output=True, text=True, timeout=90),
                       error_file)

    def start_call(self, work_dir: Path, did: str, caller: str = "+46701234567",
                   hold_ms: int = 1000) -> BackgroundSipp:
        """Bring a call for ``did`` in the background; ok when answered and hung up."""
        cmd, error_file = self._call_command(work_dir, "carrier_call.xml", did, caller,
                                             hold_ms)
        process = _background(cmd)
        return BackgroundSipp(process, error_file)

    def call(self, work_dir: Path, did: str, caller: str = "+46701234567",
             hold_ms: int = 1000) -> SippResult:
        """Bring a call for ``did`` (as this carrier writes it); ok when answered."""
        return self._call(work_dir, "carrier_call.xml", did, caller, hold_ms)

    def call_contact(self, work_dir: Path, contact: str, did: str,
                     caller: str = "+46701234567", hold_ms: int = 1000) -> SippResult:
        """As ``call``, addressed to the registered Contact user ``contact``, ``did`` in
        the To only (as a carrier calls a registered trunk)."""
        cmd, error_file = self._call_command(work_dir, "carrier_call_contact.xml", did,
                                             caller, hold_ms)
        cmd[2:2] = ["-key", "contact", contact]     # before -sf
        return _finish(subprocess.run(_fresh(cmd), capture_output=True, text=True, timeout=90),
                       error_file)

    def call_with_audio(self, work_dir: Path, did: str, caller: str = "+46701234567",
                        hold_ms: int = 3000) -> SippResult:
        """Like :meth:`call`, sending real G.711 audio while the call lasts."""
        return self._call(work_dir, "carrier_call_audio.xml", did, caller, hold_ms)

    def leave_message(self, work_dir: Path, did: str, caller: str = "+46701234567",
                      talk_ms: int = 8000) -> SippResult:
        """Bring a call for ``did``, sit through a voicemail greeting (13 s), then talk for
        ``talk_ms`` and hang up. On a loaded machine the greeting runs longer and eats
        into the talk: Asterisk drops a message under a second, so talk for seconds."""
        return self._call(work_dir, "carrier_leave_message.xml", did, caller, talk_ms)

    def call_cancelled(self, work_dir: Path, did: str, after_ms: int,
                       caller: str = "+46701234567") -> SippResult:
        """Bring a call for ``did`` and hang up after ``after_ms`` before anyone answers."""
        return self._call(work_dir, "carrier_call_cancel.xml", did, caller, after_ms)

    def call_refused(self, work_dir: Path, did: str,
                     caller: str = "+46701234567") -> SippResult:
        """Bring a call for ``did``; ok when Asterisk refuses it."""
        return self._call(work_dir, "carrier_call_refused.xml", did, caller, 0)
