"""``pbxctl numplan``: which prefixes are which destination class."""

from __future__ import annotations

from pathlib import Path

import click

from pbxctl.cli.output import emit_counts, emit_file, emit_rows, note, read_input_file
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.numbering import DEST_CLASSES, PlanEntry


@click.group()
def numplan() -> None:
    """The numbering plan that outbound policies are checked against.

    Rows are E.164 prefixes (digits, no '+') with a class; the longest prefix wins.
    Emergency rows are the short numbers people dial (112, 911, …).
    """


@numplan.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List the plan by prefix."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"prefix": e.prefix, "class": e.dest_class, "description": e.description}
                for e in await s.numplan.entries()]

    emit_rows(run_in_transaction(ctx, work), ("prefix", "class", "description"), as_json,
              empty="the numbering plan is empty")


@numplan.command("set")
@click.argument("prefix")
@click.argument("dest_class", metavar="CLASS", type=click.Choice(DEST_CLASSES))
@click.option("--description", default="")
@click.pass_context
def set_(ctx: click.Context, prefix: str, dest_class: str, description: str) -> None:
    """Add or change one prefix."""

    async def work(s: Services) -> PlanEntry:
        return await s.numplan.set(prefix, dest_class, description)

    entry = run_in_transaction(ctx, work)
    note(f"{entry.prefix} is {entry.dest_class}. Run 'pbxctl apply'.")


@numplan.command("remove")
@click.argument("prefix")
@click.pass_context
def remove(ctx: click.Context, prefix: str) -> None:
    """Remove one prefix."""

    async def work(s: Services) -> None:
        await s.numplan.remove(prefix)

    run_in_transaction(ctx, work)
    note(f"{prefix} removed from the numbering plan. Run 'pbxctl apply'.")


@numplan.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write to FILE instead of stdout.")
@click.pass_context
def export(ctx: click.Context, output: Path | None) -> None:
    """The plan as CSV (prefix,class,description), as 'numplan import' reads it."""

    async def work(s: Services) -> str:
        return await s.numplan.export_csv()

    emit_file(run_in_transaction(ctx, work), output, "prefixes")


@numplan.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--replace", is_flag=True, help="Drop prefixes that are not in FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_context
def import_(ctx: click.Context, file: Path, replace: bool, as_json: bool) -> None:
    """Import prefix,class,description rows (all checked before anything changes)."""
    text = read_input_file(file)

    async def work(s: Services) -> dict[str, int]:
        return await s.numplan.import_csv(text, replace)

    emit_counts(run_in_transaction(ctx, work), as_json)
