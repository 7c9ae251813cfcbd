"""A flood of idle, slow-header and slow-body connections against a real ``hpp gateway``.

Loopback only, a bounded number of connections, and every loop ends by itself. The
gateway runs with a small cap (100 connections) and short deadlines (2 s) so the test is
quick; the mechanism is the one the defaults configure.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.batch_env import BatchEnv
from tests.support.gateway_process import GatewayProcess, start_gateway, stop_gateway
from tests.support.houses import HOUSE
from tests.support.keys import ALICE

FLOOD_DB = 3
MAX_CONNECTIONS = 100
TIMEOUT_SECONDS = 2.0
MIN_BODY_RATE = 100  # bytes per second
# A closed connection must be seen closed within its deadline plus this much slack (the
# timers fire on the event loop of a process sharing 2 cores with other tests).
SLACK_SECONDS = 6.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gateway(batch_env: BatchEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """``hpp gateway`` with a 100-connection cap and 2 s deadlines."""
    log = tmp_path_factory.mktemp("flood") / "gateway.log"
    started = start_gateway(
        batch_env.with_database(FLOOD_DB),
        log,
        HPP_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        HPP_HEADER_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        HPP_BODY_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
        HPP_MIN_BODY_BYTES_PER_SECOND=str(MIN_BODY_RATE),
        HPP_KEEP_ALIVE_SECONDS="3",
    )
    yield Gateway(started)
    stop_gateway(started)


class Gateway:
    """The gateway process under test."""

    def __init__(self, process: GatewayProcess) -> None:
        self.url = process.url
        self.port = int(process.url.rsplit(":", 1)[1])
        self.log_path = process.log_path
        self.pid = process.process.pid

    def open_descriptors(self) -> int:
        """How many file descriptors the process holds."""
        return len(os.listdir(f"/proc/{self.pid}/fd"))


async def test_an_idle_and_slow_flood_leaves_health_and_predictions_answering(
    gateway: Gateway,
) -> None:
    stop = asyncio.Event()
    flood = asyncio.create_task(_idle_flood(gateway.port, stop, connections=600))
    slow_headers = [asyncio.create_task(_slow_headers(gateway.port)) for _ in range(20)]
    slow_bodies = [asyncio.create_task(_slow_body(gateway.port)) for _ in range(20)]
    await asyncio.sleep(1.0)  # the flood is at the cap by now
    answers = []
    descriptors = []
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        for _ in range(10):
            answers.append((await http.get("/healthz")).status_code)
            predicted = await http.post("/v1/predict", json=HOUSE, headers=ALICE)
            answers.append(predicted.status_code)
            descriptors.append(gateway.open_descriptors())
            await asyncio.sleep(0.2)
    stop.set()
    opened = await flood
    header_lifetimes = await asyncio.gather(*slow_headers)
    body_lifetimes = await asyncio.gather(*slow_bodies)

    assert opened >= 3 * MAX_CONNECTIONS  # the flood really was three times the cap
    assert answers == [200] * 20
    assert max(descriptors) < MAX_CONNECTIONS + 100  # bounded by the cap, not by the flood
    assert max(header_lifetimes) < TIMEOUT_SECONDS + SLACK_SECONDS
    assert max(body_lifetimes) < TIMEOUT_SECONDS + SLACK_SECONDS
    assert "Traceback" not in gateway.log_path.read_text()


async def test_an_idle_connection_is_closed_after_the_header_deadline(gateway: Gateway) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), timeout=30) == b""  # closed, nothing sent
    writer.close()
    assert time.monotonic() - started < TIMEOUT_SECONDS + SLACK_SECONDS


async def test_a_kept_alive_connection_is_closed_after_the_idle_deadline(
    gateway: Gateway,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    await reader.readexactly(_content_length(head))
    started = time.monotonic()
    assert await asyncio.wait_for(reader.read(), timeout=30) == b""
    writer.close()
    assert time.monotonic() - started < 3 + SLACK_SECONDS


async def test_busy_connections_at_the_cap_shed_new_ones_with_503(gateway: Gateway) -> None:
    uploads = [asyncio.create_task(_steady_body(gateway.port)) for _ in range(MAX_CONNECTIONS)]
    await asyncio.sleep(1.0)  # all sent their headers: busy, not evictable
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        shed = await http.get("/healthz")
        answered = await asyncio.gather(*uploads)
        after = await http.get("/healthz")

    assert shed.status_code == 503
    assert shed.headers["retry-after"] == "1"
    assert shed.headers["content-type"] == "application/problem+json"
    assert shed.json()["type"] == "urn:hpp:problem:overloaded"
    assert after.status_code == 200
    assert set(answered) == {b"HTTP/1.1 422"}  # slow but steady uploads were all served


async def _idle_flood(port: int, stop: asyncio.Event, *, connections: int) -> int:
    """Open up to ``connections`` idle connections (then stop), holding them until ``stop``."""
    held: list[asyncio.StreamWriter] = []
    for _ in range(connections):
        if stop.is_set():
            break
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            continue
        held.append(writer)
    await stop.wait()
    for writer in held:
        writer.close()
    return len(held)


async def _slow_headers(port: int, *, seconds: float = 15.0) -> float:
    """Send a header a byte a second; returns how long the gateway kept the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
    return await _trickle(reader, writer, started, seconds)


async def _slow_body(port: int, *, seconds: float = 15.0) -> float:
    """Send a body a byte a second; returns how long the gateway kept the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /v1/predict HTTP/1.1\r\nHost: gateway\r\nX-API-Key: {ALICE['X-API-Key']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
    )
    started = time.monotonic()
    return await _trickle(reader, writer, started, seconds)


async def _steady_body(port: int, *, parts: int = 20) -> bytes:
    """A JSON body at 200 bytes a second (over the minimum rate); returns the status line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /v1/predict HTTP/1.1\r\nHost: gateway\r\nX-API-Key: {ALICE['X-API-Key']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {50 * parts + 2}\r\n\r\n[".encode()
    )
    for _ in range(parts):
        await asyncio.sleep(0.25)
        writer.write(b" " * 50)
        await writer.drain()
    writer.write(b"]")
    status = (await asyncio.wait_for(reader.readline(), timeout=30)).strip()
    writer.close()
    return status[:12]


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise AssertionError(f"no Content-Length in {head!r}")


async def _trickle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, started: float, seconds: float
) -> float:
    """One byte a second until the peer closes or ``seconds`` pass (then we close)."""
    deadline = started + seconds
    while time.monotonic() < deadline:
        try:
            writer.write(b"a")
            await writer.drain()
            if await asyncio.wait_for(reader.read(1024), timeout=1.0) == b"":
                break
            break  # any answer ends the trickle too
        except TimeoutError:
            continue
        except OSError:
            break
    writer.close()
    return time.monotonic() - started
