"""The ``pbxctl`` entry point: global options, error handling and the command groups."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from pbxctl import __version__
from pbxctl.cli.errors import InputRefused, presented
from pbxctl.cli.lazy import LazyCommand, LazyGroup
from pbxctl.errors import PbxctlError

# name, module under pbxctl.cli, first paragraph of its help (for the command list)
_TABLE = [
    ("init", "db_cmd", "Create a fresh database (or bring an existing one up to date)."),
    ("db", "db_cmd", "Database schema (Alembic migrations shipped with pbxctl)."),
    ("node", "node_cmd", "Asterisk nodes pbxctl renders configuration for."),
    ("edge", "edge_cmd", "Kamailio SIP edges: carriers call them, they pick the branch's node."),
    ("branch", "branch_cmd",
     "Branches: sales sites with their own extension range and time zone."),
    ("ext", "ext_cmd", "Extensions: phones and softphones with generated SIP credentials."),
    ("device", "device_cmd", "Devices: desk phones (by MAC) and softphones that fetch "
                             "their set-up, each with its own SIP login."),
    ("carrier", "carrier_cmd",
     "Carriers: independent operators whose trunks bring and carry the calls."),
    ("number", "number_cmd", "Numbers (DIDs) the company owns through carrier contracts."),
    ("numplan", "numplan_cmd",
     "The numbering plan that outbound policies are checked against."),
    ("department", "department_cmd",
     "Departments: monthly spend caps the spend brake of 'pbxctl serve' enforces."),
    ("rates", "rates_cmd", "Rate decks: each carrier's prices, valid from a date on."),
    ("cdr", "cdr_cmd",
     "Call detail records: backfill from Master.csv, follow live, rate again."),
    ("report", "report_cmd", "Reports for accountants."),
    ("crisis", "switches_cmd",
     "Reroute every number of a branch at once (AstDB, no reload; survives restarts)."),
    ("record", "switches_cmd", "Record incoming calls on demand (MixMonitor, no reload)."),
    ("recordings", "switches_cmd", "Recorded calls."),
    ("queue", "queue_cmd",
     "Branch queues: members log in, out and pause at run time, without a reload."),
    ("status", "status_cmd", "Live state: AMI link, CDR catch-up, phones registered, "
                             "carriers, active calls, queues, crisis, spend caps."),
    ("token", "token_cmd", "API tokens (admin, accountant, viewer)."),
    ("secrets", "secrets_cmd",
     "The key that encrypts the secrets kept in the database."),
    ("webhook", "webhook_cmd",
     "Webhooks: signed JSON POSTs about calls, delivered by 'pbxctl serve'."),
    ("security", "security_cmd",
     "Brute-force bans: source addresses every node refuses for a while."),
    ("serve", "serve_cmd", "Serve the HTTP API (/api/v1, /healthz, /metrics), follow every "
                           "node over AMI (CDRs, queues, call events), deliver webhooks and "
                           "mail voicemail, until SIGTERM or Ctrl-C; with "
                           "provisioning_listen set, serve phones their set-up there too."),
    ("apply", "apply_cmd",
     "Render the configuration, show the diff, write it, reload and verify: every node, "
     "then every edge (with --node or --edge, only those named)."),
    ("audit", "audit_cmd", "Show the audit trail, oldest first."),
    ("backup", "backup_cmd",
     "Write the whole database to one archive (mode 0600), as of one moment, while "
     "'pbxctl serve' goes on, with each node's run-time state (crisis, recording and spend "
     "switches, queue members logged in); encrypted when a passphrase file is given."),
    ("export", "company_cmd",
     "Write the company as a YAML file: nodes, carriers, branches, extensions, queues, "
     "numbers, webhooks and spend caps, without secrets, rate decks or calls."),
    ("plan", "company_cmd",
     "Show what 'pbxctl sync FILE' would create, change and remove, field by field (old → "
     "new); changes nothing."),
    ("sync", "company_cmd",
     "Make the database match FILE in one audited transaction; new phones' passwords and "
     "new webhooks' secrets are printed once."),
    ("restore", "backup_cmd",
     "Put a backup back into an empty database (SQLite or PostgreSQL, either way), then "
     "the nodes' run-time state (--to-node)."),
]
COMMANDS = {name: LazyCommand(f"pbxctl.cli.{module}", name, summary)
            for name, module, summary in _TABLE}


class PbxctlGroup(LazyGroup):
    """Turns pbxctl's own exceptions into clean messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PbxctlError as exc:
            raise presented(exc) from None
        except OSError as exc:
            if isinstance(exc, ConnectionError | TimeoutError | PermissionError |
                          FileNotFoundError):
                raise click.ClickException(str(exc)) from None
            raise
        except Exception as exc:
            problem = _database_problem(exc)
            if problem is None:
                raise
            raise click.ClickException(problem) from None


def _database_problem(exc: Exception) -> str | None:
    """What to say of a database failure; None for anything else. SQLAlchemy is looked
    at only when a command loaded it (else the failure cannot be one of its)."""
    if "sqlalchemy" not in sys.modules:
        return None
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    if isinstance(exc, OperationalError):
        return f"database unavailable: {exc.orig}"
    if isinstance(exc, SQLAlchemyError):
        return f"database error: {exc}"
    return None


@click.group(cls=PbxctlGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              envvar="PBXCTL_CONFIG",
              help="TOML settings file (default /etc/pbxctl/pbxctl.toml when present).")
@click.version_option(__version__, prog_name="pbxctl")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None) -> None:
    """pbxctl: run a company's Asterisk PBX from one database.

    Describe nodes, branches and phones; `pbxctl apply` renders the Asterisk
    configuration and carries it to the nodes.
    """
    from pbxctl.settings import load_settings  # pydantic: only when a command runs

    try:
        ctx.obj = load_settings(config_file)
    except PbxctlError as exc:
        raise InputRefused(str(exc)) from None


def main() -> None:
    """Console-script entry point. The process ends as soon as the command is done: the
    interpreter's own teardown of what a command loaded (SQLAlchemy, Arrow and the
    memory they hold) takes 0.1-0.2 s and has nothing left to do, since every command
    commits, disposes of its engine and closes its files before it returns."""
    try:
        cli.main(prog_name="pbxctl")
        code = 0
    except SystemExit as done:
        code = _exit_code(done.code)
    if "logging" in sys.modules:        # a command that logs: its handlers flushed
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed pipe or stream: nothing more to say
            code = code or 1
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)    # sys.exit("message"), as the interpreter would
    return 1
