"""The gateway's app factory: settings in, a wired FastAPI app out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import structlog
from fastapi import Depends, FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.middleware.cors import CORSMiddleware

from core.settings import AppSettings
from gateway.audit_log import open_audit_writer
from gateway.body_limit import BodyLimitMiddleware
from gateway.cluster_limits import cluster_limiters
from gateway.deps import get_caller
from gateway.errors import UnhandledErrorMiddleware, install_error_handlers
from gateway.experiment import Experiment, reusing_loader
from gateway.feedback_trust import FeedbackPolicy
from gateway.headers import SecurityHeadersMiddleware
from gateway.json_depth import JsonDepthMiddleware
from gateway.model_holder import ModelHolder
from gateway.model_versions import ModelVersions
from gateway.openapi import install_openapi
from gateway.prediction_log import open_prediction_log
from gateway.ratelimit import CallerLimits, RateLimiter
from gateway.routes import feedback, health, inference_v2, jobs, model, monitoring, predictions
from gateway.security import API_KEY_HEADER, AccessPolicy
from ml.predict import Predictor
from ml.registry import resolve_alias
from observability.http import ObservabilityMiddleware
from observability.metrics import set_model_version
from observability.sink import MetricsSink, build_sink

logger = structlog.get_logger("gateway")

API_DESCRIPTION = (
    "Real-time and batch house price predictions. Authenticate with the `X-API-Key` "
    "header. A key configured as a delegate (`HPP_DELEGATE_KEY_NAMES`, e.g. the web UI's) "
    "may act for one of its end users with `X-On-Behalf-Of: <id>` (1-64 of `A-Za-z0-9_-`): "
    "jobs, predictions and feedback then belong to that user alone; other keys get 403. "
    "Every prediction is appended to a tamper-evident audit trail (`hpp audit verify`). "
    "Errors are RFC 9457 problem details (`application/problem+json`)."
)

NO_FASTAPI_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def create_app(
    settings: AppSettings,
    *,
    predictor: Predictor | None = None,
    challenger: Predictor | None = None,
) -> FastAPI:
    """Build the gateway; its lifespan loads the champion (and challenger) unless given.

    Raises ``InsecureConfigError`` when no API keys are configured and open access is not
    allowed (open access needs ``allow_open_access`` and a loopback host).
    """
    policy = AccessPolicy.from_settings(settings.gateway)
    docs = settings.gateway.docs_enabled
    sink = build_sink(
        settings.observability, service="gateway", environment=settings.core.environment
    )
    app = FastAPI(
        title="House Price Predictor",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=partial(
            _lifespan, fixed_predictor=predictor, fixed_challenger=challenger, sink=sink
        ),
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        # Our own middleware does metrics, logs and trace ids; FastAPI's OpenTelemetry
        # hooks would only cost time per request (no OTel provider is configured).
        telemetry=NO_FASTAPI_TELEMETRY,
        # Starlette builds a trailing-slash redirect from the Host header (an open
        # redirect to any host a client names): the API's paths are exact instead.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.access_policy = policy
    app.state.rate_limits = _rate_limits(settings)
    app.state.feedback_policy = FeedbackPolicy.from_settings(settings.gateway)
    app.state.predictor_holder, app.state.challenger_holder = _build_holders(settings)
    app.state.experiment = Experiment(
        app.state.predictor_holder,
        app.state.challenger_holder,
        mode=settings.gateway.challenger_mode,
        weight=settings.gateway.ab_challenger_weight,
    )
    app.state.model_versions = ModelVersions(app.state.predictor_holder, _loader(settings))
    app.state.redis = None
    app.state.audit = None
    install_error_handlers(app)
    _include_routers(app)
    install_openapi(app)
    _add_middleware(app, settings, sink)
    return app


def _rate_limits(settings: AppSettings) -> CallerLimits:
    """Cluster-wide limits on Redis when there is one (and not turned off), else per process."""
    gateway = settings.gateway
    url = settings.core.redis_url
    if url is None or gateway.rate_limit_backend == "local":
        return CallerLimits(
            per_key=RateLimiter(gateway.rate_limit_per_minute),
            per_end_user=RateLimiter(gateway.rate_limit_per_end_user_per_minute),
        )
    per_key, per_end_user, close = cluster_limiters(
        url,
        per_key=gateway.rate_limit_per_minute,
        per_end_user=gateway.rate_limit_per_end_user_per_minute,
        lease_tokens=gateway.rate_limit_lease_tokens,
        lease_seconds=gateway.rate_limit_lease_seconds,
    )
    return CallerLimits(per_key=per_key, per_end_user=per_end_user, close=close)


def _include_routers(app: FastAPI) -> None:
    app.include_router(predictions.router)
    app.include_router(model.router)
    app.include_router(health.router)
    # The job routes read the caller themselves; this makes sure none is ever open.
    app.include_router(jobs.router, dependencies=[Depends(get_caller)])
    app.include_router(feedback.router)
    app.include_router(monitoring.router)
    app.include_router(inference_v2.router)
    app.include_router(inference_v2.health_router)


def _add_middleware(app: FastAPI, settings: AppSettings, sink: MetricsSink) -> None:
    # Added innermost first: the last one added sees the request first.
    gateway = settings.gateway
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(JsonDepthMiddleware, max_depth=gateway.max_json_depth)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=gateway.max_body_bytes,
        overrides={jobs.router.prefix: gateway.max_upload_bytes},
    )
    if gateway.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=gateway.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=[API_KEY_HEADER, "Content-Type", "Idempotency-Key", "Last-Event-ID"],
            expose_headers=["Retry-After", "Location"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    # It starts and stops the sink with the app (the prediction log records on it too).
    app.add_middleware(ObservabilityMiddleware, service="gateway", sink=sink)


def _loader(settings: AppSettings) -> Callable[[str], Predictor]:
    return partial(Predictor.load, tracking_uri=settings.core.resolved_tracking_uri())


def _build_holders(settings: AppSettings) -> tuple[ModelHolder, ModelHolder]:
    """The champion's holder and the challenger's (optional: its alias may be absent).

    Each loads a version the other already serves by taking its object, so a promotion
    (challenger becomes champion) swaps without a second load.
    """
    core = settings.core
    load = _loader(settings)
    holders: dict[str, ModelHolder] = {}

    def serving(role: str) -> Callable[[], Predictor | None]:
        return lambda: holders[role].current if role in holders else None

    def on_swap(previous: Predictor | None, current: Predictor) -> None:
        set_model_version(str(current.version))

    holders["champion"] = ModelHolder(
        model_name=core.registered_model,
        loader=reusing_loader(load, serving("challenger")),
        resolver=_resolver(settings, core.model_alias),
        on_swap=on_swap,
    )
    holders["challenger"] = ModelHolder(
        model_name=core.registered_model,
        loader=reusing_loader(load, serving("champion")),
        resolver=_resolver(settings, core.challenger_alias),
        optional=True,
    )
    return holders["champion"], holders["challenger"]


def _resolver(settings: AppSettings, alias: str) -> Callable[[], str | None]:
    core = settings.core
    return partial(
        resolve_alias,
        tracking_uri=core.resolved_tracking_uri(),
        name=core.registered_model,
        alias=alias,
    )


@asynccontextmanager
async def _lifespan(
    app: FastAPI,
    *,
    fixed_predictor: Predictor | None,
    fixed_challenger: Predictor | None,
    sink: MetricsSink,
) -> AsyncIterator[None]:
    settings: AppSettings = app.state.settings
    holder: ModelHolder = app.state.predictor_holder
    challenger: ModelHolder = app.state.challenger_holder
    _announce_access(app.state.access_policy, settings)
    pollers: list[asyncio.Task[None]] = []
    if fixed_predictor is not None:
        holder.install(fixed_predictor)
        if fixed_challenger is not None:
            challenger.install(fixed_challenger)
    else:
        await holder.load_initial(settings.core.champion_uri())
        seconds = settings.gateway.model_poll_seconds
        if seconds > 0:
            pollers.append(asyncio.create_task(holder.poll(seconds)))
        if settings.gateway.challenger_mode != "off":
            # In the background: the champion serves at once, a challenger joins when loaded.
            pollers.append(asyncio.create_task(_follow_challenger(challenger, seconds)))
    app.state.redis = _redis_client(settings.core.redis_url)
    app.state.prediction_log = open_prediction_log(app, sink)
    app.state.audit = open_audit_writer(settings.core)
    if app.state.audit is not None:
        app.state.audit.start()
    try:
        async with jobs.lifespan(app):
            yield
    finally:
        if app.state.audit is not None:  # SIGTERM: what is buffered is written, then closed
            await app.state.audit.stop()
        for poller in pollers:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        if app.state.redis is not None:
            await app.state.redis.aclose()
        await app.state.rate_limits.aclose()


async def _follow_challenger(holder: ModelHolder, poll_seconds: float) -> None:
    """Load the challenger alias's version now, then follow the alias (if polling)."""
    try:
        await holder.refresh()
    except Exception:  # a broken challenger must not take the gateway down
        logger.exception("challenger_refresh_failed")
    if poll_seconds > 0:
        await holder.poll(poll_seconds)


def _announce_access(policy: AccessPolicy, settings: AppSettings) -> None:
    if policy.open_access:
        logger.warning(
            "OPEN_ACCESS_ENABLED",
            message="The gateway answers requests WITHOUT an API key (loopback only). "
            "Configure HPP_API_KEYS before exposing it.",
            host=settings.gateway.host,
        )
    logger.info(
        "gateway_starting",
        keys=sorted(name for name, _ in policy.key_hashes),
        admin_keys=sorted(policy.admin_names),
        delegate_keys=sorted(policy.delegate_names),
        open_access=policy.open_access,
        model=settings.core.champion_uri(),
    )


def _redis_client(url: str | None) -> Any:
    if url is None:
        return None
    from redis.asyncio import Redis

    return Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
