"""The benchmark's table (scripts/bench/table.py): ratios and verdicts against issue 12's
targets, and figures that were not measured shown as such, never as numbers."""

from __future__ import annotations

import sys
from pathlib import Path

# The bench modules import each other by bare name, as `python scripts/bench/run.py` does.
sys.path.append(str(Path(__file__).resolve().parents[2] / "scripts" / "bench"))

from measure import Run  # noqa: E402
from table import ShapeRun, live_lines, memory_lines, shape_lines  # noqa: E402


def _by_figure(lines: list[tuple[str, str, str, str, str]]) -> dict[str, tuple[str, ...]]:
    return {line[0]: line[2:] for line in lines}


def test_import_and_rerate_are_judged_against_twice_the_copy() -> None:
    run = ShapeRun("default", 1000, seconds={"COPY baseline": 2.0, "cdr import": 4.0,
                                             "cdr rerate": 4.2})
    lines = _by_figure(shape_lines(run))
    assert lines["`pbxctl cdr import`, best of 2"][2] == "2.00 × COPY, met"
    rerate = lines["`pbxctl cdr rerate --month` after a deck correction"]
    assert rerate[2] == "2.10 × COPY, **missed**"


def test_a_step_not_run_says_so_and_why() -> None:
    run = ShapeRun("default", 1000, seconds={"COPY baseline": 2.0},
                   not_measured={"cdr rerate": "--skip-rerate"})
    lines = _by_figure(shape_lines(run))
    assert lines["`pbxctl cdr rerate --month` after a deck correction"][0] == (
        "not measured (--skip-rerate)")
    assert "`pbxctl cdr import`, best of 2" not in lines


def test_the_report_must_take_less_than_one_second() -> None:
    run = ShapeRun("default", 1000, seconds={"report cold": 1.0, "report warm": 0.999})
    lines = _by_figure(shape_lines(run))
    assert lines["`pbxctl report costs --month`, first run"][2] == "**missed**"
    assert lines["`pbxctl report costs --month`, second run"][2] == "met"


def test_import_memory_may_not_grow_with_the_file() -> None:
    small = ShapeRun("default", 1000, memory=Run(1.0, "", 100 * 1024, 200 * 1024))
    big = ShapeRun("default", 5000, seconds={"cdr import": 5.0},
                   memory=Run(5.0, "", 110 * 1024, 300 * 1024))
    lines = memory_lines(small, big)
    assert lines[0][2] == "200 MiB (process tree, RSS, sampled); 100 MiB (largest process, RSS)"
    assert lines[1][4] == "tree RSS 1.50 × small, RSS 1.10 × small, **missed**"


def test_live_figures_are_shown_as_returned_or_not_at_all() -> None:
    assert live_lines("not measured: scripts/bench/live.py does not exist yet")[0][2] == (
        "not measured: scripts/bench/live.py does not exist yet")
    lines = _by_figure(live_lines({"cpu_ms_per_cdr": 0.8, "lost": 2, "lag_p95_s": 0.25}))
    figure = "`pbxctl serve` at 100 calls/s for 60 s"
    assert lines[f"{figure}: cpu_ms_per_cdr"] == ("0.800", "≤ 1.0 ms", "met")
    assert lines[f"{figure}: lost"] == ("2", "0", "**missed**")
    assert lines[f"{figure}: lag_p95_s"] == ("0.250", "", "")
