"""In-process HTTP clients of an ASGI app."""

from __future__ import annotations

from typing import Any

import httpx


def asgi_client(app: Any) -> httpx.AsyncClient:
    """An httpx client bound to an ASGI app (server errors come back as 500 responses)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")
