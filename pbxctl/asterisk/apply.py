"""Apply: write a node's rendered files atomically, reload what changed, verify, roll back."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pbxctl.asterisk.ami import AmiClient
from pbxctl.asterisk.files import (
    ensure_directory,
    exclusive_lock,
    read_files,
    restore,
    stale_since_plan,
    write_atomically,
)
from pbxctl.asterisk.plan import Plan, make_plan
from pbxctl.errors import AmiError, ApplyError, PbxctlError
from pbxctl.render import RenderedNode

log = logging.getLogger(__name__)

AmiConnector = Callable[[], Awaitable[AmiClient]]
Verifier = Callable[[AmiClient, "RenderedNode"], Awaitable[None]]


@dataclass(frozen=True)
class ApplyResult:
    """What an apply did."""

    plan: Plan
    written: bool
    reloaded: tuple[str, ...] = ()


class Applier:
    """Carries one node's rendered configuration to its Asterisk."""

    def __init__(self, config_dir: Path, connect: AmiConnector) -> None:
        self._dir = config_dir
        self._connect = connect

    def plan(self, node_name: str, rendered: RenderedNode) -> Plan:
        """Compare the rendered files with the files on the node; changes nothing."""
        ensure_directory(self._dir)
        current = read_files(self._dir, list(rendered.files))
        return make_plan(node_name, rendered.files, current)

    async def apply(self, plan: Plan, rendered: RenderedNode, *, offline: bool = False,
                    check: Verifier | None = None) -> ApplyResult:
        """Write the plan's files, reload and verify (with ``check``, by default
        :func:`verify`); on any failure restore and reload the previous files and raise
        :class:`ApplyError`.

        ``offline`` only writes the files (for a node whose Asterisk is not running yet).
        """
        if plan.empty:
            return ApplyResult(plan=plan, written=False)
        with exclusive_lock(self._dir):
            self._check_plan_is_current(plan)
            if offline:
                self._write(plan)
                return ApplyResult(plan=plan, written=True)
            ami = await self._connect()
            try:
                self._write(plan)
                try:
                    await self._load_modules(ami, plan.modules_to_load)
                    await self._reload(ami, plan.reloads)
                    await (check or verify)(ami, rendered)
                except PbxctlError as failure:
                    await self._roll_back(ami, plan, failure)
                return ApplyResult(plan=plan, written=True, reloaded=plan.reloads)
            finally:
                await ami.close()

    def _check_plan_is_current(self, plan: Plan) -> None:
        stale = stale_since_plan(self._dir, {c.name: c.old for c in plan.changes})
        if stale:
            raise ApplyError(f"{', '.join(stale)} changed on the node since the plan was made; "
                             "nothing was written, run apply again")

    def _write(self, plan: Plan) -> None:
        for change in plan.changes:
            write_atomically(self._dir / change.name, change.new)

    @staticmethod
    async def _reload(ami: AmiClient, modules: tuple[str, ...]) -> None:
        for module in modules:
            response = await ami.action("Reload", {"Module": module})
            if not response.success:
                raise ApplyError(f"Asterisk refused to reload {module}: {response.message}")

    @staticmethod
    async def _load_modules(ami: AmiClient, modules: tuple[str, ...]) -> None:
        for module in modules:
            if (await ami.action("ModuleCheck", {"Module": module})).success:
                continue  # already running
            response = await ami.action("ModuleLoad", {"Module": module, "LoadType": "load"})
            if not response.success:
                raise ApplyError(f"Asterisk could not load {module}: {response.message}")

    async def _roll_back(self, ami: AmiClient, plan: Plan, failure: PbxctlError) -> None:
        restore(self._dir, {c.name: c.old for c in plan.changes})
        try:
            await self._reload(ami, plan.reloads)
        except PbxctlError as exc:
            raise ApplyError(f"{failure}; the previous files were restored but reloading "
                             f"them failed too: {exc}") from failure
        raise ApplyError(f"{failure}; the previous configuration was restored and "
                         "reloaded") from failure


async def pjsip_answers(ami: AmiClient, rendered: RenderedNode) -> None:
    """Check that res_pjsip still answers after a reload: for an apply of some files only
    (the bans), when the database may describe endpoints not applied yet."""
    await _endpoints_shown(ami)


async def _endpoints_shown(ami: AmiClient) -> set[str]:
    response = await ami.action("PJSIPShowEndpoints")
    if not response.success and "No endpoints found" not in response.message:
        raise AmiError(f"PJSIPShowEndpoints failed: {response.message}")
    return {e["ObjectName"] for e in response.events if e.get("Event") == "EndpointList"}


async def verify(ami: AmiClient, rendered: RenderedNode) -> None:
    """Check that Asterisk runs what was rendered: the same endpoints, every context."""
    loaded = await _endpoints_shown(ami)
    expected = set(rendered.endpoints)
    if loaded != expected:
        problems = []
        if expected - loaded:
            problems.append(f"missing endpoint(s) {', '.join(sorted(expected - loaded))}")
        if loaded - expected:
            problems.append(f"unexpected endpoint(s) {', '.join(sorted(loaded - expected))}")
        raise ApplyError(f"verification failed: Asterisk shows {len(loaded)} endpoint(s), "
                         f"{len(expected)} expected: {'; '.join(problems)}")
    for context in rendered.contexts:
        shown = await ami.action("ShowDialPlan", {"Context": context})
        if not shown.success:
            raise ApplyError(f"verification failed: Asterisk has no dialplan context "
                             f"{context} ({shown.message})")
