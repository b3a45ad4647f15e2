"""pbxctl's errors in the command line's words: a field the services name (``ext_range``)
becomes the option the user typed (``--ext-range``), exit code 2 for refused input and 1
for the rest."""

from __future__ import annotations

import click

from pbxctl.cli.output import printable
from pbxctl.errors import FieldNamer, PbxctlError, ValidationError


class InputRefused(click.ClickException):
    """Bad input: exit code 2, like a usage error, and nothing was changed."""

    exit_code = 2

    def format_message(self) -> str:
        return f"{self.message} (nothing was changed)"


def field_names(command: click.Command) -> FieldNamer:
    """How ``command`` calls the services' fields: an option by its long flag, an
    argument (and anything else) by the field's own name."""
    options: dict[str, str] = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.name:
            flag = max(param.opts, key=len)
            options[param.name] = flag
            options.setdefault(flag.lstrip("-").replace("-", "_"), flag)   # --to, field to
    return lambda field: options.get(field, field)


def presented(error: PbxctlError, command: click.Command | None = None
              ) -> click.ClickException:
    """The click exception that shows ``error`` for ``command`` (fields as its flags)."""
    text = printable(error.describe(field_names(command)) if command is not None
                     else str(error))
    if isinstance(error, ValidationError):
        return InputRefused(text)
    return click.ClickException(text)
