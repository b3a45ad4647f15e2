"""One way for every command to take a secret: a hidden prompt with confirmation, a file
(``-`` for stdin), an environment variable, or (discouraged: other users see the command
line in ``ps`` and ``/proc``, and the shell keeps it in its history) the option itself."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])
Asks = Callable[[dict[str, Any]], bool]


def secret_option(flag: str, what: str, prompt: Asks | None = None) -> Callable[[F], F]:
    """Options ``FLAG``, ``FLAG-file`` and ``FLAG-env``, given to the command as one
    value under FLAG's name (None when none was given); when none was given and
    ``prompt`` says so for the command's other values, the secret is asked for at a
    terminal."""
    name = flag.lstrip("-").replace("-", "_")

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def command(*args: Any, **kwargs: Any) -> Any:
            given = {f"{flag}": kwargs[name], f"{flag}-file": kwargs.pop(f"{name}_file"),
                     f"{flag}-env": kwargs.pop(f"{name}_env")}
            kwargs[name] = read_secret(given, what, prompt is not None and prompt(kwargs))
            return func(*args, **kwargs)

        options = [
            click.option(flag, default=None, help=f"The {what} on the command line: "
                         "discouraged, other users see it and the shell history keeps "
                         f"it; use {flag}-file, {flag}-env or the prompt."),
            click.option(f"{flag}-file", type=click.Path(dir_okay=False, path_type=Path),
                         default=None, help=f"Read the {what} from this file ('-': stdin)."),
            click.option(f"{flag}-env", metavar="VAR", default=None,
                         help=f"Read the {what} from environment variable VAR."),
        ]
        for option in reversed(options):
            command = option(command)
        return command  # type: ignore[return-value]
    return decorate


def read_secret(given: dict[str, Any], what: str, ask: bool) -> str | None:
    """The secret from the one source given; asked for (hidden, twice) when none was
    given, ``ask`` and a person is at the terminal; None otherwise (the service then
    says what is missing)."""
    chosen = {flag: value for flag, value in given.items() if value is not None}
    if len(chosen) > 1:
        raise click.UsageError(f"give the {what} once: {' or '.join(chosen)}")
    if not chosen:
        if ask and interactive():
            return str(click.prompt(what, hide_input=True, confirmation_prompt=True))
        return None
    flag, value = next(iter(chosen.items()))
    if flag.endswith("-env"):
        if value not in os.environ:
            raise click.BadParameter(f"environment variable {value} is not set",
                                     param_hint=flag)
        return os.environ[value]
    if flag.endswith("-file"):
        try:
            text = sys.stdin.read() if str(value) == "-" else value.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(str(exc), param_hint=flag) from None
        return text.removesuffix("\n").removesuffix("\r")
    return str(value)


def interactive() -> bool:
    """Whether a person can be asked: stdin is a terminal (a script is never kept
    waiting for an answer)."""
    return sys.stdin.isatty()
