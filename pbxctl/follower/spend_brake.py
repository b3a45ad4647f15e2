"""serve's spend brake: every ``spend_check_every`` seconds, each capped department's
month-to-date spend (stored calls plus those in flight) compared with its cap, the
warning and the block made when due (:meth:`pbxctl.services.spend.SpendService.check`).

On start it carries the blocks in force to the nodes again (a node rebuilt or its AstDB
lost while serve was down). A failed round (storage or a node down) changes nothing and
is tried again at the next one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from pbxctl.billing.spend import in_flight_spend
from pbxctl.db.models import utcnow
from pbxctl.follower.in_flight import InFlightCalls
from pbxctl.services.bundle import UnitOfWork
from pbxctl.services.live_rates import RateIndex
from pbxctl.services.spend import BrakeAction
from pbxctl.stopping import sleep_unless

log = logging.getLogger(__name__)


class SpendMetrics(Protocol):
    """Told what each round of the brake found (for /metrics)."""

    def brake_checked(self, ok: bool) -> None:
        """A round of the brake ended (``ok``: without failure)."""
        ...


class SpendBrake:
    """Checks the departments' spend and brakes those over their caps."""

    def __init__(self, unit: UnitOfWork, every: float,
                 in_flight: InFlightCalls | None = None,
                 metrics: SpendMetrics | None = None) -> None:
        self._unit = unit
        self._every = every
        self._in_flight = in_flight
        self._metrics = metrics
        self._rates = RateIndex()

    async def run(self, stop: asyncio.Event) -> None:
        """Brake until ``stop`` is set."""
        carried = False
        while not stop.is_set():
            try:
                if not carried:
                    await self._carry_blocks()
                    carried = True
                async with self._unit() as s:
                    flying = None
                    if self._in_flight is not None:
                        book = (await self._rates.classifier(s.session)).rates
                        flying = in_flight_spend(self._in_flight.calls(), book, utcnow())
                    actions = await s.spend.check(flying)
                for action in actions:
                    _log(action)
                ok = not any(action.action == "failed" for action in actions)
            except Exception as error:   # storage or a node down: the next round retries
                log.warning("spend brake: %s: %s; trying again", type(error).__name__, error)
                ok = False
            if self._metrics:
                self._metrics.brake_checked(ok)
            await sleep_unless(stop, self._every)

    async def _carry_blocks(self) -> None:
        async with self._unit() as s:
            for department in await s.spend.blocked_departments():
                await s.spend.block_on_nodes(department)


def _log(action: BrakeAction) -> None:
    if action.action == "failed":
        return                          # said by the service, with the nodes' answers
    if action.action == "unblocked":
        log.warning("department %s: outbound calls unblocked (its month is over)",
                    action.department)
        return
    log.warning("department %s: %s, spent %s of %s %s", action.department, action.action,
                action.spent, action.cap, action.currency)
