"""Live queue events (AMI) turned into the same stays the queue_log gives. Pure."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pbxctl.ami_events import QueueEvent
from pbxctl.queues.queue_log import QueueStay

# A caller who left the queue with neither an agent nor an abandon reported within this
# time left on the queue's timeout (or because nobody was there).
LEAVE_GRACE = timedelta(seconds=3)


class QueueTracker:
    """Follows callers through queues; returns each stay once it has ended.

    Asterisk may report a caller leaving the queue before or after the agent who took the
    call, so a leave only becomes a timeout when nothing else explains it in time.
    """

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._joined: dict[str, tuple[str, datetime]] = {}
        self._left: dict[str, datetime] = {}

    def feed(self, event: QueueEvent) -> QueueStay | None:
        """Take one queue event; a stay it ends comes back."""
        caller = event.caller
        if event.kind == "join":
            self._joined[caller] = (event.queue, self._clock())
            return None
        if caller not in self._joined:
            return None
        if event.kind == "leave":
            self._left[caller] = self._clock()
            return None
        if event.kind == "connect":
            return self._end(caller, "answered", _seconds(event.hold_seconds),
                             event.agent or None)
        if event.kind == "abandon":
            return self._end(caller, "abandoned", _seconds(event.hold_seconds), None)
        return None

    def expire(self, everything: bool = False) -> list[QueueStay]:
        """Callers who left without an agent or an abandon (all of them with
        ``everything``, when following stops)."""
        now = self._clock()
        stays = []
        for uniqueid, left_at in list(self._left.items()):
            if everything or now - left_at >= LEAVE_GRACE:
                joined_at = self._joined[uniqueid][1]
                stays.append(self._end(uniqueid, "timeout",
                                       int((left_at - joined_at).total_seconds()), None))
        return stays

    def _end(self, uniqueid: str, outcome: str, wait: int, agent: str | None) -> QueueStay:
        queue, joined_at = self._joined.pop(uniqueid)
        self._left.pop(uniqueid, None)
        return QueueStay(uniqueid, queue, joined_at.replace(microsecond=0), outcome, wait,
                         agent)


def _seconds(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0
