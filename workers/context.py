"""What a worker process holds for its lifetime: settings, stores, its metrics sink, models.

Each worker process builds its own when it starts (``WorkerContext.start``, from the
``worker_process_init`` signal that ``workers.tasks.ContextStep`` connects for the app) and
hands it to the app's step tasks; nothing reaches for it through a module global.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit.writer import AuditTrail, open_trail
from core.settings import AppSettings
from jobs.outbox import NoticePolicy
from jobs.store import JobStore
from jobs.sync_blobs import SyncBlobStore
from observability.sink import MetricsSink, build_sink, start_sink_in_thread
from workers.model_cache import ModelCache

if TYPE_CHECKING:
    from ml.predict import Predictor


@dataclass
class WorkerContext:
    """Per-process state: the stores, the metrics sink and the models loaded, by version."""

    settings: AppSettings
    jobs: JobStore
    blobs: SyncBlobStore
    models: ModelCache
    audit: AuditTrail | None = None
    sink: MetricsSink | None = None  # None: metrics go to Prometheus only
    # Queues notice tasks for ``hpp notifier`` (set where a Celery app exists; None: none).
    notify: Callable[[list[tuple[str, str]]], None] | None = None
    _stop_sink: Callable[[], None] | None = None

    @classmethod
    def open(cls, settings: AppSettings) -> WorkerContext:
        """Connect to Redis (lazily, on first command) and the blob store; no metrics sink."""
        if not settings.core.redis_url:
            raise RuntimeError("HPP_REDIS_URL is not set: workers need Redis")
        jobs = JobStore.from_url(
            settings.core.redis_url,
            ttl_seconds=settings.worker.result_ttl_seconds,
            notices=NoticePolicy.from_settings(settings.core),
        )
        blobs = SyncBlobStore.open(settings.core.resolved_blob_url())
        return cls(
            settings=settings,
            jobs=jobs,
            blobs=blobs,
            models=ModelCache(settings.core),
            audit=_open_audit(settings),
        )

    @classmethod
    def start(cls, settings: AppSettings) -> WorkerContext:
        """A worker process's context: ``open``, plus a metrics sink running in a thread."""
        ctx = cls.open(settings)
        ctx.sink = build_sink(
            settings.observability, service="worker", environment=settings.core.environment
        )
        ctx._stop_sink = start_sink_in_thread(ctx.sink)
        return ctx

    def predictor(self, version: str) -> Predictor:
        """The model of ``version``, loaded once per process (``models``)."""
        return self.models(version)

    def preload_champion(self) -> str | None:
        """Load the version ``champion`` points at now; returns it (None if none)."""
        from ml.registry import resolve_alias

        core = self.settings.core
        version = resolve_alias(
            tracking_uri=core.resolved_tracking_uri(),
            name=core.registered_model,
            alias=core.model_alias,
        )
        if version is not None:
            self.predictor(version)
        return version

    def close(self) -> None:
        """Release connections (the audit stream is marked closed, the sink flushed)."""
        if self.audit is not None:
            self.blobs.run(self.audit.close())
        if self._stop_sink is not None:
            self._stop_sink()
            self._stop_sink = None
        self.blobs.close()
        self.jobs.close()


def _open_audit(settings: AppSettings) -> AuditTrail | None:
    core = settings.core
    if not core.audit_enabled:
        return None
    return open_trail(
        core.resolved_audit_url(),
        service="worker",
        key=core.audit_key_bytes(),
        rotate_bytes=core.audit_rotate_bytes,
    )
