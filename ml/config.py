"""The training configuration, read from YAML and validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

CANDIDATE_NAMES = ("linear_regression", "random_forest", "gradient_boosting", "xgboost")


class Gates(BaseModel):
    """Quality gates on the repeated-CV mean (``GateCV``): all must pass before an alias moves."""

    model_config = ConfigDict(extra="forbid")

    r2_min: float = 0.60
    mae_max: float = 25_000.0
    rmse_max: float = 30_000.0


class GateCV(BaseModel):
    """How the gates' estimate is made: repeated K-fold CV of the whole pipeline.

    Every outer fold re-runs the selection on its own training part (``selection``:
    ``family`` searches the chosen family's grid, ``all`` every candidate's, each with
    ``inner_folds``-fold CV), so the estimate is of the procedure, not of a choice made
    on the same rows. ``level`` is the confidence level of the Nadeau-Bengio corrected
    resampled t-interval reported beside each mean.
    """

    model_config = ConfigDict(extra="forbid")

    repeats: int = Field(default=3, ge=1)
    folds: int = Field(default=5, ge=2)
    inner_folds: int = Field(default=3, ge=2)
    selection: Literal["family", "all"] = "family"
    level: float = Field(default=0.90, gt=0.5, lt=1.0)


class PromotionLimits(BaseModel):
    """What a challenger replay may show before ``hpp promote`` refuses (unless forced)."""

    model_config = ConfigDict(extra="forbid")

    move_threshold: float = Field(default=0.05, gt=0.0)  # a price "moves" beyond this change
    max_moved_share: float = Field(default=0.30, ge=0.0, le=1.0)
    max_mean_change: float = Field(default=0.05, ge=0.0)  # |mean relative change|
    max_location_bias: float = Field(default=0.10, ge=0.0)  # |mean change| in any location
    min_location_rows: int = Field(default=10, ge=1)
    max_rmse_increase: float = Field(default=0.05, ge=0.0)  # where actual prices are known
    # Judge the movement limits beyond the market move measured on paired sale prices
    # (``ml.market_drift``) when at least ``auto_promotion.min_paired`` of them show one
    # whose ``drift_level`` interval excludes zero.
    explain_drift: bool = True
    drift_level: float = Field(default=0.95, gt=0.5, lt=1.0)


class AutoPromotion(BaseModel):
    """When the loop moves ``champion`` by itself, and when it moves it back.

    A challenger is promoted when at least ``min_paired`` houses with sale prices it never
    trained on show its absolute errors smaller than the champion's (one-sided Wilcoxon
    signed-rank, ``alpha``) and its replay report keeps within ``promotion`` limits (judged
    beyond the market drift those same prices measure, when ``explain_drift``). After
    a promotion, ``min_rollback_actuals`` new sale prices that break a training gate, or show
    the previous champion better (same test), bring the previous champion back.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    min_paired: int = Field(default=30, ge=5)
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5)
    min_rollback_actuals: int = Field(default=30, ge=5)


def _all_candidates_untuned() -> dict[str, dict[str, list[Any]]]:
    """Every candidate with an empty search grid: its default hyper-parameters only."""
    return {name: {} for name in CANDIDATE_NAMES}


class TrainConfig(BaseModel):
    """Everything that shapes a training run; logged with the run."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 42
    test_size: float = Field(default=0.2, gt=0.0, lt=0.5)
    cv_folds: int = Field(default=5, ge=2)
    interval_level: float = Field(default=0.90, gt=0.5, lt=1.0)
    # More folds make the calibration models closer to the final one (less over-coverage).
    calibration_folds: int = Field(default=10, ge=2)
    registered_model: str = "house-price"
    experiment: str = "house-price"
    gates: Gates = Field(default_factory=Gates)
    gate_cv: GateCV = Field(default_factory=GateCV)
    promotion: PromotionLimits = Field(default_factory=PromotionLimits)
    auto_promotion: AutoPromotion = Field(default_factory=AutoPromotion)
    candidates: dict[str, dict[str, list[Any]]] = Field(default_factory=_all_candidates_untuned)
    n_jobs: int = 1

    def model_post_init(self, context: Any) -> None:
        unknown = set(self.candidates) - set(CANDIDATE_NAMES)
        if unknown:
            raise ValueError(f"unknown candidates {sorted(unknown)}; known: {CANDIDATE_NAMES}")


def load_config(path: Path) -> TrainConfig:
    """Read and validate a YAML training config."""
    raw = yaml.safe_load(path.read_text()) or {}
    return TrainConfig.model_validate(raw)
