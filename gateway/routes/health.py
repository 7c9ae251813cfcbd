"""Liveness, readiness and metrics: open to the load balancer and the scraper, no key."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from gateway.deps import HolderDep
from observability.metrics import metrics_response

router = APIRouter(tags=["health"])

BROKER_TIMEOUT_SECONDS = 0.5


class Liveness(BaseModel):
    """The process answers."""

    status: Literal["ok"] = "ok"


class ModelReadiness(BaseModel):
    """The model part of readiness: what is served and the last problem seen."""

    status: Literal["ready", "unavailable"]
    version: str | None
    loaded_at: str | None
    last_checked_at: str | None
    error: str | None


class BrokerReadiness(BaseModel):
    """The broker part (Redis): reported, but single predictions do not depend on it."""

    status: Literal["ok", "unreachable", "unconfigured"]
    latency_ms: float | None = None
    error: str | None = None


class Readiness(BaseModel):
    """Ready when a model is loaded; the broker is reported separately."""

    ready: bool
    model: ModelReadiness
    broker: BrokerReadiness


@router.get("/healthz", summary="Liveness")
async def healthz() -> Liveness:
    """Always ok while the process serves requests."""
    return Liveness()


@router.get(
    "/readyz",
    summary="Readiness: model loaded (broker reported separately)",
    responses={503: {"model": Readiness, "description": "No model is loaded yet."}},
)
async def readyz(request: Request, response: Response, holder: HolderDep) -> Readiness:
    """200 once a model serves; 503 before. The broker's state never changes the code."""
    status = holder.status()
    model = ModelReadiness(
        status="ready" if status.ready else "unavailable",
        version=status.version,
        loaded_at=status.loaded_at,
        last_checked_at=status.last_checked_at,
        error=status.last_error,
    )
    broker = await _ping_broker(request.app.state.redis)
    if not status.ready:
        response.status_code = 503
    return Readiness(ready=status.ready, model=model, broker=broker)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics() -> Response:
    """Every metric of this process in the Prometheus text format."""
    body, content_type = metrics_response()
    return Response(body, media_type=content_type)


async def _ping_broker(client: Any) -> BrokerReadiness:
    if client is None:
        return BrokerReadiness(status="unconfigured")
    started = time.perf_counter()
    try:
        async with asyncio.timeout(BROKER_TIMEOUT_SECONDS):
            await client.ping()
    except Exception as exc:  # any failure means "unreachable", never a 500
        return BrokerReadiness(status="unreachable", error=f"{type(exc).__name__}: {exc}"[:200])
    return BrokerReadiness(status="ok", latency_ms=round((time.perf_counter() - started) * 1e3, 2))
