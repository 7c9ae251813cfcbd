"""Live monitoring: accuracy from reported sale prices, drift, and a job's drift report."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from redis.exceptions import RedisError

from gateway.deps import CallerDep, get_caller
from gateway.errors import ProblemError
from gateway.experiment_report import experiment_section
from gateway.live_quality import own_quality, snapshot
from gateway.loop_hooks import after_drift, trigger_history
from gateway.monitoring_store import MonitoringStore
from gateway.openapi import problem_responses
from gateway.prediction_log import monitoring_store, prediction_log
from ml.monitoring_report import DriftReport, JobDrift, MonitoringReport

router = APIRouter(
    prefix="/v1/monitoring",
    tags=["monitoring"],
    dependencies=[Depends(get_caller)],
    responses=problem_responses(401, 429, 503),
)


@router.get("", summary="Live accuracy, interval coverage and drift")
async def get_monitoring(request: Request, caller: CallerDep) -> MonitoringReport:
    """Live MAE/RMSE/R²/coverage per model version vs its gates, PSI of live traffic.

    `accuracy` and `drift` are system-wide (`accuracy` from trusted feedback only);
    `own_accuracy` is the caller's own feedback when it does not move the shared figures
    (`feedback_scope: own`); `held_feedback` counts implausible reports held for review;
    `experiment` is the champion-vs-challenger trial: mode, houses per arm, and the paired
    errors of both versions on the same houses (trusted feedback only).
    """
    store = require_store(request)
    predictor = request.app.state.predictor_holder.current
    card = None if predictor is None else predictor.card
    trusted = request.app.state.feedback_policy.trusts(caller)
    await prediction_log(request.app).flush()
    try:
        report = await snapshot(
            store,
            version=None if predictor is None else str(predictor.version),
            card=card,
            threshold=request.app.state.settings.core.drift_psi_threshold,
            sink=getattr(request.state, "metrics_sink", None),
            scope="shared" if trusted else "own",
            own=[] if trusted else await own_quality(store, caller.owner, card=card),
            held=await store.held_count(),
        )
        report.experiment = await experiment_section(
            store,
            request.app.state.experiment,
            accuracy=[q.model_dump() for q in report.accuracy],
        )
        triggers = await trigger_history(store.client)
    except (RedisError, OSError) as exc:
        raise unavailable() from exc
    report.triggers = triggers
    after_drift(
        request.app,
        version=report.model_version,
        report=None if report.drift is None else report.drift.model_dump(),
    )
    return report


@router.get("/jobs/{job_id}", summary="A job's drift against the training data")
async def job_drift(request: Request, caller: CallerDep, job_id: str) -> JobDrift:
    """PSI per feature of the job's rows (computed by the worker when the job finished)."""
    jobs = getattr(request.app.state, "jobs", None)
    if jobs is None:
        raise unavailable()
    try:
        record = await jobs.store.get(job_id, owner=caller.owner)
    except (RedisError, OSError) as exc:
        raise unavailable() from exc
    if record is None:
        raise ProblemError(404, f"No job {job_id!r} for this API key.", kind="not-found")
    return JobDrift(
        job_id=job_id,
        status=record.status,
        model_version=record.model_version or None,
        drift=None if record.drift is None else DriftReport.model_validate(record.drift),
    )


def require_store(request: Request) -> MonitoringStore:
    """The monitoring store, or a 503 problem when the gateway has no Redis."""
    store = monitoring_store(request.app)
    if store is None:
        raise unavailable()
    return store


def unavailable() -> ProblemError:
    return ProblemError(
        503,
        "Monitoring needs Redis, which is not configured or not reachable.",
        kind="monitoring-unavailable",
        title="Monitoring unavailable",
        headers={"Retry-After": "5"},
    )
