"""The gateway's route table, and which routes answer without a key by design."""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.routing import Route

# Routes that answer without a key, by design: liveness, readiness (also the Open Inference
# Protocol's, which probes call without a key), metrics, API docs.
OPEN_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/v2/health/live",
        "/v2/health/ready",
    }
)
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path template) the app serves: its OpenAPI operations and plain routes."""
    pairs = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method.upper() in HTTP_METHODS
    }
    pairs |= {
        (method, route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method in HTTP_METHODS
    }
    return sorted(pairs)


def fill(path: str, value: str) -> str:
    """The path with every ``{parameter}`` replaced by ``value``."""
    return re.sub(r"{[^}]+}", value, path)
