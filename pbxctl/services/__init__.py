"""Business rules and validation, one module per aggregate; no click, no aiohttp here."""
