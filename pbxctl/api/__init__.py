"""The HTTP API served by ``pbxctl serve`` (aiohttp)."""
