"""Calls in flight for the spend brake: read from the dialplan's events, gone when their
carrier leg ends or their CDR is stored, forgotten with a lost link or after hours, and
priced by the deck their CDR will be."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pbxctl.ami_events import OutboundLeg, parse_event
from pbxctl.billing.rating import Deck, Rate, RateBook
from pbxctl.billing.records import StoredCdr
from pbxctl.billing.spend import FlyingCall, in_flight_spend
from pbxctl.follower.in_flight import InFlightCalls

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LEG = "PJSIP/tele2-0000002a"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def answered(channel: str = LEG, department: str = "kazan") -> OutboundLeg:
    return OutboundLeg(channel, "answered", department, "tele2", "+78432000000")


def stored_cdr(dstchannel: str) -> StoredCdr:
    return StoredCdr("k", "local", T0, T0, T0, "201", "+78432000000", "PJSIP/201-00000001",
                     dstchannel, "ANSWERED", 5, 5, "kazan", "1.1", "outbound", "tele2",
                     "+78432000000", 5, Decimal("0.0833"), "RUB", "7", 1, None)


def test_the_dialplans_events_are_read_as_carrier_legs() -> None:
    raw = {"Event": "UserEvent", "UserEvent": "PbxctlCall", "Stage": "outbound answered",
           "Channel": LEG, "Department": "kazan", "Carrier": "tele2",
           "Number": "+78432000000", "Linkedid": "1.1"}
    assert parse_event(raw) == answered()
    assert parse_event({**raw, "Stage": "outbound ended"}) == OutboundLeg(
        LEG, "ended", "kazan", "tele2", "+78432000000")


def test_a_call_leaves_when_its_leg_ends_or_its_cdr_is_stored() -> None:
    clock = Clock()
    calls = InFlightCalls(clock)
    calls.feed("local", answered())
    calls.feed("local", answered("PJSIP/mts-0000002b"))
    calls.feed("other", answered())                     # same leg name, another node
    assert calls.calls() == [FlyingCall("kazan", "tele2", "+78432000000", T0)] * 3
    calls.feed("local", OutboundLeg(LEG, "ended"))
    calls.stored("local", stored_cdr("PJSIP/mts-0000002b"))
    assert len(calls.calls()) == 1
    calls.forget_node("other")
    assert calls.calls() == []


def test_what_cannot_be_trusted_is_not_counted_and_old_calls_are_let_go() -> None:
    clock = Clock()
    calls = InFlightCalls(clock)
    for leg in (answered("Local/201@x-00000001;1"), answered(department="Kazan;x"),
                OutboundLeg(LEG, "answered", "kazan", "tele2", "+7843&PJSIP/x"),
                OutboundLeg(LEG, "ringing", "kazan", "tele2", "+78432000000")):
        calls.feed("local", leg)
    assert calls.calls() == []
    calls.feed("local", answered())
    clock.now = T0 + timedelta(hours=6, seconds=1)
    assert calls.calls() == []


def test_calls_in_flight_are_priced_like_their_cdrs() -> None:
    deck = Deck(1, date(2026, 1, 1), "RUB", [
        Rate("7", "Russia", Decimal("60.00"), Decimal("0"), 0, 1),
        Rate("79", "Mobile", Decimal("6.00"), Decimal("0.50"), 60, 60)])
    book = RateBook({"tele2": [deck]})
    calls = [FlyingCall("kazan", "tele2", "+78432000000", T0),
             FlyingCall("kazan", "tele2", "+79161234567", T0),
             FlyingCall("omsk", "tele2", "+46701234567", T0),     # no prefix: nothing
             FlyingCall("omsk", "mts", "+78432000000", T0)]       # no deck: nothing
    assert in_flight_spend(calls, book, T0 + timedelta(seconds=10)) == {
        ("kazan", "RUB"): Decimal("10.0000") + Decimal("6.5000")}
