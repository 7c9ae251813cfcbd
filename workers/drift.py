"""A finished job's drift: PSI per feature of its valid rows against the training profile.

Each chunk counts its valid rows per profile bin as it is scored (``workers.summary``
keeps the counts in the chunk's stats); finalize adds the chunks' counts as it merges the
summary (``MergedStats``) and stores the report on the job record as ``drift`` (JSON), so
no step reads the result again. A model without a profile, or any failure here, leaves no
drift and never fails the job.
"""

from __future__ import annotations

from typing import Any

from jobs.models import JobRecord
from ml.profile import drift_report
from observability import metrics
from observability.logging import get_logger
from workers.context import WorkerContext
from workers.summary import MergedStats

log = get_logger("workers.drift")


def record_job_drift(
    ctx: WorkerContext, job_id: str, record: JobRecord, stats: MergedStats
) -> None:
    """Store the job's drift report (from the chunks' bin counts, added up) on its record."""
    try:
        report = job_drift(ctx, record, stats)
    except Exception as exc:  # drift is a report, never a reason to fail the job
        log.warning("job_drift_failed", job_id=job_id, error=repr(exc))
        return
    if report is None:
        return
    ctx.jobs.save_drift(job_id, report)
    psi = {feature: value["psi"] for feature, value in report["features"].items()}
    metrics.record_drift(psi, source="job", sink=ctx.sink)
    log.info("job_drift", job_id=job_id, max_psi=report["max_psi"], drifted=report["drifted"])


def job_drift(ctx: WorkerContext, record: JobRecord, stats: MergedStats) -> dict[str, Any] | None:
    """PSI per feature of the job's valid rows, or None when the model has no profile."""
    profile = ctx.predictor(record.model_version).card.profile
    if not profile:
        return None
    counts = stats.drift
    threshold = ctx.settings.core.drift_psi_threshold
    return drift_report(profile, counts, threshold=threshold) if counts else None
