"""Pure-ASGI middleware: request ids, trace context, request metrics, one log line per request.

For each HTTP request it reads (or makes) ``X-Request-ID`` and the W3C ``traceparent``,
binds ``request_id``/``trace_id`` into structlog's context for everything logged while the
request runs, returns ``X-Request-ID``, counts the request in Prometheus under its route
*template* (``/v1/jobs/{job_id}``, or ``unmatched``) and, when a sink is given, in
CloudWatch (RequestCount, Latency, 4XXError, 5XXError), then writes one ``request`` line.
Latency is the time to the response's start (like the ALB's TargetResponseTime), so
long streams (SSE progress, CSV downloads) do not count as slow requests; the log line's
``duration_ms`` is the whole exchange.

Handlers add to that line by setting ``request.state.api_key_name``,
``request.state.on_behalf_of`` (the opaque end-user id a delegate key acts for) and
``request.state.model_version`` (or binding them with structlog contextvars). The outgoing
trace context for downstream calls is ``request.state.traceparent`` (or
``current_traceparent()``); the sink is ``request.state.metrics_sink`` (None without one), for
``metrics.record_prediction(..., sink=request.state.metrics_sink)``. On the ASGI lifespan
it starts and stops the sink, so ``app.add_middleware(ObservabilityMiddleware,
service="gateway", sink=sink)`` is all the wiring an app needs.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog
from prometheus_client.metrics import Counter, Histogram
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from observability import metrics
from observability import sink as cw
from observability.sink import MetricsSink

REQUEST_ID_HEADER = b"x-request-id"
TRACEPARENT_HEADER = b"traceparent"
UNMATCHED = "unmatched"
QUIET_ROUTES = ("/healthz", "/readyz", "/metrics")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SAFE_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")

log = structlog.get_logger("observability.http")

RouteResolver = Callable[[Scope], str | None]


class ObservabilityMiddleware:
    """Request ids, trace context, metrics and the canonical request log line."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        route_resolver: RouteResolver | None = None,
        sink: MetricsSink | None = None,
        quiet_routes: Iterable[str] = QUIET_ROUTES,
    ) -> None:
        self.app = app
        self.service = service
        self.route_resolver = route_resolver or route_template
        self.sink = sink
        self.quiet_routes = frozenset(quiet_routes)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan" and self.sink is not None:
            await self.app(scope, self._lifespan_receive(receive), self._lifespan_send(send))
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        request_id, trace_id, traceparent = _ids(scope["headers"])
        state = scope.setdefault("state", {})
        state["request_id"], state["traceparent"] = request_id, traceparent
        state["metrics_sink"] = self.sink
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)
        status, started_response = 500, 0.0
        header = (REQUEST_ID_HEADER, request_id.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], time.perf_counter()
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        metrics.HTTP_IN_PROGRESS.inc()
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            metrics.HTTP_IN_PROGRESS.dec()
            end = time.perf_counter()
            self._finish(scope, state, status, (started_response or end) - start, end - start)
            structlog.contextvars.reset_contextvars(**tokens)

    def _finish(
        self, scope: Scope, state: dict[str, Any], status: int, latency: float, total: float
    ) -> None:
        route = self.route_resolver(scope) or UNMATCHED
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        counter, histogram = self._metric_children(route, method, status)
        counter.inc()
        histogram.observe(latency)
        latency_ms = round(latency * 1000, 3)
        if self.sink is not None:
            self.sink.record(cw.REQUEST_COUNT, 1, "Count")
            self.sink.record(cw.LATENCY, latency_ms, "Milliseconds")
            self.sink.record(cw.ERRORS_4XX, 1 if 400 <= status < 500 else 0, "Count")
            self.sink.record(cw.ERRORS_5XX, 1 if status >= 500 else 0, "Count")
        api_key_name, model_version = state.get("api_key_name"), state.get("model_version")
        if "api_key_name" not in state or "model_version" not in state:
            context = structlog.contextvars.get_contextvars()  # copies the whole context
            api_key_name = state.get("api_key_name", context.get("api_key_name"))
            model_version = state.get("model_version", context.get("model_version"))
        emit = (
            log.debug if route in self.quiet_routes else (log.error if status >= 500 else log.info)
        )
        emit(
            "request",
            method=scope["method"],
            route=route,
            path=scope["path"],
            status=status,
            duration_ms=round(total * 1000, 3),
            latency_ms=latency_ms,
            api_key_name=api_key_name,
            on_behalf_of=state.get("on_behalf_of"),
            model_version=model_version,
        )

    def _metric_children(self, route: str, method: str, status: int) -> tuple[Counter, Histogram]:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (
                metrics.HTTP_REQUESTS.labels(route, method, str(status)),
                metrics.HTTP_REQUEST_DURATION.labels(route, method),
            )
            self._children[key] = children
        return children

    def _lifespan_receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and self.sink is not None:
                await self.sink.start()
            return message

        return wrapped

    def _lifespan_send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown") and self.sink is not None:
                await self.sink.stop()
            await send(message)

        return wrapped


def route_template(scope: Scope) -> str | None:
    """The matched route's path template (``/v1/jobs/{job_id}``), including mount prefixes."""
    root_path = scope.get("root_path", "")
    mounted = root_path[len(scope.get("app_root_path", root_path)) :]  # prefixes of mounts
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None or isinstance(route, Mount):
        # FastAPI records no route for a mounted app without routes (static files, say).
        return f"{mounted}/{{path}}" if mounted else None
    return f"{mounted}{path}"


def current_traceparent() -> str | None:
    """The W3C traceparent for calls made while handling the current request."""
    context = structlog.contextvars.get_contextvars()
    trace_id = context.get("trace_id")
    return f"00-{trace_id}-{os.urandom(8).hex()}-01" if trace_id else None


def _ids(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str, str]:
    request_id = incoming_trace = None
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            candidate = value.decode("latin-1")
            request_id = candidate if _SAFE_ID.fullmatch(candidate) else None
        elif name == TRACEPARENT_HEADER:
            incoming_trace = _TRACEPARENT.fullmatch(value.decode("latin-1").strip().lower())
    fresh = os.urandom(40).hex()  # one syscall: span id, trace id, request id as needed
    if incoming_trace and incoming_trace.group(1) != "0" * 32:
        trace_id, flags = incoming_trace.group(1), incoming_trace.group(3)
    else:
        trace_id, flags = fresh[16:48], "01"
    traceparent = f"00-{trace_id}-{fresh[:16]}-{flags}"
    return request_id or fresh[48:], trace_id, traceparent
