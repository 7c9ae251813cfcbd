"""An APIRoute that calls its endpoint with the Request alone, skipping dependency solving.

For hot endpoints declared as ``async def endpoint(request: Request) -> Response`` that do
their own checks: FastAPI would still build a sub-response, parse query, headers and
cookies and walk an empty dependency tree on every call. Exception handlers, OpenAPI and
route matching are unchanged. If the route (or a router including it) declares any
dependency or parameter, the standard handler is used, so nothing is ever skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response


class DirectRoute(APIRoute):
    """Calls ``endpoint(request)`` and returns its Response when it needs nothing else."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The endpoint itself when it takes only the Request, else FastAPI's handler."""
        standard = super().get_route_handler()
        if not _request_only(_effective_dependant(self)):
            return standard
        return self.endpoint


def _effective_dependant(route: APIRoute) -> Dependant | None:
    # An included route is built under an "effective" context carrying the including
    # routers' dependencies (FastAPI >= 0.16x); without that hook, the route's own.
    context_var = getattr(routing, "_effective_route_context_var", None)
    context = context_var.get() if context_var is not None else None
    if context is not None and getattr(context, "original_route", None) is route:
        return getattr(context, "dependant", None)
    return route.dependant


def _request_only(dependant: Dependant | None) -> bool:
    if dependant is None:
        return False
    return (
        dependant.request_param_name is not None
        and not dependant.dependencies
        and not dependant.path_params
        and not dependant.query_params
        and not dependant.header_params
        and not dependant.cookie_params
        and not dependant.body_params
        and dependant.websocket_param_name is None
        and dependant.response_param_name is None
        and dependant.background_tasks_param_name is None
        and dependant.security_scopes_param_name is None
    )
