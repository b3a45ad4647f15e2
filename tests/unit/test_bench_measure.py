"""The benchmark's memory figures (scripts/bench/measure.py) are the command's own, not
those of the big process that started it."""

from __future__ import annotations

import sys
from pathlib import Path

# The bench modules import each other by bare name, as `python scripts/bench/run.py` does.
sys.path.append(str(Path(__file__).resolve().parents[2] / "scripts" / "bench"))

from measure import run_with_memory  # noqa: E402

MIB = 1024


def test_the_peak_is_the_commands_even_when_the_bench_is_far_bigger(tmp_path: Path) -> None:
    held = bytearray(400 * MIB * MIB)          # the bench holding a generated file
    held[::4096] = b"x" * len(held[::4096])    # touched: resident
    command = [sys.executable, "-c", "b = bytearray(80 << 20); b[::4096] = b'y' * len(b[::4096]);"
               "import time; time.sleep(0.5); print('done')"]
    done = run_with_memory(command, {}, tmp_path, "allocate 80 MiB")
    assert done.stdout == "done\n"
    assert done.max_rss_kib is not None and 80 * MIB < done.max_rss_kib < 200 * MIB
    assert (done.peak_tree_rss_kib is not None
            and 80 * MIB < done.peak_tree_rss_kib < 200 * MIB)
    del held
