"""Running a command and measuring it: wall time, and on request its memory peak."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# How often the process tree of a measured command is looked at: every SAMPLE_EVERY
# seconds, or less often when a look is costly, so that sampling takes at most
# SAMPLE_SHARE of one core from the command. (Each process's VmRSS: reading its PSS
# instead locks the process's memory map and stalls a command that allocates a lot.)
SAMPLE_EVERY = 0.1
SAMPLE_SHARE = 0.05
# The measured command is started by this small interpreter, which writes the command's
# peak RSS to argv[1]: the kernel gives an exec'd child the peak of the process it was
# forked from, and the bench, holding a generated file's rows, can be far bigger than
# the command.
PEAK_RSS_WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
sys.exit(code)
"""

class BenchError(Exception):
    """A step failed; the message says which and why."""


@dataclass(frozen=True)
class Run:
    """A finished command."""

    seconds: float
    stdout: str
    max_rss_kib: int | None = None  # largest single process (the kernel's ru_maxrss)
    peak_tree_rss_kib: int | None = None  # largest sampled sum over the process tree


def run(argv: list[str], env: dict[str, str], cwd: Path, shown: str) -> Run:
    """Run a command, echoing ``shown`` unless it is empty; a failure raises
    :class:`BenchError`."""
    if shown:
        print(f"$ {shown}")
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise BenchError(f"{shown or shlex.join(argv)} failed (exit {done.returncode}):\n"
                         f"{done.stdout}{done.stderr}".rstrip())
    return Run(seconds, done.stdout)


def run_with_memory(argv: list[str], env: dict[str, str], cwd: Path, shown: str) -> Run:
    """As :func:`run`, also measuring memory: the kernel's peak RSS of the largest process
    (the command or a child it waited for), and the peak of the process tree's summed RSS
    (the starting interpreter left out), sampled every SAMPLE_EVERY seconds."""
    print(f"$ {shown}  (memory measured)")
    with (tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err,
          tempfile.NamedTemporaryFile("r") as peak):
        began = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", PEAK_RSS_WRAPPER, peak.name, *argv],
                                env=env, cwd=cwd, stdout=out, stderr=err, text=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        proc.wait()
        seconds = time.perf_counter() - began
        sampler.stop()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        max_rss = int(peak.read() or 0)
    if proc.returncode != 0:
        raise BenchError(f"{shown} failed (exit {proc.returncode}):\n{stdout}{stderr}".rstrip())
    return Run(seconds, stdout, max_rss or None, sampler.peak_kib or None)


class TreeSampler(threading.Thread):
    """Keeps the largest sum of RSS over a process's descendants."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        wait = SAMPLE_EVERY
        while not self._stop_event.wait(wait):
            began = time.perf_counter()
            self.peak_kib = max(self.peak_kib, sum(map(_rss_kib, _tree(self.pid)[1:])))
            wait = max(SAMPLE_EVERY, (time.perf_counter() - began) / SAMPLE_SHARE)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _tree(pid: int) -> list[int]:
    """``pid`` and its live descendants (forked by any of their threads)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += map(int, task.read_text().split())
            except OSError:  # the thread or process has just ended
                continue
    return found


def _rss_kib(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # ended, or a zombie
        return 0
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
