"""``hpp gateway``: serve the app under uvicorn, one or several worker processes.

uvicorn's worker processes accept on a socket inherited from the parent, and on those
connections TCP_NODELAY is not set (uvicorn issue 3149): every keep-alive response then
waits ~40 ms for the client's delayed ACK. The protocol below sets it on every accepted
connection, whatever the worker count or event loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from functools import partial

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from gateway.main import create_app
from gateway.security import AccessPolicy, InsecureConfigError
from hpp.settings import AppSettings
from observability.logging import configure_logging

try:  # httptools is the faster parser; uvicorn[standard] brings it
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _BaseProtocol
except ImportError:  # pragma: no cover - depends on the install
    _BaseProtocol = H11Protocol  # type: ignore[assignment,misc]


class NoDelayHttpProtocol(_BaseProtocol):
    """uvicorn's HTTP protocol with TCP_NODELAY set on the accepted connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Disable Nagle's algorithm, then hand over to uvicorn."""
        set_nodelay(transport)
        super().connection_made(transport)


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Set TCP_NODELAY on a transport's socket, if it is a TCP socket."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def run_gateway(settings: AppSettings) -> None:
    """Serve the gateway on the configured host and port with ``web_workers`` processes."""
    configure_logging("gateway", settings.observability)
    try:
        AccessPolicy.from_settings(settings.gateway)  # fail here, clearly, not in a worker
    except InsecureConfigError as exc:
        print(f"hpp gateway: refusing to start: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    config = build_config(settings)
    server = uvicorn.Server(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()
    if config.workers == 1 and not server.started:
        raise SystemExit(3)


def build_app(settings: AppSettings) -> FastAPI:
    """The app for one worker process, with that process's logging configured."""
    configure_logging("gateway", settings.observability)
    silence_access_log()
    return create_app(settings)


def silence_access_log() -> None:
    """Drop uvicorn's access line: the observability middleware writes the canonical one.

    uvicorn logs access whenever ``uvicorn.access`` has handlers, and configure_logging
    gives it one; a second line per request would cost ~30 µs and say less.
    """
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False


def build_config(settings: AppSettings) -> uvicorn.Config:
    """The uvicorn configuration: our app factory, TCP_NODELAY protocol, no server header."""
    gateway = settings.gateway
    return uvicorn.Config(
        partial(build_app, settings),
        factory=True,
        host=gateway.host,
        port=gateway.port,
        workers=max(1, gateway.web_workers),
        http=NoDelayHttpProtocol,
        log_config=None,  # configure_logging owns the handlers
        access_log=False,  # see silence_access_log
        server_header=False,
        proxy_headers=True,
        timeout_keep_alive=75,  # longer than the ALB's 60 s idle timeout
    )
