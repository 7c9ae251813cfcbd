"""What the gateway answers besides the contract's predictions: jobs, model cards, problems.

The UI reads these leniently (unknown keys are kept, optional ones may be missing) so a
newer gateway never breaks an older page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# "deleted" only appears as the last event of a job deleted while someone watched it.
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "deleted"]
ACTIVE_STATUSES: frozenset[str] = frozenset({"queued", "running"})


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


class Job(_Lenient):
    """A batch scoring job as ``GET /v1/jobs/{id}`` describes it."""

    id: str
    status: JobStatus
    filename: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    rows_total: int | None = None
    rows_done: int = 0
    rows_failed: int = 0
    progress: float = 0.0
    rows_per_second: float | None = None
    eta_seconds: float | None = None
    model_version: str | None = None
    error: str | None = None
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def is_active(self) -> bool:
        """Whether the job may still change (queued or running)."""
        return self.status in ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish (or to now while running), if it has started."""
        if self.started_at is None:
            return None
        end = self.finished_at or datetime.now(tz=self.started_at.tzinfo)
        return max(0.0, (end - self.started_at).total_seconds())


class JobPage(_Lenient):
    """One page of the caller's jobs."""

    jobs: list[Job]
    next_cursor: str | None = None


class PriceBin(_Lenient):
    """One bar of a job's price histogram."""

    low: float
    high: float
    count: int


class RejectionReason(_Lenient):
    """A reason rows were rejected, and how many were."""

    reason: str
    count: int


class SummaryRow(_Lenient):
    """One result row as a preview shows it (``row`` 1 = the file's first data row)."""

    row: int
    values: list[str]


class JobSummary(_Lenient):
    """A finished job's counts, histogram, reasons and first rows (``/v1/jobs/{id}/summary``)."""

    rows: int
    priced: int
    rejected: int
    columns: list[str]
    columns_omitted: int = 0
    price_histogram: list[PriceBin] = Field(default_factory=list)
    reasons: list[RejectionReason] = Field(default_factory=list)
    preview: list[SummaryRow] = Field(default_factory=list)
    rejected_preview: list[SummaryRow] = Field(default_factory=list)


class Gates(_Lenient):
    """The quality gates the model was held to, and whether it passed them."""

    r2_min: float | None = None
    mae_max: float | None = None
    rmse_max: float | None = None
    passed: bool | None = None
    failures: list[str] = Field(default_factory=list)


class GroupCoverage(_Lenient):
    """How the intervals held on the hold-out for one group of houses."""

    partition: str
    group: str
    houses: int
    coverage: float
    mean_width: float


class IntervalCard(_Lenient):
    """How the model's intervals are made, and how they held on the hold-out."""

    level: float | None = None
    coverage: float | None = None
    mean_width: float | None = None
    method: str | None = None
    by_group: list[GroupCoverage] = Field(default_factory=list)


class ModelCard(_Lenient):
    """The serving model's card (``GET /v1/model``)."""

    version: str
    run_id: str | None = None
    trained_at: str | None = None
    model_type: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    gates: Gates = Field(default_factory=Gates)
    candidates: dict[str, dict[str, Any]] = Field(default_factory=dict)
    categories: dict[str, list[str]] = Field(default_factory=dict)
    untrained_categories: dict[str, dict[str, int]] = Field(default_factory=dict)
    profile: dict[str, Any] | None = None
    feature_importances: dict[str, float] = Field(default_factory=dict)
    interval: IntervalCard = Field(default_factory=IntervalCard)
    holdout_sample: list[dict[str, float]] = Field(default_factory=list)


class FieldProblem(_Lenient):
    """One field's (or row's) complaint inside a problem document."""

    field: str | None = None
    message: str = "invalid"


class Problem(_Lenient):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str = "Error"
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)
