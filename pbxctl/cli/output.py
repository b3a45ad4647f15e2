"""Printing: tables for people, JSON for scripts; data on stdout, messages on stderr."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

# C0 and C1 controls (ESC, BEL, CR, CSI …) but LF, zero-width characters and marks, bidi
# overrides and isolates, line and paragraph separators, BOM: what could move the cursor,
# retitle the window or hide text.
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029"
                         r"\u202a-\u202e\u2066-\u2069\ufeff]")


# What JSON may carry raw but a terminal would act on or hide: DEL, C1 controls (U+009B
# is CSI), zero-width characters and marks, line/paragraph separators, bidi controls, BOM.
_JSON_HIDDEN_RE = re.compile(r"[\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e"
                             r"\u2066-\u2069\ufeff]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: every control character but LF is shown as
    its escape (``\\x1b``), so data from outside (Master.csv, AMI, a node's files) cannot
    send escape sequences."""
    return _CONTROL_RE.sub(lambda found: ascii(found.group())[1:-1], text)


def json_text(data: Any) -> str:
    """``data`` as indented JSON; other non-ASCII text stays readable, but characters a
    terminal would act on or hide are written as ``\\uXXXX`` escapes (still the same JSON)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return _JSON_HIDDEN_RE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json_text(data))


def emit_table(rows: Sequence[dict[str, Any]], columns: Sequence[str],
               empty: str = "nothing to show") -> None:
    """Print rows as an aligned text table; a note on stderr when there are none."""
    if not rows:
        note(empty)
        return
    cells = [[printable(str(row.get(col, "") if row.get(col) is not None else ""))
              .replace("\n", "\\n") for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    header = (col.upper().ljust(w) for col, w in zip(columns, widths, strict=True))
    click.echo("  ".join(header).rstrip())
    for row in cells:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def emit_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool,
              empty: str = "nothing to show") -> None:
    """A listing: JSON when asked, a table otherwise."""
    if as_json:
        emit_json(list(rows))
    else:
        emit_table(rows, columns, empty)


def note(message: str) -> None:
    """A message for the person at the terminal (stderr, so pipes carry only data)."""
    click.echo(printable(message), err=True)


def warn_missed(missed: Sequence[object]) -> None:
    """A warning for each change a branch's standby node missed (it was down)."""
    for miss in missed:
        note(f"WARNING: {miss}")


def emit_counts(counts: dict[str, int], as_json: bool) -> None:
    """What an import did: JSON on stdout, or one line for the person at the terminal."""
    if as_json:
        emit_json(counts)
    else:
        note(", ".join(f"{value} {key}" for key, value in counts.items()) + ".")


def emit_file(text: str, output: Path | None, what: str) -> None:
    """A CSV or other text file: to ``output`` (with a note of how many ``what`` rows it
    has below its header) or to stdout."""
    if output is None:
        click.echo(for_stdout(text, sys.stdout.isatty()), nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        note(f"Wrote {text.count(chr(10)) - 1} {what} to {output}.")


def for_stdout(text: str, terminal: bool) -> str:
    """A file's ``text`` as stdout gets it: exact for a file or pipe; on a terminal with
    control characters shown as escapes (and CRLF line ends as plain ones)."""
    return printable(text.replace("\r\n", "\n")) if terminal else text


def emit_bytes(data: bytes) -> None:
    """A UTF-8 file (CSV, JSON report) on stdout: exact bytes for a file or pipe, shown
    safely on a terminal (see :func:`for_stdout`)."""
    if sys.stdout.isatty():
        click.echo(for_stdout(data.decode("utf-8", "replace"), True), nl=False)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def read_input_file(path: Path) -> str:
    """A UTF-8 (BOM tolerated) text file, or stdin for ``-``; a clear usage error if not."""
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None


def comma_list(text: str | None) -> tuple[str, ...] | None:
    """``a, b,c`` as ``("a", "b", "c")``; None stays None (the option was not given)."""
    if text is None:
        return None
    return tuple(part.strip() for part in text.split(",") if part.strip())
