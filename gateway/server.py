"""``hpp gateway``: serve the app under uvicorn, one or several worker processes.

Connections go through ``gateway.connections.GuardedHttpProtocol``: TCP_NODELAY on every
accepted connection (uvicorn issue 3149), a cap on open connections and a deadline for
each phase of a request, so no client can hold the process's descriptors or its time.
"""

from __future__ import annotations

import logging
import resource
import sys
from functools import partial

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from core.settings import AppSettings, GatewaySettings
from gateway.connections import ConnectionLimits, GuardedHttpProtocol, use_limits
from gateway.main import create_app
from gateway.security import AccessPolicy, InsecureConfigError
from observability.logging import configure_logging, get_logger

log = get_logger("gateway.server")
# Descriptors kept free for what is not a client connection: Redis, files, the registry.
SPARE_DESCRIPTORS = 256


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
    use_limits(connection_limits(settings.gateway))
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
    """The uvicorn configuration: our app factory, the guarded protocol, no server header."""
    gateway = settings.gateway
    return uvicorn.Config(
        partial(build_app, settings),
        factory=True,
        host=gateway.host,
        port=gateway.port,
        workers=max(1, gateway.web_workers),
        http=GuardedHttpProtocol,
        log_config=None,  # configure_logging owns the handlers
        access_log=False,  # see silence_access_log
        server_header=False,
        proxy_headers=True,
        timeout_keep_alive=gateway.keep_alive_seconds,  # longer than the ALB's idle timeout
    )


def connection_limits(gateway: GatewaySettings) -> ConnectionLimits:
    """The connection limits from the settings, the cap fitted to the descriptor limit."""
    return ConnectionLimits(
        max_connections=fit_descriptor_limit(gateway.max_connections),
        header_timeout_seconds=gateway.header_timeout_seconds,
        body_timeout_seconds=gateway.body_timeout_seconds,
        min_body_bytes_per_second=gateway.min_body_bytes_per_second,
    )


def fit_descriptor_limit(max_connections: int) -> int:
    """Raise this process's descriptor limit to fit the cap, or lower the cap to fit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = max_connections + SPARE_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < needed:
        raised = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    if soft != resource.RLIM_INFINITY and soft < needed:
        fitted = max(1, soft - SPARE_DESCRIPTORS)
        log.warning(
            "max_connections_lowered",
            configured=max_connections,
            used=fitted,
            reason=f"the descriptor limit is {soft}",
        )
        return fitted
    return max_connections
