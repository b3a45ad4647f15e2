"""Outbound calls a carrier answered that have not ended yet, on every node: what the
spend brake adds to a department's stored spend, so that a long call (or many at once)
cannot run far past a cap before its CDR arrives. Fed by the nodes' events; no I/O.

A call leaves when its carrier leg's hangup handler says so or when its CDR is stored
(either may come first); a node's calls are forgotten when its AMI link drops (their end
would go unseen: the brake then counts them when their CDRs come, never twice).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta

from pbxctl.ami_events import OutboundLeg
from pbxctl.billing.records import StoredCdr
from pbxctl.billing.spend import FlyingCall
from pbxctl.db.models import utcnow
from pbxctl.validation import SLUG_RE

FORGET_AFTER = timedelta(hours=6)       # no end seen for this long: not counted any more
_CHANNEL_RE = re.compile(r"PJSIP/[a-z0-9-]{1,40}-[0-9a-f]{8}")
_NUMBER_RE = re.compile(r"\+?[0-9]{2,16}")


class InFlightCalls:
    """The answered outbound calls of every node, by node and carrier leg."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._calls: dict[tuple[str, str], FlyingCall] = {}

    def feed(self, node: str, event: OutboundLeg) -> None:
        """A carrier leg was answered or ended on ``node``."""
        if not _CHANNEL_RE.fullmatch(event.channel):
            return
        key = (node, event.channel)
        if event.stage == "ended":
            self._calls.pop(key, None)
        elif (event.stage == "answered" and SLUG_RE.fullmatch(event.department)
              and SLUG_RE.fullmatch(event.carrier) and _NUMBER_RE.fullmatch(event.number)):
            self._calls[key] = FlyingCall(event.department, event.carrier, event.number,
                                          self._clock())

    def stored(self, node: str, row: StoredCdr) -> None:
        """A CDR of ``node`` was stored: its call is counted there from now on."""
        self._calls.pop((node, row.dstchannel), None)

    def forget_node(self, node: str) -> None:
        """``node``'s link dropped: its calls' ends cannot be seen any more."""
        for key in [key for key in self._calls if key[0] == node]:
            del self._calls[key]

    def calls(self) -> list[FlyingCall]:
        """The calls in flight now (those older than ``FORGET_AFTER`` are let go)."""
        limit = self._clock() - FORGET_AFTER
        for key in [key for key, call in self._calls.items() if call.answered_at < limit]:
            del self._calls[key]
        return list(self._calls.values())
