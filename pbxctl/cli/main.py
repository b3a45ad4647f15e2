"""The ``pbxctl`` entry point: global options, error handling and the command groups."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from pbxctl import __version__
from pbxctl.cli import (
    apply_cmd,
    audit_cmd,
    branch_cmd,
    carrier_cmd,
    cdr_cmd,
    db_cmd,
    ext_cmd,
    node_cmd,
    number_cmd,
    numplan_cmd,
    queue_cmd,
    rates_cmd,
    report_cmd,
    serve_cmd,
    status_cmd,
    switches_cmd,
    token_cmd,
    webhook_cmd,
)
from pbxctl.errors import PbxctlError, ValidationError
from pbxctl.settings import load_settings


class InputRefused(click.ClickException):
    """Bad input: exit code 2, like a usage error, and nothing was changed."""

    exit_code = 2

    def format_message(self) -> str:
        return f"{self.message} (nothing was changed)"


class PbxctlGroup(click.Group):
    """Turns pbxctl's own exceptions into clean messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ValidationError as exc:
            raise InputRefused(str(exc)) from None
        except PbxctlError as exc:
            raise click.ClickException(str(exc)) from None
        except OperationalError as exc:
            raise click.ClickException(f"database unavailable: {exc.orig}") from None
        except SQLAlchemyError as exc:
            raise click.ClickException(f"database error: {exc}") from None
        except OSError as exc:
            if isinstance(exc, ConnectionError | TimeoutError | PermissionError |
                          FileNotFoundError):
                raise click.ClickException(str(exc)) from None
            raise


@click.group(cls=PbxctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    try:
        ctx.obj = load_settings(config_file)
    except PbxctlError as exc:
        raise InputRefused(str(exc)) from None


cli.add_command(db_cmd.init)
cli.add_command(db_cmd.db)
cli.add_command(node_cmd.node)
cli.add_command(branch_cmd.branch)
cli.add_command(ext_cmd.ext)
cli.add_command(carrier_cmd.carrier)
cli.add_command(number_cmd.number)
cli.add_command(numplan_cmd.numplan)
cli.add_command(rates_cmd.rates)
cli.add_command(cdr_cmd.cdr)
cli.add_command(report_cmd.report)
cli.add_command(switches_cmd.crisis)
cli.add_command(switches_cmd.record)
cli.add_command(switches_cmd.recordings)
cli.add_command(queue_cmd.queue)
cli.add_command(status_cmd.status)
cli.add_command(token_cmd.token)
cli.add_command(webhook_cmd.webhook)
cli.add_command(serve_cmd.serve)
cli.add_command(apply_cmd.apply)
cli.add_command(audit_cmd.audit)


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli.main(prog_name="pbxctl"))
