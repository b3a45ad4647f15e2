"""``pbxctl backup`` and ``pbxctl restore``: the whole database in one archive, and back."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.cli.output import emit_json, emit_table, note
from pbxctl.cli.runtime import run_use_case
from pbxctl.errors import PbxctlError
from pbxctl.services.audit import Actor
from pbxctl.services.backups import (
    BackupResult,
    RestoreResult,
    create_backup,
    describe,
    restore_backup,
    restore_node_state,
)
from pbxctl.services.node_state import PutBack
from pbxctl.settings import Settings

PASSPHRASE_FILE = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="File holding the passphrase (its first line; '-': stdin). Never on the "
         "command line, where other users would see it.")


def read_passphrase(path: Path | None) -> bytes | None:
    """The passphrase in ``path`` (its first line), or None."""
    if path is None:
        return None
    try:
        data = sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
    except OSError as exc:
        raise click.BadParameter(str(exc), param_hint="--passphrase-file") from None
    if str(path) != "-" and path.stat().st_mode & 0o077:
        note(f"Warning: the passphrase file {path} may be read by other users: "
             f"chmod 600 {path}")
    line = data.split(b"\n", 1)[0].removesuffix(b"\r")
    if not line:
        raise click.BadParameter("the passphrase is empty", param_hint="--passphrase-file")
    return line


@click.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Archive to write (default: "
                                 "pbxctl-backup-<UTC time>.tar[.enc] here).")
@PASSPHRASE_FILE
@click.option("--with-media", is_flag=True,
              help="Take each node's recordings and voicemail too (from its "
                   "recordings_dir and the voicemail spool beside it).")
@click.option("--require-nodes", is_flag=True,
              help="Write nothing (exit 1) when a node's state cannot be read; by default "
                   "the backup is written and says which node's state is missing.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_context
def backup(ctx: click.Context, output: Path | None, passphrase_file: Path | None,
           with_media: bool, require_nodes: bool, as_json: bool) -> None:
    """Write the whole database to one archive (mode 0600), as of one moment, while
    'pbxctl serve' goes on, with each node's run-time state (crisis, recording and spend
    switches, queue members logged in); encrypted when a passphrase file is given.

    Sealed secrets are copied as stored: keep the secrets key file with the backups."""
    passphrase = read_passphrase(passphrase_file)

    async def work(engine: AsyncEngine, actor: Actor, settings: Settings) -> BackupResult:
        return await create_backup(engine, actor, settings, output, passphrase,
                                   require_nodes=require_nodes, with_media=with_media)

    done = run_use_case(ctx, work)
    if as_json:
        emit_json({"file": str(done.path), "bytes": done.size, "sha256": done.sha256,
                   "encrypted": done.encrypted, **describe(done.manifest)})
    else:
        click.echo(str(done.path))
        _said_written(done)
    for node, reason in done.manifest.nodes_missing:
        note(f"Warning: the state of node {node} is not in this backup: {reason}")


def _said_written(done: BackupResult) -> None:
    note(f"Backup written: {done.path} ({done.manifest.total_rows} rows in "
         f"{len(done.manifest.tables)} tables, schema {done.manifest.schema_revision}, "
         f"{'encrypted' if done.encrypted else 'not encrypted'}, {done.size} bytes, "
         f"sha256 {done.sha256}).")
    if done.manifest.secrets_keys:
        note(f"Its secrets are copied sealed by key {', '.join(done.manifest.secrets_keys)}"
             ": keep the secrets key file with the backups, a restore needs it.")


@click.command()
@click.argument("archive", type=click.Path(dir_okay=False, path_type=Path))
@PASSPHRASE_FILE
@click.option("--force", is_flag=True,
              help="Replace everything the database holds (by default a database that "
                   "holds any row is refused).")
@click.option("--to-node", "to_node", multiple=True, metavar="NODE",
              help="Then put the node's run-time state (AstDB switches, queue members) "
                   "back, reached as the restored database describes it; repeatable, "
                   "'all' for every node the backup holds state of.")
@click.option("--with-media", is_flag=True,
              help="Put the --to-node nodes' recordings and voicemail back too (a file "
                   "already there is kept).")
@click.option("--nodes-only", is_flag=True,
              help="Leave the database alone (restored already) and only put the state "
                   "of the --to-node nodes back.")
@click.option("--json", "as_json", is_flag=True, help="Print what was restored as JSON.")
@click.pass_context
def restore(ctx: click.Context, archive: Path, passphrase_file: Path | None, force: bool,
            to_node: tuple[str, ...], with_media: bool, nodes_only: bool,
            as_json: bool) -> None:
    """Put a backup back into an empty database (SQLite or PostgreSQL, either way), then
    the nodes' run-time state (--to-node).

    The whole archive is checked first; then, in one transaction, the schema is created
    at the archive's revision, the rows inserted and the schema upgraded to this
    pbxctl's. Anything wrong leaves the database as it was."""
    if (nodes_only or with_media) and not to_node:
        raise click.UsageError("--nodes-only and --with-media need --to-node")
    passphrase = read_passphrase(passphrase_file)

    async def work(engine: AsyncEngine, actor: Actor, settings: Settings
                   ) -> tuple[RestoreResult | None, list[PutBack]]:
        done = (None if nodes_only
                else await restore_backup(engine, actor, archive, passphrase, force,
                                          to_node))
        try:
            nodes = (await restore_node_state(engine, actor, settings, archive, passphrase,
                                              to_node, with_media) if to_node else [])
        except PbxctlError as exc:
            if done is None:
                raise
            raise PbxctlError(f"the database was restored, the nodes' state not: "
                              f"{exc.message}; once the node answers, restore again with "
                              "`nodes_only`", exc.field) from None
        return done, nodes

    done, nodes = run_use_case(ctx, work)
    put_back = {p.node: {"entries": p.entries, "removed": p.removed,
                         "queue_members": p.members, "media_written": p.media_written,
                         "media_kept": p.media_kept} for p in nodes}
    if as_json:
        shown = ({**describe(done.manifest), "schema_now": done.schema_now,
                  "replaced": done.replaced} if done else {})
        emit_json({**shown, "nodes_restored": put_back})
        return
    if done is not None:
        _said_restored(done)
    for p in nodes:
        note(f"Node {p.node}: {p.entries} AstDB entries put back ({p.removed} the backup "
             f"did not hold removed), {p.members} queue members logged in again"
             + (f", {p.media_written} media files put back ({p.media_kept} already there)"
                if with_media else "") + ".")


def _said_restored(done: RestoreResult) -> None:
    shown = describe(done.manifest)
    emit_table([{"table": name, "rows": rows} for name, rows in done.rows.items()],
               ("table", "rows"))
    if done.replaced:
        note(f"Replaced what the database held ({', '.join(done.replaced)}).")
    note(f"Restored {done.manifest.total_rows} rows in {len(done.rows)} tables from the "
         f"backup of {shown['created_at']} ({done.manifest.engine}, pbxctl "
         f"{done.manifest.pbxctl_version}, schema {done.manifest.schema_revision}; now at "
         f"{done.schema_now}). Next: 'pbxctl apply --dry-run' to compare with the nodes.")
