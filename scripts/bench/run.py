"""make bench: how fast pbxctl imports, re-rates and reports a month of CDRs on PostgreSQL,
on several shapes of data, and how much memory the import needs.

For each data shape (generate.py's SHAPES), in a temporary directory and a fresh database
(dropped at the end, even on failure): generate a month of Master.csv rows and two carriers'
decks, time a plain PostgreSQL COPY of the file as the baseline (best of two), describe
the company with the pbxctl CLI, time `pbxctl cdr import` (best of two, each into emptied
tables), import a corrected tele2 deck valid from the
month's first day and time `pbxctl cdr rerate --month`, then time `pbxctl report costs
--month` twice. The default shape's import and a --rows-big file's import are also measured
for peak memory. Then CLI start-up, and the live figures of scripts/bench/live.py when it
exists. One table of figures, targets and verdicts goes to stdout and, for a whole run (no
step skipped, the default data), to scripts/bench/last-results.md.

    python scripts/bench/run.py [--rows 1000000] [--rows-big 5000000] [--skip-big]
        [--shapes default,few-inbound,...] [--skip-rerate] [--skip-live] [--skip-pbxctl]
        [--seed 2026]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import generate  # scripts/bench/*.py, next to this file
import pg
from measure import BenchError, Run, run, run_with_memory
from table import Results, ShapeRun, machine_facts, markdown

HERE = Path(__file__).resolve().parent
RESULTS_FILE = HERE / "last-results.md"
PBXCTL = str(Path(sys.executable).with_name("pbxctl"))
ADMIN_URL = os.environ.get("PBXCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MONTH = "2026-10"
VALID_FROM = "2026-01-01"
CORRECTION_FROM = "2026-10-01"  # the corrected deck applies to the whole month
LIVE_RATE, LIVE_SECONDS = 100, 60  # calls per second, for how long
START_RUNS = 7
PBXCTL_STEPS = ("cdr import", "cdr rerate", "report cold", "report warm")
# The subcommands the timed steps use.
TIMED_COMMANDS = (("rates", "import"), ("cdr", "import"), ("cdr", "rerate"),
                  ("report", "costs"))
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


def pbxctl_run(argv: list[str], env: dict[str, str], cwd: Path, quiet: bool = False) -> Run:
    """Run pbxctl with ``argv``; echoed unless ``quiet``."""
    return run([PBXCTL, *argv], env, cwd, "" if quiet else shlex.join(["pbxctl", *argv]))


def missing_commands(env: dict[str, str], cwd: Path) -> list[str]:
    """The timed pbxctl subcommands this pbxctl does not have."""
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
    """One data set's pbxctl: its environment, working directory and database."""

    env: dict[str, str]
    workdir: Path
    db_url: str  # asyncpg form, for CHECKPOINT
    shape: generate.Shape
    result: ShapeRun

    def pbxctl(self, *argv: str) -> Run:
        return pbxctl_run(list(argv), self.env, self.workdir)

    def describe(self) -> None:
        """The node, the nine branches, the two carriers and their decks (not timed)."""
        print("\n== Company set up with the pbxctl CLI (not timed)")
        config_dir = self.workdir / "asterisk"
        config_dir.mkdir()
        self.pbxctl("init")
        self.pbxctl("node", "add", "bench", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
                    "--ami-secret", "bench-secret-1", "--config-dir", str(config_dir))
        for branch in generate.BRANCHES:
            low, high = branch.ext_range
            self.pbxctl("branch", "add", branch.slug, "--name", branch.name,
                        "--city", branch.city,
                        "--timezone", generate.branch_zone(self.shape, branch),
                        "--ext-range", f"{low}-{high}", "--node", "bench")
        self.pbxctl("carrier", "add", "tele2", "--host", "127.0.0.2", "--auth", "ip",
                    "--match", "127.0.0.2", "--number-format", "national:7")
        self.pbxctl("carrier", "add", "mts", "--host", "127.0.0.3", "--auth", "ip",
                    "--match", "127.0.0.3", "--number-format", "plus")
        for carrier in generate.CARRIERS:
            self.pbxctl("rates", "import", carrier, f"{carrier}.csv", "--valid-from", VALID_FROM)

    def timed(self, step: str, argv: list[str], memory: bool = False) -> str:
        """Time one pbxctl command as a user runs it (after a CHECKPOINT); its stdout."""
        pg.checkpoint(self.db_url)
        shown = shlex.join(["pbxctl", *argv])
        done = (run_with_memory([PBXCTL, *argv], self.env, self.workdir, shown) if memory
                else run([PBXCTL, *argv], self.env, self.workdir, shown))
        self.result.seconds[step] = done.seconds
        if memory:
            self.result.memory = done
        print(f"   -> {done.seconds:.3f} s")
        return done.stdout.strip()

    def timed_in_process(self, step: str, argv: list[str]) -> None:
        """Time a pbxctl command after the interpreter has started and imported pbxctl."""
        timing = self.workdir / "in-process-seconds"
        pg.checkpoint(self.db_url)
        run([sys.executable, "-c", IN_PROCESS, str(timing), *argv], self.env, self.workdir,
            f"pbxctl {shlex.join(argv)}  (in process, after `import pbxctl.cli.main`)")
        self.result.seconds[step] = float(timing.read_text())

    def import_(self, memory: bool, runs: int = pg.IMPORT_RUNS) -> None:
        """The import, ``runs`` times, each into emptied tables (the first with its
        memory when ``memory``): the fastest counts, as the COPY baseline's does."""
        print(f"\n== Timed: CDR import (parse, dedupe, rate, store), best of {runs}")
        argv = ["cdr", "import", "Master.csv", "--node", "bench", "--json"]
        fastest = float("inf")
        for attempt in range(runs):
            if attempt:
                pg.empty_import_tables(self.db_url)
            output = self.timed("cdr import", argv, memory and not attempt)
            fastest = min(fastest, self.result.seconds["cdr import"])
        self.result.seconds["cdr import"] = fastest
        self.result.facts["cdr import said"] = output

    def rerate(self) -> None:
        """A corrected tele2 deck for the whole month, then the month priced again."""
        print("\n== Deck correction (not timed), then timed: re-rate the month")
        carrier = generate.CORRECTED_CARRIER
        self.pbxctl("rates", "import", carrier, f"{carrier}-corrected.csv",
                    "--valid-from", CORRECTION_FROM)
        output = self.timed("cdr rerate", ["cdr", "rerate", "--month", MONTH, "--json"])
        self.result.facts["cdr rerate said"] = output

    def report(self) -> None:
        print("\n== Timed: cost report")
        report = ["report", "costs", "--month", MONTH, "--format", "csv", "-o", "costs.csv"]
        self.timed("report cold", report)
        self.timed("report warm", report)  # hint bits set, caches warm
        self.timed_in_process("report in process", report)
        self.result.facts["costs.csv"] = f"{_lines(self.workdir / 'costs.csv'):,} lines"


def startup_figures(env: dict[str, str], workdir: Path) -> dict[str, float]:
    """Interpreter start plus `import pbxctl.cli.main` (best of 3); ``pbxctl --help`` and
    ``pbxctl branch list`` on SQLite with the nine branches (median of START_RUNS)."""
    print("\n== Timed: CLI start-up")
    figures = {}
    argv = [sys.executable, "-c", "import pbxctl.cli.main"]
    print("$ python -c 'import pbxctl.cli.main'  (3 times)")
    figures["CLI startup: `python -c 'import pbxctl.cli.main'`, best of 3"] = min(
        run(argv, env, workdir, "").seconds for _ in range(3))
    env = {**env, "PBXCTL_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'start.db'}"}
    (workdir / "asterisk").mkdir(exist_ok=True)
    pbxctl_run(["init"], env, workdir)
    pbxctl_run(["node", "add", "local", "--ami-host", "127.0.0.1", "--ami-user", "pbxctl",
                "--ami-secret", "bench-secret-1", "--config-dir", str(workdir / "asterisk")],
               env, workdir, quiet=True)
    for branch in generate.BRANCHES:
        low, high = branch.ext_range
        pbxctl_run(["branch", "add", branch.slug, "--name", branch.name, "--city", branch.city,
                    "--timezone", "Europe/Moscow", "--ext-range", f"{low}-{high}"],
                   env, workdir, quiet=True)
    for figure, argv in (("pbxctl --help", ["--help"]),
                         ("pbxctl branch list (SQLite)", ["branch", "list"])):
        print(f"$ pbxctl {shlex.join(argv)}  ({START_RUNS} times, median)")
        times = sorted(pbxctl_run(argv, env, workdir, quiet=True).seconds
                       for _ in range(START_RUNS))
        figures[figure] = times[START_RUNS // 2]
    return figures


def live_figures(admin_url: str) -> dict[str, float | int] | str:
    """scripts/bench/live.py's figures at LIVE_RATE calls/s, or why there are none."""
    if not (HERE / "live.py").exists():
        return "not measured: scripts/bench/live.py does not exist yet"
    print(f"\n== Live: measure_live({LIVE_RATE}, {LIVE_SECONDS}, admin_url)")
    live = importlib.import_module("live")
    try:
        figures: dict[str, float | int] = live.measure_live(LIVE_RATE, LIVE_SECONDS, admin_url)
    except Exception as exc:  # whatever failed there, the other figures stand
        return f"not measured: measure_live failed: {type(exc).__name__}: {exc}"
    return figures


# ---- Main ------------------------------------------------------------------------------------


def bench_shape(args: argparse.Namespace, env: dict[str, str], workdir: Path,
                shape: generate.Shape, rows: int, big: bool = False) -> ShapeRun:
    """Every step on one data set, in a fresh database; ``big``: only the import, with
    its memory."""
    result = ShapeRun(shape.name, rows)
    workdir.mkdir()
    with pg.fresh_database(args.admin_url) as name:
        url = pg.database_url(args.admin_url, name)
        env = {**env, "PBXCTL_DATABASE_URL":
               pg.database_url(args.admin_url, name, "postgresql+asyncpg")}
        print(f"\n== {shape.name}: generating {rows:,} rows ({shape.summary}, seed {args.seed})")
        began = time.perf_counter()
        counts = generate.generate(workdir, rows, args.seed, shape)
        print(f"   -> {time.perf_counter() - began:.1f} s")
        result.facts |= data_facts(shape, counts, workdir)
        if not big:
            print(f"\n== Timed: COPY {pg.BASELINE_TABLE} FROM Master.csv (best of "
                  f"{pg.BASELINE_RUNS})")
            seconds, copied = pg.copy_baseline(url, workdir / "Master.csv", int(shape.layout))
            if copied != counts.rows:
                raise BenchError(f"COPY loaded {copied} rows, the file has {counts.rows}")
            result.seconds["COPY baseline"] = seconds
            print(f"   -> {seconds:.3f} s")
        if args.skip_pbxctl:
            result.not_measured = {step: "--skip-pbxctl" for step in PBXCTL_STEPS}
        else:
            company = Company(env, workdir, url, shape, result)
            company.describe()
            company.import_(memory=big or shape == generate.DEFAULT_SHAPE,
                            runs=1 if big else pg.IMPORT_RUNS)
            if not big:
                if args.skip_rerate:
                    result.not_measured["cdr rerate"] = "--skip-rerate"
                else:
                    company.rerate()
                company.report()
    shutil.rmtree(workdir)
    return result


def data_facts(shape: generate.Shape, counts: generate.Counts, workdir: Path
               ) -> dict[str, str]:
    kinds = ", ".join(f"{kind} {rows:,}" for kind, rows in counts.by_kind.items())
    decks = ", ".join(f"{c} {_lines(workdir / f'{c}.csv') - 1:,} prefixes"
                      for c in generate.CARRIERS)
    return {"shape": shape.summary,
            "Master.csv": f"{counts.bytes / 1e6:.1f} MB, {shape.layout} columns, "
                          "October 2026",
            "rows by kind of call": f"{kinds} ({counts.failover_pairs:,} failover pairs)",
            "rate decks": decks}


def _lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def bench(args: argparse.Namespace, workdir: Path) -> Results:
    """Every data set, then start-up and live; returns the figures."""
    env = dict(os.environ)
    env.pop("PBXCTL_CONFIG", None)
    env["PBXCTL_NODE_CONFIG_ROOTS"] = json.dumps([str(workdir)])  # the nodes' --config-dir
    if not args.skip_pbxctl and (missing := missing_commands(env, workdir)):
        raise BenchError("this pbxctl lacks " + "; ".join(missing) +
                         ". Run with --skip-pbxctl for the generator and COPY baseline only.")
    started_load = os.getloadavg()[0]
    results = Results(machine=machine_facts(pg.server_version(args.admin_url)))
    for shape in args.shapes:
        results.shapes.append(bench_shape(args, env, workdir / shape.name, shape, args.rows))
    if not args.skip_big and not args.skip_pbxctl:
        results.big = bench_shape(args, env, workdir / "big", generate.DEFAULT_SHAPE,
                                  args.rows_big, big=True)
    if not args.skip_pbxctl:
        results.startup = startup_figures(env, workdir)
    if not args.skip_live:
        results.live = live_figures(args.admin_url)
    results.machine["Load average (1 min) at start, at end"] = (
        f"{started_load:.2f}, {os.getloadavg()[0]:.2f} (other work on the machine slows "
        "every figure)")
    return results


def shapes(text: str) -> list[generate.Shape]:
    """--shapes: names from generate.SHAPES, comma-separated."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in generate.SHAPES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown shape(s) {', '.join(unknown) or '(none)'}; "
                                         f"known: {', '.join(generate.SHAPES)}")
    return [generate.SHAPES[name] for name in names]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line of ``make bench`` (``argv``, else the process's)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=generate.DEFAULT_ROWS,
                        help="rows of each shape's file [default: %(default)s]")
    parser.add_argument("--rows-big", type=int, default=5 * generate.DEFAULT_ROWS,
                        help="rows of the default-shape file whose import memory is compared "
                             "with --rows' [default: %(default)s]")
    parser.add_argument("--skip-big", action="store_true", help="no --rows-big import")
    parser.add_argument("--shapes", type=shapes, default=list(generate.SHAPES.values()),
                        help=f"comma-separated [default: {','.join(generate.SHAPES)}]")
    parser.add_argument("--skip-rerate", action="store_true",
                        help="no deck correction and re-rate")
    parser.add_argument("--skip-live", action="store_true", help="no live figures")
    parser.add_argument("--skip-pbxctl", action="store_true",
                        help="only generate the data and time the COPY baselines")
    parser.add_argument("--seed", type=int, default=generate.DEFAULT_SEED)
    parser.add_argument("--admin-url", default=ADMIN_URL,
                        help="PostgreSQL where this user may CREATE DATABASE "
                             "[default: $PBXCTL_TEST_PG or %(default)s]")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.rows_big < 1:
        parser.error("--rows and --rows-big must be at least 1")
    return args


def main() -> int:
    args = parse_arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # still drop the database
    with tempfile.TemporaryDirectory(prefix="pbxctl-bench-") as tmp:
        try:
            results = bench(args, Path(tmp))
        except (BenchError, OSError, asyncpg.PostgresError) as exc:
            print(f"\nbench failed: {exc}", file=sys.stderr)
            return 1
    report = markdown(results)
    shown = RESULTS_FILE.relative_to(HERE.parent.parent)
    if partial_run(args):
        print(f"\n{report}\n(a partial run: {shown} keeps the last whole run's figures)")
        return 0
    RESULTS_FILE.write_text(report, encoding="utf-8")
    print(f"\n{report}\n(written to {shown})")
    return 0


def partial_run(args: argparse.Namespace) -> bool:
    """Whether some figure of a whole ``make bench`` was skipped or measured on other
    data: such a run does not replace last-results.md."""
    return (args.skip_big or args.skip_rerate or args.skip_live or args.skip_pbxctl
            or args.rows != generate.DEFAULT_ROWS or args.rows_big != 5 * generate.DEFAULT_ROWS
            or args.seed != generate.DEFAULT_SEED
            or [s.name for s in args.shapes] != list(generate.SHAPES))


if __name__ == "__main__":
    sys.exit(main())
