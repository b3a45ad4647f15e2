"""The benchmark's data generator (scripts/bench/generate.py): shapes and layouts that
pbxctl reads, and a default shape that still writes what earlier figures were measured on."""

from __future__ import annotations

import csv
import hashlib
import random
from decimal import Decimal
from pathlib import Path

import pytest
from bench import generate

from pbxctl.billing.records import SEQUENCE, UNIQUEID, WIDTH, cdr_key, normalise

# sha256 of the 500-row default files as the generator wrote them before shapes existed.
DEFAULT_500 = {
    "Master.csv": "3f7311bd3fb4ee81214d97e15a5ca8d8e85198f62d2b3339d50f82c56387602c",
    "tele2.csv": "9139b4863f4ac50ab2217dd64d71cdca4e72647f3f89a6c708016ffbbb2457e1",
    "mts.csv": "ea31b317e22760aeba658627f9207676db3b7a7d8c54acf9878ee019ab083332",
}


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_the_default_shape_writes_the_same_files_as_before(tmp_path: Path) -> None:
    generate.generate(tmp_path, 500)
    assert {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
            for name in DEFAULT_500} == DEFAULT_500


@pytest.mark.parametrize("layout", sorted(generate.LAYOUTS))
def test_every_layout_normalises_to_the_same_rows(tmp_path: Path, layout: str) -> None:
    full, old = tmp_path / "full", tmp_path / "old"
    generate.generate(full, 300)
    generate.generate(old, 300, shape=generate.Shape("t", "test", layout=layout))
    has_uniqueid, _, has_new = generate.LAYOUTS[layout]
    for full_row, old_row in zip(_rows(full / "Master.csv"), _rows(old / "Master.csv"),
                                 strict=True):
        assert len(old_row) == int(layout)
        cols = normalise(old_row)
        assert cols is not None and len(cols) == WIDTH
        assert cols[:16] == full_row[:16]
        assert cols[UNIQUEID] == (full_row[UNIQUEID] if has_uniqueid else "")
        assert cols[SEQUENCE] == (full_row[SEQUENCE] if has_new else "")
        assert (":row:" in cdr_key("n", cols)) == (not (has_uniqueid and has_new))


@pytest.mark.parametrize("target", [generate.MIN_PREFIXES, 300, 30_000])
def test_a_catalogue_is_cut_or_split_to_its_size_keeping_the_required_rows(target: int
                                                                           ) -> None:
    natural = generate.destinations(random.Random("2026-decks"))
    rows = generate.shaped(natural, target, random.Random("shape"))
    prefixes = [r.prefix for r in rows]
    assert len(prefixes) == len(set(prefixes)) == target
    assert {r.prefix for r in natural if r.required} <= set(prefixes)
    if target > len(natural):  # split: every new prefix extends one it already had
        assert all(p[:-1] in prefixes for p in set(prefixes) - {r.prefix for r in natural})


def test_the_inbound_share_is_the_shapes() -> None:
    mix = generate.call_mix(generate.SHAPES["few-inbound"])
    assert mix["inbound"] == 0.65
    assert sum(mix.values()) == pytest.approx(1)
    assert mix["outbound"] / mix["failover"] == pytest.approx(
        generate.CALL_MIX["outbound"] / generate.CALL_MIX["failover"])


def test_a_shape_out_of_range_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="between 0 and 0.85"):
        generate.Shape("t", "test", inbound=0.9)
    with pytest.raises(ValueError, match="at least 105"):
        generate.Shape("t", "test", prefixes=50)
    with pytest.raises(ValueError, match="layout '15'"):
        generate.Shape("t", "test", layout="15")


def test_the_corrected_deck_has_every_rate_seven_percent_dearer(tmp_path: Path) -> None:
    generate.generate(tmp_path, 10)
    deck = _rows(tmp_path / "tele2.csv")
    corrected = _rows(tmp_path / "tele2-corrected.csv")
    assert corrected[0] == deck[0] and len(corrected) == len(deck)
    for old, new in zip(deck[1:], corrected[1:], strict=True):
        assert new[:2] == old[:2] and new[3:] == old[3:]
        assert Decimal(new[2]) == (Decimal(old[2]) * Decimal("1.07")).quantize(
            Decimal("0.0001"))
