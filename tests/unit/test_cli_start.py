"""The command line starts fast: commands are imported when they run, and the command
list comes from a table that must say what each command's own help says."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from pbxctl.cli.lazy import short_help
from pbxctl.cli.main import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_says_what_the_command_says(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None and command.name == name and command.help
    for width in (20, 40, 60, 80, 400):
        assert short_help(name, COMMANDS[name].summary, width) == \
            command.get_short_help_str(width), (name, width)


def test_help_imports_no_command() -> None:
    probe = ("import sys; from pbxctl.cli.main import cli; "
             "cli.main(['--help'], standalone_mode=False); "
             "print(sorted(m for m in ('sqlalchemy', 'aiohttp', 'alembic', 'pydantic', "
             "'pbxctl.cli.branch_cmd') if m in sys.modules))")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True).stdout
    assert "Commands:" in shown and shown.strip().endswith("[]"), shown


def test_every_command_is_listed_and_runs_its_help() -> None:
    listed = cli.list_commands(click.Context(cli))
    assert listed == sorted(COMMANDS)
    for name in listed:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0 and "Usage: " in result.output, name
