"""What the application and each request carry, and the handler type, shared by the
route modules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from pbxctl.api.throttle import AuthThrottle
from pbxctl.services.audit import Actor
from pbxctl.settings import Settings

ENGINE = web.AppKey("engine", AsyncEngine)
SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", CollectorRegistry)
REQUESTS = web.AppKey("requests", Counter)
AUTH_FAILURES = web.AppKey("auth_failures", Counter)
THROTTLE = web.AppKey("throttle", AuthThrottle)
ACTOR = web.RequestKey("actor", Actor)
BODY = web.RequestKey("body", dict[str, Any])
QUERY = web.RequestKey("query", dict[str, str])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
