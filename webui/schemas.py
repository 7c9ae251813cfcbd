"""What the gateway answers besides the contract's predictions and jobs: model cards, problems.

Jobs are read with the gateway's own models (``jobs.models``).

The UI reads these leniently (unknown keys are kept, optional ones may be missing) so a
newer gateway never breaks an older page.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())


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
    aliases: dict[str, dict[str, list[str]]] = Field(default_factory=dict)
    profile: dict[str, Any] | None = None
    feature_importances: dict[str, float] = Field(default_factory=dict)
    interval: IntervalCard = Field(default_factory=IntervalCard)
    holdout_sample: list[dict[str, float]] = Field(default_factory=list)


class FieldProblem(_Lenient):
    """One field's (or row's) complaint inside a problem document."""

    field: str | None = None
    message: str = "invalid"
    suggestion: str | None = None


class Problem(_Lenient):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str = "Error"
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)
