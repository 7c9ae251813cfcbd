"""ObservabilityMiddleware on a tiny FastAPI app: ids, trace context, metrics, one log line."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from observability.http import ObservabilityMiddleware, current_traceparent
from observability.sink import MemorySink
from tests.support.asgi import lifespan
from tests.support.logs import LogCapture

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
SERVICE = "http-test"


def build_app(sink: MemorySink | None = None) -> FastAPI:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def get_thing(thing_id: str, request: Request) -> dict[str, str | None]:
        request.state.api_key_name = "alice"
        request.state.model_version = "7"
        if request.state.metrics_sink is not None:
            request.state.metrics_sink.record("Predictions", 1)
        structlog.get_logger("handler").info("thing_read", thing_id=thing_id)
        return {
            "request_id": request.state.request_id,
            "traceparent": request.state.traceparent,
            "downstream": current_traceparent(),
        }

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            yield b"event: progress\n\n"
            await asyncio.sleep(0.3)
            yield b"event: end\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/bad")
    async def bad() -> JSONResponse:
        return JSONResponse({"title": "nope"}, status_code=422)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("kaput")

    sub = FastAPI()

    @sub.get("/pages/{name}")
    async def page(name: str) -> dict[str, str]:
        return {"name": name}

    async def raw_files(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("file")(scope, receive, send)

    app.mount("/ui", sub)
    app.mount("/static", raw_files)
    app.add_middleware(ObservabilityMiddleware, service=SERVICE, sink=sink)
    return app


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
async def client(sink: MemorySink) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(sink), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def requests_total(route: str, status: str, method: str = "GET") -> float:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


async def test_request_id_round_trips(client: httpx.AsyncClient, logs: LogCapture) -> None:
    response = await client.get("/things/1", headers={"X-Request-ID": "abc-123"})

    assert response.headers["x-request-id"] == "abc-123"
    assert response.json()["request_id"] == "abc-123"
    assert {line["request_id"] for line in logs.lines()} == {"abc-123"}


async def test_request_id_is_generated_when_absent_or_unsafe(client: httpx.AsyncClient) -> None:
    plain = await client.get("/things/1")
    unsafe = await client.get("/things/1", headers={"X-Request-ID": "x\ninjected: yes"})

    for response in (plain, unsafe):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert plain.headers["x-request-id"] != unsafe.headers["x-request-id"]


async def test_traceparent_trace_id_is_kept_and_propagated(
    client: httpx.AsyncClient, logs: LogCapture
) -> None:
    body = (await client.get("/things/1", headers={"traceparent": TRACEPARENT})).json()

    for outgoing in (body["traceparent"], body["downstream"]):
        version, trace_id, parent_id, _ = outgoing.split("-")
        assert (version, trace_id) == ("00", TRACE_ID)
        assert parent_id != "00f067aa0ba902b7"
    assert {line["trace_id"] for line in logs.lines()} == {TRACE_ID}


async def test_a_new_trace_starts_without_a_valid_traceparent(
    client: httpx.AsyncClient,
) -> None:
    body = (await client.get("/things/1", headers={"traceparent": "garbage"})).json()

    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", body["traceparent"])
    assert TRACE_ID not in body["traceparent"]


async def test_one_canonical_line_per_request(client: httpx.AsyncClient, logs: LogCapture) -> None:
    await client.get("/things/42", headers={"X-Request-ID": "req-42"})

    (line,) = logs.events("request")
    assert line["method"] == "GET"
    assert line["route"] == "/things/{thing_id}"
    assert line["path"] == "/things/42"
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["request_id"] == "req-42"
    assert line["api_key_name"] == "alice"
    assert line["model_version"] == "7"
    assert [line["event"] for line in logs.lines()] == ["thing_read", "request"]


async def test_requests_are_counted_by_route_template(client: httpx.AsyncClient) -> None:
    route = "/things/{thing_id}"
    before = requests_total(route, "200")
    before_unmatched = requests_total("unmatched", "404")
    duration_before = (
        REGISTRY.get_sample_value(
            "http_request_duration_seconds_count", {"route": route, "method": "GET"}
        )
        or 0.0
    )

    await client.get("/things/1")
    await client.get("/things/2")
    await client.get("/no/such/path/123")

    assert requests_total(route, "200") - before == 2
    assert requests_total("unmatched", "404") - before_unmatched == 1
    duration_after = REGISTRY.get_sample_value(
        "http_request_duration_seconds_count", {"route": route, "method": "GET"}
    )
    assert duration_after is not None
    assert duration_after - duration_before == 2
    assert REGISTRY.get_sample_value("http_requests_in_progress") == 0


async def test_mounted_apps_are_labelled_with_their_prefix(
    client: httpx.AsyncClient, logs: LogCapture
) -> None:
    await client.get("/ui/pages/home")
    await client.get("/static/css/site.css")

    assert [line["route"] for line in logs.events("request")] == [
        "/ui/pages/{name}",
        "/static/{path}",
    ]


async def test_streams_count_latency_to_the_first_byte_and_log_the_whole_duration(
    client: httpx.AsyncClient, logs: LogCapture, sink: MemorySink
) -> None:
    await client.get("/stream")

    (line,) = logs.events("request")
    assert line["latency_ms"] < line["duration_ms"]
    assert line["duration_ms"] >= 300
    (latency,) = [value for name, value, _ in sink.samples if name == "Latency"]
    assert latency == line["latency_ms"]


async def test_unhandled_errors_count_as_500_and_log_an_error(
    client: httpx.AsyncClient, logs: LogCapture
) -> None:
    before = requests_total("/boom", "500")

    response = await client.get("/boom")

    assert response.status_code == 500
    assert requests_total("/boom", "500") - before == 1
    (line,) = logs.events("request")
    assert (line["status"], line["level"], line["route"]) == (500, "error", "/boom")


async def test_sink_gets_request_count_latency_and_error_classes(
    client: httpx.AsyncClient, sink: MemorySink
) -> None:
    await client.get("/things/1")
    await client.get("/bad")
    await client.get("/boom")

    assert sink.total("RequestCount") == 3
    assert sink.total("Predictions") == 1  # handlers reach the sink through request.state
    assert sink.total("4XXError") == 1
    assert sink.total("5XXError") == 1
    latencies = [(v, unit) for name, v, unit in sink.samples if name == "Latency"]
    assert len(latencies) == 3
    assert all(unit == "Milliseconds" and value >= 0 for value, unit in latencies)


async def test_lifespan_starts_and_stops_the_sink() -> None:
    class TrackingSink(MemorySink):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        async def start(self) -> None:
            self.calls.append("start")

        async def stop(self) -> None:
            self.calls.append("stop")

    sink = TrackingSink()
    app = build_app(sink)
    async with lifespan(app):
        assert sink.calls == ["start"]
    assert sink.calls == ["start", "stop"]


async def test_context_does_not_leak_between_requests(
    client: httpx.AsyncClient, logs: LogCapture
) -> None:
    await client.get("/things/1", headers={"X-Request-ID": "first"})

    assert "request_id" not in structlog.contextvars.get_contextvars()
