"""Live queue events become the same stays as queue_log lines, whatever their order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pbxctl.ami_events import QueueEvent, parse_event
from pbxctl.queues.live import QueueTracker


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


def event(name: str, uid: str, **fields: str) -> QueueEvent:
    """A queue event as AMI sends it, read as pbxctl reads it."""
    parsed = parse_event({"Event": name, "Uniqueid": uid, "Queue": "q-kazan-sales", **fields})
    assert isinstance(parsed, QueueEvent)
    return parsed


def test_answer_abandon_and_timeout_in_any_order() -> None:
    clock = Clock()
    tracker = QueueTracker(clock)
    for uid in ("a", "b", "c", "d"):
        assert tracker.feed(event("QueueCallerJoin", uid)) is None
    clock.tick(4)
    assert tracker.feed(event("QueueCallerLeave", "a")) is None       # leave first...
    answered = tracker.feed(event("AgentConnect", "a", HoldTime="4", MemberName="201"))
    assert (answered.outcome, answered.wait_seconds, answered.agent) == ("answered", 4, "201")
    abandoned = tracker.feed(event("QueueCallerAbandon", "b", HoldTime="4"))
    assert abandoned.outcome == "abandoned" and tracker.feed(
        event("QueueCallerLeave", "b")) is None                       # ...or after
    clock.tick(26)
    assert tracker.feed(event("QueueCallerLeave", "c")) is None
    assert tracker.expire() == []                                     # within the grace
    clock.tick(5)
    (timeout,) = tracker.expire()
    assert (timeout.callid, timeout.outcome, timeout.wait_seconds) == ("c", "timeout", 30)
    assert tracker.feed(event("AgentConnect", "zzz", HoldTime="1")) is None  # unknown caller
    assert tracker.feed(event("QueueCallerLeave", "d")) is None
    assert [s.callid for s in tracker.expire(everything=True)] == ["d"]
