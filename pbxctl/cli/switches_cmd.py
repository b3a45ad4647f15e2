"""``pbxctl crisis``, ``pbxctl record`` and ``pbxctl recordings``: act on running nodes at
once, without an apply."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pbxctl.cli.output import emit_rows, note, warn_missed
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.destinations import parse_destination
from pbxctl.errors import PbxctlError
from pbxctl.services.audit import parse_since
from pbxctl.services.branch_nodes import StandbyMiss
from pbxctl.services.live_switches import crisis_states
from pbxctl.services.recordings import copy_recording, list_recordings

F = TypeVar("F", bound=Callable[..., Any])


def _scope(branch: str | None, all_branches: bool) -> str | None:
    if bool(branch) == all_branches:
        raise click.UsageError("give --branch SLUG or --all")
    return branch


@click.group()
def crisis() -> None:
    """Reroute every number of a branch at once (AstDB, no reload; survives restarts)."""


@crisis.command("on")
@click.option("--branch", default=None)
@click.option("--all", "all_branches", is_flag=True, help="Every branch.")
@click.option("--to", "destination", required=True,
              help="ext:301 | branch:omsk | external:+4670… | voicemail:201 | hangup")
@click.option("--record", is_flag=True, help="Record the rerouted calls too.")
@click.pass_context
def crisis_on(ctx: click.Context, branch: str | None, all_branches: bool, destination: str,
              record: bool) -> None:
    """Switch the crisis routing on."""
    slug = _scope(branch, all_branches)

    async def work(s: Services) -> tuple[list[str], list[StandbyMiss]]:
        return [st.branch for st in await s.switches.crisis_on(
            slug, parse_destination("to", destination), record)], s.switches.standby_misses

    switched, missed = run_in_transaction(ctx, work)
    warn_missed(missed)
    note(f"Crisis routing ON for {', '.join(switched)}: calls go to {destination}"
         f"{' and are recorded' if record else ''}. No apply needed; 'pbxctl crisis off' "
         "restores the routes.")


@crisis.command("off")
@click.option("--branch", default=None)
@click.option("--all", "all_branches", is_flag=True, help="Every branch.")
@click.pass_context
def crisis_off(ctx: click.Context, branch: str | None, all_branches: bool) -> None:
    """Switch the crisis routing off; numbers follow their own routes again."""
    slug = _scope(branch, all_branches)

    async def work(s: Services) -> tuple[list[str], list[StandbyMiss]]:
        return await s.switches.crisis_off(slug), s.switches.standby_misses

    released, missed = run_in_transaction(ctx, work)
    warn_missed(missed)
    note(f"Crisis routing OFF for {', '.join(released) or 'no branch (none was on)'}.")


@crisis.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def crisis_status(ctx: click.Context, as_json: bool) -> None:
    """Branches under the crisis switch."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"branch": st.branch, "destination": st.destination, "record": st.record,
                 "since": st.since.isoformat(timespec="seconds")}
                for st in await crisis_states(s.session)]

    emit_rows(run_in_transaction(ctx, work), ("branch", "destination", "record", "since"),
              as_json, empty="no branch is under the crisis switch")


def _record_target(number: str | None, branch: str | None, ext: str | None
                   ) -> tuple[str, str]:
    given = [(scope, value) for scope, value in
             (("number", number), ("branch", branch), ("ext", ext)) if value]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --number, --branch, --ext")
    return given[0]


@click.group()
def record() -> None:
    """Record incoming calls on demand (MixMonitor, no reload)."""


def _target_options(func: F) -> F:
    for option in (click.option("--ext", default=None), click.option("--branch", default=None),
                   click.option("--number", default=None)):
        func = option(func)
    return func


@record.command("on")
@_target_options
@click.pass_context
def record_on(ctx: click.Context, number: str | None, branch: str | None,
              ext: str | None) -> None:
    """Start recording the calls of a number, a branch or an extension."""
    scope, target = _record_target(number, branch, ext)

    async def work(s: Services) -> list[StandbyMiss]:
        await s.switches.record_on(scope, target)
        return s.switches.standby_misses

    warn_missed(run_in_transaction(ctx, work))
    note(f"Recording the calls of {scope} {target} from now on.")


@record.command("off")
@_target_options
@click.pass_context
def record_off(ctx: click.Context, number: str | None, branch: str | None,
               ext: str | None) -> None:
    """Stop recording a number, a branch or an extension."""
    scope, target = _record_target(number, branch, ext)

    async def work(s: Services) -> list[StandbyMiss]:
        await s.switches.record_off(scope, target)
        return s.switches.standby_misses

    warn_missed(run_in_transaction(ctx, work))
    note(f"No longer recording {scope} {target}.")


@record.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def record_list(ctx: click.Context, as_json: bool) -> None:
    """What is being recorded."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"scope": r.scope, "target": r.target,
                 "since": r.since.isoformat(timespec="seconds")}
                for r in await s.switches.recording_rules()]

    emit_rows(run_in_transaction(ctx, work), ("scope", "target", "since"), as_json,
              empty="nothing is being recorded")


async def _recordings_dir(s: Services, node: str | None) -> Path:
    found = await s.nodes.resolve(node)
    if not found.recordings_dir:
        raise PbxctlError(f"node {found.name} has no --recordings-dir")
    return Path(found.recordings_dir)


@click.group()
def recordings() -> None:
    """Recorded calls."""


@recordings.command("list")
@click.option("--node", default=None)
@click.option("--since", default=None, help="ISO date or time (UTC).")
@click.option("--number", default=None, help="Only calls to this number.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def recordings_list(ctx: click.Context, node: str | None, since: str | None,
                    number: str | None, as_json: bool) -> None:
    """List recorded calls, oldest first."""
    since_at = parse_since("--since", since) if since else None

    async def work(s: Services) -> list[dict[str, object]]:
        directory = await _recordings_dir(s, node)
        return [{"id": r.id, "started": r.started.isoformat(timespec="seconds"),
                 "number": r.number, "uniqueid": r.uniqueid, "bytes": r.size}
                for r in list_recordings(directory, since_at, number)]

    emit_rows(run_in_transaction(ctx, work), ("id", "started", "number", "bytes"), as_json,
              empty="no recordings")


@recordings.command("get")
@click.argument("recording_id", metavar="ID")
@click.option("-o", "--output", required=True,
              type=click.Path(dir_okay=False, path_type=Path))
@click.option("--node", default=None)
@click.pass_context
def recordings_get(ctx: click.Context, recording_id: str, output: Path,
                   node: str | None) -> None:
    """Copy recording ID to a file."""

    async def work(s: Services) -> Path:
        return copy_recording(await _recordings_dir(s, node), recording_id, output)

    note(f"Wrote {run_in_transaction(ctx, work)}.")


