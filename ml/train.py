"""Candidates, cross-validated search, selection, the gates' estimate, hold-out and intervals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.inspection import permutation_importance
from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict, train_test_split

from ml.candidates import build_model, estimator_params, param_grid
from ml.card import CVEstimate, RelativeGate
from ml.config import TrainConfig
from ml.contract import FEATURE_COLUMNS, TARGET_COLUMN
from ml.evaluate import GateResult, apply_gates, interval_coverage, regression_metrics
from ml.gate_cv import Baseline, estimate_gates
from ml.intervals import IntervalModel, calibrate, conformal_quantile

__all__ = ["CandidateResult", "TrainingResult", "build_model", "train"]

Progress = Callable[[str], None]


@dataclass
class CandidateResult:
    """One candidate after its search: best parameters, CV score, hold-out metrics."""

    name: str
    params: dict[str, Any]
    cv_rmse: float
    holdout: dict[str, float]
    estimator: TransformedTargetRegressor = field(repr=False)


@dataclass
class TrainingResult:
    """The chosen model with everything needed to judge, log and serve it."""

    config: TrainConfig
    candidates: list[CandidateResult]
    best: CandidateResult
    metrics: dict[str, float]  # on the fixed hold-out: a report
    gates: list[GateResult]  # judged on the repeated-CV estimate
    intervals: IntervalModel
    interval_coverage: float
    # One radius for every house from the same residuals: the baseline intervals are judged by.
    single_log_radius: float
    importances: dict[str, float]
    test_frame: pd.DataFrame = field(repr=False)
    test_actual: np.ndarray = field(repr=False)
    test_predicted: np.ndarray = field(repr=False)
    rows: int = 0
    train_frame: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    train_actual: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    # The training rows' out-of-fold prices the intervals were calibrated on (card figures).
    train_out_of_fold: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    estimate: CVEstimate | None = None
    relative: RelativeGate | None = None
    holdout_gates: list[GateResult] = field(default_factory=list)  # the old rule, a report

    @property
    def passed(self) -> bool:
        """Whether every absolute gate passed and the relative gate did not fail."""
        return not self.failed_gates

    @property
    def failed_gates(self) -> list[str]:
        """The names of the gates that failed (``relative`` for a regression)."""
        failed = [g.name for g in self.gates if not g.passed]
        if self.relative is not None and self.relative.status == "failed":
            failed.append("relative")
        return failed


def train(
    frame: pd.DataFrame,
    config: TrainConfig,
    progress: Progress = print,
    *,
    baseline: Baseline | None = None,
    no_baseline: str = "no champion to compare with",
) -> TrainingResult:
    """Search every candidate, pick the best by CV RMSE, gate it on repeated CV (against
    ``baseline``, the champion's configuration, on the same folds), report the hold-out."""
    features, target = frame[list(FEATURE_COLUMNS)], frame[TARGET_COLUMN].to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=config.test_size, random_state=config.seed
    )
    folds = KFold(config.cv_folds, shuffle=True, random_state=config.seed)
    progress(f"split: {len(x_train):,} training rows, {len(x_test):,} hold-out rows")
    candidates = [
        _search(
            name,
            grid,
            x_train,
            y_train,
            x_test,
            y_test,
            config=config,
            folds=folds,
            progress=progress,
        )
        for name, grid in config.candidates.items()
    ]
    best = min(candidates, key=lambda c: c.cv_rmse)
    progress(f"best by CV RMSE: {best.name} {best.params}")
    selection = (
        {best.name: config.candidates[best.name]}
        if config.gate_cv.selection == "family"
        else dict(config.candidates)
    )
    estimate, relative = estimate_gates(
        features,
        target,
        config,
        selection=selection,
        baseline=baseline,
        no_baseline=no_baseline,
        progress=progress,
    )
    predicted = best.estimator.predict(x_test)
    metrics = regression_metrics(y_test, predicted)
    calibration = KFold(config.calibration_folds, shuffle=True, random_state=config.seed)
    out_of_fold = cross_val_predict(clone(best.estimator), x_train, y_train, cv=calibration)
    intervals = calibrate_intervals(
        x_train, y_train, out_of_fold, folds=calibration, level=config.interval_level
    )
    single = conformal_quantile(np.abs(np.log(y_train / out_of_fold)), config.interval_level)
    low, high = interval_bounds(intervals, x_test, predicted)
    coverage = interval_coverage(y_test, low, high)
    width = float(np.mean((high - low) / predicted))
    progress(f"interval: hold-out coverage {coverage:.3f}, mean width {width:.1%} of the price")
    return TrainingResult(
        config=config,
        candidates=candidates,
        best=best,
        metrics=metrics,
        gates=apply_gates(
            {m: e.mean for m, e in estimate.metrics.items()},
            config.gates,
            {m: (e.low, e.high) for m, e in estimate.metrics.items()},
        ),
        intervals=intervals,
        single_log_radius=single,
        interval_coverage=coverage,
        importances=_importances(best.estimator, x_test, y_test, config.seed),
        test_frame=x_test.reset_index(drop=True),
        test_actual=y_test,
        test_predicted=predicted,
        rows=len(frame),
        train_frame=x_train.reset_index(drop=True),
        train_actual=y_train,
        train_out_of_fold=out_of_fold,
        estimate=estimate,
        relative=relative,
        holdout_gates=apply_gates(metrics, config.gates),
    )


def _search(
    name: str,
    grid: dict[str, list[Any]],
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_test: pd.DataFrame,
    y_test: np.ndarray,
    *,
    config: TrainConfig,
    folds: KFold,
    progress: Progress,
) -> CandidateResult:
    search = GridSearchCV(
        build_model(name, config.seed),
        param_grid(grid) or [{}],
        cv=folds,
        scoring="neg_root_mean_squared_error",
        n_jobs=config.n_jobs,
        refit=True,
    )
    search.fit(x_train, y_train)
    params = estimator_params(search.best_params_)
    holdout = regression_metrics(y_test, search.best_estimator_.predict(x_test))
    cv_rmse = float(-search.best_score_)
    progress(
        f"  {name:<18} CV RMSE {cv_rmse:>9,.0f} | hold-out R² {holdout['r2']:.3f} "
        f"MAE {holdout['mae']:>8,.0f} RMSE {holdout['rmse']:>8,.0f} | {params}"
    )
    return CandidateResult(name, params, cv_rmse, holdout, search.best_estimator_)


def calibrate_intervals(
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    out_of_fold: np.ndarray,
    *,
    folds: KFold,
    level: float,
) -> IntervalModel:
    """Per-house conformal intervals from out-of-fold predictions (CV+ style), in log price.

    Every residual comes from a model that did not see that row, so the calibration
    holds on unseen data; log space makes the interval proportional to the price.
    """
    return calibrate(
        log_actual=np.log(y_train),
        log_predicted=np.log(out_of_fold),
        years=x_train["year_built"].to_numpy(dtype=np.float64),
        conditions=x_train["condition"].astype(str).to_numpy(),
        level=level,
        folds=folds,
    )


def interval_bounds(
    intervals: IntervalModel, frame: pd.DataFrame, predicted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each house's interval in dollars (``frame``: contract inputs, ``predicted``: prices)."""
    conditions = frame["condition"].astype(str).map(intervals.condition_effects).fillna(0.0)
    radius = intervals.log_radius(
        np.log(predicted),
        frame["year_built"].to_numpy(dtype=np.float64),
        conditions.to_numpy(dtype=np.float64),
    )
    return predicted * np.exp(-radius), predicted * np.exp(radius)


def _importances(
    estimator: TransformedTargetRegressor, x_test: pd.DataFrame, y_test: np.ndarray, seed: int
) -> dict[str, float]:
    """Permutation importance of each input on the hold-out, as shares summing to 1."""
    result = permutation_importance(
        estimator,
        x_test,
        y_test,
        n_repeats=5,
        random_state=seed,
        scoring="neg_root_mean_squared_error",
    )
    raw = np.clip(result.importances_mean, 0.0, None)
    total = raw.sum() or 1.0
    return {col: float(v / total) for col, v in zip(x_test.columns, raw, strict=True)}
