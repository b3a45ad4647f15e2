"""Only a whole ``make bench`` run replaces scripts/bench/last-results.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The bench modules import each other by bare name, as `python scripts/bench/run.py` does.
sys.path.append(str(Path(__file__).resolve().parents[2] / "scripts" / "bench"))

from run import parse_arguments, partial_run  # noqa: E402


def test_the_default_run_is_whole() -> None:
    assert not partial_run(parse_arguments([]))


@pytest.mark.parametrize("argv", [["--shapes", "default"], ["--skip-live"], ["--skip-big"],
                                  ["--skip-rerate"], ["--skip-pbxctl"], ["--rows", "1000"],
                                  ["--rows-big", "2000000"], ["--seed", "7"]])
def test_a_run_with_less_or_other_data_is_partial(argv: list[str]) -> None:
    assert partial_run(parse_arguments(argv))
