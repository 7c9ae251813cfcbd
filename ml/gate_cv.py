"""The gates' estimate: repeated K-fold CV of the whole pipeline, selection nested inside.

One 20 % hold-out of ~2,900 houses moves RMSE by ~2K between splits, so a 30K gate decided
on it is decided by luck about as often as by merit. Here each of ``repeats x folds``
outer folds runs the whole procedure on its training part (features, preprocessing and
the hyper-parameter search of ``gate_cv.selection``, with its own inner CV) and scores the
rows it left out: the mean estimates how the procedure does on unseen houses, and the
selection cannot flatter it (it never sees the rows it is scored on).

The interval is the Nadeau-Bengio corrected resampled t-interval (Nadeau & Bengio 2003;
Bouckaert & Frank 2004 for repeated K-fold): fold scores are not independent (their
training parts overlap), so the plain t-interval would be far too narrow; the correction
adds ``n_test / n_train`` to the ``1 / J`` of the mean's variance.

The relative gate refits the champion's configuration (family and hyper-parameters from
its card) on the very same folds. Per-fold differences, new minus champion, get the same
corrected interval, and a metric whose whole interval lies on the worse side is a
regression beyond noise: the gate fails, however well the absolute gates pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from sklearn.compose import TransformedTargetRegressor
from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid, RepeatedKFold

from ml.candidates import configured_model, estimator_params, param_grid
from ml.card import CVEstimate, MetricEstimate, RelativeGate
from ml.config import CANDIDATE_NAMES, TrainConfig
from ml.evaluate import regression_metrics

METRICS = ("r2", "mae", "rmse")
HIGHER_IS_BETTER = {"r2": True, "mae": False, "rmse": False}
Grid = dict[str, list[Any]]


@dataclass(frozen=True)
class Baseline:
    """The configuration a new version must not be worse than: the champion's."""

    version: str
    model_type: str
    params: dict[str, Any]


@dataclass(frozen=True)
class FoldScore:
    """One outer fold: the new procedure's metrics, and the champion configuration's."""

    new: dict[str, float]
    champion: dict[str, float] | None
    chosen: str  # the candidate and parameters the fold's selection picked


def corrected_interval(scores: np.ndarray, *, ratio: float, level: float) -> MetricEstimate:
    """The mean of repeated-CV scores with its Nadeau-Bengio corrected t-interval.

    ``ratio`` is ``n_test / n_train`` of the folds (``1 / (K - 1)`` for K folds).
    """
    values = np.asarray(scores, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return MetricEstimate(mean=mean, low=mean, high=mean)
    variance = float(values.var(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, df=len(values) - 1)) * np.sqrt(
        (1.0 / len(values) + ratio) * variance
    )
    return MetricEstimate(mean=mean, low=mean - half, high=mean + half)


def estimate_gates(
    features: pd.DataFrame,
    target: np.ndarray,
    config: TrainConfig,
    *,
    selection: dict[str, Grid],
    baseline: Baseline | None,
    no_baseline: str = "no champion to compare with",
    progress: Callable[[str], None] = print,
) -> tuple[CVEstimate, RelativeGate]:
    """Repeated K-fold CV of the procedure that searches ``selection``, and the relative gate."""
    cv = config.gate_cv
    splitter = RepeatedKFold(n_splits=cv.folds, n_repeats=cv.repeats, random_state=config.seed)
    splits = list(splitter.split(features))
    started = time.perf_counter()
    scores: list[FoldScore] = Parallel(n_jobs=config.n_jobs)(
        delayed(score_fold)(
            features,
            target,
            train_rows,
            test_rows,
            selection=selection,
            baseline=baseline,
            inner_folds=cv.inner_folds,
            seed=config.seed,
        )
        for train_rows, test_rows in splits
    )
    seconds = time.perf_counter() - started
    ratio = float(np.mean([len(t) for _, t in splits]) / np.mean([len(t) for t, _ in splits]))
    new = {m: np.array([s.new[m] for s in scores]) for m in METRICS}
    chosen = sorted({s.chosen for s in scores})
    estimate = CVEstimate(
        method=(
            f"repeated {cv.folds}-fold CV ({cv.repeats} repeats) of the whole pipeline, the "
            f"selection ({cv.selection}) re-run in each outer fold with {cv.inner_folds}-fold "
            f"inner CV; Nadeau-Bengio corrected t-interval at {cv.level:.0%}"
        ),
        repeats=cv.repeats,
        folds=cv.folds,
        inner_folds=cv.inner_folds,
        selection=cv.selection,
        level=cv.level,
        rows=len(features),
        metrics={m: corrected_interval(new[m], ratio=ratio, level=cv.level) for m in METRICS},
        fold_metrics={m: [float(v) for v in new[m]] for m in METRICS},
        seconds=round(seconds, 1),
    )
    progress(
        f"gate CV: {len(splits)} folds in {seconds:.0f} s; "
        + ", ".join(_describe(m, estimate.metrics[m]) for m in METRICS)
        + f"; chosen in the folds: {'; '.join(chosen)}"
    )
    if baseline is None:
        return estimate, RelativeGate(status="not_applicable", reason=no_baseline)
    champion = {m: np.array([s.champion[m] for s in scores if s.champion]) for m in METRICS}
    relative = relative_gate(new, champion, baseline=baseline, ratio=ratio, level=cv.level)
    progress(f"relative gate: {relative.status}: {relative.reason}")
    return estimate, relative


def relative_gate(
    new: dict[str, np.ndarray],
    champion: dict[str, np.ndarray],
    *,
    baseline: Baseline,
    ratio: float,
    level: float,
) -> RelativeGate:
    """Fails when, on the same folds, a metric is worse than the champion's beyond noise."""
    difference = {
        m: corrected_interval(new[m] - champion[m], ratio=ratio, level=level) for m in METRICS
    }
    worse = [m for m, d in difference.items() if (d.high < 0 if HIGHER_IS_BETTER[m] else d.low > 0)]
    folds = len(new["rmse"])
    against = (
        f"champion v{baseline.version} ({baseline.model_type}) refitted on the same {folds} folds"
    )
    shown = ", ".join(_describe(m, d, signed=True) for m, d in difference.items())
    reason = (
        f"worse than {against} beyond noise on {', '.join(worse)} (new minus champion: {shown})"
        if worse
        else f"not worse than {against} beyond noise (new minus champion: {shown})"
    )
    return RelativeGate(
        status="failed" if worse else "passed",
        reason=reason,
        champion_version=baseline.version,
        champion_model_type=baseline.model_type,
        champion_params=baseline.params,
        champion={m: corrected_interval(champion[m], ratio=ratio, level=level) for m in METRICS},
        difference=difference,
        worse=worse,
    )


def score_fold(
    features: pd.DataFrame,
    target: np.ndarray,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    *,
    selection: dict[str, Grid],
    baseline: Baseline | None,
    inner_folds: int,
    seed: int,
) -> FoldScore:
    """Select and fit on the fold's training part, score its test part (and the champion's)."""
    x_train, y_train = features.iloc[train_rows], target[train_rows]
    x_test, y_test = features.iloc[test_rows], target[test_rows]
    name, params, model = _select(x_train, y_train, selection, inner_folds=inner_folds, seed=seed)
    new = regression_metrics(y_test, model.predict(x_test))
    champion = None
    if baseline is not None:
        if (baseline.model_type, baseline.params) == (name, params):
            champion = new  # the same configuration on the same rows: the same fit
        else:
            fitted = configured_model(baseline.model_type, baseline.params, seed)
            fitted.fit(x_train, y_train)
            champion = regression_metrics(y_test, fitted.predict(x_test))
    return FoldScore(new=new, champion=champion, chosen=f"{name} {params}")


def _select(
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    selection: dict[str, Grid],
    *,
    inner_folds: int,
    seed: int,
) -> tuple[str, dict[str, Any], TransformedTargetRegressor]:
    """The best configuration of ``selection`` by inner-CV RMSE, refitted on the fold."""
    options = [(name, params) for name, grid in selection.items() for params in ParameterGrid(grid)]
    if len(options) == 1:  # nothing to choose: no inner CV needed
        name, params = options[0]
        model = configured_model(name, params, seed)
        return name, params, model.fit(x_train, y_train)
    inner = KFold(inner_folds, shuffle=True, random_state=seed)
    best: tuple[float, str, dict[str, Any], TransformedTargetRegressor] | None = None
    for name, grid in selection.items():
        search = GridSearchCV(
            configured_model(name, {}, seed),
            param_grid(grid) or [{}],
            cv=inner,
            scoring="neg_root_mean_squared_error",
            n_jobs=1,
            refit=True,
        )
        search.fit(x_train, y_train)
        if best is None or -search.best_score_ < best[0]:
            params = estimator_params(search.best_params_)
            best = (float(-search.best_score_), name, params, search.best_estimator_)
    assert best is not None
    return best[1], best[2], best[3]


def baseline_from_card(
    version: str, model_type: str | None, params: dict[str, Any]
) -> Baseline | None:
    """The champion's configuration, or None when its family is not one this code can fit."""
    if model_type not in CANDIDATE_NAMES:
        return None
    return Baseline(version=version, model_type=str(model_type), params=dict(params))


def _describe(metric: str, value: MetricEstimate, *, signed: bool = False) -> str:
    spec = "+,.3f" if metric == "r2" else "+,.0f"
    plain = ",.3f" if metric == "r2" else ",.0f"
    fmt = spec if signed else plain
    return (
        f"{metric.upper() if metric != 'r2' else 'R²'} {value.mean:{fmt}} "
        f"[{value.low:{fmt}}, {value.high:{fmt}}]"
    )
