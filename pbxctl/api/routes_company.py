"""API handler for the company file: the same document as ``pbxctl export``."""

from __future__ import annotations

from aiohttp import web

from pbxctl.api.keys import QUERY, Handler
from pbxctl.api.requests import answer, services
from pbxctl.company.document import dump


async def export(request: web.Request) -> web.Response:
    """Everything a sysadmin describes, as JSON or as the YAML file itself (admins only:
    it maps the whole company)."""
    async with services(request) as s:
        document = await s.company.export()
    if request[QUERY].get("format") == "yaml":
        return web.Response(text=dump(document), content_type="application/yaml",
                            charset="utf-8")
    return answer(document)


HANDLERS: dict[tuple[str, str], Handler] = {("GET", "/api/v1/export"): export}
