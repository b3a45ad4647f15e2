"""Terminal escapes through --json and files on stdout (issue 11 review)."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest

from pbxctl.cli.output import emit_bytes, emit_file, emit_json

HOSTILE = "\x1b]0;x\x07 \x9b2J \u202eevil \u200b\u2028\x7f Казань"


def test_json_escapes_what_a_terminal_acts_on_and_stays_the_same_json(
        capsys: pytest.CaptureFixture[str]) -> None:
    emit_json({"name": HOSTILE})
    out = capsys.readouterr().out
    assert json.loads(out) == {"name": HOSTILE}
    assert not set("\x1b\x07\x9b\u202e\u200b\u2028\x7f") & set(out)
    assert r"\u009b2J" in out and r"\u202eevil" in out and "Казань" in out


class _Stdout(io.StringIO):
    """A stdout that says whether it is a terminal and has a byte buffer."""

    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal
        self.bytes_written = io.BytesIO()

    @property
    def buffer(self) -> io.BytesIO:
        return self.bytes_written

    def isatty(self) -> bool:
        return self.terminal

    def written(self) -> str:
        """All that reached it, as text or as bytes."""
        return self.bytes_written.getvalue().decode() + self.getvalue()


def _stdout(monkeypatch: pytest.MonkeyPatch, terminal: bool) -> _Stdout:
    stdout = _Stdout(terminal)
    monkeypatch.setattr(sys, "stdout", stdout)
    return stdout


@pytest.mark.parametrize("emit", [
    lambda text: emit_file(text, None, "rows"),
    lambda text: emit_bytes(text.encode()),
])
def test_a_file_on_a_terminal_shows_control_characters_escaped(
        monkeypatch: pytest.MonkeyPatch, emit: Any) -> None:
    stdout = _stdout(monkeypatch, terminal=True)
    emit("name\r\n" + HOSTILE + "\n")
    shown = r"\x1b]0;x\x07 \x9b2J \u202eevil \u200b\u2028\x7f Казань"
    assert stdout.written() == "name\n" + shown + "\n"


def test_a_file_into_a_pipe_keeps_its_exact_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "name\r\n" + HOSTILE + "\n"
    stdout = _stdout(monkeypatch, terminal=False)
    emit_file(text, None, "rows")
    emit_bytes(text.encode())
    assert stdout.written() == text + text
