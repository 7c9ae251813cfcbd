"""A webhook receiver for tests: records every POST and verifies its signature as a client would.

It answers 500 to the first ``fail_first`` posts (a receiver that is down for a while), then
200. Each delivery keeps its headers, raw body and whether the signature verified with the
receiver's secret (``jobs.notices.verify_signature``, the check the README tells receivers
to make).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from hpp.redis_server import free_port
from jobs.notices import SIGNATURE_HEADER, verify_signature
from tests.support.threaded_server import ThreadedServer


@dataclass
class Delivery:
    """One POST the receiver got."""

    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int


@dataclass
class Receiver:
    """The receiver's state: what it got, and how many posts it still fails."""

    secret: bytes
    fail_first: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, count: int, *, timeout: float = 120.0) -> list[Delivery]:
        """Wait until ``count`` posts have arrived; returns them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.deliveries) >= count:
                    return list(self.deliveries)
            time.sleep(0.1)
        raise AssertionError(f"{count} webhook posts expected, got {len(self.deliveries)}")

    async def receive(self, request: Request) -> Response:
        body = await request.body()
        signature = request.headers.get(SIGNATURE_HEADER, "")
        with self._lock:
            failing = len(self.deliveries) < self.fail_first
            answered = 500 if failing else 200
            self.deliveries.append(
                Delivery(
                    headers=dict(request.headers),
                    body=body,
                    verified=verify_signature(self.secret, body, signature),
                    answered=answered,
                )
            )
        return PlainTextResponse("down" if failing else "ok", status_code=answered)


@contextmanager
def webhook_receiver(secret: bytes, *, fail_first: int = 0) -> Iterator[Receiver]:
    """A receiver on a free loopback port (``Receiver.url`` is its hook URL)."""
    receiver = Receiver(secret=secret, fail_first=fail_first)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/hook", receiver.receive, methods=["POST"]),
            Route("/healthz", healthz),
        ]
    )
    server = ThreadedServer(app, free_port()).start()
    receiver.url = f"{server.url}/hook"
    try:
        yield receiver
    finally:
        server.stop()
