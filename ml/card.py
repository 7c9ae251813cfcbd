"""The model card: what a served model is, how good it is, and what it knows.

One definition for everyone: training builds it (``ml.card_builder``), the registry stores it
as JSON beside the model, the ``Predictor`` holds it, ``GET /v1/model`` answers with it and
the web app reads it. This module imports only pydantic, the interval model and the gate
thresholds (no pandas, no scikit-learn), so the web app reads a card without loading the
training stack.

Cards stored by older versions lack some sections (profile, per-house intervals, untrained
categories); those fields are optional, so every registered version still loads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ml.intervals import IntervalModel
from ml.monitoring_report import GateThresholds


class _Section(BaseModel):
    # Fields named model_* are the card's own words, not pydantic's.
    model_config = ConfigDict(protected_namespaces=())


class DataSection(_Section):
    """The data a version was trained on."""

    path: str | None = None
    rows: int | None = None
    sha256: str | None = None
    holdout_rows: int | None = None
    version: dict[str, Any] | None = Field(
        default=None,
        description="The data version (ml.data_version.DataVersion): hash, rows by source, "
        "the feedback's date range; None for versions trained before it was recorded.",
    )


class GateResult(_Section):
    """One gate: the value judged, its threshold, and by how much it passed (or failed).

    For the gates of a repeated-CV estimate, ``value`` is the mean over the folds and
    ``low``/``high`` its confidence interval; ``straddles`` says the interval holds the
    threshold (the verdict, from the mean, is then less sure). Older cards judged one
    hold-out and have no interval.
    """

    name: str
    value: float
    threshold: float
    passed: bool
    margin: float
    low: float | None = None
    high: float | None = None
    straddles: bool = False


class MetricEstimate(_Section):
    """A metric's mean over the CV folds and its confidence interval."""

    mean: float
    low: float
    high: float


class CVEstimate(_Section):
    """Repeated K-fold CV of the whole pipeline, selection nested inside: what the gates judge."""

    method: str
    repeats: int
    folds: int
    inner_folds: int
    selection: str
    level: float
    rows: int
    metrics: dict[str, MetricEstimate]
    fold_metrics: dict[str, list[float]] = Field(
        default_factory=dict, description="Each outer fold's score, in fold order."
    )
    seconds: float | None = None


RelativeStatus = Literal["passed", "failed", "not_applicable"]


class RelativeGate(_Section):
    """The new version against the champion's configuration, refitted on the same folds.

    ``difference`` is new minus champion per metric, paired fold by fold, with the same
    corrected interval; the gate fails when a metric is worse beyond noise (the whole
    interval on the worse side).
    """

    status: RelativeStatus
    reason: str
    champion_version: str | None = None
    champion_model_type: str | None = None
    champion_params: dict[str, Any] = Field(default_factory=dict)
    champion: dict[str, MetricEstimate] = Field(default_factory=dict)
    difference: dict[str, MetricEstimate] = Field(default_factory=dict)
    worse: list[str] = Field(default_factory=list)


class GatesSection(GateThresholds):
    """The quality gates the model was held to, and whether it passed them.

    ``results`` are judged on ``estimate`` (repeated CV; on older cards, the hold-out);
    ``holdout`` is what the single 20 % hold-out would have said, kept as a report.
    ``passed`` needs every absolute gate and a relative gate that did not fail.
    """

    passed: bool | None = None
    results: list[GateResult] = Field(default_factory=list)
    failures: list[str] = Field(default_factory=list)
    estimate: CVEstimate | None = None
    relative: RelativeGate | None = None
    holdout: list[GateResult] = Field(default_factory=list)


class Candidate(_Section):
    """One candidate estimator after its search: CV score, hold-out metrics, parameters."""

    cv_rmse: float | None = None
    r2: float | None = None
    mae: float | None = None
    rmse: float | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class GroupCoverage(_Section):
    """The share of actual prices inside their intervals, and the intervals' mean width."""

    partition: str
    group: str
    houses: int
    coverage: float
    mean_width: float  # (high - low) / predicted price


class IntervalCard(_Section):
    """How intervals are made and how they held on houses they never saw, overall and by group.

    Versions trained before per-house intervals have one ``log_radius`` and no ``model``;
    versions trained before cross-fitted figures measured ``by_group`` on the hold-out and
    say nothing in ``by_group_measured_on``.
    """

    level: float
    method: str | None = None
    coverage: float | None = Field(default=None, description="Coverage on the hold-out.")
    mean_width: float | None = Field(default=None, description="Mean width on the hold-out.")
    single_log_radius: float | None = None  # what one radius for every house would have been
    log_radius: float | None = None
    model: IntervalModel | None = None
    by_group: list[GroupCoverage] = Field(default_factory=list)
    by_group_measured_on: str | None = Field(
        default=None, description="Which houses ``by_group`` was measured on, and how."
    )
    holdout_by_group: list[GroupCoverage] = Field(
        default_factory=list, description="The same table on the hold-out alone."
    )


class HoldoutPoint(_Section):
    """One held-out house: its sale price and what the model predicted."""

    actual: float
    predicted: float


class ModelCard(_Section):
    """The card of one model version (``GET /v1/model``)."""

    version: str | None = None  # None until the registry gives the version its number
    run_id: str | None = None
    name: str | None = None  # the registered model's name, set on load
    trained_at: str | None = None
    model_type: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    data: DataSection = Field(default_factory=DataSection)
    metrics: dict[str, float] = Field(default_factory=dict)
    gates: GatesSection = Field(default_factory=GatesSection)
    candidates: dict[str, Candidate] = Field(default_factory=dict)
    categories: dict[str, list[str]] = Field(default_factory=dict)
    untrained_categories: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="Categories of the data that the training split lacks, with their counts.",
    )
    aliases: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description="The spellings read as each category (ml/aliases.yaml as trained with).",
    )
    feature_importances: dict[str, float] = Field(default_factory=dict)
    interval: IntervalCard
    holdout_sample: list[HoldoutPoint] = Field(default_factory=list)
    profile: dict[str, Any] | None = Field(
        default=None,
        description="The training profile (ranges, bins, category counts; see ml.profile); "
        "None for versions trained before profiles, which then get no drift checks.",
    )
