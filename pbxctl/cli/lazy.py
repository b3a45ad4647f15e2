"""A click group whose commands are imported only when they run (click's lazy-loading
pattern), so ``pbxctl --help`` and every command pay only for what they use."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives, and the first paragraph of its help for the command list
    (a test keeps it equal to the command's own)."""

    module: str
    name: str
    summary: str


class LazyGroup(click.Group):
    """Commands from a table of :class:`LazyCommand`, imported on first use."""

    def __init__(self, *args: Any, lazy: Mapping[str, LazyCommand] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            where = self.lazy[cmd_name]
            command = getattr(importlib.import_module(where.module), where.name)
            if not isinstance(command, click.Command):
                raise TypeError(f"{where.module}.{where.name} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, from the summaries: nothing is imported to show it."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.lazy and name not in self.commands:
                rows.append((name, short_help(name, self.lazy[name].summary, limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def short_help(name: str, help_text: str, limit: int) -> str:
    """What click shows for a command with this help in a list ``limit`` wide."""
    return click.Command(name, help=help_text).get_short_help_str(limit)
