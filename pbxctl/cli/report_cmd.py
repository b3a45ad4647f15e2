"""``pbxctl report``: what accountants asked for."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from pbxctl.billing.formats import to_csv, to_json
from pbxctl.billing.periods import parse_month
from pbxctl.cli.output import emit_bytes, emit_table, note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.queues.service_level import SLA_COLUMNS, SlaRow
from pbxctl.services.read.reports import CostReport, render_costs
from pbxctl.services.read.spend import SPEND_COLUMNS, SpendRow, spend_report


@click.group()
def report() -> None:
    """Reports for accountants."""


@report.command("costs")
@click.option("--month", required=True, help="e.g. 2026-10, in each department's zone.")
@click.option("--department", default=None, help="Only this department.")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "json"]), default="csv",
              show_default=True)
@click.option("--detail", is_flag=True, help="One row per rated call instead of totals.")
@click.option("--excel", is_flag=True,
              help="CSV for Excel in a Swedish or Russian locale: BOM, ';', decimal comma.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to FILE [default: stdout].")
@click.pass_context
def costs(ctx: click.Context, month: str, department: str | None, fmt: str, detail: bool,
          excel: bool, output: Path | None) -> None:
    """Monthly cost per department: calls, minutes, call cost, number rental, total.

    Per-call costs are rounded half-up to 4 places, report sums to 2 places; the totals
    equal the sum of the detail rows.
    """
    year, number = parse_month("--month", month)
    if excel and fmt != "csv":
        raise click.UsageError("--excel is a CSV variant; use it with --format csv")

    async def work(s: Services) -> CostReport:
        return await s.reports.costs(year, number, department, detail)

    result = run_in_transaction(ctx, work)
    data = render_costs(result, fmt, detail, excel)
    if output is not None:
        output.write_bytes(data)
        note(f"Wrote {output}.")
    elif fmt == "xlsx" and sys.stdout.isatty():
        raise click.UsageError("an .xlsx file is binary: give -o FILE")
    else:
        emit_bytes(data)
    if result.unrated:
        note(f"Warning: {result.unrated} outbound call(s) of {result.month} could not be "
             f"rated and are not in the report; see 'pbxctl cdr unrated --month {month}'.")


@report.command("sla")
@click.option("--month", required=True, help="e.g. 2026-10, in each branch's zone.")
@click.option("--queue", "queue_ref", default=None, metavar="BRANCH/NAME")
@click.option("--by", type=click.Choice(["queue", "day"]), default="queue", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.pass_context
def sla(ctx: click.Context, month: str, queue_ref: str | None, by: str, fmt: str,
        output: Path | None) -> None:
    """Service level per queue: offered, answered (within the threshold), abandoned, ASA,
    longest wait; months below the target are flagged (met = False)."""
    year, number = parse_month("--month", month)

    # Loaded here: the queue queries and their ORM options cost the other reports'
    # start-up about 0.1 s.
    from pbxctl.services.read.service_levels import sla_report

    async def work(s: Services) -> list[SlaRow]:
        return await sla_report(s.session, year, number, queue_ref, by)

    rows = run_in_transaction(ctx, work)
    data = to_json(rows, {"month": month}) if fmt == "json" else to_csv(rows, SLA_COLUMNS)
    if output is not None:
        output.write_bytes(data)
        note(f"Wrote {output}.")
    else:
        emit_bytes(data)
    missed = sorted({r.queue for r in rows if not r.met and r.offered})
    if missed:
        note(f"Below target in {month}: {', '.join(missed)}.")


@report.command("spend")
@click.option("--month", default=None,
              help="e.g. 2026-11 [default: the current month, in each department's zone].")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.pass_context
def spend(ctx: click.Context, month: str | None, fmt: str) -> None:
    """Month-to-date spend per department (its calls' cost, as 'report costs' counts
    it), its cap and what the spend brake did: ok, warning, blocked, unblocked."""
    if month is not None:
        parse_month("--month", month)

    async def work(s: Services) -> list[SpendRow]:
        return await spend_report(s.session, month)

    rows = run_in_transaction(ctx, work)
    if fmt == "json":
        emit_bytes(to_json(rows))
    elif fmt == "csv":
        emit_bytes(to_csv(rows, SPEND_COLUMNS))
    else:
        emit_table([{column: _shown(getattr(row, column)) for column in SPEND_COLUMNS}
                    for row in rows], SPEND_COLUMNS, empty="no spend and no caps yet")


def _shown(value: object) -> object:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else value
