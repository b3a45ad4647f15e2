"""Every check of ``make test`` at once: ruff and mypy, then the unit tests (pytest-xdist)
alongside the integration tests split into shards, each shard in a network namespace of
its own (``unshare -n``) with a copy of the sandbox, so that each has its own Asterisk
nodes (127.0.0.1:5038/5060, and the named ones on .11, .12) and its own SIPp ports.
Nothing is skipped: the unit part runs every test not marked integration, the shards
every file of tests/integration between them.

Each part's output goes to ``test-logs/<part>.log``; a summary of the parts, their times
and results closes the run, and the exit status is non-zero when any part failed. The
shared sandbox (and the /tmp/sandbox.lock convention around it) is left alone: shards
use copies under /var/tmp, removed at the end. Needs root (chroot, unshare).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from sqlalchemy.engine import URL, make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
SANDBOX_SH = ROOT / "scripts" / "sandbox.sh"
INTEGRATION = ROOT / "tests" / "integration"
DURATIONS = INTEGRATION / "durations.json"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_HOSTS = {None, "", "127.0.0.1", "localhost", "::1"}
# A command in a network namespace of its own, with its own loopback up.
IN_NETNS = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']
# pytest's closing line, e.g. "== 12 passed, 1 failed, 3 deselected in 80.1s (0:01:20) =="
SUMMARY = re.compile(r"^=+ (.*\b(?:passed|failed|error|errors|no tests ran)\b.*) in [\d.]+s.*=+$")
# A line of --durations=0: "12.34s call     tests/integration/test_x.py::test_y[...]"
DURATION = re.compile(r"^([\d.]+)s (?:setup|call|teardown)\s+(tests/integration/[^:]+)::")


@dataclass
class Part:
    """One command of the run, its log, and how it went."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    log: Path = Path()
    started: float = 0.0
    seconds: float = 0.0
    code: int | None = None
    process: subprocess.Popen[bytes] | None = None
    stream: IO[bytes] | None = None
    reported: bool = False

    def start(self, logs: Path) -> None:
        """Start the command, its output (stdout and stderr) into its log."""
        self.log = logs / f"{self.name}.log"
        self.stream = self.log.open("wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen(self.argv, cwd=ROOT, env={**os.environ, **self.env},
                                        stdout=self.stream, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    def poll(self) -> bool:
        """Whether it has finished (and then its exit code and time are kept)."""
        if self.code is None and self.process is not None:
            code = self.process.poll()
            if code is not None:
                self.code, self.seconds = code, time.monotonic() - self.started
                if self.stream is not None:
                    self.stream.close()
        return self.code is not None

    def stop(self) -> None:
        """End the command if it still runs (Ctrl-C or an error of this script)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def result(self) -> str:
        """pytest's closing line, or the last line of the log."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        for line in reversed(lines):
            found = SUMMARY.match(line.strip())
            if found:
                return found.group(1)
        return lines[-1].strip() if lines else "(no output)"


def shard_pg_url(admin_url: str, socket_dir: str) -> str:
    """PBXCTL_TEST_PG as a shard reaches it from its own network namespace: a local
    server through its unix socket (in ``socket_dir``)."""
    url = make_url(admin_url)
    if url.host not in LOCAL_HOSTS:
        raise SystemExit(f"PostgreSQL at {url.host} cannot be reached from the integration "
                         "shards' network namespaces; point PBXCTL_TEST_PG at a local server")
    query = {**url.query, "host": socket_dir, "port": str(url.port or 5432)}
    socket = URL.create(url.drivername, url.username, url.password, database=url.database,
                        query=query)
    return socket.render_as_string(hide_password=False)


def split_files(files: list[str], durations: dict[str, float], shards: int) -> list[list[str]]:
    """The integration files in ``shards`` groups of about equal measured time (longest
    first, each to the least loaded shard); a file not measured counts as the mean."""
    known = [durations[f] for f in files if f in durations]
    default = sum(known) / len(known) if known else 60.0
    groups: list[tuple[float, list[str]]] = [(0.0, []) for _ in range(shards)]
    for name in sorted(files, key=lambda f: (-durations.get(f, default), f)):
        index = min(range(shards), key=lambda i: groups[i][0])
        total, members = groups[index]
        groups[index] = (total + durations.get(name, default), [*members, name])
    return [sorted(members) for _, members in groups if members]


def measured_durations(parts: list[Part]) -> dict[str, float]:
    """Seconds per integration file, from the shards' ``--durations=0`` reports."""
    seconds: dict[str, float] = {}
    for part in parts:
        if not part.log.exists():
            continue
        for line in part.log.read_text(errors="replace").splitlines():
            found = DURATION.match(line.strip())
            if found:
                name = found.group(2)
                seconds[name] = round(seconds.get(name, 0.0) + float(found.group(1)), 1)
    return dict(sorted(seconds.items()))


def count(result: str, outcome: str) -> int:
    """How many tests a pytest closing line gives for ``outcome`` ("passed", ...)."""
    found = re.search(rf"(\d+) {outcome}\b", result)
    return int(found.group(1)) if found else 0


def run_now(name: str, argv: list[str], logs: Path, env: dict[str, str] | None = None) -> Part:
    """Run one part to its end (the lint steps and the checks before the tests)."""
    part = Part(name, argv, env or {})
    part.start(logs)
    while not part.poll():
        time.sleep(0.2)
    return part


def sandbox(command: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """scripts/sandbox.sh ``command`` on the sandbox in ``directory``."""
    return subprocess.run(["bash", str(SANDBOX_SH), command], capture_output=True, text=True,
                          env={**os.environ, "PBXCTL_SANDBOX_DIR": str(directory)}, check=False)


def copy_sandbox(source: Path, target: Path) -> None:
    """A private copy of the built sandbox (one file system only: never its /proc)."""
    subprocess.run(["cp", "-a", "--reflink=auto", "--one-file-system", f"{source}/.",
                    str(target)], check=True)


def remove_sandbox(directory: Path) -> None:
    """Stop every Asterisk node of a shard, unmount what it mounted, and delete its copy."""
    if directory.exists():
        sandbox("stop", directory)
        subprocess.run(["rm", "-rf", "--one-file-system", str(directory)], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default=os.environ.get("PBXCTL_TEST_WORKERS", "3"),
                        help="pytest-xdist workers for the unit tests (default 3)")
    parser.add_argument("--shards", type=int,
                        default=int(os.environ.get("PBXCTL_TEST_SHARDS", "3")),
                        help="integration shards, each with its own sandbox (default 3)")
    parser.add_argument("--logs", type=Path, default=ROOT / "test-logs",
                        help="where each part's log goes (default test-logs/)")
    args = parser.parse_args()
    if args.shards < 1:
        parser.error("--shards must be at least 1")

    t0 = time.monotonic()
    args.logs.mkdir(parents=True, exist_ok=True)
    for old in args.logs.glob("*.log"):
        old.unlink()
    admin_pg = os.environ.get("PBXCTL_TEST_PG", DEFAULT_PG)
    socket_pg = shard_pg_url(admin_pg, os.environ.get("PBXCTL_TEST_PG_SOCKET_DIR",
                                                      "/var/run/postgresql"))
    shared = Path(os.environ.get("PBXCTL_SANDBOX_DIR", "/var/cache/pbxctl/sandbox"))

    done: list[Part] = []
    for name, argv, env in [
        ("postgres", [str(BIN / "python"), "scripts/check_postgres.py"], {}),
        ("postgres-socket", [*IN_NETNS, str(BIN / "python"), "scripts/check_postgres.py"],
         {"PBXCTL_TEST_PG": socket_pg}),
        ("sandbox", ["bash", str(SANDBOX_SH), "build"], {"PBXCTL_SANDBOX_DIR": str(shared)}),
    ]:
        part = run_now(name, argv, args.logs, env)
        done.append(part)
        if part.code != 0:
            sys.stderr.write(part.log.read_text(errors="replace"))
            print(f"test-all: {name} failed; nothing else ran", file=sys.stderr)
            return 1
    for name, argv in [("ruff", [str(BIN / "ruff"), "check", "pbxctl", "tests", "scripts"]),
                       ("mypy", [str(BIN / "mypy")])]:
        print(f"test-all: {name}", flush=True)
        done.append(run_now(name, argv, args.logs))

    files = sorted(str(p.relative_to(ROOT)) for p in INTEGRATION.glob("test_*.py"))
    durations = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    groups = split_files(files, durations, args.shards)
    work = Path(tempfile.mkdtemp(prefix="pbxctl-test-", dir="/var/tmp"))
    work.chmod(0o711)   # the host's Kamailio, as its own user, reaches the shards' edge files
    parts = [Part("unit", [str(BIN / "pytest"), "-m", "not integration", "-n", args.workers,
                           "--basetemp", str(work / "unit")])]
    for index, group in enumerate(groups, 1):
        box = work / f"sandbox{index}"
        parts.append(Part(f"integration{index}",
                          [*IN_NETNS, str(BIN / "pytest"), "-p", "no:cacheprovider",
                           "--durations=0", "--basetemp", str(work / f"tmp{index}"), *group],
                          {"PBXCTL_SANDBOX_DIR": str(box), "PBXCTL_TEST_PG": socket_pg},
                          group))
    try:
        for part in parts[1:]:
            print(f"test-all: copying the sandbox for {part.name}", flush=True)
            copy_sandbox(shared, Path(part.env["PBXCTL_SANDBOX_DIR"]))
        for part in parts:
            part.start(args.logs)
            print(f"test-all: {part.name} started ({' '.join(part.files) or 'unit tests'}), "
                  f"log {part.log}", flush=True)
        while not all([part.poll() for part in parts]):  # each polled, every second
            time.sleep(1)
            for part in parts:
                if part.code is not None and not part.reported:
                    print(f"test-all: {part.name} done in {part.seconds / 60:.1f} min: "
                          f"{part.result()}", flush=True)
                    part.reported = True
    finally:
        for part in parts:
            part.stop()
        for part in parts[1:]:
            remove_sandbox(Path(part.env["PBXCTL_SANDBOX_DIR"]))
        shutil.rmtree(work, ignore_errors=True)

    measured = measured_durations(parts[1:])
    (args.logs / "integration-durations.json").write_text(json.dumps(measured, indent=2) + "\n")
    everything = done + parts
    print("\ntest-all summary")
    for part in everything:
        state = "ok  " if part.code == 0 else "FAIL"
        print(f"  {state} {part.name:<16} {part.seconds / 60:5.1f} min  {part.result()}")
    failed = [part.name for part in everything if part.code != 0]
    passed = [count(part.result(), "passed") for part in parts]
    print(f"  tests passed: {sum(passed)} (unit {passed[0]}, integration {sum(passed[1:])}); "
          f"wall time {(time.monotonic() - t0) / 60:.1f} min; logs in {args.logs}")
    if failed:
        print(f"test-all: FAILED: {', '.join(failed)}")
        return 1
    print("test-all: everything passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
