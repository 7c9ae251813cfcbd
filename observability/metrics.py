"""Every Prometheus metric in one place, plus the helpers that also feed CloudWatch.

Names are snake_case with a unit suffix; labels are low-cardinality (route template,
method, status, model version, fixed enums), never a user, key or job id.

Many processes, one scrape: Prometheus multiprocess mode. The gateway may run several web
workers, and Celery scores in prefork *children* that a server in the parent process
cannot see; a port per process would also need one scrape target per child. So every
process started with ``PROMETHEUS_MULTIPROC_DIR`` (``multiprocess_env`` builds it; it must
be set before ``prometheus_client`` is imported, i.e. in the parent's environment) writes
its samples to that folder, and whoever serves ``/metrics`` (the gateway route via
``metrics_response``, or ``start_worker_metrics_server`` in a worker container) merges all
of them: locally (``hpp up``) one scrape of the gateway shows gateway and workers. On ECS
each task is its own host: Prometheus scrapes each task, and the cross-task view is
CloudWatch (EMF or PutMetricData, see ``sink.py``). Without the variable the default
single-process registry is used (tests, simple runs).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

from observability import sink as cw
from observability.sink import MetricsSink

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route template and method.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_IN_PROGRESS = Gauge(
    "http_requests_in_progress", "HTTP requests being served.", multiprocess_mode="livesum"
)
PREDICTIONS = Counter(
    "predictions_total",
    "Houses priced, by model version and source.",
    ["model_version", "source"],
)
ARM_PREDICTIONS = Counter(
    "arm_predictions_total",
    "Live houses priced, by the arm that answered (champion | challenger) and its version; "
    "the arms add up to the live share of predictions_total.",
    ["arm", "model_version"],
)
SHADOW_PREDICTIONS = Counter(
    "shadow_predictions_total",
    "Houses priced in shadow after the response (the arm that did not answer), by version.",
    ["model_version"],
)
JOBS_SUBMITTED = Counter("jobs_submitted_total", "Batch jobs accepted.")
JOBS_FINISHED = Counter("jobs_finished_total", "Batch jobs finished, by final status.", ["status"])
ROWS_SCORED = Counter("rows_scored_total", "Batch rows processed, by outcome.", ["outcome"])
CHUNK_DURATION = Histogram(
    "chunk_duration_seconds",
    "Time to validate, score and write one chunk.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
QUEUE_DEPTH = Gauge(
    "queue_depth",
    "Messages waiting in a broker queue.",
    ["queue"],
    multiprocess_mode="livemostrecent",
)
MODEL_INFO = Gauge(
    "model_info",
    "The model version being served (value 1).",
    ["version"],
    multiprocess_mode="livemax",
)
CLOUDWATCH_DATUMS_DROPPED = Counter(
    "cloudwatch_datums_dropped_total", "CloudWatch datums dropped because the buffer was full."
)
LIVE_ACCURACY = Gauge(
    "live_accuracy",
    "Live accuracy over the feedback window, by model version and metric "
    "(mae and rmse in dollars, r2, interval coverage as a ratio, n feedback rows).",
    ["model_version", "metric"],
    multiprocess_mode="mostrecent",
)
LIVE_GATE_BREACHED = Gauge(
    "live_gate_breached",
    "1 when live accuracy breaks the model's training gate, else 0.",
    ["model_version", "gate"],
    multiprocess_mode="mostrecent",
)
FEATURE_PSI = Gauge(
    "feature_psi",
    "Population stability index per feature vs training (live window or last job).",
    ["feature", "source"],
    multiprocess_mode="mostrecent",
)

ALIAS_MOVES = Counter(
    "model_alias_moves_total",
    "Registry alias moves by the loop or a person (action: challenger, promotion, rollback, "
    "manual).",
    ["action"],
)
RETRAINS = Counter(
    "retrains_requested_total",
    "Retrains requested, by trigger (accuracy, drift, schedule, manual).",
    ["trigger"],
)
RATE_LIMIT_FALLBACK = Counter(
    "rate_limit_fallback_total",
    "Requests whose rate limit was decided in-process because Redis was unreachable "
    "(the cluster-wide limit failing open to a per-process one).",
)
NOTICE_ATTEMPTS = Counter(
    "job_notice_attempts_total",
    "Completion-notice deliveries tried (channel: webhook, sns; outcome: delivered, "
    "retrying, gave_up, refused).",
    ["channel", "outcome"],
)

_served_versions: set[str] = set()
_prediction_children: dict[tuple[str, str], Counter] = {}
_arm_children: dict[tuple[str, str], Counter] = {}


def record_prediction(
    *, model_version: str, source: str, count: int = 1, sink: MetricsSink | None = None
) -> None:
    """Count ``count`` houses priced (source: single | batch | job)."""
    child = _prediction_children.get((model_version, source))
    if child is None:  # .labels() validates and locks on every call; keep the child
        child = _prediction_children[model_version, source] = PREDICTIONS.labels(
            model_version, source
        )
    child.inc(count)
    if sink is not None:
        sink.record(cw.PREDICTIONS, count, "Count")


def record_arm(*, arm: str, model_version: str, count: int = 1) -> None:
    """Count ``count`` live houses answered by ``arm`` (champion | challenger)."""
    child = _arm_children.get((arm, model_version))
    if child is None:
        child = _arm_children[arm, model_version] = ARM_PREDICTIONS.labels(arm, model_version)
    child.inc(count)


def record_shadow(*, model_version: str, count: int) -> None:
    """Count houses scored in shadow by ``model_version``."""
    SHADOW_PREDICTIONS.labels(model_version).inc(count)


def record_rate_limit_fallback() -> None:
    """Count a request whose rate limit was decided in-process (Redis unreachable)."""
    RATE_LIMIT_FALLBACK.inc()


def record_notice_attempt(*, channel: str, outcome: str) -> None:
    """Count one completion-notice delivery attempt and how it ended."""
    NOTICE_ATTEMPTS.labels(channel=channel, outcome=outcome).inc()


def record_job_submitted() -> None:
    """Count one accepted batch job."""
    JOBS_SUBMITTED.inc()


def record_job_finished(status: str, *, sink: MetricsSink | None = None) -> None:
    """Count one finished job (succeeded | failed | cancelled); failures go to JobsFailed."""
    JOBS_FINISHED.labels(status).inc()
    if sink is not None:
        sink.record(cw.JOBS_FAILED, 1 if status == "failed" else 0, "Count")


def record_rows(*, ok: int, rejected: int, sink: MetricsSink | None = None) -> None:
    """Count batch rows scored (ok) and rejected by validation; RowsScored counts ok rows."""
    if ok:
        ROWS_SCORED.labels("ok").inc(ok)
    if rejected:
        ROWS_SCORED.labels("rejected").inc(rejected)
    if sink is not None:
        sink.record(cw.ROWS_SCORED, ok, "Count")


def observe_chunk(seconds: float) -> None:
    """Record how long one chunk took."""
    CHUNK_DURATION.observe(seconds)


def record_backlog(
    *, queue: str, depth: int, workers: int, sink: MetricsSink | None = None
) -> None:
    """Publish a queue's depth, and depth per worker (the workers' autoscaling metric)."""
    QUEUE_DEPTH.labels(queue).set(depth)
    if sink is not None:
        sink.record(cw.QUEUE_DEPTH, depth, "Count")
        sink.record(cw.BACKLOG_PER_WORKER, depth / max(workers, 1), "Count")


def record_live_quality(
    *,
    model_version: str,
    metrics: dict[str, float | int | None],
    breached: dict[str, bool],
    sink: MetricsSink | None = None,
) -> None:
    """Publish a version's live MAE/RMSE/R²/coverage and which training gates it breaks."""
    for name in ("mae", "rmse", "r2", "coverage", "n"):
        value = metrics.get(name)
        if value is not None:
            LIVE_ACCURACY.labels(model_version, name).set(float(value))
    for gate, broken in breached.items():
        LIVE_GATE_BREACHED.labels(model_version, gate).set(1 if broken else 0)
    if sink is None:
        return
    for name, metric, unit in (
        ("mae", cw.LIVE_MAE, "None"),
        ("rmse", cw.LIVE_RMSE, "None"),
        ("r2", cw.LIVE_R2, "None"),
        ("coverage", cw.LIVE_COVERAGE, "None"),
    ):
        value = metrics.get(name)
        if value is not None:
            sink.record(metric, float(value), unit)
    sink.record(cw.LIVE_GATE_BREACHED, 1 if any(breached.values()) else 0, "Count")


def record_drift(
    psi: dict[str, float | None], *, source: str, sink: MetricsSink | None = None
) -> None:
    """Publish PSI per feature (source: live | job) and, to CloudWatch, the largest one."""
    for feature, value in psi.items():
        if value is not None:
            FEATURE_PSI.labels(feature, source).set(value)
    scores = [v for v in psi.values() if v is not None]
    if sink is not None and scores:
        sink.record(cw.DRIFT_MAX_PSI, max(scores), "None")


def record_alias_move(action: str, *, sink: MetricsSink | None = None) -> None:
    """Count one alias move; promotions and rollbacks also go to CloudWatch (rollback alarm)."""
    ALIAS_MOVES.labels(action).inc()
    if sink is None:
        return
    if action == "rollback":
        sink.record(cw.MODEL_ROLLBACKS, 1, "Count")
    elif action == "promotion":
        sink.record(cw.MODEL_PROMOTIONS, 1, "Count")


def record_retrain_requested(trigger: str, *, sink: MetricsSink | None = None) -> None:
    """Count one retrain request (after debouncing: one per episode)."""
    RETRAINS.labels(trigger).inc()
    if sink is not None:
        sink.record(cw.RETRAINS_REQUESTED, 1, "Count")


def set_model_version(version: str) -> None:
    """Mark ``version`` as the served model (model_info{version} 1, earlier ones 0)."""
    for previous in _served_versions - {version}:
        MODEL_INFO.labels(previous).set(0)
    MODEL_INFO.labels(version).set(1)
    _served_versions.add(version)


def metrics_response() -> tuple[bytes, str]:
    """The Prometheus exposition of every process (body, content type) for ``/metrics``."""
    return generate_latest(collector_registry()), CONTENT_TYPE_LATEST


def collector_registry() -> CollectorRegistry:
    """The registry to expose: all processes' files in multiprocess mode, else this one's."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def start_worker_metrics_server(port: int, *, host: str = "0.0.0.0") -> None:  # noqa: S104
    """Serve ``/metrics`` from a worker's main process (call once, before forking children)."""
    start_http_server(port, addr=host, registry=collector_registry())


def multiprocess_env(directory: Path) -> dict[str, str]:
    """Empty ``directory`` and return the environment that puts children in multiprocess mode."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return {MULTIPROC_ENV: str(directory)}


def mark_process_dead(pid: int) -> None:
    """Drop a dead process's live gauges (call from Celery's worker_process_shutdown)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
