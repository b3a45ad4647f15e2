"""What the application and each request carry, shared by the route modules."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.services.audit import Actor
from pbxctl.settings import Settings

ENGINE = web.AppKey("engine", AsyncEngine)
SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", CollectorRegistry)
REQUESTS = web.AppKey("requests", Counter)
ACTOR = web.RequestKey("actor", Actor)
BODY = web.RequestKey("body", dict[str, Any])
QUERY = web.RequestKey("query", dict[str, str])
