"""``pbxctl export``, ``plan`` and ``sync``: the company as a file (issue 14, part 4)."""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
from pathlib import Path
from typing import Any

import click

from pbxctl.asterisk.files import write_atomically
from pbxctl.cli.errors import InputRefused
from pbxctl.cli.output import emit_json, for_stdout, note, read_input_file
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.company import document
from pbxctl.company.plan import Change, as_json, as_text
from pbxctl.company.schema import schema_text
from pbxctl.services.company import SyncResult

FILE_MODE = 0o600
_FILE = click.argument("file", type=click.Path(dir_okay=False, allow_dash=True,
                                               path_type=Path))


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Write to FILE (mode 0600, atomically) instead of stdout.")
@click.option("--schema", is_flag=True, help="Print the file's JSON Schema instead.")
@click.pass_context
def export(ctx: click.Context, output: Path | None, schema: bool) -> None:
    """Write the company as a YAML file: nodes, carriers, branches, extensions, queues,
    numbers, webhooks and spend caps, without secrets, rate decks or calls."""
    if schema:
        text = schema_text()
    else:
        async def work(s: Services) -> str:
            return document.dump(await s.company.export())

        text = run_in_transaction(ctx, work)
    if output is None:
        click.echo(for_stdout(text, sys.stdout.isatty()), nl=False)
        return
    write_atomically(output, text, FILE_MODE)
    note(f"Wrote {'the schema' if schema else 'the company'} to {output}.")


@click.command()
@_FILE
@click.option("--json", "as_json_", is_flag=True, help="Print the plan as JSON.")
@click.pass_context
def plan(ctx: click.Context, file: Path, as_json_: bool) -> None:
    """Show what 'pbxctl sync FILE' would create, change and remove, field by field
    (old → new); changes nothing."""
    desired = document.load(read_input_file(file))

    async def work(s: Services) -> list[Change]:
        return await s.company.plan(desired)

    changes = run_in_transaction(ctx, work)
    if as_json_:
        emit_json(as_json(changes))
    else:
        click.echo(for_stdout(as_text(changes), sys.stdout.isatty()), nl=False)


@click.command()
@_FILE
@click.option("--secrets", "secrets_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="YAML file (mode 0600) with the secrets of nodes and "
                                 "registering carriers the sync creates.")
@click.option("--json", "as_json_", is_flag=True,
              help="Print the changes and new credentials as JSON.")
@click.pass_context
def sync(ctx: click.Context, file: Path, secrets_file: Path | None, as_json_: bool) -> None:
    """Make the database match FILE in one audited transaction; new phones' passwords
    and new webhooks' secrets are printed once. Run 'pbxctl apply' afterwards."""
    desired = document.load(read_input_file(file))
    secrets = (_read_secrets(secrets_file) if secrets_file is not None
               else {"nodes": {}, "carriers": {}})

    async def work(s: Services) -> SyncResult:
        return await s.company.sync(desired, secrets)

    result = run_in_transaction(ctx, work)
    shown: dict[str, Any] = {
        "phones": [dataclasses.asdict(p) for p in result.phones],
        "webhooks": [dataclasses.asdict(w) for w in result.webhooks]}
    if as_json_:
        emit_json({**as_json(result.changes), **shown})
        return
    note(as_text(result.changes).rstrip("\n"))
    for phone in result.phones:
        click.echo(f"extension {phone.username}: password {phone.password} "
                   f"(server {phone.server}:{phone.port})")
    for hook in result.webhooks:
        click.echo(f"webhook {hook.id} {hook.url}: secret {hook.secret}")
    if result.phones or result.webhooks:
        note("The passwords and secrets above are shown only now.")
    if result.changes:
        note("Run 'pbxctl apply' to carry the changes to the nodes.")


def _read_secrets(path: Path) -> dict[str, dict[str, str]]:
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise click.BadParameter(str(exc), param_hint="--secrets") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputRefused(f"--secrets: {path} may be read by other users "
                           f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it")
    return document.load_secrets(read_input_file(path))
