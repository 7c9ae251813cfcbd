"""The one interface the gateway and the workers use to send metrics to CloudWatch.

``record(name, value, unit)`` never blocks and never raises; the sink aggregates and ships
in the background. ``build_sink`` picks the implementation from
``ObservabilitySettings.metrics_backend``: ``emf`` (log lines CloudWatch turns into
metrics), ``cloudwatch`` (batched ``PutMetricData``) or ``none``.

Async processes (the gateway) ``await sink.start()`` / ``await sink.stop()`` in their
lifespan (``ObservabilityMiddleware`` does it for you); sync processes (Celery worker
children) call ``start_sink_in_thread(sink)`` and the returned function on shutdown.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from core.settings import ObservabilitySettings

# CloudWatch metric names the code emits; dashboards.py and infra name only these.
REQUEST_COUNT = "RequestCount"
LATENCY = "Latency"
ERRORS_4XX = "4XXError"
ERRORS_5XX = "5XXError"
PREDICTIONS = "Predictions"
QUEUE_DEPTH = "QueueDepth"
BACKLOG_PER_WORKER = "BacklogPerWorker"
JOBS_FAILED = "JobsFailed"
ROWS_SCORED = "RowsScored"
LIVE_MAE = "LiveMAE"
LIVE_RMSE = "LiveRMSE"
LIVE_R2 = "LiveR2"
LIVE_COVERAGE = "LiveIntervalCoverage"
LIVE_GATE_BREACHED = "LiveGateBreached"
DRIFT_MAX_PSI = "DriftMaxPSI"
MODEL_ROLLBACKS = "ModelRollbacks"
MODEL_PROMOTIONS = "ModelPromotions"
RETRAINS_REQUESTED = "RetrainsRequested"


@runtime_checkable
class MetricsSink(Protocol):
    """Where CloudWatch metrics go: a non-blocking ``record`` plus start/stop."""

    def record(self, name: str, value: float, unit: str = "Count") -> None:
        """Add one sample (non-blocking, never raises)."""

    async def start(self) -> None:
        """Start background shipping (idempotent)."""

    async def stop(self) -> None:
        """Flush what is buffered and stop."""


class NullSink:
    """A sink that drops everything (metrics_backend = none)."""

    def record(self, name: str, value: float, unit: str = "Count") -> None:
        """Drop the sample."""

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


class MemorySink:
    """A sink that keeps every sample in a list (for tests and local inspection)."""

    def __init__(self) -> None:
        self.samples: list[tuple[str, float, str]] = []

    def record(self, name: str, value: float, unit: str = "Count") -> None:
        """Keep the sample."""
        self.samples.append((name, value, unit))

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    def names(self) -> set[str]:
        """The metric names recorded so far."""
        return {name for name, _, _ in self.samples}

    def total(self, name: str) -> float:
        """The sum of the samples recorded under ``name``."""
        return sum(value for recorded, value, _ in self.samples if recorded == name)


def build_sink(settings: ObservabilitySettings, *, service: str, environment: str) -> MetricsSink:
    """The sink ``settings.metrics_backend`` asks for, with dimensions Service and Environment."""
    if settings.metrics_backend == "emf":
        from observability.emf import EmfSink

        return EmfSink(
            namespace=settings.metrics_namespace,
            service=service,
            environment=environment,
            flush_seconds=settings.metrics_flush_seconds,
        )
    if settings.metrics_backend == "cloudwatch":
        from observability.cloudwatch import CloudWatchExporter

        return CloudWatchExporter.from_settings(settings, service=service, environment=environment)
    return NullSink()


def start_sink_in_thread(sink: MetricsSink) -> Callable[[], None]:
    """Run ``sink`` on its own event loop in a daemon thread; returns the stop function."""
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(sink.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="metrics-sink", daemon=True)
    thread.start()
    started.wait(timeout=30)

    def stop() -> None:
        future = asyncio.run_coroutine_threadsafe(sink.stop(), loop)
        future.result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

    return stop
