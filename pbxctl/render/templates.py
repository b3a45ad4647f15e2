"""Jinja templates: packaged ones, overridable file by file from an operator's directory."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import jinja2

from pbxctl.errors import RenderError

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
TEMPLATE_FOLDERS = ("asterisk-conf", "dialplans", "kamailio", "provisioning")


def packaged_template_dirs() -> list[Path]:
    """Where the shipped templates are: inside the wheel, or the source checkout."""
    installed = [_PACKAGE_DIR / "_templates" / name for name in TEMPLATE_FOLDERS]
    if all(p.is_dir() for p in installed):
        return installed
    checkout = [_PACKAGE_DIR.parent / name for name in TEMPLATE_FOLDERS]
    if all(p.is_dir() for p in checkout):
        return checkout
    raise RenderError("packaged templates not found; the installation is incomplete")


ASTERISK_UNSAFE = "\r\n\x00;"   # what could start a new line or a comment in a .conf file
LINE_BREAKS = "\r\n\x00"        # a phone's file: XML escapes end in ';', lines may not break


def _safe_value(refused: str, value: Any) -> Any:
    """Refuse, at render time, any value holding one of ``refused``.

    Input validation already prevents this; this is the second line of defence. An
    escaped ``\\;`` (pbxctl's own URI parameters) is no comment in a .conf file.
    """
    text = "" if value is None else str(value)
    if any(c in text.replace("\\;", "") for c in refused):
        raise RenderError(f"refusing to render unsafe value {text!r}")
    return value


class TemplateSet:
    """The templates a render uses; an operator's directory shadows packaged files."""

    def __init__(self, override_dir: Path | None = None,
                 refused: str = ASTERISK_UNSAFE) -> None:
        search = packaged_template_dirs()
        if override_dir is not None:
            if not override_dir.is_dir():
                raise RenderError(f"template directory {override_dir} does not exist")
            search = [override_dir, *search]
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(p) for p in search]),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=partial(_safe_value, refused),
        )

    def render(self, name: str, **context: Any) -> str:
        """Render template ``name`` with ``context``; errors name the template."""
        try:
            return self._env.get_template(name).render(**context)
        except jinja2.TemplateNotFound:
            raise RenderError(f"template {name} not found") from None
        except RenderError:
            raise
        except Exception as exc:  # an operator's template can fail in any way
            raise RenderError(f"template {name}: {type(exc).__name__}: {exc}") from None
