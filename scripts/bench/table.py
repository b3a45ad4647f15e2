"""The benchmark's one table: every figure beside its target, its ratio and a verdict,
as Markdown (printed, and written to last-results.md)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from measure import Run
from pg import BASELINE_RUNS, IMPORT_RUNS

# Issue 12's targets.
COPY_RATIO_TARGET = 2.0  # cdr import and cdr rerate: at most this many times a plain COPY
REPORT_TARGET = 1.0  # seconds for `pbxctl report costs --month` as a command (strictly below)
RSS_GROWTH_TARGET = 1.25  # the big file's import memory over the 1M file's: "does not grow"
LIVE_CPU_TARGET = 1.0  # serve's CPU milliseconds per live call
START_TARGETS = {"pbxctl --help": 0.3, "pbxctl branch list (SQLite)": 0.6}  # seconds


@dataclass
class ShapeRun:
    """What one data set's steps measured."""

    shape: str
    rows: int
    seconds: dict[str, float] = field(default_factory=dict)  # step -> seconds
    memory: Run | None = None  # the cdr import, when its memory was measured
    not_measured: dict[str, str] = field(default_factory=dict)  # step -> why not
    facts: dict[str, str] = field(default_factory=dict)  # what the data set holds

    @property
    def label(self) -> str:
        return f"{self.shape}, {self.rows:,} rows"


@dataclass
class Results:
    """Everything the table shows."""

    machine: dict[str, str] = field(default_factory=dict)
    shapes: list[ShapeRun] = field(default_factory=list)
    big: ShapeRun | None = None  # the big file's import, for memory
    startup: dict[str, float] = field(default_factory=dict)  # figure -> seconds
    live: dict[str, float | int] | str = "not measured (--skip-live)"


def machine_facts(pg_version: str) -> dict[str, str]:
    """What the figures depend on besides pbxctl."""
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                  .splitlines() if line.startswith("MemTotal:"))
    return {"CPUs (nproc)": f"{len(os.sched_getaffinity(0))} × {cpu}",
            "RAM": f"{mem_kb / 1024 ** 2:.1f} GiB",
            "PostgreSQL": pg_version,
            "Python": platform.python_version(),
            "OS": platform.platform()}


Line = tuple[str, str, str, str, str]  # figure, shape, value, target, ratio and verdict


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _mib(kib: int | None) -> str:
    return "not sampled" if kib is None else f"{kib / 1024:,.0f} MiB"


COPY_TARGET = f"≤ {COPY_RATIO_TARGET} × COPY"
SHAPE_FIGURES = (  # step, figure, target
    ("cdr import", f"`pbxctl cdr import`, best of {IMPORT_RUNS}", COPY_TARGET),
    ("cdr rerate", "`pbxctl cdr rerate --month` after a deck correction", COPY_TARGET),
    ("report cold", "`pbxctl report costs --month`, first run", f"< {REPORT_TARGET} s"),
    ("report warm", "`pbxctl report costs --month`, second run", f"< {REPORT_TARGET} s"),
    ("report in process", "report costs in process (no interpreter start), third run", ""))


def shape_lines(run: ShapeRun) -> list[Line]:
    """The COPY baseline, import, re-rate and report figures of one data set."""
    s, label = run.seconds, run.label
    copy = s.get("COPY baseline")
    lines: list[Line] = []
    if copy is not None:
        lines.append((f"COPY baseline (plain COPY into a text table, best of {BASELINE_RUNS})",
                      label,
                      f"{copy:.3f} s ({run.rows / copy:,.0f} rows/s)", "", ""))
    for step, figure, target in SHAPE_FIGURES:
        if step in run.not_measured:
            lines.append((figure, label, f"not measured ({run.not_measured[step]})", target,
                          ""))
        elif step in s:
            lines.append((figure, label, f"{s[step]:.3f} s", target,
                          _judge(target, s[step], copy)))
    return lines


def _judge(target: str, seconds: float, copy: float | None) -> str:
    """Ratio and verdict of a step against its target."""
    if target == COPY_TARGET:
        if copy is None:
            return ""
        ratio = seconds / copy
        return f"{ratio:.2f} × COPY, {_verdict(ratio <= COPY_RATIO_TARGET)}"
    return _verdict(seconds < REPORT_TARGET) if target else ""


def memory_lines(small: ShapeRun | None, big: ShapeRun | None) -> list[Line]:
    """Peak memory of the import, for the 1M file and the big one, and how it grew."""
    lines: list[Line] = []
    target = f"big ≤ {RSS_GROWTH_TARGET} × small"
    for run in (small, big):
        if run is None or run.memory is None:
            continue
        m = run.memory
        value = (f"{_mib(m.peak_tree_rss_kib)} (process tree, RSS, sampled); "
                 f"{_mib(m.max_rss_kib)} (largest process, RSS)")
        ratio = ""
        if run is big and small is not None and small.memory is not None:
            growth = {name: getattr(m, k) / getattr(small.memory, k)
                      for name, k in (("tree RSS", "peak_tree_rss_kib"),
                                      ("RSS", "max_rss_kib"))
                      if getattr(m, k) and getattr(small.memory, k)}
            if growth:
                ratio = (", ".join(f"{name} {g:.2f} × small" for name, g in growth.items())
                         + f", {_verdict(max(growth.values()) <= RSS_GROWTH_TARGET)}")
        lines.append(("`pbxctl cdr import` peak memory", run.label, value, target, ratio))
        if run is big:
            lines.append(("`pbxctl cdr import` (memory run)", run.label,
                          f"{run.seconds['cdr import']:.3f} s", "", ""))
    return lines


def startup_lines(startup: dict[str, float]) -> list[Line]:
    lines: list[Line] = []
    for figure, seconds in startup.items():
        target = START_TARGETS.get(figure)
        lines.append((figure, "", f"{seconds:.3f} s", f"≤ {target} s" if target else "",
                      _verdict(seconds <= target) if target else ""))
    return lines


def live_lines(live: dict[str, float | int] | str) -> list[Line]:
    """The live figures as scripts/bench/live.py returned them, the two with targets
    judged; or why there are none."""
    figure = "`pbxctl serve` at 100 calls/s for 60 s"
    if isinstance(live, str):
        return [(figure, "live", live, f"≤ {LIVE_CPU_TARGET} ms CPU per call, 0 lost", "")]
    lines: list[Line] = []
    for key, value in live.items():
        target, verdict = "", ""
        if key == "cpu_ms_per_cdr":
            target, verdict = f"≤ {LIVE_CPU_TARGET} ms", _verdict(value <= LIVE_CPU_TARGET)
        elif key == "lost":
            target, verdict = "0", _verdict(value == 0)
        lines.append((f"{figure}: {key}", "live", _number(value), target, verdict))
    return lines


def _number(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(results: Results) -> str:
    """The whole report: the figures table, then machine and data facts."""
    default = next((r for r in results.shapes if r.memory is not None), None)
    lines = [line for run in results.shapes for line in shape_lines(run)]
    lines += memory_lines(default, results.big)
    lines += startup_lines(results.startup)
    lines += live_lines(results.live)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# pbxctl benchmark, {now}", "",
           "| Figure | Data set | Value | Target | Ratio, verdict |", "|---|---|---:|---|---|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    out += ["", "| Machine | |", "|---|---|"]
    out += [f"| {key} | {value} |" for key, value in results.machine.items()]
    runs = [*results.shapes, *([results.big] if results.big else [])]
    out += ["", "| Data set | What it holds |", "|---|---|"]
    out += [f"| {run.label} | {'; '.join(_cell(k, v) for k, v in run.facts.items())} |"
            for run in runs]
    return "\n".join(out) + "\n"


def _cell(key: str, value: str) -> str:
    """A fact for a table cell: JSON compacted, pipes escaped."""
    with contextlib.suppress(ValueError):
        value = json.dumps(json.loads(value), ensure_ascii=False, separators=(", ", ": "))
    return f"{key}: {value}".replace("|", "\\|")
