"""Apply an edge: write its rendered files atomically, reload what changed over JSON-RPC,
check that Kamailio shows what was rendered, and on any failure put the previous files
back (reloading what had taken the new ones)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pbxctl.asterisk.files import (
    ensure_directory,
    exclusive_lock,
    read_files,
    stale_since_plan,
)
from pbxctl.errors import ApplyError
from pbxctl.kamailio.files import put_back, write_file
from pbxctl.kamailio.plan import EdgePlan, Reload, make_edge_plan
from pbxctl.kamailio.rpc import KamailioRpc, RpcError, RpcRefused
from pbxctl.kamailio.verify import verify
from pbxctl.kamailio.version import check_supported

RpcOpener = Callable[[], KamailioRpc]
# Kamailio's dispatcher and permissions modules take one reload every reload_delta
# seconds (5 by default) and refuse others with this message (its case differs between
# them): such a refusal is tried again for a while.
BUSY = "ongoing reload"
PATIENCE = 6.0


@dataclass(frozen=True)
class EdgeApplyResult:
    """What an edge apply did."""

    plan: EdgePlan
    written: bool
    reloaded: tuple[str, ...] = ()
    destinations: int = 0        # dispatcher destinations Kamailio shows, as rendered


class EdgeApplier:
    """Carries one edge's rendered files to its Kamailio."""

    def __init__(self, config_dir: Path, open_rpc: RpcOpener,
                 patience: float = PATIENCE) -> None:
        self._dir = config_dir
        self._open_rpc = open_rpc
        self._patience = patience

    def plan(self, edge: str, rendered: dict[str, str]) -> EdgePlan:
        """Compare the rendered files with the edge's; changes nothing."""
        ensure_directory(self._dir)
        return make_edge_plan(edge, rendered, read_files(self._dir, list(rendered)))

    async def apply(self, plan: EdgePlan, rendered: dict[str, str], *,
                    offline: bool = False) -> EdgeApplyResult:
        """Write the plan's files, reload and verify; on a refused reload, an RPC failure
        or a failed check, restore the previous files, reload those Kamailio had taken
        and raise :class:`ApplyError`. ``offline`` only writes (Kamailio not running)."""
        if plan.empty:
            return EdgeApplyResult(plan=plan, written=False)
        with exclusive_lock(self._dir):
            self._check_plan_is_current(plan)
            if offline:
                self._write(plan)
                return EdgeApplyResult(plan=plan, written=True)
            async with self._open_rpc() as rpc:
                try:   # reachable and recent enough, before anything is written
                    check_supported(plan.edge, await rpc.call("core.version"))
                except RpcError as exc:
                    raise ApplyError(f"{exc}; nothing was written") from exc
                self._write(plan)
                taken: list[Reload] = []   # reloads Kamailio may have carried out
                try:
                    for reload in plan.reloads:
                        try:
                            await self._reload(rpc, reload)
                        except RpcError as exc:
                            if not isinstance(exc, RpcRefused):
                                taken.append(reload)
                            raise
                        taken.append(reload)
                    destinations = await verify(rpc, rendered)
                except (RpcError, ApplyError) as failure:
                    raise await self._roll_back(rpc, plan, taken, failure) from failure
        return EdgeApplyResult(plan=plan, written=True,
                               reloaded=tuple(r.label for r in plan.reloads),
                               destinations=destinations)

    def _check_plan_is_current(self, plan: EdgePlan) -> None:
        stale = stale_since_plan(self._dir, {c.name: c.old for c in plan.changes})
        if stale:
            raise ApplyError(f"{', '.join(stale)} changed on edge {plan.edge} since the plan "
                             "was made; nothing was written, run apply again")

    def _write(self, plan: EdgePlan) -> None:
        for change in plan.changes:
            write_file(self._dir, change.name, change.new)

    async def _reload(self, rpc: KamailioRpc, reload: Reload) -> None:
        waited = 0.0
        while True:
            try:
                await rpc.call(reload.method, *reload.params)
                return
            except RpcRefused as refused:
                if BUSY not in refused.message.lower() or waited >= self._patience:
                    raise
            await asyncio.sleep(1.0)
            waited += 1.0

    async def _roll_back(self, rpc: KamailioRpc, plan: EdgePlan, taken: list[Reload],
                         failure: RpcError | ApplyError) -> ApplyError:
        """Put the previous files back and reload what had taken the new ones; the error
        to raise says how that went."""
        put_back(self._dir, {c.name: c.old for c in plan.changes})
        try:
            for reload in taken:
                await self._reload(rpc, reload)
        except RpcError as exc:
            return ApplyError(f"{failure}; the previous files were restored but reloading "
                              f"them failed too: {exc}")
        if taken:
            return ApplyError(f"{failure}; the previous files were restored and reloaded")
        return ApplyError(f"{failure}; the previous files were restored (Kamailio had "
                          "not taken the new ones)")
