"""``pbxctl queue``: branch call queues and their members."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pbxctl.cli.output import comma_list, emit_json, emit_rows, note, warn_missed
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.destinations import parse_destination
from pbxctl.services.branch_nodes import StandbyMiss
from pbxctl.services.queue_stats import QueueLogSummary, import_queue_log
from pbxctl.services.queues import STRATEGIES, QueueSpec, queue_snapshot

COLUMNS = ("queue", "strategy", "members", "max_wait", "service_level", "target", "overflow")

F = TypeVar("F", bound=Callable[..., Any])


def _options(required: bool) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        for option in reversed([
            click.option("--strategy", type=click.Choice(STRATEGIES), default=None,
                         help="[default: ringall]"),
            click.option("--members", default=None, required=required,
                         help="Extensions that answer, e.g. 201,202."),
            click.option("--max-wait", type=int, default=None,
                         help="Seconds a caller waits before the overflow [default: 60]."),
            click.option("--service-level", type=int, default=None,
                         help="Answer within this many seconds [default: 20]."),
            click.option("--target", type=int, default=None,
                         help="Per cent of calls answered within it [default: 90]."),
            click.option("--overflow", default=None,
                         help="Where callers go on timeout or with nobody there."),
        ]):
            func = option(func)
        return func
    return decorate


@click.group()
def queue() -> None:
    """Branch queues: members log in, out and pause at run time, without a reload."""


def _spec(options: dict[str, object]) -> QueueSpec:
    """The queue the options describe (parsed inside the command's work, so a refused
    value is named by its flag)."""
    options = dict(options)
    members, overflow = options.pop("members"), options.pop("overflow")
    return QueueSpec(members=comma_list(members if isinstance(members, str) else None),
                     overflow=(parse_destination("overflow", overflow)
                               if isinstance(overflow, str) else None),
                     **options)  # type: ignore[arg-type]


@queue.command("add")
@click.argument("branch")
@click.argument("name")
@_options(required=True)
@click.pass_context
def add(ctx: click.Context, /, branch: str, name: str, **options: object) -> None:
    """Add queue NAME to BRANCH; route numbers to it as queue:BRANCH/NAME."""
    async def work(s: Services) -> str:
        return (await s.queues.add(branch, name, _spec(options))).ref

    ref = run_in_transaction(ctx, work)
    note(f"Queue {ref} added. Run 'pbxctl apply'.")


@queue.command("update")
@click.argument("ref", metavar="BRANCH/NAME")
@_options(required=False)
@click.pass_context
def update(ctx: click.Context, /, ref: str, **options: object) -> None:
    """Change some settings of a queue."""
    async def work(s: Services) -> None:
        await s.queues.update(ref, _spec(options))

    run_in_transaction(ctx, work)
    note(f"Queue {ref} updated. Run 'pbxctl apply'.")


@queue.command("remove")
@click.argument("ref", metavar="BRANCH/NAME")
@click.pass_context
def remove(ctx: click.Context, ref: str) -> None:
    """Remove a queue (no number may route to it)."""

    async def work(s: Services) -> None:
        await s.queues.remove(ref)

    run_in_transaction(ctx, work)
    note(f"Queue {ref} removed. Run 'pbxctl apply'.")


@queue.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List queues."""

    async def work(s: Services) -> list[dict[str, object]]:
        rows = [queue_snapshot(q) for q in await s.queues.list()]
        if not as_json:
            for row in rows:
                row["members"] = ",".join(row["members"])
        return rows

    emit_rows(run_in_transaction(ctx, work), COLUMNS, as_json,
              empty="no queues; add one with 'pbxctl queue add'")


@queue.command("show")
@click.argument("ref", metavar="BRANCH/NAME")
@click.pass_context
def show(ctx: click.Context, ref: str) -> None:
    """Show one queue as JSON."""

    async def work(s: Services) -> dict[str, object]:
        return queue_snapshot(await s.queues.get(ref))

    emit_json(run_in_transaction(ctx, work))


def _member_command(action: str, help_text: str) -> click.Command:
    @click.command(action, help=help_text)
    @click.argument("extension")
    @click.option("--queue", "ref", default=None, metavar="BRANCH/NAME",
                  help="The queue [default: every queue the extension is in].")
    @click.pass_context
    def command(ctx: click.Context, extension: str, ref: str | None) -> None:
        async def work(s: Services) -> tuple[list[str], list[StandbyMiss]]:
            return (await s.queue_members.act(action, extension, ref),
                    s.queue_members.standby_misses)

        touched, missed = run_in_transaction(ctx, work)
        warn_missed(missed)
        note(f"{extension}: {action} in {', '.join(touched)} (at once, no reload).")

    return command


for _action, _help in (("login", "Log an extension in to a queue."),
                       ("logout", "Log a dynamic member out of a queue."),
                       ("pause", "Pause a member: the queue stops ringing it."),
                       ("unpause", "Let the queue ring a paused member again.")):
    queue.add_command(_member_command(_action, _help))


@queue.command("import-log")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--node", default="local", show_default=True, help="Node that wrote it.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def import_log(ctx: click.Context, file: Path, node: str, as_json: bool) -> None:
    """Backfill queue calls from Asterisk's queue_log (idempotent)."""
    text = file.read_text(encoding="utf-8", errors="replace")

    async def work(s: Services) -> QueueLogSummary:
        await s.nodes.get(node)
        return await import_queue_log(s.session, text, node)

    summary = run_in_transaction(ctx, work)
    if as_json:
        emit_json(dataclasses.asdict(summary))
    else:
        note(f"{summary.stays} queue calls: {summary.inserted} stored, {summary.duplicates} "
             f"already known; {summary.bad_lines} unreadable line(s).")
