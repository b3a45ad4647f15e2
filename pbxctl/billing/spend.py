"""The spend brake's rules: when a department's month-to-date spend warns, blocks, and
what a call in flight is estimated to cost so far. Pure, exact (Decimal)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from pbxctl.billing.rating import Rate, RateBook, call_cost, round_money


@dataclass(frozen=True)
class FlyingCall:
    """An outbound call a carrier answered that has not ended yet."""

    department: str
    carrier: str
    number: str           # as called: E.164 or an emergency code
    answered_at: datetime


@dataclass(frozen=True)
class Cap:
    """A monthly cap and the share of it (percent) that warns."""

    monthly: Decimal
    warn_percent: int

    @property
    def warn_level(self) -> Decimal:
        """The spend that warns."""
        return round_money(self.monthly * self.warn_percent / 100)


@dataclass(frozen=True)
class Standing:
    """What the brake has done this month: warned, blocked, and whether an unblock is in
    force (the block then waits until it ends)."""

    warned: bool = False
    blocked: bool = False
    lifted: bool = False


@dataclass(frozen=True)
class Steps:
    """What to do now: send the warning, block the department."""

    warn: bool
    block: bool


def steps(spent: Decimal, cap: Cap, standing: Standing) -> Steps:
    """The brake's next steps for a department that has ``spent`` this month. A spend
    that crosses both levels at once warns and blocks (the warning first)."""
    block = spent >= cap.monthly and not standing.blocked and not standing.lifted
    warn = not standing.warned and (spent >= cap.warn_level or block)
    return Steps(warn, block)


def state_label(standing: Standing, spent: Decimal, cap: Cap | None) -> str:
    """How ``report spend`` names a department's state."""
    if cap is None:
        return "no cap"
    if standing.lifted:
        return "unblocked"
    if standing.blocked:
        return "blocked"
    if spent >= cap.monthly:
        return "over cap"        # a month gone by, or the brake has not looked yet
    if standing.warned or spent >= cap.warn_level:
        return "warning"
    return "ok"


def in_flight_cost(rate: Rate, answered_at: datetime, now: datetime) -> Decimal:
    """What an answered call priced by ``rate`` costs if it ended ``now`` (the minimum
    and the increment rounded up, as its CDR will be)."""
    seconds = max(1, int((now - answered_at).total_seconds()))
    return call_cost(seconds, rate)[1]


def in_flight_spend(calls: list[FlyingCall], book: RateBook, now: datetime
                    ) -> dict[tuple[str, str], Decimal]:
    """What the calls in flight cost so far, per (department, currency), each priced by
    the deck its CDR will be (a call no deck prices counts nothing)."""
    spend: dict[tuple[str, str], Decimal] = {}
    for call in calls:
        deck = book.deck(call.carrier, call.answered_at.date().isoformat())
        rate = deck.match(call.number.lstrip("+")) if deck is not None else None
        if deck is None or rate is None:
            continue
        key = (call.department, deck.currency)
        spend[key] = spend.get(key, Decimal(0)) + in_flight_cost(rate, call.answered_at, now)
    return spend
