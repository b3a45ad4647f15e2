"""make bench: how fast pbxctl imports, rates and reports a month of CDRs on PostgreSQL.

In a temporary directory and a fresh database (dropped at the end, even on failure):
generate a month of Master.csv rows and two carriers' rate decks (generate.py), time a
plain PostgreSQL COPY of the file as the baseline, describe a company with the pbxctl CLI,
then time `pbxctl rates import`, `pbxctl cdr import` and `pbxctl report costs`. The
figures go to stdout and to scripts/bench/last-results.md as a Markdown table.

    python scripts/bench/run.py [--rows 1000000] [--seed 2026] [--skip-pbxctl]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import generate  # scripts/bench/generate.py, next to this file

HERE = Path(__file__).resolve().parent
RESULTS_FILE = HERE / "last-results.md"
PBXCTL = str(Path(sys.executable).with_name("pbxctl"))
ADMIN_URL = os.environ.get("PBXCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MONTH = "2026-10"
VALID_FROM = "2026-01-01"
IMPORT_TARGET = 2.0  # cdr import may take at most this many times a plain COPY
REPORT_TARGET = 1.0  # seconds for the month's cost report
# Seconds a command may take from the shell to its exit (median of START_RUNS runs).
START_TARGETS = {"pbxctl --help": 0.3, "pbxctl branch list (SQLite)": 0.6}
START_RUNS = 7
BASELINE_TABLE = "bench_copy_baseline"
CDR_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
               "lastapp", "lastdata", "start", "answer", "end_", "duration", "billsec",
               "disposition", "amaflags", "uniqueid", "userfield", "peeraccount", "linkedid",
               "sequence")  # "end" is reserved in SQL
# The subcommands the timed steps use (they are newer than the rest of the CLI).
TIMED_COMMANDS = (("rates", "import"), ("cdr", "import"), ("report", "costs"))
# Runs a pbxctl command inside an already started interpreter with pbxctl imported, and
# writes how long the command itself took to the file named by its first argument.
IN_PROCESS = """\
import sys, time
from pathlib import Path
from pbxctl.cli.main import cli
began = time.perf_counter()
try:
    cli.main(sys.argv[2:], prog_name="pbxctl", standalone_mode=False)
finally:
    Path(sys.argv[1]).write_text(str(time.perf_counter() - began))
"""


@dataclass(frozen=True)
class Figure:
    """One timed step."""

    step: str
    measured: str  # what exactly ran
    seconds: float
    rows: int | None = None

    @property
    def rate(self) -> str:
        return f"{self.rows / self.seconds:,.0f}" if self.rows and self.seconds else ""


@dataclass
class Results:
    """Everything the report shows."""

    rows: int
    figures: dict[str, Figure] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)  # data set and machine
    import_output: str = ""

    def add(self, figure: Figure) -> None:
        self.figures[figure.step] = figure
        rows = f" ({figure.rows:,} rows, {figure.rate} rows/s)" if figure.rows else ""
        print(f"   -> {figure.seconds:.3f} s{rows}")


class BenchError(Exception):
    """A step failed; the message says which and why."""


# ---- PostgreSQL ----------------------------------------------------------------------------


def database_url(admin_url: str, name: str, driver: str = "postgresql") -> str:
    """``admin_url`` pointing at database ``name``, with the scheme ``driver``."""
    parts = urlsplit(admin_url)._replace(scheme=driver, path=f"/{name}")
    return parts.geturl()


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """Create pbxctl_bench_<random>, yield its name, drop it whatever happens."""
    name = f"pbxctl_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    print(f"database {name} created")
    try:
        yield name
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        print(f"database {name} dropped")


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _server_version(url: str) -> str:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def checkpoint(url: str) -> None:
    """Flush dirty buffers so that no step pays for the previous one's writes."""
    asyncio.run(_admin(url, "CHECKPOINT"))


async def copy_baseline(url: str, master_csv: Path) -> tuple[float, int]:
    """COPY the file into an unindexed table of 21 text columns; (seconds, rows)."""
    columns = ", ".join(f"{name} text" for name in CDR_COLUMNS)
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(f"CREATE TABLE {BASELINE_TABLE} ({columns})")
        await conn.execute("CHECKPOINT")
        began = time.perf_counter()
        await conn.copy_to_table(BASELINE_TABLE, source=master_csv, format="csv")
        seconds = time.perf_counter() - began
        rows = await conn.fetchval(f"SELECT count(*) FROM {BASELINE_TABLE}")
    finally:
        await conn.close()
    return seconds, rows


# ---- pbxctl ----------------------------------------------------------------------------------


def run(argv: list[str], env: dict[str, str], cwd: Path, shown: str | None = None
        ) -> tuple[float, str]:
    """Run a command, echoing ``shown`` (default: the command, "pbxctl" for its path)
    unless it is empty; (wall seconds, stdout). A failure raises :class:`BenchError`."""
    if shown is None:
        shown = shlex.join(["pbxctl", *argv[1:]] if argv[0] == PBXCTL else argv)
    if shown:
        print(f"$ {shown}")
    began = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise BenchError(f"{shown or shlex.join(argv)} failed (exit {done.returncode}):\n"
                         f"{done.stdout}{done.stderr}".rstrip())
    return seconds, done.stdout


def missing_commands(env: dict[str, str], cwd: Path) -> list[str]:
    """The timed pbxctl subcommands this pbxctl does not have yet."""
    missing = []
    for words in TIMED_COMMANDS:
        done = subprocess.run([PBXCTL, *words, "--help"], env=env, cwd=cwd,
                              capture_output=True, text=True)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            missing.append(f"`pbxctl {' '.join(words)}` ({reason})")
    return missing


@dataclass
class Company:
    """The benchmark's pbxctl: its environment, working directory and database."""

    env: dict[str, str]
    workdir: Path
    db_url: str  # asyncpg form, for CHECKPOINT
    results: Results

    def pbxctl(self, *argv: str) -> tuple[float, str]:
        return run([PBXCTL, *argv], self.env, self.workdir)

    def describe(self) -> None:
        """The node, the nine branches and the two carriers the CDRs mention."""
        config_dir = self.workdir / "asterisk"
        config_dir.mkdir()
        self.pbxctl("init")
        self.pbxctl("node", "add", "bench", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
                    "--ami-secret", "bench-secret-1", "--config-dir", str(config_dir))
        for branch in generate.BRANCHES:
            low, high = branch.ext_range
            self.pbxctl("branch", "add", branch.slug, "--name", branch.name,
                        "--city", branch.city, "--timezone", "Europe/Moscow",
                        "--ext-range", f"{low}-{high}", "--node", "bench")
        self.pbxctl("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip",
                    "--match", "127.0.0.2", "--number-format", "national:7")
        self.pbxctl("carrier", "add", "mts", "--host", "127.0.0.3", "--auth", "ip",
                    "--match", "127.0.0.3", "--number-format", "plus")

    def timed(self, step: str, argv: list[str], rows: int | None) -> str:
        """Time one pbxctl command as a user runs it; returns its stdout."""
        checkpoint(self.db_url)
        seconds, stdout = self.pbxctl(*argv)
        self.results.add(Figure(step, f"pbxctl {shlex.join(argv)}", seconds, rows))
        return stdout

    def timed_in_process(self, step: str, argv: list[str]) -> None:
        """Time a pbxctl command after the interpreter has started and imported pbxctl."""
        timing = self.workdir / "in-process-seconds"
        checkpoint(self.db_url)
        what = f"pbxctl {shlex.join(argv)} called in process, after `import pbxctl.cli.main`"
        run([sys.executable, "-c", IN_PROCESS, str(timing), *argv], self.env, self.workdir,
            shown=what)
        self.results.add(Figure(step, what, float(timing.read_text())))

    def timed_startup(self) -> None:
        """Interpreter start plus `import pbxctl.cli.main`, best of three."""
        argv = [sys.executable, "-c", "import pbxctl.cli.main"]
        print("$ python -c 'import pbxctl.cli.main'  (3 times)")
        best = min(run(argv, self.env, self.workdir, shown="")[0] for _ in range(3))
        self.results.add(Figure("CLI startup", "`python -c 'import pbxctl.cli.main'`, "
                                               "best of 3", best))

    def timed_cli_start(self) -> None:
        """``pbxctl --help``, and ``pbxctl branch list`` on a SQLite database with the nine
        branches: each run START_RUNS times, the median kept."""
        env = {**self.env, "PBXCTL_DATABASE_URL":
               f"sqlite+aiosqlite:///{self.workdir / 'start.db'}"}
        run([PBXCTL, "init"], env, self.workdir, shown="pbxctl init  (SQLite, not timed)")
        run([PBXCTL, "node", "add", "local", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
             "--ami-secret", "bench-secret-1", "--config-dir", str(self.workdir / "asterisk")],
            env, self.workdir, shown="")
        for branch in generate.BRANCHES:
            low, high = branch.ext_range
            run([PBXCTL, "branch", "add", branch.slug, "--name", branch.name, "--city",
                 branch.city, "--timezone", "Europe/Moscow", "--ext-range", f"{low}-{high}"],
                env, self.workdir, shown="")
        for step, argv in (("pbxctl --help", ["--help"]),
                           ("pbxctl branch list (SQLite)", ["branch", "list"])):
            print(f"$ pbxctl {shlex.join(argv)}  ({START_RUNS} times)")
            times = sorted(run([PBXCTL, *argv], env, self.workdir, shown="")[0]
                           for _ in range(START_RUNS))
            self.results.add(Figure(step, f"`pbxctl {shlex.join(argv)}` from the shell, "
                                          f"median of {START_RUNS}", times[START_RUNS // 2]))

    def bench(self, deck_rows: dict[str, int]) -> None:
        """Set the company up, then time the rate, import and report commands."""
        print("\n== Company set up with the pbxctl CLI (not timed)")
        self.describe()
        print("\n== Timed: rate decks")
        for carrier in generate.CARRIERS:
            self.timed(f"rates import {carrier}", ["rates", "import", carrier, f"{carrier}.csv",
                                                   "--valid-from", VALID_FROM],
                       deck_rows[carrier])
        print("\n== Timed: CDR import (parse, dedupe, rate, store)")
        output = self.timed("cdr import", ["cdr", "import", "Master.csv", "--node", "bench",
                                           "--json"], self.results.rows).strip()
        self.results.import_output = output
        print(textwrap.indent(output, "   "))
        print("\n== Timed: cost report")
        report = ["report", "costs", "--month", MONTH, "--format", "csv", "-o", "costs.csv"]
        self.timed("report costs", report, self.results.rows)
        self.timed("report costs, again", report, self.results.rows)  # warm: hint bits set
        self.timed_in_process("report costs (in process)", report)
        self.timed_startup()
        print("\n== Timed: CLI start-up")
        self.timed_cli_start()
        lines = _lines(self.workdir / "costs.csv")
        print(f"   costs.csv: {lines} lines")


# ---- Report ----------------------------------------------------------------------------------


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


def verdict(value: float, target: float, inclusive: bool) -> str:
    ok = value <= target if inclusive else value < target
    return "met" if ok else "**missed**"


def summary_rows(results: Results) -> list[tuple[str, str, str]]:
    """(figure, value, target) lines derived from the timed steps."""
    fig = results.figures
    lines = []
    if "cdr import" in fig:
        ratio = fig["cdr import"].seconds / fig["COPY baseline"].seconds
        lines.append(("cdr import / COPY", f"{ratio:.2f}",
                      f"≤ {IMPORT_TARGET} ({verdict(ratio, IMPORT_TARGET, True)})"))
    if "report costs" in fig:
        startup = fig["CLI startup"].seconds
        for step in ("report costs", "report costs, again"):
            wall = fig[step].seconds
            lines += [(f"{step}, CLI wall time", f"{wall:.3f} s",
                       f"< {REPORT_TARGET} s ({verdict(wall, REPORT_TARGET, False)})"),
                      (f"{step}, CLI wall minus startup", f"{wall - startup:.3f} s", "")]
        in_process = fig["report costs (in process)"].seconds
        lines.append(("report costs, in process (third run)", f"{in_process:.3f} s", ""))
    for step, target in START_TARGETS.items():
        if step in fig:
            seconds = fig[step].seconds
            lines.append((step, f"{seconds:.3f} s",
                          f"≤ {target} s ({verdict(seconds, target, True)})"))
    return lines


def markdown(results: Results) -> str:
    """The report: data and machine, every timed step, the ratios against the targets."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# pbxctl benchmark, {now}", "", "| | |", "|---|---|"]
    out += [f"| {key} | {value} |" for key, value in results.facts.items()]
    out += ["", "| Step | What was measured | Rows | Seconds | Rows/s |",
            "|---|---|---:|---:|---:|"]
    out += [f"| {f.step} | {f.measured} | {f'{f.rows:,}' if f.rows else ''} | "
            f"{f.seconds:.3f} | {f.rate} |" for f in results.figures.values()]
    summary = summary_rows(results)
    if summary:
        out += ["", "| Figure | Value | Target |", "|---|---|---|"]
        out += [f"| {name} | {value} | {target} |" for name, value, target in summary]
    else:
        out += ["", "pbxctl steps skipped (--skip-pbxctl): generator and COPY baseline only."]
    if results.import_output:
        out += ["", "`pbxctl cdr import --json` said:", "", "```json",
                _pretty_json(results.import_output), "```"]
    return "\n".join(out) + "\n"


def _pretty_json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


# ---- Main ------------------------------------------------------------------------------------


def bench(args: argparse.Namespace, workdir: Path) -> Results:
    """Every step, in order; returns the figures."""
    results = Results(rows=args.rows)
    env = dict(os.environ)
    env.pop("PBXCTL_CONFIG", None)
    if not args.skip_pbxctl and (missing := missing_commands(env, workdir)):
        raise BenchError("this pbxctl lacks " + "; ".join(missing) +
                         ". Run with --skip-pbxctl for the generator and COPY baseline only.")
    with fresh_database(args.admin_url) as name:
        url = database_url(args.admin_url, name)
        env["PBXCTL_DATABASE_URL"] = database_url(args.admin_url, name, "postgresql+asyncpg")
        results.facts = machine_facts(asyncio.run(_server_version(url)))
        print(f"\n== Generating {args.rows:,} CDR rows and two rate decks (seed {args.seed})")
        began = time.perf_counter()
        counts = generate.generate(workdir, args.rows, args.seed)
        results.add(Figure("generate", "scripts/bench/generate.py (in process)",
                           time.perf_counter() - began, counts.rows))
        deck_rows = {c: _lines(workdir / f"{c}.csv") - 1 for c in generate.CARRIERS}
        results.facts |= data_facts(counts, deck_rows, args.seed)
        print(f"\n== Timed: COPY {BASELINE_TABLE} FROM Master.csv (CSV, 21 text columns, "
              "no index)")
        seconds, copied = asyncio.run(copy_baseline(url, workdir / "Master.csv"))
        if copied != counts.rows:
            raise BenchError(f"COPY loaded {copied} rows, the file has {counts.rows}")
        results.add(Figure("COPY baseline", f"asyncpg copy_to_table into {BASELINE_TABLE} "
                                            "(COPY FROM STDIN, CSV, 21 text columns, no index)",
                           seconds, copied))
        if not args.skip_pbxctl:
            Company(env, workdir, url, results).bench(deck_rows)
    return results


def data_facts(counts: generate.Counts, deck_rows: dict[str, int], seed: int
               ) -> dict[str, str]:
    kinds = ", ".join(f"{kind} {rows:,}" for kind, rows in counts.by_kind.items())
    return {"Master.csv": f"{counts.rows:,} rows, {counts.bytes / 1e6:.1f} MB, October 2026, "
                          f"seed {seed}",
            "Rows by kind of call": f"{kinds} ({counts.failover_pairs:,} failover pairs)",
            "Rate decks": ", ".join(f"{c} {n:,} prefixes" for c, n in deck_rows.items())}


def _lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=generate.DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument("--skip-pbxctl", action="store_true",
                        help="only generate the data and time the COPY baseline")
    parser.add_argument("--admin-url", default=ADMIN_URL,
                        help="PostgreSQL where this user may CREATE DATABASE "
                             "[default: $PBXCTL_TEST_PG or %(default)s]")
    args = parser.parse_args()
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    with tempfile.TemporaryDirectory(prefix="pbxctl-bench-") as tmp:
        try:
            results = bench(args, Path(tmp))
        except (BenchError, OSError, asyncpg.PostgresError) as exc:
            print(f"\nbench failed: {exc}", file=sys.stderr)
            return 1
    report = markdown(results)
    RESULTS_FILE.write_text(report, encoding="utf-8")
    print(f"\n{report}\n(written to {RESULTS_FILE.relative_to(HERE.parent.parent)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
