"""The spend brake's rules: when it warns and blocks, and what a call in flight costs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pbxctl.billing.rating import Rate
from pbxctl.billing.spend import Cap, Standing, Steps, in_flight_cost, state_label, steps

CAP = Cap(Decimal("100.00"), 80)


def test_the_warning_comes_at_its_level_once_and_the_block_at_the_cap() -> None:
    assert CAP.warn_level == Decimal("80.00")
    assert steps(Decimal("79.99"), CAP, Standing()) == Steps(False, False)
    assert steps(Decimal("80.00"), CAP, Standing()) == Steps(True, False)
    assert steps(Decimal("90"), CAP, Standing(warned=True)) == Steps(False, False)
    assert steps(Decimal("100.00"), CAP, Standing(warned=True)) == Steps(False, True)
    assert steps(Decimal("150"), CAP, Standing(warned=True, blocked=True)) == Steps(False, False)


def test_a_jump_past_the_cap_warns_and_blocks_at_once() -> None:
    assert steps(Decimal("250"), CAP, Standing()) == Steps(True, True)


def test_an_unblock_in_force_holds_the_block_back() -> None:
    lifted = Standing(warned=True, blocked=True, lifted=True)
    assert steps(Decimal("500"), CAP, lifted) == Steps(False, False)
    assert state_label(lifted, Decimal("500"), CAP) == "unblocked"


def test_states_as_the_report_names_them() -> None:
    assert state_label(Standing(), Decimal("5"), None) == "no cap"
    assert state_label(Standing(), Decimal("5"), CAP) == "ok"
    assert state_label(Standing(), Decimal("85"), CAP) == "warning"
    assert state_label(Standing(warned=True), Decimal("100"), CAP) == "over cap"
    assert state_label(Standing(True, True), Decimal("100"), CAP) == "blocked"


def test_a_call_in_flight_costs_what_its_cdr_would_now() -> None:
    rate = Rate("7", "Russia", Decimal("1.20"), Decimal("0.10"), 60, 30)
    answered = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert in_flight_cost(rate, answered, answered) == Decimal("1.3000")   # minimum 60 s
    assert in_flight_cost(rate, answered, answered + timedelta(seconds=61)) == Decimal(
        "1.9000")                                                       # 90 s charged
