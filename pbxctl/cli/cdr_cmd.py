"""``pbxctl cdr``: call records in, rated, without loss or double counting."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
from pathlib import Path

import click

from pbxctl.billing.periods import month_range_utc, parse_month
from pbxctl.cli.output import emit_json, emit_rows, note
from pbxctl.cli.runtime import Services, engine_for, run_in_transaction, settings_of
from pbxctl.services.cdrs import ImportSummary, quarantined, unrated_calls


@click.group()
def cdr() -> None:
    """Call detail records: backfill from Master.csv, follow live, rate again."""


def _print_summary(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        emit_json(dataclasses.asdict(summary))
        return
    note(f"{summary.rows} rows: {summary.inserted} stored, {summary.duplicates} already "
         f"known, {summary.quarantined} quarantined; {summary.outbound} outbound, "
         f"{summary.unrated} unrated.")
    for reason, count in sorted(summary.reasons.items()):
        note(f"  quarantined: {count} × {reason}")


@cdr.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--node", default=None, help="Node that wrote the file [default: local, else "
              "the only node].")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def import_(ctx: click.Context, file: Path, node: str | None, as_json: bool) -> None:
    """Import an Asterisk cdr_csv file (Master.csv, any of its column layouts).

    Bad lines go to quarantine with their line number and reason; the rest is stored
    rated. Importing the same file again, or calls already stored live, changes nothing.
    """
    async def work(s: Services) -> ImportSummary:
        node_name = (await s.nodes.resolve(node)).name
        with file.open("rb") as stream, click.progressbar(
                length=file.stat().st_size, label=f"Importing {file.name}",
                file=sys.stderr) as bar:
            return await s.cdrs.import_master_csv(
                stream, str(file.absolute()), node_name, progress=bar.update)

    _print_summary(run_in_transaction(ctx, work), as_json)


@cdr.command("follow")
@click.option("--node", default=None, help="Node to follow [default: local, else the only "
              "node].")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON at the end.")
@click.pass_context
def follow(ctx: click.Context, node: str | None, as_json: bool) -> None:
    """Store the node's CDRs as Asterisk reports them over AMI, until Ctrl-C or SIGTERM.

    The link is kept up: a lost connection is retried with backoff, and what the node wrote
    to its Master.csv meanwhile (node option --cdr-csv) is caught up.
    """
    # The AMI follower only here: import and rerate start faster without it.
    from pbxctl.follower.node import FollowedNode, NodeFollower, follow_policy, followed

    async def node_of(s: Services) -> FollowedNode:
        return followed(await s.nodes.resolve(node))

    target = run_in_transaction(ctx, node_of)

    async def main() -> ImportSummary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        engine = engine_for(settings_of(ctx))
        try:
            note(f"Following CDRs of node {target.name}; Ctrl-C to stop.")
            return await NodeFollower(
                engine, target, follow_policy(settings_of(ctx)), say=note,
                on_stored=lambda c: note(
                    f"  {c.start:%Y-%m-%d %H:%M:%S}Z {c.department} {c.src} -> {c.dst} "
                    f"{c.disposition} {c.billsec} s")).run(stop)
        finally:
            await engine.dispose()

    _print_summary(asyncio.run(main()), as_json)


@cdr.command("rerate")
@click.option("--month", required=True, help="Month to price again, e.g. 2026-10 (UTC).")
@click.option("--carrier", default=None, help="Only this carrier's calls.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def rerate(ctx: click.Context, month: str, carrier: str | None, as_json: bool) -> None:
    """Price a month's outbound calls again with the decks as they are now (after a deck
    correction)."""
    year, number = parse_month("--month", month)
    start, end = month_range_utc(year, number, "UTC")

    async def work(s: Services) -> ImportSummary:
        return await s.cdrs.rerate(start, end, carrier)

    summary = run_in_transaction(ctx, work)
    if as_json:
        emit_json({"calls": summary.rows, "changed": summary.inserted,
                   "unrated": summary.unrated})
    else:
        note(f"{summary.rows} outbound calls priced again: {summary.inserted} changed, "
             f"{summary.unrated} unrated.")


@cdr.command("unrated")
@click.option("--month", required=True, help="e.g. 2026-10 (UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def unrated(ctx: click.Context, month: str, as_json: bool) -> None:
    """Outbound calls no deck could price, and why."""
    year, number = parse_month("--month", month)
    start, end = month_range_utc(year, number, "UTC")

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"start": c.start.isoformat(timespec="seconds"), "department": c.department,
                 "src": c.src, "destination": c.destination, "carrier": c.carrier,
                 "billsec": c.billsec, "reason": c.unrated_reason}
                for c in await unrated_calls(s.session, start, end)]

    emit_rows(run_in_transaction(ctx, work),
              ("start", "department", "src", "destination", "carrier", "billsec", "reason"),
              as_json, empty="every outbound call of the month is rated")


@cdr.command("quarantine")
@click.option("--source", default=None, help="Only lines from this file (absolute path).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def quarantine(ctx: click.Context, source: str | None, as_json: bool) -> None:
    """Lines that could not be imported, with file, line number and reason."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"source": q.source, "line": q.line, "reason": q.reason, "raw": q.raw[:120]}
                for q in await quarantined(s.session, source)]

    emit_rows(run_in_transaction(ctx, work), ("source", "line", "reason", "raw"), as_json,
              empty="the quarantine is empty")


