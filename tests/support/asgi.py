"""In-process HTTP clients of an ASGI app."""

from __future__ import annotations

from typing import Any

import httpx
from asgi_lifespan import LifespanManager


def asgi_client(app: Any) -> httpx.AsyncClient:
    """An httpx client bound to an ASGI app (server errors come back as 500 responses)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def lifespan(app: Any) -> LifespanManager:
    """The app's startup and shutdown, with room for a loaded machine (the default 5 s is not:
    a gateway start that loads a model took longer than that on 2 busy cores)."""
    return LifespanManager(app, startup_timeout=60, shutdown_timeout=30)
