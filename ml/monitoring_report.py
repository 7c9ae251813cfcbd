"""What live monitoring reports: accuracy per model version against its gates, and drift.

The shapes of ``GET /v1/monitoring`` and ``GET /v1/monitoring/jobs/{id}``. The gateway
builds them (``gateway.live_quality``) from the pure functions of ``ml.monitoring`` and
``ml.profile``; the web app reads them. Beside the contract in ``ml/`` because ``ml``
computes every figure in them and everyone may import ``ml``; this module imports only
pydantic, so the web app reads a report without loading pandas or scikit-learn.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Below this many rows a PSI measures the sample's noise, not the population: a single
# house lands in one bin per feature and "drifts" everything. Reported, never flagged.
MIN_DRIFT_ROWS = 100

GateStatus = Literal["ok", "breached", "insufficient"]
Scope = Literal["shared", "own"]


class _Report(BaseModel):
    model_config = ConfigDict(protected_namespaces=())  # model_version is ours


class LiveMetrics(_Report):
    """MAE, RMSE, R², interval coverage and bias (mean predicted - actual) of a window."""

    n: int
    mae: float | None = None
    rmse: float | None = None
    r2: float | None = None
    coverage: float | None = None
    bias: float | None = None


class GateCheck(_Report):
    """One training gate against the live value."""

    threshold: float
    value: float | None
    status: GateStatus


class GateVerdict(_Report):
    """Every training gate against the live metrics (``unknown`` when the gates are not known)."""

    status: Literal["ok", "breached", "insufficient", "unknown"]
    breached: list[str] = Field(default_factory=list)
    gates: dict[str, GateCheck] = Field(default_factory=dict)
    min_feedback: int | None = None


class GateThresholds(_Report):
    """The hold-out gates a version was trained to meet (None: not gated on that metric)."""

    r2_min: float | None = None
    mae_max: float | None = None
    rmse_max: float | None = None


class VersionGates(_Report):
    """The training gates and interval level of one version, as live monitoring judges it."""

    gates: GateThresholds | None = None
    level: float | None = None


class VersionQuality(_Report):
    """Live accuracy of one model version's feedback window, judged against its gates."""

    model_version: str
    scope: Scope
    window: int = Field(description="How many of the newest reported prices are kept.")
    metrics: LiveMetrics
    gates: GateVerdict
    interval_level: float | None = None
    coverage_status: Literal["ok", "low", "unknown"]
    newest_at: str | None = None
    oldest_at: str | None = None


class FeatureDrift(_Report):
    """The population stability index of one feature."""

    psi: float | None
    drifted: bool
    rows: int


class DriftReport(_Report):
    """PSI per feature against the training profile, and which features drifted."""

    threshold: float
    min_rows: int = MIN_DRIFT_ROWS
    enough_rows: bool = True
    rows: int
    max_psi: float | None = None
    drifted: list[str] = Field(default_factory=list)
    features: dict[str, FeatureDrift] = Field(default_factory=dict)


class ReplayVersion(_Report):
    """One side of a challenger replay."""

    version: str


class ReplaySource(_Report):
    """What a replay re-scored (a job or the hold-out) and how many rows it compared."""

    model_config = ConfigDict(extra="allow")

    kind: str | None = None
    rows: int
    rows_compared: int


class ReplayMover(_Report):
    """A house whose price moved the most between champion and challenger."""

    model_config = ConfigDict(extra="allow")

    row: int
    location: str | None = None
    champion: float
    challenger: float
    change: float


class ReplayVerdict(_Report):
    """Whether the challenger keeps within the promotion limits, and which it breaks."""

    passed: bool
    failures: list[str] = Field(default_factory=list)
    limits: dict[str, Any] = Field(default_factory=dict)
    judged_beyond_drift: bool = False  # the movement limits judged beyond the market drift
    failures_as_is: list[str] = Field(
        default_factory=list, description="What the replay broke before the drift explained it."
    )


class ReplayDrift(_Report):
    """The market drift a replay was judged against (``ml.market_drift.MarketDrift``)."""

    n: int
    change: float | None = None
    low: float | None = None
    high: float | None = None
    level: float
    significant: bool
    applied: bool
    explained_change: float | None = None


class ChallengerReport(_Report):
    """The latest ``hpp compare`` report (``ml.replay``); further sections pass through."""

    model_config = ConfigDict(extra="allow")

    generated_at: str
    champion: ReplayVersion
    challenger: ReplayVersion
    source: ReplaySource
    move_threshold: float
    moved_share: float
    mean_change: float
    biggest_movers: list[ReplayMover] = Field(default_factory=list)
    drift: ReplayDrift | None = None
    verdict: ReplayVerdict


class TriggerEvent(BaseModel):
    """One line of the trigger history."""

    at: float
    kind: str
    action: Literal["requested", "started", "finished", "failed", "episode_ended"]
    reason: str
    model_version: str | None = None
    outcome: dict[str, Any] | None = None


class MonitoringReport(_Report):
    """``GET /v1/monitoring``: live accuracy per version, drift, the latest replay.

    ``accuracy`` and ``drift`` are system-wide (``accuracy`` from trusted feedback only);
    ``own_accuracy`` is the caller's own feedback when it does not move the shared figures.
    """

    model_version: str | None
    accuracy: list[VersionQuality]
    drift: DriftReport | None
    drift_available: bool
    challenger: ChallengerReport | None
    feedback_scope: Scope
    own_accuracy: list[VersionQuality] = Field(default_factory=list)
    held_feedback: int = Field(description="Implausible reports held for review, not counted.")
    # The champion-vs-challenger trial (``gateway.experiment_report``), not yet typed.
    experiment: dict[str, Any] | None = None
    # Retrain requests, starts and outcomes, newest first (``jobs.triggers``).
    triggers: list[TriggerEvent] = Field(default_factory=list)


class JobDrift(_Report):
    """``GET /v1/monitoring/jobs/{id}``: a job's drift, computed by the worker at its end."""

    job_id: str
    status: str | None
    model_version: str | None
    drift: DriftReport | None
