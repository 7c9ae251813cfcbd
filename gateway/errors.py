"""RFC 9457 problem details: one response shape for every 4xx and 5xx the gateway sends."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.problem import FieldError, Problem
from core.text import clip
from ml.contract import describe_errors

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:hpp:problem:"
# Open Inference Protocol routes: their clients (tritonclient, the kserve SDK) read an error
# as a JSON body with an "error" member, and kserve only from ``application/json``.
INFERENCE_PROTOCOL_PREFIX = "/v2"
CLIENT_CLOSED_REQUEST = 499

logger = structlog.get_logger("gateway.errors")


class ProblemError(StarletteHTTPException):
    """An HTTP error raised anywhere in the gateway and rendered as problem details."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        kind: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)
        self.kind = kind
        self.title = title
        self.errors = errors


class ProblemResponse(JSONResponse):
    """A JSON response with the problem details media type."""

    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    status: int,
    *,
    detail: str | None = None,
    kind: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem details response; ``kind`` names the problem type (``about:blank`` if none).

    Every text that may echo the request (detail, instance, each error) is cut to a bounded
    length, so a huge field name or path cannot make a huge answer. On the Open Inference
    Protocol's routes it also carries the protocol's ``error`` member and is sent as
    ``application/json``.
    """
    problem = Problem(
        type=f"{PROBLEM_TYPE_BASE}{kind}" if kind else "about:blank",
        title=title or _phrase(status),
        status=status,
        detail=clip(detail) if detail is not None else None,
        instance=clip(instance) if instance is not None else None,
        errors=[FieldError.model_validate(_clipped(error)) for error in errors or []],
    )
    body = problem.model_dump(exclude=None if errors is not None else {"errors"})
    for error in body.get("errors") or []:
        if error.get("suggestion") is None:  # only a near-miss category carries one
            del error["suggestion"]
    if instance is not None and _inference_protocol(instance):
        body["error"] = detail or problem.title
        return JSONResponse(body, status_code=status, headers=headers)
    return ProblemResponse(body, status_code=status, headers=headers)


def _inference_protocol(path: str) -> bool:
    return path == INFERENCE_PROTOCOL_PREFIX or path.startswith(f"{INFERENCE_PROTOCOL_PREFIX}/")


async def send_problem(scope: Scope, receive: Receive, send: Send, status: int, **kw: Any) -> None:
    """Send a problem response straight from ASGI middleware."""
    response = problem_response(status, instance=scope.get("path"), **kw)
    await response(scope, receive, send)


class TrackedSend:
    """An ASGI ``send`` that remembers whether the response has started.

    Middleware that answers an exception with a problem can only do so before the
    response started; after that the exception must go on up.
    """

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        """Pass the message on, noting the response's start."""
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


def install_error_handlers(app: FastAPI) -> None:
    """Render HTTP errors, validation errors and unexpected exceptions as problem details."""
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(RedisError, _broker_error)  # type: ignore[arg-type]
    app.add_exception_handler(ClientDisconnect, _client_gone)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected_error)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if not isinstance(exc, ProblemError):
        headers = exc.headers
        allowed = allowed_methods(request) if exc.status_code == 405 else []
        if allowed:
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        return problem_response(
            exc.status_code, detail=detail, instance=request.url.path, headers=headers
        )
    return problem_response(
        exc.status_code,
        detail=detail,
        kind=exc.kind,
        title=exc.title,
        instance=request.url.path,
        errors=exc.errors,
        headers=exc.headers,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI document names for the request's path (HEAD with GET).

    Starlette's 405 names only the first route whose path matched, but one path is often
    served by several routes (``GET`` and ``DELETE /v1/jobs/{id}``): ``Allow`` lists all.
    """
    table: list[tuple[re.Pattern[str], set[str]]] | None = getattr(
        request.app.state, "allow_table", None
    )
    if table is None:
        table = [
            (re.compile(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path))), set(item))
            for path, item in request.app.openapi()["paths"].items()
        ]
        request.app.state.allow_table = table
    methods = {
        m.upper() for pattern, item in table if pattern.fullmatch(request.url.path) for m in item
    }
    return sorted(methods | ({"HEAD"} if "GET" in methods else set()))


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    raw = list(exc.errors())
    invalid_json = next((err for err in raw if err.get("type") == "json_invalid"), None)
    if invalid_json is not None:
        reason = (invalid_json.get("ctx") or {}).get("error") or invalid_json.get("msg")
        return problem_response(
            400,
            kind="malformed-json",
            title="Malformed JSON",
            detail=f"The request body is not valid JSON: {reason}.",
            instance=request.url.path,
        )
    errors = [{"field": e["field"], "message": e["message"]} for e in describe_errors(raw)]
    fields = ", ".join(sorted({str(e["field"]) for e in errors}))
    return problem_response(
        422,
        kind="validation",
        title="Invalid request",
        detail=f"{len(errors)} field(s) failed validation: {fields}.",
        instance=request.url.path,
        errors=errors,
    )


async def _client_gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
    # The client left (or was closed for sending too slowly) mid-body: nobody reads this
    # answer; its status (nginx's 499) only labels the request's log line and metrics.
    return problem_response(
        CLIENT_CLOSED_REQUEST,
        title="Client Closed Request",
        detail="The client closed the connection before its request was read.",
        instance=request.url.path,
    )


async def _broker_error(request: Request, exc: RedisError) -> JSONResponse:
    # Redis down or its connections all busy: expected under load, so no traceback.
    logger.warning("broker_error", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
    return problem_response(
        503,
        kind="broker-unavailable",
        title="Broker unavailable",
        detail="The job broker (Redis) is unreachable or busy; single predictions still work.",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to the log only; the client learns nothing about internals.
    logger.error("unhandled_error", method=request.method, path=request.url.path, exc_info=exc)
    return problem_response(500, instance=request.url.path, **_INTERNAL)


class UnhandledErrorMiddleware:
    """Turns any exception that escaped the routes into a 500 problem, logged, not leaked.

    It sits inside the other middleware, so the metrics, the access log and the security
    headers see an ordinary 500 response rather than an exception.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; on an unexpected exception, answer 500 if nothing was sent yet."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = TrackedSend(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            logger.error(
                "unhandled_error", method=scope.get("method"), path=scope.get("path"), exc_info=exc
            )
            if tracked.started:
                raise
            await send_problem(scope, receive, send, 500, **_INTERNAL)


_INTERNAL: dict[str, Any] = {
    "kind": "internal",
    "detail": "An unexpected error occurred; it has been logged.",
}


def _clipped(error: dict[str, Any]) -> dict[str, Any]:
    return {k: clip(v) if isinstance(v, str) else v for k, v in error.items()}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
