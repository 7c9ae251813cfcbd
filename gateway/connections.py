"""Connection limits under uvicorn: a cap on open connections and a deadline per phase.

uvicorn alone keeps a connection that never sends a request open forever, lets headers
and bodies trickle in at any speed, and accepts connections until the process runs out of
file descriptors. ``GuardedHttpProtocol`` (uvicorn's httptools protocol, subclassed):

- **headers**: a request's headers must be complete within ``header_timeout_seconds`` of
  the connection opening (or of the request's first byte on a kept-alive connection);
- **body**: while the app is reading, at least ``min_body_bytes_per_second`` must arrive
  over every ``body_timeout_seconds``, else the connection is closed (the app sees a
  disconnect); time the app itself is not reading does not count against the client;
- **idle**: between requests, uvicorn's keep-alive timeout (``keep_alive_seconds``);
- **count**: past ``max_connections``, the oldest connection still waiting for a request
  is closed to make room (an idle flood evicts itself, so /healthz still gets in); with
  none waiting, the new connection gets a 503 problem and is closed. Descriptors stay
  bounded whatever arrives.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter, OrderedDict
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from observability.logging import get_logger

log = get_logger("gateway.connections")


@dataclass(frozen=True)
class ConnectionLimits:
    """The per-process connection cap and the deadline of each phase of a request."""

    max_connections: int = 2_048
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 10.0
    min_body_bytes_per_second: int = 1_024


class _Waiting:
    """The connections of one server that are waiting for a request, oldest first."""

    def __init__(self) -> None:
        self.protocols: OrderedDict[int, GuardedHttpProtocol] = OrderedDict()
        self.evicted = 0
        self.shed = 0
        self.expired: Counter[str] = Counter()


_WAITING: dict[int, _Waiting] = {}  # by id(server_state): one per uvicorn server


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol with TCP_NODELAY, a connection cap and per-phase deadlines."""

    limits = ConnectionLimits()  # this process's, set by ``use_limits``

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Count the connection in; make room (or refuse) when the cap is reached."""
        set_nodelay(transport)
        super().connection_made(transport)
        self._waiting = _WAITING.setdefault(id(self.server_state), _Waiting())
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._body_bytes = 0
        self._await_request()
        if len(self.connections) > self.limits.max_connections and not self._evict_oldest():
            self._shed()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and its timers."""
        self._waiting.protocols.pop(id(self), None)
        self._cancel_timers()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """A request starts: its headers are now on the clock."""
        super().on_message_begin()
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout_seconds, self._expire, "header_timeout"
            )

    def on_headers_complete(self) -> None:
        """Headers in time: the connection is busy (not evictable); watch the body, if any."""
        self._cancel_timers()
        self._waiting.protocols.pop(id(self), None)
        super().on_headers_complete()
        if _has_body(self.headers):
            self._body_bytes = 0
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout_seconds, self._check_body_rate
            )

    def on_body(self, body: bytes) -> None:
        """Count the body's bytes for the rate check."""
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The body is in: no more rate checks for this request."""
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """The response went out: the connection waits for the next request (evictable)."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_request(timed=False)  # uvicorn's keep-alive timer is running

    def _await_request(self, *, timed: bool = True) -> None:
        self._waiting.protocols[id(self)] = self
        if timed:
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout_seconds, self._expire, "header_timeout"
            )

    def _check_body_rate(self) -> None:
        self._body_timer = None
        window = self.limits.body_timeout_seconds
        slow = self._body_bytes < self.limits.min_body_bytes_per_second * window
        if slow and not self.flow.read_paused and not self.transport.is_closing():
            self._expire("body_too_slow")
            return
        self._body_bytes = 0
        self._body_timer = self.loop.call_later(window, self._check_body_rate)

    def _expire(self, reason: str) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()
            self._waiting.expired[reason] += 1
            _log_every_thousandth(f"connection_{reason}", self._waiting.expired[reason])

    def _evict_oldest(self) -> bool:
        for key, protocol in self._waiting.protocols.items():
            if protocol is not self:
                del self._waiting.protocols[key]
                protocol.transport.close()
                self._waiting.evicted += 1
                _log_every_thousandth("connection_evicted", self._waiting.evicted)
                return True
        return False

    def _shed(self) -> None:
        self._waiting.protocols.pop(id(self), None)
        self._cancel_timers()
        self.transport.write(SHED_RESPONSE)
        self.transport.close()
        self._waiting.shed += 1
        _log_every_thousandth("connection_shed", self._waiting.shed)

    def _cancel_timers(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None


def use_limits(limits: ConnectionLimits) -> None:
    """Set the limits of every connection this process accepts from now on.

    Per process, not per class instance: uvicorn's worker processes import the protocol
    by name, and each sets its limits as it builds its app.
    """
    GuardedHttpProtocol.limits = limits


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Set TCP_NODELAY on a transport's socket, if it is a TCP socket.

    uvicorn's worker processes accept on an inherited socket without it (uvicorn issue
    3149): every keep-alive response would then wait ~40 ms for the client's delayed ACK.
    """
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _shed_response() -> bytes:
    body = json.dumps(
        {
            "type": "urn:hpp:problem:overloaded",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "The gateway is at its connection limit; retry shortly.",
            "instance": None,
        }
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 1\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


SHED_RESPONSE = _shed_response()


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


def _log_every_thousandth(event: str, count: int) -> None:
    # A flood makes thousands of these: one line per thousand keeps the log readable.
    if count % 1000 == 1:
        log.warning(event, total_in_this_process=count)
