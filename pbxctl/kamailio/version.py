"""Which Kamailio an edge may run: the rendered files use only what Kamailio 5.6 (Debian
12's package) and later have (module functions and parameters, the uac module's uacreg
table at version 5); an older one is refused before anything is written."""

from __future__ import annotations

import re

from pbxctl.errors import ApplyError

OLDEST_SUPPORTED = (5, 6)
# core.version answers e.g. "kamailio 5.6.3 (x86_64/linux) "
_VERSION_RE = re.compile(r"kamailio (?P<major>[0-9]+)\.(?P<minor>[0-9]+)\.[0-9]+")


def check_supported(edge: str, core_version: object) -> str:
    """The version (``5.6.3``) a ``core.version`` answer names; :class:`ApplyError` when it
    is older than 5.6 or names none."""
    found = _VERSION_RE.search(core_version) if isinstance(core_version, str) else None
    if found is None:
        raise ApplyError(f"edge {edge}'s Kamailio answered core.version with "
                         f"{str(core_version)[:80]!r}, not a Kamailio version; "
                         "nothing was written")
    version = found.group(0).split()[1]
    if (int(found["major"]), int(found["minor"])) < OLDEST_SUPPORTED:
        oldest = ".".join(map(str, OLDEST_SUPPORTED))
        raise ApplyError(f"edge {edge} runs Kamailio {version}; its rendered configuration "
                         f"needs Kamailio {oldest} or later; nothing was written")
    return version
