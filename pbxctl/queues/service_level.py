"""The service level of a queue: answered within the threshold over offered calls. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

SLA_COLUMNS = ("period", "queue", "offered", "answered", "answered_within", "service_level",
               "target", "met", "abandoned", "abandoned_within", "asa_seconds",
               "longest_wait")
_ONE_PLACE = Decimal("0.1")


@dataclass(frozen=True)
class SlaRow:
    """One queue over one period."""

    period: str
    queue: str
    offered: int
    answered: int
    answered_within: int
    service_level: Decimal
    target: int
    met: bool
    abandoned: int
    abandoned_within: int
    asa_seconds: Decimal
    longest_wait: int


def service_level_row(period: str, queue: str, threshold: int, target: int,
                      stays: Iterable[tuple[str, int]]) -> SlaRow:
    """Figures from (outcome, wait seconds) pairs; see the README for the definitions."""
    outcomes = list(stays)
    answered = [wait for outcome, wait in outcomes if outcome == "answered"]
    abandoned = [wait for outcome, wait in outcomes if outcome == "abandoned"]
    offered = len(outcomes)
    within = sum(1 for wait in answered if wait <= threshold)
    level = (Decimal(within * 100) / offered).quantize(_ONE_PLACE, ROUND_HALF_UP) \
        if offered else Decimal("100.0")
    asa = (Decimal(sum(answered)) / len(answered)).quantize(_ONE_PLACE, ROUND_HALF_UP) \
        if answered else Decimal("0.0")
    return SlaRow(period, queue, offered, len(answered), within, level, target,
                  level >= target, len(abandoned),
                  sum(1 for wait in abandoned if wait <= threshold), asa,
                  max((wait for _outcome, wait in outcomes), default=0))
