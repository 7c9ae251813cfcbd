"""Upload size limits: 413 before reading an oversize declared body, or mid-stream; memory flat."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import psutil
import pytest

from tests.support.gateway_process import UPLOAD_LIMIT, GatewayProcess
from tests.support.houses import HEADER
from tests.support.keys import ALICE

BLOCK = b"9" * (1 << 20)


def _rss_mb(gateway: GatewayProcess) -> float:
    return psutil.Process(gateway.process.pid).memory_info().rss / 2**20


def test_declared_oversize_body_is_refused_before_it_is_sent(jobs_gateway: GatewayProcess) -> None:
    url = urlparse(jobs_gateway.url)
    request = (
        f"POST /v1/jobs HTTP/1.1\r\nHost: {url.netloc}\r\nX-API-Key: {ALICE['X-API-Key']}\r\n"
        f"Content-Type: text/csv\r\nContent-Length: {UPLOAD_LIMIT + 1}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)  # headers only: the body is never sent
        reply = sock.recv(65536).decode(errors="replace")

    assert reply.startswith("HTTP/1.1 413")
    assert "application/problem+json" in reply


@pytest.mark.slow
def test_streamed_body_is_cut_off_at_the_limit_without_growing_memory(
    jobs_gateway: GatewayProcess,
) -> None:
    sent = 0

    def body() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        nonlocal sent
        yield (HEADER + "\n").encode()
        while sent < 2 * UPLOAD_LIMIT:
            sent += len(BLOCK)
            yield BLOCK

    before = _rss_mb(jobs_gateway)
    response = httpx.post(
        f"{jobs_gateway.url}/v1/jobs",
        content=body(),
        timeout=120,
        headers={**ALICE, "Content-Type": "text/csv"},
    )
    after = _rss_mb(jobs_gateway)

    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert sent > UPLOAD_LIMIT
    assert after - before < 60  # a 300 MB stream did not land in memory


@pytest.mark.slow
def test_large_upload_streams_to_storage_with_flat_memory(jobs_gateway: GatewayProcess) -> None:
    size = 100 * (1 << 20)

    def body() -> Iterator[bytes]:
        yield b"not,a,house,file\n"
        for _ in range(size // len(BLOCK)):
            yield b"1,2,3,4\n" * (len(BLOCK) // 8)

    before = _rss_mb(jobs_gateway)
    response = httpx.post(
        f"{jobs_gateway.url}/v1/jobs",
        content=body(),
        timeout=120,
        headers={**ALICE, "Content-Type": "text/csv"},
    )
    after = _rss_mb(jobs_gateway)

    assert response.status_code == 202
    assert after - before < 60  # 100 MB went to the blob store, not into RAM
